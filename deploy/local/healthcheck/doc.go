// Command healthcheck waits until the local test services answer real requests:
// MinIO lists buckets with the configured credentials, and the Kafka broker
// creates, lists and deletes a topic. deploy/local/up.sh runs it after start.
package main
