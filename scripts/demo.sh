#!/usr/bin/env bash
# `make demo`: Latchkey against a local demo provider (tests/provider, oidc-provider), so it
# works without registering an app anywhere. Sign in as "alice" (or "bob") with any password.
#
#   DEMO_PROFILE=rememberizer|textmaster|fusio|generic   (default rememberizer)
#   DEMO_ACCESS_TTL=seconds                               (default 30: watch it refresh)
#   DEMO_PORT=port of the demo provider                   (default 47615)
#
# Without a display it starts Xvfb; without a session bus (a server, a container) it runs
# inside a private session bus with a throw-away keyring.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${DEMO_PROFILE:-rememberizer}
demo_dir=${LATCHKEY_DEMO_DIR:-$PWD/target/demo}
mkdir -p "$demo_dir"

if [ -z "${DISPLAY:-}" ]; then
  Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  export DISPLAY=:77
  echo "No display found: running on a virtual one (DISPLAY=:77). Screenshot: /usr/bin/import -display :77 -window root shot.png"
  sleep 1
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${LATCHKEY_DEMO_IN_SESSION:-}" ]; then
  echo "No D-Bus session: using a private one with a throw-away keyring."
  exec env LATCHKEY_DEMO_IN_SESSION=1 tests/keyring-session.sh -- "$0" "$@"
fi
export NO_AT_BRIDGE=1

coproc PROVIDER { exec node tests/provider/server.mjs --profile "$profile" --port "${DEMO_PORT:-47615}" --demo --access-ttl "${DEMO_ACCESS_TTL:-30}" --exit-on-stdin-close; }
read -r ready <&"${PROVIDER[0]}"
url=$(sed -E 's/.*"url":"([^"]+)".*/\1/' <<<"$ready")
echo "Demo provider ($profile) at $url — sign in as alice (any password)."

export LATCHKEY_DATA_DIR="$demo_dir/data" LATCHKEY_KEYRING_SERVICE=app.latchkey.demo
# The demo's tokens live 30 seconds, so background refresh is visible: allow a refresh every 5.
export LATCHKEY_MIN_REFRESH_INTERVAL_SECS=${LATCHKEY_MIN_REFRESH_INTERVAL_SECS:-5}
export LATCHKEY_DEMO_PROVIDER="$url" LATCHKEY_DEMO_PROFILE="$profile"
target/debug/latchkey "$@"
