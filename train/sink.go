package train

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/train/feature"
)

// Sink is the training operator of the datastream runtime: a
// datastream.Sink that featurizes every record reaching it, cuts it into
// mini-batches and trains on each with a Stepper, in arrival order. It makes
// a single pass, so it serves unbounded sources (a Kafka topic) as well as a
// bounded scan run as a stream:
//
//	job := datastream.NewJob("train")
//	job.Source("clicks", dataset.NewSource(scan)).To("train", train.NewSink(stepper, fz, 512))
//	summary, err := job.Run(ctx)
//
// Epochs, validation and early stopping over bounded data are Run's job;
// Sink is the one-pass form. The runtime calls WriteBatch from one goroutine;
// Stats may be called concurrently.
type Sink struct {
	st  *Stepper
	fz  *feature.Featurizer
	cut cutter

	// Observe, when set, is called after each record was trained with the
	// record, the predictions the model made for its rows before learning
	// them (Outputs() per row) and the featurized batch (labels, weights):
	// the test half of test-then-train. The slices are reused after it
	// returns.
	Observe func(ctx context.Context, rec arrow.Record, preds []float64, b *feature.Batch) error
	preds   []float64

	mu    sync.Mutex
	stats SinkStats
}

// SinkStats are the running totals of a Sink.
type SinkStats struct {
	Records  int64
	Examples int64
	Steps    int64
	// Positives counts the examples whose label is not 0 (for a binary
	// label, the positive class); 0 or Examples means one class only.
	Positives int64
	Loss      float64 // summed weighted loss before each update
	Weight    float64
}

// NewSink returns a Sink training st's model on records featurized by fz, in
// mini-batches of batchSize rows (DefaultBatchSize if ≤ 0).
func NewSink(st *Stepper, fz *feature.Featurizer, batchSize int) *Sink {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	return &Sink{st: st, fz: fz, cut: cutter{size: batchSize}}
}

// WriteBatch implements datastream.Sink: it trains on b's rows. The first
// step error (bad label, divergence, store failure) fails the job.
func (s *Sink) WriteBatch(ctx context.Context, b datastream.Batch) error {
	if b.Record == nil {
		return nil
	}
	s.mu.Lock()
	rec := s.stats.Records + 1
	s.mu.Unlock()
	if err := s.fz.Featurize(b.Record, &s.cut.fb); err != nil {
		return fmt.Errorf("train sink: featurize record %d: %w", rec, err)
	}
	s.cut.lo = 0
	s.preds = s.preds[:0]
	var pos int64
	for _, y := range s.cut.fb.Labels {
		if y != 0 {
			pos++
		}
	}
	var ex, steps int64
	var loss, weight float64
	for s.cut.next() {
		r, err := s.st.Step(ctx, &s.cut.cur)
		if err != nil {
			return fmt.Errorf("train sink: record %d: %w", rec, err)
		}
		if s.Observe != nil {
			s.preds = append(s.preds, r.Predictions...)
		}
		ex += int64(r.Examples)
		steps++
		loss += r.Loss
		weight += r.Weight
	}
	if s.Observe != nil {
		if err := s.Observe(ctx, b.Record, s.preds, &s.cut.fb); err != nil {
			return fmt.Errorf("train sink: record %d: %w", rec, err)
		}
	}
	s.mu.Lock()
	s.stats.Records++
	s.stats.Examples += ex
	s.stats.Positives += pos
	s.stats.Steps += steps
	s.stats.Loss += loss
	s.stats.Weight += weight
	s.mu.Unlock()
	return nil
}

// Close implements datastream.Sink. The parameters stay in the store; call
// the Stepper's Export to read them.
func (s *Sink) Close(context.Context) error { return nil }

// Stats returns the totals so far.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
