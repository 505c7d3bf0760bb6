#!/usr/bin/env bash
# Starts the local services the integration tests and the examples use, on
# loopback only: a MinIO server (S3) and an Apache Kafka broker in KRaft mode.
# Installs them first when missing (MinIO with `go install` at a pinned
# version, Kafka's jars from Maven Central at a pinned version), caching both
# under ~/.cache/lakestream. Idempotent: services already answering are reused.
#
# Usage: deploy/local/up.sh [--env] [minio] [kafka] [python] [tools]
#   With no names, starts minio and kafka and prepares python (with the
#   real data sets of deploy/local/datasets.sh) and tools (grpcurl, which a
#   test uses as an independent gRPC reflection client).
#   --env prints the environment (export lines) for the tests on stdout.
# The same exports are written to ~/.cache/lakestream/env.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/common.sh"

print_env=false
services=()
for arg in "$@"; do
  case $arg in
    --env) print_env=true ;;
    minio|kafka|python|tools) services+=("$arg") ;;
    *) die "unknown argument $arg (want --env, minio, kafka, python, tools)" ;;
  esac
done
[ ${#services[@]} -gt 0 ] || services=(minio kafka python tools)

healthcheck() {
  local bin=$LAKESTREAM_CACHE/bin/lakestream-healthcheck
  # Rebuilt every time: it is small, and go build is a no-op when nothing changed.
  (cd "$repo" && go build -o "$bin" ./deploy/local/healthcheck) || die "cannot build deploy/local/healthcheck"
  "$bin" "$@"
}

# Paths of the installed services. The install functions below print nothing
# on stdout and are never captured with $(...): a tool that writes to stdout
# (mvn prints ANSI reset codes even with -q) would end up inside the path.
minio_bin=$LAKESTREAM_CACHE/bin/minio-$MINIO_VERSION
kafka_libs=$LAKESTREAM_CACHE/kafka-$KAFKA_VERSION/libs

install_minio() {
  if [ ! -x "$minio_bin" ]; then
    log "building MinIO $MINIO_VERSION with go install (first run only, a few minutes)"
    local tmp; tmp=$(mktemp -d)
    GOBIN=$tmp GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION" >&2 || die "go install github.com/minio/minio@$MINIO_VERSION failed"
    mv "$tmp/minio" "$minio_bin"; rmdir "$tmp"
  fi
}

start_minio() {
  export AWS_ACCESS_KEY_ID=$MINIO_USER AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD
  if port_open "$MINIO_ADDR" && healthcheck -s3 "$MINIO_ADDR" -timeout 5s 2>/dev/null; then
    log "MinIO already running on $MINIO_ADDR"
    return
  fi
  install_minio
  mkdir -p "$LAKESTREAM_CACHE/minio/data"
  log "starting MinIO on $MINIO_ADDR (data in $LAKESTREAM_CACHE/minio/data)"
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_BROWSER=off \
  MINIO_UPDATE=off MINIO_CI_CD=1 \
    setsid nohup "$minio_bin" server --quiet --address "$MINIO_ADDR" --console-address "$MINIO_CONSOLE_ADDR" \
      "$LAKESTREAM_CACHE/minio/data" >"$RUN_DIR/minio.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/minio.pid"
  healthcheck -s3 "$MINIO_ADDR" -timeout 60s || { tail -20 "$RUN_DIR/minio.log" >&2; die "MinIO did not become healthy (log: $RUN_DIR/minio.log)"; }
  log "MinIO healthy"
}

check_java() {
  command -v java >/dev/null || die "java 17+ is needed to run Kafka; install it (apt-get install openjdk-17-jre-headless)"
  local v; v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ] || die "java 17+ is needed to run Kafka; found: $(java -version 2>&1 | head -1)"
}

install_kafka() {
  local libs=$kafka_libs
  if [ ! -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    command -v mvn >/dev/null || die "mvn (Apache Maven) is needed to fetch Kafka's jars; install it (apt-get install maven)"
    log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (first run only)"
    rm -rf "$libs.tmp"
    mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$libs.tmp" >&2 || die "mvn could not resolve Kafka $KAFKA_VERSION"
    rm -rf "$libs"; mv "$libs.tmp" "$libs"
  fi
  [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Kafka's jars are missing from $libs after install"
}

start_kafka() {
  if port_open "$KAFKA_ADDR" && healthcheck -kafka "$KAFKA_ADDR" -timeout 10s 2>/dev/null; then
    log "Kafka already running on $KAFKA_ADDR"
    return
  fi
  check_java
  install_kafka
  local libs=$kafka_libs
  local dir=$LAKESTREAM_CACHE/kafka
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_CONTROLLER_ADDR
listeners=PLAINTEXT://$KAFKA_ADDR,CONTROLLER://$KAFKA_CONTROLLER_ADDR
advertised.listeners=PLAINTEXT://$KAFKA_ADDR
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
message.max.bytes=4194304
log.retention.hours=24
PROPS
  local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC "-Dlog4j.configuration=file:$here/kafka/log4j.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    local id
    id=$(java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>"$RUN_DIR/kafka-uuid.log" | tail -1) \
      || { cat "$RUN_DIR/kafka-uuid.log" >&2; die "kafka StorageTool random-uuid failed"; }
    [ -n "$id" ] || { cat "$RUN_DIR/kafka-uuid.log" >&2; die "kafka StorageTool random-uuid printed no id"; }
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >"$RUN_DIR/kafka-format.log" 2>&1 \
      || { cat "$RUN_DIR/kafka-format.log" >&2; die "formatting Kafka storage in $dir/data failed"; }
  fi
  log "starting Kafka $KAFKA_VERSION (KRaft) on $KAFKA_ADDR"
  setsid nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    >"$RUN_DIR/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/kafka.pid"
  healthcheck -kafka "$KAFKA_ADDR" -timeout 120s || { tail -30 "$RUN_DIR/kafka.log" >&2; die "Kafka did not become healthy (log: $RUN_DIR/kafka.log)"; }
  log "Kafka healthy"
}

install_tools() {
  local bin=$LAKESTREAM_CACHE/bin/grpcurl-$GRPCURL_VERSION
  if [ ! -x "$bin" ]; then
    log "building grpcurl $GRPCURL_VERSION with go install (first run only)"
    local tmp; tmp=$(mktemp -d)
    GOBIN=$tmp GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2 || die "go install grpcurl failed"
    mv "$tmp/grpcurl" "$bin"; rmdir "$tmp"
  fi
}

for s in "${services[@]}"; do
  case $s in
    minio) start_minio ;;
    kafka) start_kafka ;;
    python) "$here/python.sh" >/dev/null; "$here/datasets.sh" >/dev/null ;;
    tools) install_tools; "$here/chromium.sh" ;;
  esac
done

env_file=$LAKESTREAM_CACHE/env.sh
cat >"$env_file" <<ENV
export LAKESTREAM_S3_ENDPOINT=$MINIO_ADDR
export AWS_ACCESS_KEY_ID=$MINIO_USER
export AWS_SECRET_ACCESS_KEY=$MINIO_PASSWORD
export AWS_REGION=us-east-1
export LAKESTREAM_KAFKA_BROKERS=$KAFKA_ADDR
export LAKESTREAM_PYTHON=$LAKESTREAM_CACHE/venv/bin/python
export LAKESTREAM_DATASETS=$LAKESTREAM_CACHE/data
export LAKESTREAM_GRPCURL=$LAKESTREAM_CACHE/bin/grpcurl-$GRPCURL_VERSION
export LAKESTREAM_KAFKA_LIBS=$kafka_libs
export LAKESTREAM_KAFKA_LOG4J=$here/kafka/log4j.properties
ENV
$print_env && cat "$env_file"
exit 0
