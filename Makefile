# Lakestream developer targets. `make test` is the one command that runs every
# test; it installs and starts MinIO, Kafka and the Python references itself.
GO ?= go
PKGS ?= ./...
STATICCHECK_VERSION ?= v0.6.1

.PHONY: all build fmt lint test test-unit test-integration bench generate services-up services-down quickstart image

all: build

build:
	$(GO) build ./...

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)
	$(GO) mod tidy -diff

# Every test, unit and integration, against real MinIO and Kafka.
test:
	deploy/local/test.sh

# Unit tests only: no services, no Python (integration tests skip under -short).
test-unit:
	$(GO) test -short -count=1 $(PKGS)

# The integration tests only (names containing Integration), against real services.
test-integration:
	deploy/local/test.sh -run Integration $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

generate:
	api/generate.sh

services-up:
	deploy/local/up.sh

services-down:
	deploy/local/down.sh

quickstart:
	$(GO) run ./cmd/trainer quickstart

# The container image of both binaries, built without a Docker daemon onto an
# empty base (reproducible, non-root): bin/lakestream-image.tar, for
# `docker load`, `kind load image-archive` or `crane push`. IMAGE names it.
IMAGE ?= lakestream:dev
image:
	$(GO) run ./deploy/kubernetes/image -o bin/lakestream-image.tar -tag $(IMAGE)
