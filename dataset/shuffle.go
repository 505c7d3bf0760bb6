package dataset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ShuffleSplits returns a copy of splits in an order drawn from seed
// (PCG, Fisher–Yates). Give every epoch its own seed (for example
// base+epoch) and record it, so a run can be repeated.
func ShuffleSplits(splits []Split, seed uint64) []Split {
	out := slices.Clone(splits)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// AssignSplits returns the splits of worker (0-based) out of workers:
// every workers-th split starting at worker. The workers' shares are
// disjoint and together cover splits. It panics if worker is not in
// [0, workers).
func AssignSplits(splits []Split, worker, workers int) []Split {
	if workers <= 0 || worker < 0 || worker >= workers {
		panic(fmt.Sprintf("dataset: AssignSplits worker %d of %d", worker, workers))
	}
	var out []Split
	for i := worker; i < len(splits); i += workers {
		out = append(out, splits[i])
	}
	return out
}

// TrainValidation divides splits into a training and a validation part by
// row group: a split goes to validation when a hash of (seed, key, row
// group) falls below fraction. The assignment of a split does not depend on
// the other splits, so it is stable when files are added to a table.
func TrainValidation(splits []Split, fraction float64, seed uint64) (train, validation []Split) {
	for _, s := range splits {
		h := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		h.Write(b[:])
		h.Write([]byte(s.Key))
		binary.LittleEndian.PutUint64(b[:], uint64(s.RowGroup))
		h.Write(b[:])
		u := float64(h.Sum64()>>11) / (1 << 53)
		if u < fraction {
			validation = append(validation, s)
		} else {
			train = append(train, s)
		}
	}
	return train, validation
}

// shuffler implements ScanOptions.ShuffleBuffer: fill a window of records,
// permute its rows, hand them out in batches.
type shuffler struct {
	schema *arrow.Schema
	opts   ScanOptions
	rng    *rand.Rand
	window arrow.Record // permuted rows being handed out
	off    int64
	done   bool
}

func newShuffler(schema *arrow.Schema, opts ScanOptions) *shuffler {
	return &shuffler{schema: schema, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x2545f4914f6cdd1d))}
}

func (s *shuffler) next(read func() (arrow.Record, error)) (arrow.Record, error) {
	if s.window == nil || s.off >= s.window.NumRows() {
		if err := s.fill(read); err != nil {
			return nil, err
		}
	}
	end := min(s.off+int64(s.opts.BatchSize), s.window.NumRows())
	rec := s.window.NewSlice(s.off, end)
	s.off = end
	return rec, nil
}

func (s *shuffler) fill(read func() (arrow.Record, error)) error {
	s.release()
	if s.done {
		return io.EOF
	}
	var recs []arrow.Record
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var rows int64
	for rows < int64(s.opts.ShuffleBuffer) {
		r, err := read()
		if errors.Is(err, io.EOF) {
			s.done = true
			break
		}
		if err != nil {
			return err
		}
		recs = append(recs, r)
		rows += r.NumRows()
	}
	if rows == 0 {
		return io.EOF
	}
	perm := make([]int64, rows)
	for i := range perm {
		perm[i] = int64(i)
	}
	s.rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	idx := array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, len(perm),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(perm))}, nil, 0, 0))
	defer idx.Release()
	cols := make([]arrow.Array, s.schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		whole, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return fmt.Errorf("dataset: shuffle column %q: %w", s.schema.Field(i).Name, err)
		}
		taken, err := compute.TakeArray(context.Background(), whole, idx)
		whole.Release()
		if err != nil {
			return fmt.Errorf("dataset: shuffle column %q: %w", s.schema.Field(i).Name, err)
		}
		cols[i] = taken
	}
	s.window = array.NewRecord(s.schema, cols, rows)
	s.off = 0
	return nil
}

func (s *shuffler) release() {
	if s.window != nil {
		s.window.Release()
		s.window = nil
	}
}
