package train_test

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/train"
)

// scans adapts a scan opener (scan) to Fit's input: the epoch's scan as a
// datastream source (one train subtask).
func scans(open func(context.Context, int) (*dataset.Scanner, error)) func(context.Context, int, int, int) (datastream.Source, error) {
	return func(ctx context.Context, epoch, _, _ int) (datastream.Source, error) {
		sc, err := open(ctx, epoch)
		if err != nil {
			return nil, err
		}
		return dataset.NewSource(sc), nil
	}
}

// memSource is a bounded datastream source over records held in memory;
// each read hands the receiver a reference of its own.
type memSource struct {
	recs []arrow.Record
	i    int
}

func (s *memSource) ReadBatch(context.Context) (datastream.Batch, error) {
	if s.i >= len(s.recs) {
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	r := s.recs[s.i]
	s.i++
	r.Retain()
	return datastream.Batch{Record: r, Watermark: datastream.NoWatermark}, nil
}

func (s *memSource) Close(context.Context) error { return nil }

// fitOne trains st on in with Fit (one train subtask).
func fitOne(ctx context.Context, st *train.Stepper, in *train.Bounded, cfg train.Config) (train.Result, error) {
	return train.Fit(ctx, []*train.Stepper{st}, in, cfg)
}
