// Command image builds the Lakestream container image without a Docker
// daemon: it compiles the trainer and predictor binaries statically for
// linux (CGO off, -trimpath, no build id), packs them into one layer with
// fixed owners and times, appends that layer to an empty base (scratch) and
// writes the image as a tarball that `docker load`, `podman load`,
// `kind load image-archive` and `crane push` accept.
//
// The image is reproducible: the same source and Go toolchain give the same
// digest (file times and the creation time are the Unix epoch, entries are
// sorted). It runs as the non-root user 65532 with /trainer as entrypoint;
// pods of the predictor set their command to /predictor.
//
//	go run ./deploy/kubernetes/image -o bin/lakestream-image.tar -tag lakestream:dev
package main
