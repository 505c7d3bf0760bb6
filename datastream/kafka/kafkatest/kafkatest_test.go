package kafkatest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

func TestTopicProduceReadAll(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 3, map[string]string{"retention.ms": "3600000"})
	if !strings.HasPrefix(topic, "ls-TestTopicProduceReadAll-") {
		t.Errorf("topic name %q does not name the test", topic)
	}
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%d", i)})
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	got := kafkatest.ReadAll(t, brokers, topic, false)
	if len(got) != 30 {
		t.Fatalf("ReadAll returned %d records, want 30", len(got))
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	if len(seen) != 30 {
		t.Fatalf("ReadAll returned %d distinct records, want 30", len(seen))
	}
	if a, b := kafkatest.Name(t, "x"), kafkatest.Name(t, "x"); a == b {
		t.Fatalf("Name is not unique: %s", a)
	}
}
