// Package kafkatest holds helpers for tests that run against the real Kafka
// broker named by LAKESTREAM_KAFKA_BROKERS (started by deploy/local/up.sh).
//
// Every helper takes a testing.TB, creates uniquely named resources so that
// parallel test binaries never collide, and removes them at cleanup. Under
// `go test -short` a missing broker skips the test with a message; otherwise
// it fails the test and says how to start the services.
//
// StartBroker runs a broker of the test's own from the same installed jars
// (LAKESTREAM_KAFKA_LIBS), for tests that stop and restart it.
package kafkatest
