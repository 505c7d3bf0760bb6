package dataset

import (
	"context"

	"github.com/lakestream/lakestream/datastream"
)

// Source adapts a Scanner to datastream.Source, so a Parquet scan feeds the
// same job graph as a Kafka topic: it is a bounded stream that ends with
// datastream.ErrEndOfInput. It implements datastream.Positioner through the
// Scanner (file, row group and row) for checkpoints.
//
// Batches carry datastream.NoWatermark: event time comes from a timestamp
// column through the runtime's watermark strategy. Each batch holds rows of
// one row group (without a shuffle buffer), and the receiver owns its Record.
type Source struct {
	sc   *Scanner
	done bool
}

// NewSource returns a datastream.Source over sc, which it owns and closes.
// It is a *Source (a datastream.Positioner) unless sc has a shuffle buffer,
// whose scans have no resumable position: then the returned source has no
// Position method, and a checkpointed job restarts such a scan from the
// beginning.
func NewSource(sc *Scanner) datastream.Source {
	if sc.shuffle != nil {
		return unpositioned{&Source{sc: sc}}
	}
	return &Source{sc: sc}
}

// unpositioned hides Source's Positioner methods.
type unpositioned struct{ s *Source }

func (u unpositioned) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	return u.s.ReadBatch(ctx)
}

func (u unpositioned) Close(ctx context.Context) error { return u.s.Close(ctx) }

// ReadBatch implements datastream.Source.
func (s *Source) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	if s.done {
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	s.sc.ctx = ctx
	if !s.sc.Next() {
		if err := s.sc.Err(); err != nil {
			return datastream.Batch{}, err
		}
		s.done = true
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	rec := s.sc.At()
	rec.Retain() // the receiver owns this reference
	return datastream.Batch{Record: rec, Watermark: datastream.NoWatermark}, nil
}

// Position implements datastream.Positioner.
func (s *Source) Position() ([]byte, error) { return s.sc.Position() }

// SeekTo implements datastream.Positioner.
func (s *Source) SeekTo(ctx context.Context, pos []byte) error {
	s.done = false
	return s.sc.SeekTo(ctx, pos)
}

// Close implements datastream.Source.
func (s *Source) Close(context.Context) error { return s.sc.Close() }

var (
	_ datastream.Source     = (*Source)(nil)
	_ datastream.Positioner = (*Source)(nil)
)
