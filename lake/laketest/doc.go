// Package laketest provides test doubles and helpers for package lake.
//
// NewMemory is an in-memory lake.Store with the same semantics as the real
// stores; Record wraps any store and records its calls, so a test can assert
// which objects were listed, opened and read. TestStore is the conformance
// suite: the local, memory and S3 stores all run it, and a new backend should
// too. MinIO (and MinIOBucket) give an integration test a fresh, uniquely
// named bucket on the MinIO server of deploy/local/up.sh, removed with its
// objects when the test ends; under go test -short such tests are skipped
// with a message, and without the server's variables they fail, pointing at
// `make test`.
package laketest
