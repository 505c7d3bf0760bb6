package publish

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/model"
)

// window keeps the latest rows a job scored test-then-train, up to max, as
// the records they came in with their prequential scores, labels and
// weights. It counts the rows observed since the last version was cut.
type window struct {
	max    int
	chunks []chunk // oldest first
	rows   int     // in chunks
	since  int     // rows observed since mark

	// Scratch of last and score, reused.
	s, y, w, cs []float64
}

type chunk struct {
	rec            arrow.Record
	scores, labels []float64
	weights        []float64 // nil: every weight is 1
}

func (w *window) add(rec arrow.Record, scores, labels, weights []float64) {
	n := int(rec.NumRows())
	if n == 0 || w.max == 0 {
		return
	}
	if len(scores) != n || len(labels) != n || (weights != nil && len(weights) != n) {
		panic(fmt.Sprintf("publish: record of %d rows observed with %d scores, %d labels, %d weights", n, len(scores), len(labels), len(weights)))
	}
	rec.Retain()
	c := chunk{rec: rec, scores: append([]float64(nil), scores...), labels: append([]float64(nil), labels...)}
	if weights != nil {
		c.weights = append([]float64(nil), weights...)
	}
	w.chunks = append(w.chunks, c)
	w.rows += n
	w.since += n
	for len(w.chunks) > 1 && w.rows-int(w.chunks[0].rec.NumRows()) >= w.max {
		w.rows -= int(w.chunks[0].rec.NumRows())
		w.chunks[0].rec.Release()
		w.chunks[0] = chunk{}
		w.chunks = w.chunks[1:]
	}
}

// mark starts counting rows for the next version.
func (w *window) mark() { w.since = 0 }

// judged is how many of the latest rows the gate judges on: those observed
// since the previous version, at least minRows (as far as kept), at most
// max.
func (w *window) judged(minRows int) int {
	return min(max(w.since, minRows), w.max, w.rows)
}

// last returns the scores, labels and weights of the latest n rows; the
// slices are reused by the next call.
func (w *window) last(n int) (scores, labels, weights []float64) {
	w.s, w.y, w.w = w.s[:0], w.y[:0], w.w[:0]
	w.each(n, func(c *chunk, lo, hi int) {
		w.s = append(w.s, c.scores[lo:hi]...)
		w.y = append(w.y, c.labels[lo:hi]...)
		for i := lo; i < hi; i++ {
			if c.weights == nil {
				w.w = append(w.w, 1)
			} else {
				w.w = append(w.w, c.weights[i])
			}
		}
	})
	return w.s, w.y, w.w
}

// score scores the latest n rows with m.
func (w *window) score(m *model.Model, n int) ([]float64, error) {
	w.cs = w.cs[:0]
	var err error
	w.each(n, func(c *chunk, lo, hi int) {
		if err != nil {
			return
		}
		rec := c.rec
		if lo > 0 || hi < int(rec.NumRows()) {
			rec = rec.NewSlice(int64(lo), int64(hi))
			defer rec.Release()
		}
		at := len(w.cs)
		w.cs = append(w.cs, make([]float64, hi-lo)...)
		err = m.Score(rec, w.cs[at:])
	})
	return w.cs, err
}

// each calls f with the row ranges of the latest n rows, oldest first.
func (w *window) each(n int, f func(c *chunk, lo, hi int)) {
	skip := w.rows - n
	for i := range w.chunks {
		c := &w.chunks[i]
		rows := int(c.rec.NumRows())
		if skip >= rows {
			skip -= rows
			continue
		}
		f(c, skip, rows)
		skip = 0
	}
}

func (w *window) release() {
	for _, c := range w.chunks {
		c.rec.Release()
	}
	w.chunks, w.rows = nil, 0
}
