package kafka_test

import (
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

// BenchmarkDecodeClickLog8192 decodes batches of 8192 click-log JSON
// messages (24 columns) into Arrow records: the pure decoder, no Kafka.
func BenchmarkDecodeClickLog8192(b *testing.B) {
	const n = 8192
	r := rand.New(rand.NewPCG(1, 2))
	msgs := make([][]byte, n)
	total := 0
	for i := range msgs {
		msgs[i] = kafkatest.AppendClickLog(nil, r, i)
		total += len(msgs[i])
	}
	d, err := kafka.NewDecoder(kafkatest.ClickLogSchema(), nil, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Release()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Reserve(n)
		for _, m := range msgs {
			if err := d.Decode(m); err != nil {
				b.Fatal(err)
			}
		}
		d.NewRecord().Release()
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "records/s")
}
