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
for s in minio kafka; do pid_alive "$RUN_DIR/$s.pid" "$(service_pattern $s)" || port_open "$( [ $s = minio ] && echo "$MINIO_ADDR" || echo "$KAFKA_ADDR")" || started+=("$s"); done
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
# The packages with concurrency once more under the race detector, unit
# tests only: the integration tests above already ran against the services,
# and the service variables are left out so that they skip here (under -short
# a missing service skips). Run with the race detector's 5-10x slowdown on a
# busy 2-core machine, the load tests among them cannot keep their rates.
if [ $# -eq 0 ]; then
  log "go test -race -short on the concurrent packages (unit tests)"
  env -u LAKESTREAM_KAFKA_BROKERS -u LAKESTREAM_S3_ENDPOINT \
    go test -race -short -count=1 -timeout 20m -v ./datastream/... ./serve/... ./paramserver/... ./lake/... ./eval/... >>"$logfile" 2>&1 || status=1
fi
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
# A build failure or a panic outside a test fails the run without a
# "--- FAIL" line; so does a notebook that could not even start.
if [ $status -ne 0 ] && ! grep -qE '^\s*--- FAIL' "$logfile"; then failed=$((failed + 1)); fi
if [ $nb_failed -ne 0 ] && ! grep -q -- '--- FAIL: notebook' "$logfile"; then failed=$((failed + 1)); fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $status -eq 0 ] && [ $nb_failed -eq 0 ]
