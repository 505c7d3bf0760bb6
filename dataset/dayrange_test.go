package dataset

import (
	"strings"
	"testing"
)

func TestDayRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		preds   int
		wantErr string
	}{
		{"", 0, ""},
		{"2014-10-21", 2, ""},
		{"2014-10-21..2014-10-22", 2, ""},
		{"2014-10-21..2014-10-21", 2, ""},
		{"2014-13-45", 0, "not a day"},
		{"2014-02-30", 0, "not a day"},
		{"20141021", 0, "not a day"},
		{"2014-10-22..2014-10-21", 0, "reversed"},
		{"2014-10-21..", 0, "want a day"},
		{"..2014-10-21", 0, "want a day"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			f, err := DayRange("dt", tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DayRange(%q) = %v, %v; want an error containing %q", tc.in, f, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(f) != tc.preds {
				t.Fatalf("DayRange(%q) = %v, %v; want %d predicates", tc.in, f, err, tc.preds)
			}
		})
	}
}
