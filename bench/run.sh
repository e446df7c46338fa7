#!/usr/bin/env bash
# `make bench`: builds the release binaries (the app, latchkey-agent, latchkey-cli, the blank
# window example and the bench program), starts a private Xvfb display, and runs
# latchkey-bench (bench/src/main.rs), which starts its own Secret Service and test provider.
# Prints a Markdown table; the same figures land in target/bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# The measured app needs the bench readiness hook (`test-hooks` feature), which the package
# must never contain: build it in a target directory of its own, so `make package` and
# `make bench` never overwrite each other's release binaries. Results still go to target/bench.
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$PWD/target/bench-build}"
export BENCH_OUT_DIR="${BENCH_OUT_DIR:-$PWD/target/bench}"

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "bench: cargo build --release --features latchkey/test-hooks (app, agent, cli, blank window, bench) in $CARGO_TARGET_DIR" >&2
  cargo build --release --workspace --bins --examples --features latchkey/test-hooks --quiet
fi

# goa-daemon is the peer measured next to latchkey-agent (Debian: gnome-online-accounts).
if [ ! -x /usr/libexec/goa-daemon ]; then
  echo "bench: /usr/libexec/goa-daemon not found (apt-get install gnome-online-accounts): its columns stay empty" >&2
fi

# A display of our own: the first free one from :90.
display=""
for n in $(seq 90 120); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
[ -n "$display" ] || { echo "bench: no free X display" >&2; exit 1; }
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -e "/tmp/.X11-unix/X${display#:}" ] && break
  sleep 0.05
done
export DISPLAY="$display" NO_AT_BRIDGE=1

"$CARGO_TARGET_DIR/release/latchkey-bench"
