#!/usr/bin/env bash
# latchkey-core must not depend on Tauri, GTK or WebKit: the agent and the command line are
# built from it and stay small.
set -euo pipefail
tree=$(cargo tree -p latchkey-core -e normal --prefix none --format '{p}')
if bad=$(grep -E '^(tauri|tauri-[a-z-]+|gtk|webkit2gtk|wry|tao) ' <<<"$tree"); then
  echo "latchkey-core depends on: $bad" >&2
  exit 1
fi
echo "latchkey-core: $(wc -l <<<"$tree") crates, none of them Tauri/GTK/WebKit"
