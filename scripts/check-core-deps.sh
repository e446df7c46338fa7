#!/usr/bin/env bash
# latchkey-core must not depend on Tauri, GTK or WebKit, nor on the desktop crates (notifications,
# start at login, opening a browser) and the command line's (clap): those are latchkey-desktop's,
# which builds the agent and the command line. Core stays the logic, small and testable.
set -euo pipefail
tree=$(cargo tree -p latchkey-core -e normal --prefix none --format '{p}')
ui='tauri|tauri-[a-z-]+|gtk|webkit2gtk|wry|tao'
desktop='clap|clap_complete|clap_mangen|clap_builder|clap_derive|open|notify-rust|auto-launch'
if bad=$(grep -E "^($ui|$desktop) " <<<"$tree" | sort -u); then
  echo "latchkey-core depends on: $(tr '\n' ' ' <<<"$bad")" >&2
  exit 1
fi
echo "latchkey-core: $(wc -l <<<"$tree") crates, none of them Tauri/GTK/WebKit, clap, open, notify-rust or auto-launch"
