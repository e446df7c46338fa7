#!/usr/bin/env bash
# Runs one phase of `make test`, prints how long it took, and keeps its output in
# target/test-logs/ for the summary.
set -uo pipefail
name=$1; shift
mkdir -p target/test-logs
log="target/test-logs/$(tr ' /' '__' <<<"$name").log"
start=$(date +%s)
echo "==> $name: $*"
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo "<== $name: $(( $(date +%s) - start )) s (exit $rc)"
exit "$rc"
