#!/usr/bin/env bash
# A private D-Bus session bus with an unlocked, disposable gnome-keyring (a real Secret
# Service) for tests. Prints KEY=VALUE lines for the caller's environment, then READY; tears
# everything down when its standard input closes (so it never outlives the test process
# that started it), or on SIGTERM.
#
#   tests/keyring-session.sh            # used by latchkey-harness
#   tests/keyring-session.sh -- CMD...  # runs CMD inside the session, then tears down
set -euo pipefail
# The caller's own locations, restored for CMD (only the daemons live in throw-away ones).
caller_env=$(export -p | grep -E ' (HOME|XDG_DATA_HOME|XDG_CONFIG_HOME|XDG_RUNTIME_DIR)=' || true)
dir=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-keyring.XXXXXX")
export HOME="$dir/home" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" XDG_RUNTIME_DIR="$dir/run"
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
# No display for the bus and the keyring daemon (restored for CMD below): a test that locks the
# keychain must see unlock prompts fail at once, never a dialog on the developer's screen.
caller_display=$(export -p | grep -E ' (DISPLAY|WAYLAND_DISPLAY)=' || true)
unset DISPLAY WAYLAND_DISPLAY
eval "$(dbus-launch --sh-syntax)"
cleanup() {
  kill "$DBUS_SESSION_BUS_PID" 2>/dev/null || true
  [ -n "${keyring_pid:-}" ] && kill "$keyring_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' TERM INT
# The password must be non-empty: an empty one brings up a GUI prompt (RECIPES.md).
eval "$(printf 'latchkey-test-keyring' | gnome-keyring-daemon --unlock --components=secrets)"
keyring_pid=$(pgrep -n -f "gnome-keyring-daemon --unlock --components=secrets" || true)
# Wait until the Secret Service answers on the bus.
for _ in $(seq 50); do
  if dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
       org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Service string:Collections >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
if [ "${1:-}" = "--" ]; then
  shift
  unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_RUNTIME_DIR
  eval "$caller_env"
  eval "$caller_display"
  "$@"
  exit $?
fi
echo "DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS"
echo "READY"
cat >/dev/null || true
