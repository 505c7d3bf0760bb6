// Package tlstest makes a self-signed certificate for 127.0.0.1, so tests
// can serve gRPC over TLS without files from outside the test.
package tlstest
