#!/usr/bin/env bash
# Runs one phase of `make test` and prints how long it took.
set -uo pipefail
name=$1; shift
start=$(date +%s)
echo "==> $name: $*"
"$@"
rc=$?
echo "<== $name: $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
