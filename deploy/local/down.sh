#!/usr/bin/env bash
# Stops the local services started by deploy/local/up.sh. Data stays in
# ~/.cache/lakestream; pass --wipe to delete the MinIO and Kafka data too.
# Usage: deploy/local/down.sh [--wipe] [minio] [kafka]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

wipe=false
services=()
for arg in "$@"; do
  case $arg in
    --wipe) wipe=true ;;
    minio|kafka) services+=("$arg") ;;
    *) die "unknown argument $arg" ;;
  esac
done
[ ${#services[@]} -gt 0 ] || services=(kafka minio)

stop() {
  local name=$1 pidfile=$RUN_DIR/$1.pid
  if ! pid_alive "$pidfile" "$(service_pattern "$name")"; then
    log "$name is not running (started by up.sh)"
    rm -f "$pidfile"
    return
  fi
  local pid; pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

for s in "${services[@]}"; do
  stop "$s"
  if $wipe; then
    case $s in
      minio) rm -rf "$LAKESTREAM_CACHE/minio/data" ;;
      kafka) rm -rf "$LAKESTREAM_CACHE/kafka/data" ;;
    esac
  fi
done
