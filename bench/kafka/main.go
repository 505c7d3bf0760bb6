package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/kafka:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	brokers := fs.String("brokers", os.Getenv(kafkatest.EnvBrokers), "seed brokers, comma-separated (default $LAKESTREAM_KAFKA_BROKERS)")
	records := fs.Int("records", 1_000_000, "messages to produce and read")
	partitions := fs.Int("partitions", 4, "partitions of the benchmark topic")
	batchRows := fs.Int("batch-rows", 8192, "Source MaxBatchRows")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the read phase to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" {
		return errors.New("no brokers: set -brokers or LAKESTREAM_KAFKA_BROKERS (source <(deploy/local/up.sh --env))")
	}
	seeds := strings.Split(*brokers, ",")
	ctx := context.Background()

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerLinger(10*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	topic := "lakestream-bench-" + hex.EncodeToString(suffix[:])
	dlq := topic + "-dlq"
	for _, t := range []struct {
		name string
		n    int32
	}{{topic, int32(*partitions)}, {dlq, 1}} {
		resp, err := adm.CreateTopic(ctx, t.n, 1, nil, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	defer adm.DeleteTopics(context.Background(), topic, dlq) //nolint:errcheck // best effort

	// Produce.
	r := mrand.New(mrand.NewPCG(1, 2))
	msgs := make([][]byte, 0, 8192) // kept for the decoder-only timing
	var total int64
	start := time.Now()
	errc := make(chan error, 1)
	for i := range *records {
		v := kafkatest.AppendClickLog(nil, r, i)
		total += int64(len(v))
		if len(msgs) < cap(msgs) {
			msgs = append(msgs, v)
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("produce: %w", err)
	default:
	}
	fmt.Printf("produced %d messages, %.1f MB (avg %d B) in %s\n", *records, float64(total)/1e6, total/int64(*records), time.Since(start).Round(time.Millisecond))

	// Read.
	cfg := kafka.DefaultSourceConfig()
	cfg.Brokers, cfg.Topic, cfg.DeadLetterTopic, cfg.Schema = seeds, topic, dlq, kafkatest.ClickLogSchema()
	cfg.Assignment, cfg.Start, cfg.MaxBatchRows = kafka.AssignAll, kafka.StartEarliest, *batchRows
	cfg.MaxBatchBytes = 16 << 20
	src, err := kafka.NewSource(cfg)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0 := cpuTime()
	start = time.Now()
	var rows, batches int64
	for rows < int64(*records) {
		b, err := src.ReadBatch(ctx)
		if err != nil {
			return err
		}
		if b.Record == nil {
			continue // a heartbeat announcing a partition
		}
		rows += b.Record.NumRows()
		batches++
		b.Record.Release()
	}
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	mb := float64(total) / 1e6
	fmt.Printf("read %d rows in %d batches: wall %s, cpu %s (%.2f cores)\n", rows, batches, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), cpu.Seconds()/wall.Seconds())
	fmt.Printf("throughput: %.0f records/s, %.1f MB/s wall; %.0f records/s, %.1f MB/s per core (per CPU second)\n",
		float64(rows)/wall.Seconds(), mb/wall.Seconds(), float64(rows)/cpu.Seconds(), mb/cpu.Seconds())

	// Decoder alone on the same kind of messages, to estimate the decode
	// share of the read phase's CPU.
	dec, err := kafka.NewDecoder(kafkatest.ClickLogSchema(), nil, 1<<20)
	if err != nil {
		return err
	}
	defer dec.Release()
	d0 := cpuTime()
	var decoded int64
	for decoded < rows {
		for _, m := range msgs {
			if err := dec.Decode(m); err != nil {
				return err
			}
		}
		dec.NewRecord().Release()
		decoded += int64(len(msgs))
	}
	dcpu := cpuTime() - d0
	perRow := dcpu.Seconds() / float64(decoded)
	fmt.Printf("decoder alone: %.0f records/s per core; estimated JSON decoding share of the read CPU: %.0f%%\n",
		1/perRow, 100*perRow*float64(rows)/cpu.Seconds())
	return nil
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
