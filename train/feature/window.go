package feature

import (
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"gopkg.in/yaml.v3"

	"github.com/lakestream/lakestream/datastream"
)

// Window aggregates accepted by Window.Agg.
const (
	AggCount    = "count"
	AggSum      = "sum"
	AggMean     = "mean"
	AggDistinct = "distinct"
	AggLast     = "last"
	AggRatio    = "ratio"
)

// MaxWindowBuckets bounds over/resolution, so a key's state stays small.
const MaxWindowBuckets = 1440

var windowAggs = map[string]datastream.WindowAgg{
	AggCount: datastream.WindowCount, AggSum: datastream.WindowSum, AggMean: datastream.WindowMean,
	AggDistinct: datastream.WindowDistinct, AggLast: datastream.WindowLast, AggRatio: datastream.WindowRatio,
}

// Window is a windowed per-key aggregate feature: for each row, an
// aggregate over the earlier events of the row's key within a sliding
// window of event time (see the package documentation).
type Window struct {
	// Name is the column the window adds; fields, crosses and derived
	// columns name it like a record column.
	Name string `yaml:"name"`
	// Key is the column the aggregate is kept per (device_ip).
	Key string `yaml:"key"`
	// Agg is count, sum, mean, distinct, last or ratio.
	Agg string `yaml:"agg"`
	// Column is the aggregated column: required except for count, where
	// it restricts the count to events whose value is set (nonzero).
	Column string `yaml:"column,omitempty"`
	// Denominator, for ratio, names the column whose set values are the
	// denominator; empty means every event.
	Denominator string `yaml:"denominator,omitempty"`
	// Over is the window length, a duration such as 1h, 30m or 24h.
	Over string `yaml:"over"`
	// Resolution is the bucket width of the sliding window; Over must be a
	// multiple of it. Empty means Over/60 (1 minute for 1h).
	Resolution string `yaml:"resolution,omitempty"`

	line int
}

// UnmarshalYAML records the line of the entry for error messages.
func (w *Window) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Window // without the method, so Decode does not recurse
	w.line, err = decodeEntry(n, (*plain)(w))
	return err
}

// window returns the spec's window named name, or nil.
func (s *Spec) window(name string) *Window {
	for i := range s.Windows {
		if s.Windows[i].Name == name {
			return &s.Windows[i]
		}
	}
	return nil
}

// durations parses Over and Resolution.
func (w *Window) durations() (over, res time.Duration, err error) {
	if over, err = time.ParseDuration(w.Over); err != nil || over <= 0 {
		return 0, 0, fmt.Errorf("over %q: want a positive duration such as 1h, 30m or 24h", w.Over)
	}
	res = over / 60
	if w.Resolution != "" {
		if res, err = time.ParseDuration(w.Resolution); err != nil || res <= 0 {
			return 0, 0, fmt.Errorf("resolution %q: want a positive duration such as 1m", w.Resolution)
		}
	}
	switch {
	case res%time.Millisecond != 0:
		return 0, 0, fmt.Errorf("resolution %v: want whole milliseconds", res)
	case over%res != 0:
		return 0, 0, fmt.Errorf("over %v is not a multiple of resolution %v", over, res)
	case over/res > MaxWindowBuckets:
		return 0, 0, fmt.Errorf("over %v / resolution %v is %d buckets, more than %d: take a coarser resolution", over, res, over/res, MaxWindowBuckets)
	}
	return over, res, nil
}

// validateWindows checks the windows on their own: names, aggregates,
// columns and durations, and that the spec has an event_time.
func (s *Spec) validateWindows() error {
	names := map[string]int{}
	for _, d := range s.derivations() {
		names[d.Name] = d.line
	}
	for i := range s.Windows {
		w := &s.Windows[i]
		bad := func(format string, args ...any) error {
			return &SpecError{Line: w.line, Column: w.Name, Reason: "window: " + fmt.Sprintf(format, args...)}
		}
		if w.Name == "" {
			return &SpecError{Line: w.line, Reason: "window has no name"}
		}
		if prev, dup := names[w.Name]; dup {
			return bad("name already used on line %d", prev)
		}
		names[w.Name] = w.line
		if s.EventTime == "" {
			return bad("windows need the spec's event_time (int64 ms or a timestamp; a derived column such as epoch_ms(hour, \"YYMMDDHH\") works)")
		}
		if w.Key == "" {
			return bad("no key: the column the aggregate is kept per")
		}
		if _, ok := windowAggs[w.Agg]; !ok {
			return bad("agg %q: want count, sum, mean, distinct, last or ratio", w.Agg)
		}
		if w.Column == "" && w.Agg != AggCount {
			return bad("agg %s needs a column", w.Agg)
		}
		if w.Denominator != "" && w.Agg != AggRatio {
			return bad("a denominator is only for agg ratio")
		}
		for _, c := range []string{w.Key, w.Column, w.Denominator, s.EventTime} {
			if s.window(c) != nil {
				return bad("reads window %q: a window's key, column and event time must be record or derived columns", c)
			}
		}
		if _, _, err := w.durations(); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// WindowTypes returns the Arrow types of the spec's window columns, by
// name: int64 for count and distinct, float64 otherwise.
func (s *Spec) WindowTypes() map[string]arrow.DataType {
	m := map[string]arrow.DataType{}
	for _, w := range s.Windows {
		if windowAggs[w.Agg].Int() {
			m[w.Name] = arrow.PrimitiveTypes.Int64
		} else {
			m[w.Name] = arrow.PrimitiveTypes.Float64
		}
	}
	return m
}

// AddWindows appends the spec's windowed features to in: a step that
// computes the derived columns the windows read (the event time, a derived
// key), then datastream.WindowFeatures, which drops those again so the
// featurizer derives them as usual. Both run in one subtask, named name
// and name+"-derive". A spec without windows returns in. The spec must be
// valid.
func AddWindows(in *datastream.Stream, name string, s *Spec) (*datastream.Stream, error) {
	if len(s.Windows) == 0 {
		return in, nil
	}
	cfg := datastream.FeatureWindows{TimeColumn: s.EventTime}
	reads := []string{s.EventTime}
	for _, w := range s.Windows {
		over, res, err := w.durations()
		if err != nil {
			return nil, &SpecError{Line: w.line, Column: w.Name, Reason: "window: " + err.Error()}
		}
		cfg.Windows = append(cfg.Windows, datastream.FeatureWindow{Name: w.Name, Key: w.Key, Agg: windowAggs[w.Agg],
			Column: w.Column, Denominator: w.Denominator, Over: over, Resolution: res})
		reads = append(reads, w.Key, w.Column, w.Denominator)
	}
	d, err := NewDeriver(s, reads...)
	if err != nil {
		return nil, err
	}
	if !d.Empty() {
		for _, i := range d.outputs {
			cfg.Drop = append(cfg.Drop, d.ds[i].Name)
		}
		// The derived columns view the Deriver's buffers until its next
		// call: the window operator, chained to this step (one subtask, a
		// forward edge), reads them before that and drops them.
		in = in.Map(name+"-derive", d.Derive, datastream.Parallelism(1))
	}
	return datastream.WindowFeatures(in, name, cfg), nil
}

// windowSchema returns schema, the records' before the windows, with the
// window columns the runtime appends. With inputs, it first checks that
// the windows' key, value and event-time columns are there (or derived).
func (s *Spec) windowSchema(schema *arrow.Schema, inputs bool) (*arrow.Schema, error) {
	if len(s.Windows) == 0 {
		return schema, nil
	}
	if inputs {
		reads := []string{s.EventTime}
		for _, w := range s.Windows {
			reads = append(reads, w.Key, w.Column, w.Denominator)
		}
		d, err := NewDeriver(s, reads...)
		if err != nil {
			return nil, err
		}
		have := schema
		if !d.Empty() {
			if err := d.bind(schema); err != nil {
				return nil, err
			}
			have = d.out
		}
		for _, w := range s.Windows {
			for _, c := range []string{w.Key, w.Column, w.Denominator} {
				if c != "" && len(have.FieldIndices(c)) == 0 {
					return nil, &SpecError{Line: w.line, Column: c, Reason: fmt.Sprintf("window %s: not in the record schema (has %s)", w.Name, columnList(schema))}
				}
			}
		}
	}
	fields := append([]arrow.Field(nil), schema.Fields()...)
	types := s.WindowTypes()
	for _, w := range s.Windows {
		if len(schema.FieldIndices(w.Name)) == 0 {
			fields = append(fields, arrow.Field{Name: w.Name, Type: types[w.Name], Nullable: true})
		}
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md), nil
}
