#!/usr/bin/env bash
# The project's test command (make test): installs and starts MinIO, Kafka and
# the Python reference environment, runs every Go test (unit and integration)
# and the notebooks against them, stops the services it started, and prints a
# closing "N passed, N failed" line. Extra arguments go to `go test`
# (e.g. deploy/local/test.sh -run Kafka ./datastream/...).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"
cd "$repo"

started=()
for s in minio kafka; do pid_alive "$RUN_DIR/$s.pid" || port_open "$( [ $s = minio ] && echo "$MINIO_ADDR" || echo "$KAFKA_ADDR")" || started+=("$s"); done
cleanup() { [ ${#started[@]} -eq 0 ] || "$here/down.sh" "${started[@]}"; }
trap cleanup EXIT

"$here/up.sh" >/dev/null || { echo "0 passed, 1 failed (services did not start)"; exit 1; }
. "$LAKESTREAM_CACHE/env.sh"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(./...)
logfile=$(mktemp -t lakestream-test.XXXXXX.log)
log "go test ${args[*]} (full log: $logfile)"
go test -count=1 -timeout 40m -v "${args[@]}" >"$logfile" 2>&1
status=$?
# Package lines, failures and their output, but not the thousands of passing test lines.
grep -E '^(ok|FAIL|---|panic:|\?|--- FAIL)|^\s+--- FAIL|_test\.go:[0-9]+:' "$logfile" | grep -vE '^\s*--- (PASS|SKIP)' | tail -n 400

nb_failed=0
if ls notebooks/*.ipynb >/dev/null 2>&1 && [ $# -eq 0 ]; then
  log "executing notebooks headless"
  bindir=$(mktemp -d)
  go build -o "$bindir/" ./cmd/... || nb_failed=1
  PATH=$bindir:$PATH "$LAKESTREAM_PYTHON" "$here/run_notebooks.py" notebooks/*.ipynb | tee -a "$logfile" || nb_failed=1
fi

passed=$(grep -cE '^\s*--- PASS' "$logfile")
failed=$(grep -cE '^\s*--- FAIL' "$logfile")
skipped=$(grep -cE '^\s*--- SKIP' "$logfile")
if [ $status -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # build failure or panic outside a test
failed=$((failed + nb_failed))
echo "$passed passed, $failed failed, $skipped skipped"
[ $status -eq 0 ] && [ $nb_failed -eq 0 ]
