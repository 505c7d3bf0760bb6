// Package kafkaretry retries Kafka requests that a broker answered with an
// error meaning "try again shortly": a coordinator that is moving or
// loading, a partition leader election, a transaction still being ended.
// franz-go retries many of these inside its own request path, but not
// errors carried in a response body that the admin client (kadm) or a raw
// kmsg request hands back, and never CONCURRENT_TRANSACTIONS, which kerr
// does not mark retriable although the broker means it that way (the Java
// clients retry it).
//
// Every retry is bounded: Do gives up after Timeout (one minute by
// default) and returns the last error, so a broker that stays unavailable
// is reported, never waited for forever.
package kafkaretry
