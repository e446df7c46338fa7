#!/usr/bin/env bash
# The UI's IPC types (ui/src/lib/generated/) and its test presets (ui/tests/fixtures/presets.json)
# must be what the Rust definitions generate today: regenerates both into a temporary
# directory and compares. On a difference, `make types` updates them (commit the result).
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo run -q -p latchkey-core --example ts_types -- "$tmp/generated" "$tmp/fixtures"
if ! diff -ru ui/src/lib/generated "$tmp/generated" || ! diff -u ui/tests/fixtures/presets.json "$tmp/fixtures/presets.json"; then
  echo "The generated TypeScript types or presets.json are stale: run \`make types\` and commit them." >&2
  exit 1
fi
echo "ui/src/lib/generated/ ($(ls ui/src/lib/generated | wc -l) files) and ui/tests/fixtures/presets.json are fresh"
