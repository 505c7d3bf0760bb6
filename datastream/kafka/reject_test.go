package kafka_test

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

// TestSourceReject: rows that decode but that Reject refuses go to the
// dead-letter topic with ReasonRejected, the column and the detail, next
// to messages that do not decode; the batch comes without them and the
// position passes them all.
func TestSourceReject(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, event("u", int64(i)))
		if i == 10 {
			recs = append(recs, &kgo.Record{Key: []byte("broken"), Value: []byte(`{"user":`)})
		}
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Reject = func(rec arrow.Record) []kafka.RowError {
		var out []kafka.RowError
		ns := rec.Column(1).(*array.Int64)
		for r := range ns.Len() {
			if ns.Value(r)%7 == 3 {
				out = append(out, kafka.RowError{Row: r, Column: "n", Detail: "n ≡ 3 mod 7"})
			}
		}
		return out
	}
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	var want []int64
	for i := range int64(30) {
		if i%7 != 3 {
			want = append(want, i)
		}
	}
	got := readN(t, src, len(want))[topic+"/0"]
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	st := src.Stats()
	if st.DeadLetters[kafka.ReasonRejected] != 4 || st.DeadLetters[kafka.ReasonInvalidJSON] != 1 {
		t.Errorf("dead letters %v, want 4 rejected and 1 invalid_json", st.DeadLetters)
	}
	var p kafka.Position
	b, err := src.Position()
	if err == nil {
		err = p.UnmarshalBinary(b)
	}
	if err != nil || p.Next[0] != int64(len(recs)) {
		t.Errorf("position %v (%v), want offset %d: past every message", p.Next, err, len(recs))
	}
	var rejected []string
	for _, r := range kafkatest.ReadAll(t, brokers, dlq, true) {
		reason, _ := kafka.Header(r, kafka.HeaderReason)
		if reason != string(kafka.ReasonRejected) {
			continue
		}
		msg, _ := kafka.Header(r, kafka.HeaderError)
		off, _ := kafka.Header(r, kafka.HeaderSourceOffset)
		if want := `rejected: column "n": n ≡ 3 mod 7`; msg != want {
			t.Errorf("error header %q, want %q", msg, want)
		}
		rejected = append(rejected, off)
	}
	// Values 3, 10, 17, 24 at offsets 3, 10, 18, 25 (the broken message is
	// offset 11).
	if wantOff := []string{"3", "10", "18", "25"}; !slices.Equal(rejected, wantOff) {
		t.Errorf("rejected source offsets %v, want %v", rejected, wantOff)
	}
}
