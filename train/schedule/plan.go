package schedule

import (
	"maps"
	"slices"
	"time"
)

// Plan is what one interval's run reads and trains: every template of the
// job rendered for the interval.
type Plan struct {
	Interval Interval
	// Window are the intervals trained on, oldest first; the last is
	// Interval.
	Window []Interval
	// Eval are the held-out intervals after Interval.
	Eval []Interval
	// TrainPartitions and EvalPartitions are the partition folders (keys
	// under the lake root, without a trailing slash) the sensor waits for.
	TrainPartitions, EvalPartitions []string
	// Train holds the rendered "trainer train" flags (without dashes). "dt"
	// is the window's dt range unless the job sets it.
	Train map[string]string
	// EvalDT is the dt range of the held-out slice ("a" or "a..b").
	EvalDT string
	// EvalWhere is the row filter of the held-out slice: the training
	// "where", if any.
	EvalWhere string
}

// Plan renders the job's templates for iv.
func (j *Job) Plan(iv Interval) (*Plan, error) {
	p := &Plan{Interval: iv, Train: map[string]string{}}
	p.Window = make([]Interval, j.Window)
	p.Window[j.Window-1] = iv
	for i := j.Window - 2; i >= 0; i-- {
		p.Window[i] = j.Before(p.Window[i+1])
	}
	next := iv
	for range j.Evaluate.Intervals {
		next = j.After(next)
		p.Eval = append(p.Eval, next)
	}
	folders := func(ivs []Interval) ([]string, error) {
		var out []string
		for _, w := range ivs {
			part, err := j.partition.render(w)
			if err != nil {
				return nil, err
			}
			f := j.Data + "/" + part
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
		return out, nil
	}
	var err error
	if p.TrainPartitions, err = folders(p.Window); err != nil {
		return nil, err
	}
	if p.EvalPartitions, err = folders(p.Eval); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(j.train)) {
		if p.Train[k], err = j.train[k].render(iv); err != nil {
			return nil, err
		}
	}
	if _, ok := p.Train["dt"]; !ok {
		p.Train["dt"] = dtRange(p.Window)
	}
	p.EvalDT = dtRange(p.Eval)
	p.EvalWhere = p.Train["where"]
	return p, nil
}

// dtRange is the dt range of the days the intervals start on.
func dtRange(ivs []Interval) string {
	a, b := ivs[0].Start.Format(time.DateOnly), ivs[len(ivs)-1].Start.Format(time.DateOnly)
	if a == b {
		return a
	}
	return a + ".." + b
}
