package feature_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/feature"
)

// TestEventTimes: the featurizer reads the spec's event_time into
// Batch.EventTimes, from a derived column (Avazu's YYMMDDHH hour through
// epoch_ms) as from a timestamp column, and refuses a null naming the
// column and row.
func TestEventTimes(t *testing.T) {
	ms := func(y int, m time.Month, d, h int) int64 { return time.Date(y, m, d, h, 0, 0, 0, time.UTC).UnixMilli() }
	want := []int64{ms(2014, 10, 21, 0), ms(2014, 10, 21, 13), ms(2014, 10, 22, 23)}
	rec := record(t,
		column{"click", i64s(0, 1, 0)},
		column{"site", strs("a", "b", "c")},
		column{"hour", i64s(14102100, 14102113, 14102223)},
		column{"ts", timestamps(arrow.Microsecond, want[0]*1000, want[1]*1000+999, want[2]*1000)},
		column{"bad", nullableInts(1, math.MinInt64, 3)},
	)
	for _, tc := range []struct {
		name, yaml string
		err        string // in the error; "" for none
	}{
		{"derived from YYMMDDHH", "event_time: event_ms\nderived: [{name: event_ms, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}]\n", ""},
		{"timestamp column", "event_time: ts\n", ""},
		{"null", "event_time: bad\n", `"bad" row 1 is null`},
		{"not a time", "event_time: site\n", "want a timestamp or int64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site}]\n" + tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			fz, err := feature.NewFeaturizer(spec)
			if err != nil {
				t.Fatal(err)
			}
			var b feature.Batch
			err = fz.Featurize(rec, &b)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Featurize: %v, want an error with %q", err, tc.err)
				}
				if strings.Contains(tc.err, "null") && !errors.Is(err, feature.ErrEventTime) {
					t.Errorf("error %v does not wrap ErrEventTime", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !slices.Equal(b.EventTimes, want) {
				t.Errorf("EventTimes %v, want %v", b.EventTimes, want)
			}
			// Scoring reads no event time.
			sc, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Featurize(rec, &b); err != nil || len(b.EventTimes) != 0 {
				t.Errorf("WithoutLabels: %v, %d event times", err, len(b.EventTimes))
			}
		})
	}
}
