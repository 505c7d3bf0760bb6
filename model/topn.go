package model

import (
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/train/feature"
)

// MaxTopN bounds the n of TopN.
const MaxTopN = 1000

// ErrNoCatalogue is wrapped by the error of TopN for a model without a
// catalogue: not an mf model, or one saved without (see SetCatalogue). Its
// text names the jobs that save one.
var ErrNoCatalogue = errors.New("the model has no item catalogue: top-N items need an mf version saved by trainer train, trainer ps --output or trainer schedule (versions of trainer stream have none)")

// Recommendation is the result of TopN, reused by the caller from one call to
// the next: catalogue item indices (see Catalogue.Items) and their scores,
// best first.
type Recommendation struct {
	Items  []int32
	Scores []float64
	// KnownUser is false for a user the catalogue does not hold: the items
	// are then ranked by the model's score for an unknown user (μ + b_i, the
	// items' popularity as the model learned it) and none is left out.
	KnownUser bool
}

// recommender is the top-N index of an mf model built from its catalogue:
// the items' rows of "w" copied into one contiguous matrix, and each
// catalogue user's row of "w".
type recommender struct {
	cat      *Catalogue
	k        int
	mu       float32
	sigmoid  bool
	items    []float32 // len(cat.Items) × (1+k): b_i, q_i1 … q_ik
	users    map[string]int32
	userRows []int32 // row of "w" per catalogue user, −1 when absent
	pool     sync.Pool
}

type topNScratch struct {
	heap []ranked
	nan  []ranked // the first n NaN-scored items, in catalogue order
}

// ranked is a catalogue item and its score.
type ranked struct {
	s float64
	i int32
}

// worse reports whether a ranks below b: a lower score, or the same score
// later in the catalogue (the batch's stable sort keeps catalogue order).
// NaN scores never reach the heap (see TopN).
func worse(a, b ranked) bool { return a.s < b.s || a.s == b.s && a.i > b.i }

// siftUp and siftDown keep h a heap with its worst entry first.
func siftUp(h []ranked, c int) {
	for c > 0 {
		p := (c - 1) / 2
		if !worse(h[c], h[p]) {
			return
		}
		h[c], h[p] = h[p], h[c]
		c = p
	}
}

func siftDown(h []ranked, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if c := l + 1; c < len(h) && worse(h[c], h[l]) {
			l = c
		}
		if !worse(h[l], h[i]) {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

// SetCatalogue attaches c to an mf model: Save stores it with the version,
// Load reads it back, and TopN answers from it. It builds the top-N index
// (every user and item featurized once), so it costs about one Score of
// len(c.Users)+len(c.Items) rows. Call it before the model is saved or
// shared; c must not be modified afterwards.
func (m *Model) SetCatalogue(c *Catalogue) error {
	if m.meta.Kind != KindMF {
		return fmt.Errorf("model %s: a catalogue is for %s models", m.meta.Kind, KindMF)
	}
	if err := c.check(); err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	if len(c.Items) > MaxCatalogueItems || len(c.Users) > MaxCatalogueUsers || len(c.Seen) > MaxCatalogueInteractions {
		return fmt.Errorf("catalogue of %d items, %d users, %d interactions: %w", len(c.Items), len(c.Users), len(c.Seen), ErrCatalogueTooLarge)
	}
	a := m.meta.Arch
	r := &recommender{cat: c, k: a.Factors, mu: m.dense(TableBias)[0], sigmoid: linkOf(a.Loss) == linkSigmoid}
	width := 1 + r.k
	itemRows, err := m.rowsOf(a.ItemField, c.Items)
	if err != nil {
		return fmt.Errorf("catalogue items: %w", err)
	}
	r.items = make([]float32, len(c.Items)*width)
	for i, row := range itemRows {
		if row >= 0 { // an item the model never trained is a row of zeros, as Score takes it
			copy(r.items[i*width:(i+1)*width], m.w.Row(int(row)))
		}
	}
	if r.userRows, err = m.rowsOf(a.UserField, c.Users); err != nil {
		return fmt.Errorf("catalogue users: %w", err)
	}
	r.users = make(map[string]int32, len(c.Users))
	for u, v := range c.Users {
		r.users[v] = int32(u)
	}
	r.pool.New = func() any { return new(topNScratch) }
	m.catalogue, m.rec = c, r
	return nil
}

// Catalogue returns the model's catalogue, or nil; do not modify it.
func (m *Model) Catalogue() *Catalogue { return m.catalogue }

// UserColumn and ItemColumn return the input columns of an mf model's user
// and item fields.
func (m *Model) UserColumn() string { return m.spec.Fields()[m.meta.Arch.UserField].Columns[0] }

// ItemColumn: see UserColumn.
func (m *Model) ItemColumn() string { return m.spec.Fields()[m.meta.Arch.ItemField].Columns[0] }

// rowsOf featurizes vals as the values of field's column (every other input
// null) and returns each one's row of "w", −1 for a key the model lacks.
func (m *Model) rowsOf(field int, vals []string) ([]int32, error) {
	schema, _, err := m.InputSchema()
	if err != nil {
		return nil, err
	}
	col := m.spec.Fields()[field].Columns[0]
	cols := make([]arrow.Array, schema.NumFields())
	found := false
	for j, f := range schema.Fields() {
		b := array.NewBuilder(memory.DefaultAllocator, f.Type)
		if f.Name == col {
			found = true
			for _, v := range vals {
				if err := b.AppendValueFromString(v); err != nil {
					b.Release()
					return nil, fmt.Errorf("column %s: value %q: %w", col, v, err)
				}
			}
		} else {
			b.AppendNulls(len(vals))
		}
		cols[j] = b.NewArray()
		b.Release()
		defer cols[j].Release()
	}
	if !found {
		return nil, fmt.Errorf("column %s is not an input of the model", col)
	}
	rec := array.NewRecord(schema, cols, int64(len(vals)))
	defer rec.Release()
	fz, err := feature.NewFeaturizer(m.spec, feature.WithoutLabels())
	if err != nil {
		return nil, err
	}
	var b feature.Batch
	if err := fz.Featurize(rec, &b); err != nil {
		return nil, err
	}
	rows := make([]int32, len(vals))
	for r := range rows {
		rows[r] = -1
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			if b.Fields[j] == int32(field) {
				rows[r] = m.index.lookup(b.Indices[j])
				break
			}
		}
	}
	return rows, nil
}

// TopN writes into dst the n items of the catalogue that the model scores
// highest for user (its value as text, an integer in decimal) and that
// user has not interacted with in the catalogue's interactions, best
// first, ties broken by catalogue order; fewer when fewer are left. The
// scores are those Score gives the (user, item) rows, bit for bit. n is 1
// to MaxTopN. dst's slices are reused, so a caller that keeps dst
// allocates nothing per call once they have grown. TopN is safe for
// concurrent use; it costs one pass over the catalogue's item matrix and a
// selection of n (O(items·k + items·log n)).
func (m *Model) TopN(user string, n int, dst *Recommendation) error {
	r := m.rec
	if r == nil {
		return fmt.Errorf("model %s: %w", m.meta.Kind, ErrNoCatalogue)
	}
	if n < 1 || n > MaxTopN {
		return fmt.Errorf("top N = %d: want 1 to %d", n, MaxTopN)
	}
	width := 1 + r.k
	var pu []float32
	var seen []int32
	u, known := r.users[user]
	if known {
		seen = r.cat.SeenBy(int(u))
		if row := r.userRows[u]; row >= 0 {
			pu = m.w.Row(int(row))
		}
	}
	s := r.pool.Get().(*topNScratch)
	defer r.pool.Put(s)
	// The same sums in the same order as mfKernel, so the scores are
	// Score's: μ, then b_u, then b_i, then the factor products one by one.
	base := float64(r.mu)
	if pu != nil {
		base += float64(pu[0])
	}
	// A min-heap of the best n so far, its worst on top, filled as the
	// scores are computed; the user's items (ascending, like i) are
	// skipped.
	h, nan := s.heap[:0], s.nan[:0]
	next := 0
	for i := range int32(len(r.cat.Items)) {
		if next < len(seen) && seen[next] == i {
			next++
			continue
		}
		qi := r.items[int(i)*width : int(i+1)*width]
		z := base + float64(qi[0])
		if pu != nil {
			for f := 1; f < width; f++ {
				z += float64(pu[f]) * float64(qi[f])
			}
		}
		if r.sigmoid {
			z = sigmoid(z)
		}
		if z != z {
			// NaN (a model whose training diverged): below every other
			// score, in catalogue order, as a stable sort by cmp.Compare
			// ranks it; kept aside so that the heap's order is total.
			if len(nan) < n {
				nan = append(nan, ranked{z, i})
			}
			continue
		}
		e := ranked{z, i}
		if len(h) < n {
			h = append(h, e)
			siftUp(h, len(h)-1)
		} else if worse(h[0], e) {
			h[0] = e
			siftDown(h, 0)
		}
	}
	s.heap, s.nan = h, nan
	// Pop the worst to the back: h ends up best first.
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		siftDown(h[:end], 0)
	}
	dst.Items, dst.Scores = dst.Items[:0], dst.Scores[:0]
	for _, e := range h {
		dst.Items = append(dst.Items, e.i)
		dst.Scores = append(dst.Scores, e.s)
	}
	for _, e := range nan[:min(len(nan), n-len(h))] {
		dst.Items = append(dst.Items, e.i)
		dst.Scores = append(dst.Scores, e.s)
	}
	dst.KnownUser = known
	return nil
}
