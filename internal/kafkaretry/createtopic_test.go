package kafkaretry_test

import (
	"context"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/internal/kafkaretry"
)

// TestCreateTopicIntegration: a missing topic is created with the partitions
// asked for; an existing one is left as it is, without an error.
func TestCreateTopicIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := kafkatest.Name(t, "create")
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
	if err := kafkaretry.CreateTopic(ctx, adm, topic, 3); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := kafkaretry.CreateTopic(ctx, adm, topic, 5); err != nil {
		t.Fatalf("create again: %v", err)
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td[topic].Partitions); n != 3 {
		t.Errorf("%s has %d partitions, want the 3 it was created with", topic, n)
	}
}
