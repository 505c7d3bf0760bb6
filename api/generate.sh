#!/usr/bin/env bash
# Regenerates the Go code of every .proto under api/. Called by `make generate`;
# api/generated_test.go runs it into a temporary folder to check that the
# checked-in code is current.
#
#   api/generate.sh [OUT]   write into OUT instead of api/ itself
#
# protoc: the one on PATH, else the one bundled with grpcio-tools in
# $LAKESTREAM_PYTHON's environment (deploy/local/python.sh installs it). The Go
# plugins are installed at pinned versions into $LAKESTREAM_CACHE/bin
# (default ~/.cache/lakestream/bin) on first use.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-.}
bin=${LAKESTREAM_CACHE:-$HOME/.cache/lakestream}/bin
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
install_plugin() { # name module version
  local stamp=$bin/.$1-$3
  if [ ! -x "$bin/$1" ] || [ ! -f "$stamp" ]; then
    mkdir -p "$bin"
    GOBIN=$bin GOFLAGS=-mod=mod go install "$2@$3" >&2
    touch "$stamp"
  fi
}
install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go $PROTOC_GEN_GO_VERSION
install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION
if command -v protoc >/dev/null; then
  protoc=(protoc)
elif [ -n "${LAKESTREAM_PYTHON:-}" ] && "$LAKESTREAM_PYTHON" -c 'import grpc_tools' 2>/dev/null; then
  protoc=("$LAKESTREAM_PYTHON" -m grpc_tools.protoc)
else
  echo "api/generate.sh: no protoc: install one (apt-get install protobuf-compiler) or set LAKESTREAM_PYTHON to deploy/local/python.sh's interpreter (grpcio-tools bundles protoc)" >&2
  exit 1
fi
mkdir -p "$out"
"${protoc[@]}" -I . \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  paramserver/paramserver.proto \
  inference/grpc_predict_v2.proto
