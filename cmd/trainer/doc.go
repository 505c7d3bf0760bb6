// Command trainer trains, evaluates and publishes Lakestream models over the
// data lake and Kafka. Run "trainer help" for the subcommands.
package main
