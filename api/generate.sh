#!/usr/bin/env bash
# Regenerates the Go code of every .proto under api/. Called by `make generate`.
# Needs protoc (3.21+) and the plugins, installed with:
#   GOBIN=$HOME/.cache/lakestream/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   GOBIN=$HOME/.cache/lakestream/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
set -euo pipefail
cd "$(dirname "$0")"
export PATH="${GOBIN:-$HOME/.cache/lakestream/bin}:$PATH"
protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  paramserver/paramserver.proto \
  inference/grpc_predict_v2.proto
