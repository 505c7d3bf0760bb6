package feature

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
)

// Stats accumulates the statistics of a pass over training data that a spec's
// standardize fields need: the mean and standard deviation of each such
// field's value after impute, clip and log1p. Feed it records with Add (or
// merge the Stats of parallel workers with Merge), then Freeze it into a
// fitted spec. A Stats is not safe for concurrent use.
type Stats struct {
	f    *Featurizer
	acc  []moments // by numeric field index; only standardize fields are used
	rows int64
}

// moments is a running count, mean and sum of squared deviations (Welford
// 1962; Chan, Golub & LeVeque 1979 for merging).
type moments struct {
	n    float64
	mean float64
	m2   float64
}

func (m *moments) add(x float64) {
	m.n++
	d := x - m.mean
	m.mean += d / m.n
	m.m2 += d * (x - m.mean)
}

func (m *moments) merge(o moments) {
	if o.n == 0 {
		return
	}
	n := m.n + o.n
	d := o.mean - m.mean
	m.mean += d * o.n / n
	m.m2 += o.m2 + d*d*m.n*o.n/n
	m.n = n
}

// NewStats returns an empty accumulator for spec, which may still lack the
// statistics Stats will fit. The label and weight columns are not read.
func NewStats(spec *Spec) (*Stats, error) {
	f, err := newFeaturizer(spec, options{noLabels: true, allowUnfitted: true})
	if err != nil {
		return nil, err
	}
	return &Stats{f: f, acc: make([]moments, len(f.spec.Numeric))}, nil
}

// Add accumulates the standardize fields of rec. Invalid values follow each
// field's invalid policy, exactly as in featurization, so an error here is the
// error training would hit.
func (s *Stats) Add(rec arrow.Record) error {
	f := s.f
	if f.deriver != nil {
		var err error
		if rec, err = f.deriver.Derive(rec); err != nil {
			return err
		}
		defer rec.Release()
	}
	if sc := rec.Schema(); sc != f.bound {
		if f.bound == nil || !sc.Equal(f.bound) {
			if err := f.bind(sc); err != nil {
				return err
			}
		}
		f.bound = sc
	}
	n := int(rec.NumRows())
	for i := range f.spec.Numeric {
		fd := &f.fields[i]
		if !fd.num.Standardize {
			continue
		}
		f.floats = grow(f.floats, n)
		floatColumn(rec.Column(fd.col), f.floats)
		m := &s.acc[i]
		for r, x := range f.floats {
			v, err := fd.prepare(x, r)
			if err != nil {
				return err
			}
			m.add(v)
		}
	}
	s.rows += int64(n)
	return nil
}

// Merge adds the statistics of o, which must have been created from the same
// spec, as if o's records had been added to s.
func (s *Stats) Merge(o *Stats) error {
	if len(o.acc) != len(s.acc) {
		return fmt.Errorf("feature: merge stats of %d numeric fields into %d", len(o.acc), len(s.acc))
	}
	for i := range s.acc {
		s.acc[i].merge(o.acc[i])
	}
	s.rows += o.rows
	return nil
}

// Rows returns the number of rows added so far.
func (s *Stats) Rows() int64 { return s.rows }

// Freeze returns a copy of the spec with the mean and the population
// standard deviation of every standardize field set. A field with zero
// variance gets std 1 (its standardized value is then 0), so a constant
// column does not divide by zero. Freeze fails when no rows were added.
func (s *Stats) Freeze() (*Spec, error) {
	out := s.f.spec.Clone()
	for i := range out.Numeric {
		n := &out.Numeric[i]
		if !n.Standardize {
			continue
		}
		m := s.acc[i]
		if m.n == 0 {
			return nil, &SpecError{Line: n.line, Column: n.Column, Reason: "standardize: no rows were added to the statistics"}
		}
		mean, std := m.mean, math.Sqrt(m.m2/m.n)
		if !(std > 0) {
			std = 1
		}
		n.Mean, n.Std = &mean, &std
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}
