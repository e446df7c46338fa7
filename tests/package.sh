#!/usr/bin/env bash
# Installs the .deb built by `make package`, checks what a desktop needs for the
# app.latchkey: URL scheme, delivers a redirect through the desktop's URL handler (`gio open`)
# to a running installed Latchkey and to one that is not running yet, then removes the package.
# Runs as root (CI) or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
deb=$(ls -t target/release/bundle/deb/*.deb | head -1)
echo "package: $deb"
pkg=$(dpkg-deb -f "$deb" Package)
fail() { echo "package test FAILED: $*" >&2; exit 1; }

$SUDO apt-get install -y -qq "./$deb" >/dev/null
trap '$SUDO apt-get remove -y -qq "$pkg" >/dev/null 2>&1 || true' EXIT
echo "installed $pkg $(dpkg-query -W -f='${Version}' "$pkg")"

for bin in latchkey latchkey-agent latchkey-cli; do
  [ -x "/usr/bin/$bin" ] || fail "/usr/bin/$bin is missing"
done
/usr/bin/latchkey-cli --version
/usr/bin/latchkey-agent --version

# latchkey-cli's completions and man page are installed where the shells and man look, and work.
for f in /usr/share/bash-completion/completions/latchkey-cli /usr/share/zsh/vendor-completions/_latchkey-cli \
         /usr/share/fish/vendor_completions.d/latchkey-cli.fish /usr/share/man/man1/latchkey-cli.1.gz; do
  [ -s "$f" ] || fail "$f is missing"
done
registered=$(bash -c 'source /usr/share/bash-completion/completions/latchkey-cli; complete -p latchkey-cli') \
  || fail "the bash completion does not register latchkey-cli"
echo "bash: $registered"
words=$(bash -c 'source /usr/share/bash-completion/completions/latchkey-cli
  COMP_WORDS=(latchkey-cli ap); COMP_CWORD=1; COMP_LINE="latchkey-cli ap"; COMP_POINT=${#COMP_LINE}
  $(complete -p latchkey-cli | sed -E "s/.*-F ([^ ]+) .*/\1/") latchkey-cli ap latchkey-cli; echo "${COMPREPLY[*]}"')
[ "$words" = apps ] || fail "bash completes 'latchkey-cli ap' to '$words', not 'apps'"
[ "$(head -1 /usr/share/zsh/vendor-completions/_latchkey-cli)" = "#compdef latchkey-cli" ] || fail "zsh completion header"
grep -q 'complete -c latchkey-cli' /usr/share/fish/vendor_completions.d/latchkey-cli.fish || fail "fish completion"
if command -v man >/dev/null; then
  page=$(MANWIDTH=100 man -l /usr/share/man/man1/latchkey-cli.1.gz 2>/dev/null) || fail "man -l latchkey-cli.1.gz"
else
  page=$(zcat /usr/share/man/man1/latchkey-cli.1.gz) || fail "latchkey-cli.1.gz does not unpack"
fi
case "$page" in *latchkey-cli*doctor*) ;; *) fail "the man page does not describe latchkey-cli's commands" ;; esac
echo "completions (bash, zsh, fish) and man page installed and working"

# The test hooks (`test-hooks` cargo feature) are not in the package: none of their variables
# is even named in the installed binaries (run-time proof below, under the display).
for bin in latchkey latchkey-agent latchkey-cli; do
  for var in LATCHKEY_OPEN_URL_LOG LATCHKEY_DEMO_PROVIDER LATCHKEY_BENCH_READY_FILE; do
    n=$(grep -c -a "$var" "/usr/bin/$bin" || true)
    [ "$n" = 0 ] || fail "/usr/bin/$bin names $var: a test hook is in the package"
  done
done
echo "no test hooks in the installed binaries"

desktop=$(dpkg -L "$pkg" | grep '\.desktop$' | head -1)
[ -n "$desktop" ] || fail "no .desktop file in the package"
echo "desktop file: $desktop"
grep -q '^MimeType=.*x-scheme-handler/app\.latchkey;' "$desktop" || fail "MimeType does not declare x-scheme-handler/app.latchkey"
grep -qE '^Exec=.* %u$' "$desktop" || fail "Exec has no %u: the URL would be dropped"
desktop-file-validate "$desktop" || fail "desktop-file-validate"

# A fresh user on a desktop session: private bus, keyring, display, home.
work=$(mktemp -d /tmp/latchkey-package.XXXXXX)
export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"
$SUDO update-desktop-database -q /usr/share/applications || true
handler=$(xdg-mime query default x-scheme-handler/app.latchkey)
[ "$handler" = "$(basename "$desktop")" ] || fail "xdg-mime names '$handler', not $(basename "$desktop")"
echo "xdg-mime default handler: $handler"

# Xvfb picks a free display itself and names it once it accepts clients (`-displayfd`): a
# display number picked here could be taken, or held by a stale lock file, on a shared machine.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; $SUDO apt-get remove -y -qq "$pkg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do
  [ -s "$work/display" ] && break
  kill -0 "$xvfb" 2>/dev/null || fail "Xvfb exited: $(cat "$work/xvfb.log")"
  sleep 0.1
done
[ -s "$work/display" ] || fail "Xvfb named no display in 30 s"
display=:$(head -1 "$work/display")
echo "Xvfb on $display"
export DISPLAY=$display NO_AT_BRIDGE=1 LATCHKEY_NO_AUTOSTART=1 LATCHKEY_NO_AGENT=1
export LATCHKEY_DATA_DIR="$work/data" LATCHKEY_KEYRING_SERVICE=app.latchkey.package-test

cat > "$work/in-session.sh" <<'INNER'
#!/usr/bin/env bash
set -euo pipefail
log="$LATCHKEY_DATA_DIR/logs/latchkey.log"
count() { if [ -f "$log" ]; then grep -c "ignored a redirect that matches no sign-in" "$log" || true; else echo 0; fi; }
instances() {
  local n=0 pid
  for pid in $(pgrep -x latchkey || true); do
    if { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep -qx "LATCHKEY_DATA_DIR=$LATCHKEY_DATA_DIR"; then
      n=$((n + 1))
    fi
  done
  echo "$n"
}
settle_to_one() { for _ in $(seq 300); do [ "$(instances)" = 1 ] && return 0; sleep 0.1; done; return 1; }
wait_count() {
  for _ in $(seq 600); do [ "$(count)" -ge "$1" ] && return 0; sleep 0.1; done
  echo "log so far:"; cat "$log" 2>/dev/null || true; return 1
}
# The installed app ignores the test hooks' variables: with the demo seeding and the
# opened-URL log asked for, it adds no provider app and writes no log file.
hooks="$(mktemp -d)"
hooklog="$hooks/data/logs/latchkey.log"
LATCHKEY_DATA_DIR="$hooks/data" LATCHKEY_OPEN_URL_LOG="$hooks/opened.log" \
  LATCHKEY_DEMO_PROVIDER=http://127.0.0.1:9 LATCHKEY_BENCH_READY_FILE="$hooks/ready" \
  /usr/bin/latchkey >"$hooks/output" 2>&1 &
app=$!
# Waits (up to a minute: CI machines are shared and slow) until the app has logged `$1`, and
# fails at once, with what the app printed, if it exits first.
wait_line() {
  local t0=$SECONDS
  for _ in $(seq 600); do
    if grep -qs "$1" "$hooklog"; then echo "  (after $((SECONDS - t0)) s)"; return 0; fi
    kill -0 "$app" 2>/dev/null || break
    sleep 0.1
  done
  echo "the installed app did not log '$1' ($(kill -0 "$app" 2>/dev/null && echo "still running" \
    || { wait "$app"; echo "exited with status $?"; }))" >&2
  echo "its output:" >&2; cat "$hooks/output" >&2 || true
  echo "its log:" >&2; cat "$hooklog" >&2 2>/dev/null || true
  kill "$app" 2>/dev/null || true
  exit 1
}
echo "the installed app starts:"
wait_line '^[^ ]* INFO data in '
# Its background work begins once the first list is on screen (or 3 s after start): by then
# a compiled-in hook would have seeded the demo app and written the ready file.
wait_line 'the app refreshes by itself'
# Its web process runs without WebKit's memory-pressure poll (src-tauri/main.rs).
web=$(pgrep -P "$app" -f WebKitWebProcess | head -1 || true)
if [ -z "$web" ] || ! tr '\0' '\n' < "/proc/$web/environ" | grep -qx 'WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR=1'; then
  echo "the installed app's web process (${web:-none}) runs with WebKit's memory-pressure poll" >&2
  kill "$app" 2>/dev/null || true; exit 1
fi
echo "the web process runs without WebKit's memory-pressure poll"
# It registered its URL scheme for this user (on a thread of its own, src-tauri/lib.rs).
wait_line 'registered the app.latchkey: URL scheme'
grep -qx 'Exec="/usr/bin/latchkey" %u' "$XDG_DATA_HOME/applications/latchkey-handler.desktop" || {
  echo "the app's own handler file is missing or names another program" >&2; kill "$app" 2>/dev/null || true; exit 1; }
grep -qx 'x-scheme-handler/app.latchkey=latchkey-handler.desktop' "$XDG_CONFIG_HOME/mimeapps.list" || {
  echo "the app did not make its handler the user's default" >&2; kill "$app" 2>/dev/null || true; exit 1; }
echo "the app registered its URL scheme for the user"
sleep 1
kill "$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true
if [ -e "$hooks/opened.log" ] || [ -e "$hooks/ready" ] || grep -qs 'demo' "$hooks/data/latchkey.json"; then
  echo "the installed app obeyed a test hook" >&2; exit 1
fi
rm -rf "$hooks"
echo "test hook variables ignored by the installed app"
# Cold: nothing running; the desktop's handler starts the installed app with the URL.
gio open 'app.latchkey:/oauth/callback?code=cold&state=package-test'
wait_count 1 || { echo "cold start: the redirect did not reach the app" >&2; exit 1; }
echo "cold start: the installed app received the redirect"
settle_to_one || { echo "expected one running latchkey, found $(instances)" >&2; exit 1; }
# Warm: the app is running; a second launch hands the URL over and exits.
gio open 'app.latchkey:/oauth/callback?code=warm&state=package-test'
wait_count 2 || { echo "warm: the redirect did not reach the running app" >&2; exit 1; }
settle_to_one || { echo "a second instance kept running ($(instances))" >&2; exit 1; }
echo "warm: the running app received the redirect; still one instance"
/usr/bin/import -display "$DISPLAY" -window root "$OUT/package-notice.png" 2>/dev/null || true
for pid in $(pgrep -x latchkey || true); do
  if { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep -qx "LATCHKEY_DATA_DIR=$LATCHKEY_DATA_DIR"; then
    kill "$pid"
  fi
done
INNER
chmod +x "$work/in-session.sh"
mkdir -p target/e2e
OUT="$PWD/target/e2e" tests/keyring-session.sh -- "$work/in-session.sh"

# Removal leaves nothing behind in /usr/bin.
$SUDO apt-get remove -y -qq "$pkg" >/dev/null
[ ! -e /usr/bin/latchkey ] || fail "/usr/bin/latchkey is still there after removal"
echo "removed $pkg"
echo "package test: 1 passed, 0 failed"
