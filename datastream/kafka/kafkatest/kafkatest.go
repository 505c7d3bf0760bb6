package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/internal/kafkaretry"
)

// EnvBrokers is the environment variable that lists the seed brokers,
// comma-separated.
const EnvBrokers = "LAKESTREAM_KAFKA_BROKERS"

// Brokers returns the seed brokers from LAKESTREAM_KAFKA_BROKERS after checking
// that the cluster answers. Under -short a missing or unreachable broker skips
// the test; otherwise it is a fatal test failure.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		miss(t, EnvBrokers+" is not set")
	}
	brokers := strings.Split(v, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafkatest: client for %s: %v", v, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).ListBrokers(ctx); err != nil {
		miss(t, "Kafka at "+v+" does not answer: "+err.Error())
	}
	return brokers
}

func miss(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("kafkatest: %s (skipped under -short)", why)
	}
	t.Fatalf("kafkatest: %s; run `make test` or `source <(deploy/local/up.sh --env)` to start the services", why)
}

// Name returns a unique name made of prefix, the test name and random hex,
// usable for topics, consumer groups and transactional IDs.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("kafkatest: random name: %v", err)
	}
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, t.Name())
	if len(n) > 80 {
		n = n[:80]
	}
	return prefix + "-" + n + "-" + hex.EncodeToString(b[:])
}

// Admin returns an admin client for brokers, closed at cleanup.
func Admin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("kafkatest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// Topic creates a uniquely named topic with the given number of partitions
// (replication factor 1) and deletes it at cleanup. configs are optional topic
// configs such as "max.message.bytes".
func Topic(t testing.TB, brokers []string, partitions int32, configs map[string]string) string {
	t.Helper()
	name := Name(t, "ls")
	adm := Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = kadm.StringPtr(v)
		}
	}
	err := kafkaretry.Do(ctx, func() error {
		resp, err := adm.CreateTopic(ctx, partitions, 1, cfg, name)
		if err == nil {
			err = resp.Err
		}
		return err
	})
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := kafkaretry.Do(ctx, func() error {
			resp, err := adm.DeleteTopics(ctx, name)
			if err == nil {
				err = resp.Error()
			}
			return err
		})
		if err != nil {
			t.Errorf("kafkatest: delete topic %s: %v", name, err)
		}
	})
	// Wait until every partition has a leader so that the first produce does
	// not race the controller.
	deadline := time.Now().Add(20 * time.Second)
	for {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			if td, ok := md.Topics[name]; ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				if ready {
					return name
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafkatest: topic %s has no leaders after 20s (last error %v)", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Produce writes records synchronously (acks=all, idempotent) and fails the
// test on any error. Records without a Topic go to topic.
func Produce(t testing.TB, brokers []string, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		t.Fatalf("kafkatest: producer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce %d records to %s: %v", len(recs), topic, err)
	}
}

// ReadAll reads every record of topic that exists when it is called and
// returns them in partition then offset order. With readCommitted the reader
// uses read-committed isolation, so aborted transactional records are skipped.
// A partition is done when its last record is at its end offset, or, since
// transaction markers and aborted batches occupy offsets that are never
// returned, when no fetch has returned anything for idle (2s).
func ReadAll(t testing.TB, brokers []string, topic string, readCommitted bool) []*kgo.Record {
	t.Helper()
	const idle = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := Admin(t, brokers)
	var ends kadm.ListedOffsets
	err := kafkaretry.Do(ctx, func() error {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
		return err
	})
	if err != nil {
		t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})}
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kafkatest: consumer: %v", err)
	}
	defer cl.Close()
	parts := map[int32][]*kgo.Record{}
	for len(want) > 0 {
		pctx, pcancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("kafkatest: read %s: %v (still waiting for partitions %v)", topic, ctx.Err(), want)
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			break // idle: the rest of every partition is markers or aborted data
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("kafkatest: fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			parts[r.Partition] = append(parts[r.Partition], r)
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	var out []*kgo.Record
	for p := int32(0); len(parts) > 0; p++ {
		out = append(out, parts[p]...)
		delete(parts, p)
	}
	return out
}
