#!/usr/bin/env bash
# Adds up the tests of every runner in target/test-logs/ and prints one closing line.
set -uo pipefail
passed=0; failed=0
for f in target/test-logs/*.log; do
  [ -f "$f" ] || continue
  # cargo test / libtest
  while read -r p fl; do passed=$((passed + p)); failed=$((failed + fl)); done < <(
    sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$f")
  # node --test
  p=$(awk '/^# pass [0-9]+$/ {s += $3} END {print s + 0}' "$f"); passed=$((passed + p))
  fl=$(awk '/^# fail [0-9]+$/ {s += $3} END {print s + 0}' "$f"); failed=$((failed + fl))
  # plain closing lines of our own scripts: "package test: 1 passed, 0 failed"
  while read -r p fl; do passed=$((passed + p)); failed=$((failed + fl)); done < <(
    sed -nE 's/^[a-z ]+: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$f")
  # vitest: "      Tests  27 passed (27)" or "Tests  1 failed | 26 passed (27)"
  line=$(sed -E 's/\x1b\[[0-9;]*m//g' "$f" | grep -E '^ +Tests +' | tail -1)
  if [ -n "$line" ]; then
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+'); passed=$((passed + ${p:-0}))
    fl=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+'); failed=$((failed + ${fl:-0}))
  fi
done
echo "$passed passed, $failed failed"
