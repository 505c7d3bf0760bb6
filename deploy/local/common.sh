# Shared settings for the local service scripts. Sourced, not run.
# Everything downloaded or built is cached under $LAKESTREAM_CACHE so later runs are fast.

LAKESTREAM_CACHE=${LAKESTREAM_CACHE:-$HOME/.cache/lakestream}
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # github.com/minio/minio, built with go install
KAFKA_VERSION=3.9.1                                # org.apache.kafka:kafka_2.13 from Maven Central
GRPCURL_VERSION=v1.9.3                             # github.com/fullstorydev/grpcurl, for the reflection test

MINIO_ADDR=${LAKESTREAM_MINIO_ADDR:-127.0.0.1:19000}
MINIO_CONSOLE_ADDR=${LAKESTREAM_MINIO_CONSOLE_ADDR:-127.0.0.1:19001}
MINIO_USER=${LAKESTREAM_MINIO_USER:-lakestream}
MINIO_PASSWORD=${LAKESTREAM_MINIO_PASSWORD:-lakestream-secret}
KAFKA_ADDR=${LAKESTREAM_KAFKA_ADDR:-127.0.0.1:19092}
KAFKA_CONTROLLER_ADDR=${LAKESTREAM_KAFKA_CONTROLLER_ADDR:-127.0.0.1:19093}

RUN_DIR=$LAKESTREAM_CACHE/run
mkdir -p "$LAKESTREAM_CACHE/bin" "$RUN_DIR"

log() { printf '[deploy/local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_alive FILE PATTERN: true when FILE names a running process whose
# command line contains PATTERN (a stale pid file after a reboot may name
# an unrelated process that reused the pid).
pid_alive() {
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# service_pattern NAME: what the service's command line contains.
service_pattern() { case $1 in minio) echo "minio-" ;; kafka) echo "kafka.Kafka" ;; esac; }

# port_open HOST:PORT
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
