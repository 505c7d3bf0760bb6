package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// reusingBatches hands out copies of bs in one buffer it overwrites at
// every Next, as SourceBatches does.
type reusingBatches struct {
	bs  []*Batch
	i   int
	buf Batch
}

func (r *reusingBatches) Next(context.Context) bool {
	if r.i == len(r.bs) {
		return false
	}
	b := r.bs[r.i]
	r.i++
	r.buf = Batch{Indptr: append(r.buf.Indptr[:0], b.Indptr...), Indices: append(r.buf.Indices[:0], b.Indices...),
		Values: append(r.buf.Values[:0], b.Values...), Fields: append(r.buf.Fields[:0], b.Fields...),
		Labels: append(r.buf.Labels[:0], b.Labels...), Weights: b.Weights}
	return true
}
func (r *reusingBatches) At() *Batch { return &r.buf }
func (r *reusingBatches) Err() error { return nil }

// TestLookahead: over an iterator that reuses its buffer, At and Peek hold
// batches i and i+1 intact at the same time, Peek's *Batch becomes the
// next At, and the end comes after the last batch, with Peek nil there;
// read in the caller's goroutine and by StartLookahead's reader.
func TestLookahead(t *testing.T) {
	ctx := context.Background()
	for _, depth := range []int{0, 1, 3} { // 0: NewLookahead
		for _, n := range []int{0, 1, 2, 7} {
			bs := aheadBatches(max(n, 1))[:n]
			if n > 1 {
				bs[1].Weights = nil // both kinds of weights, in the same buffer over time
			}
			la := NewLookahead(&reusingBatches{bs: bs})
			if depth > 0 {
				la = StartLookahead(ctx, &reusingBatches{bs: bs}, depth)
			}
			var prevPeek *Batch
			i := 0
			for la.Next(ctx) {
				if prevPeek != nil && la.At() != prevPeek {
					t.Fatalf("depth %d, %d batches: Peek of batch %d is not At of batch %d", depth, n, i-1, i)
				}
				if !reflect.DeepEqual(la.At(), bs[i]) {
					t.Fatalf("depth %d, %d batches: At %d differs from the input", depth, n, i)
				}
				prevPeek = la.Peek()
				if i+1 < n {
					if !reflect.DeepEqual(prevPeek, bs[i+1]) {
						t.Fatalf("depth %d, %d batches: Peek at %d differs from batch %d", depth, n, i, i+1)
					}
				} else if prevPeek != nil {
					t.Fatalf("depth %d, %d batches: Peek at the last batch is not nil", depth, n)
				}
				i++
			}
			la.Close()
			if i != n || la.Err() != nil {
				t.Errorf("depth %d, %d batches: got %d, err %v", depth, n, i, la.Err())
			}
		}
	}
}

// failingBatches ends with err after its batches.
type failingBatches struct {
	sliceBatches
	err error
}

func (f *failingBatches) Err() error { return f.err }

// TestStartLookaheadStops: the reader's source error reaches Err after the
// last batch; a Next whose ctx ends returns false with ctx's error; Close
// stops a reader that is blocked with a full queue (run with -race).
func TestStartLookaheadStops(t *testing.T) {
	bs := aheadBatches(8)
	boom := errors.New("boom")
	la := StartLookahead(context.Background(), &failingBatches{sliceBatches: sliceBatches{bs: bs[:3]}, err: boom}, 2)
	n := 0
	for la.Next(context.Background()) {
		n++
	}
	la.Close()
	if n != 3 || !errors.Is(la.Err(), boom) {
		t.Errorf("got %d batches and error %v, want 3 and %v", n, la.Err(), boom)
	}

	la = StartLookahead(context.Background(), &sliceBatches{bs: bs}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	if !la.Next(ctx) {
		t.Fatal("no first batch")
	}
	cancel()
	for la.Next(ctx) {
	}
	if !errors.Is(la.Err(), context.Canceled) {
		t.Errorf("Err after a canceled Next: %v", la.Err())
	}
	la.Close()
	la.Close()

	la = StartLookahead(context.Background(), &sliceBatches{bs: bs}, 1)
	la.Next(context.Background())
	la.Close() // the reader waits with a full queue
}

// cycleBatches hands out bs over and over.
type cycleBatches struct {
	bs []*Batch
	i  int
}

func (c *cycleBatches) Next(context.Context) bool { c.i++; return true }
func (c *cycleBatches) At() *Batch                { return c.bs[c.i%len(c.bs)] }
func (c *cycleBatches) Err() error                { return nil }

// BenchmarkLookahead256 is the cost Lookahead adds per mini-batch of 256
// rows (1–24 features each): one copy.
func BenchmarkLookahead256(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	bs := split(randomBatch(rng, 256*8, 24, 1<<20, 24, func() float32 { return 1 }), 256)
	ctx := context.Background()
	la := NewLookahead(&cycleBatches{bs: bs})
	b.ReportAllocs()
	for b.Loop() {
		la.Next(ctx)
	}
}
