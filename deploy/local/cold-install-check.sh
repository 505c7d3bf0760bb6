#!/usr/bin/env bash
# Proves the fresh-machine path: installs every service and tool the tests
# need into an empty cache (a temporary LAKESTREAM_CACHE), starts MinIO and
# Kafka from it on ports of their own, checks that both answer, and removes
# it all again. It fails when any install or start fails, so a bug that only
# a machine without ~/.cache/lakestream would hit (such as a tool's output
# captured into a path) fails CI instead of a newcomer's first `make test`.
#
# It reuses the machine-wide caches that a newcomer's machine would also fill
# on the first run (Go's module and build caches, Maven's ~/.m2, pip's cache),
# so it costs a few minutes, not a full cold build.
#
# Usage: deploy/local/cold-install-check.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

cache=$(mktemp -d -t lakestream-cold.XXXXXX)
export LAKESTREAM_CACHE=$cache
# Ports of their own, so the check neither reuses nor disturbs the services
# of a developer or of the test run that follows.
export LAKESTREAM_MINIO_ADDR=127.0.0.1:29000
export LAKESTREAM_MINIO_CONSOLE_ADDR=127.0.0.1:29001
export LAKESTREAM_KAFKA_ADDR=127.0.0.1:29092
export LAKESTREAM_KAFKA_CONTROLLER_ADDR=127.0.0.1:29093

cleanup() {
  "$here/down.sh" --wipe minio kafka >/dev/null 2>&1 || true
  rm -rf "$cache"
}
trap cleanup EXIT

start=$(date +%s)
printf '[cold-install-check] installing into an empty cache %s\n' "$cache" >&2
# up.sh refuses to reuse a service it did not start only by port; the ports
# above are not used by anything else, so everything is installed and started
# from the empty cache.
env_out=$("$here/up.sh" --env) || { echo "cold-install-check: deploy/local/up.sh failed with an empty cache" >&2; exit 1; }

# The environment printed must be only export lines: anything else means a
# tool's output leaked onto up.sh's standard output.
if grep -qv '^export [A-Z_0-9]*=' <<<"$env_out"; then
  echo "cold-install-check: deploy/local/up.sh --env printed more than export lines:" >&2
  grep -v '^export [A-Z_0-9]*=' <<<"$env_out" | cat -v >&2
  exit 1
fi
eval "$env_out"

# Every path the tests will be given must exist and be executable.
for v in LAKESTREAM_PYTHON LAKESTREAM_GRPCURL; do
  p=${!v}
  [ -x "$p" ] || { echo "cold-install-check: $v=$p is not an executable file" >&2; exit 1; }
done
"$LAKESTREAM_PYTHON" -c 'import pyarrow, sklearn, grpc, nbclient' \
  || { echo "cold-install-check: the Python environment lacks a package the tests import" >&2; exit 1; }

[ -s "$LAKESTREAM_DATASETS/ml-100k/ml-100k.inter" ] && [ -f "$LAKESTREAM_DATASETS/lake/adult/dt=2026-01-03/_SUCCESS" ] \
  || { echo "cold-install-check: deploy/local/datasets.sh left no MovieLens 100k or no Adult table in $LAKESTREAM_DATASETS" >&2; exit 1; }

# Both services answer from the fresh install (up.sh waited for health; ask once more).
bin=$cache/bin/lakestream-healthcheck
"$bin" -s3 "$LAKESTREAM_MINIO_ADDR" -timeout 10s || { echo "cold-install-check: MinIO from the fresh cache does not answer" >&2; exit 1; }
"$bin" -kafka "$LAKESTREAM_KAFKA_ADDR" -timeout 30s || { echo "cold-install-check: Kafka from the fresh cache does not answer" >&2; exit 1; }

printf '[cold-install-check] ok: installed and started from an empty cache in %ds\n' "$(( $(date +%s) - start ))" >&2
