package dataset

import (
	"fmt"
	"strings"
	"time"
)

// DayRange turns a day ("2026-11-01") or an inclusive range of days
// ("2026-11-01..2026-11-07") into predicates on a day-partition column such
// as dt. Days must be real calendar days written YYYY-MM-DD and a range must
// not be reversed, so a typo is an error instead of an empty scan. An empty
// r gives no predicate.
func DayRange(column, r string) (Filter, error) {
	if r == "" {
		return nil, nil
	}
	lo, hi, isRange := strings.Cut(r, "..")
	if !isRange {
		hi = lo
	}
	want := "want a day (2026-11-01) or a range (2026-11-01..2026-11-07)"
	if lo == "" || hi == "" {
		return nil, fmt.Errorf("%q: %s", r, want)
	}
	from, err := time.Parse(time.DateOnly, lo)
	if err != nil {
		return nil, fmt.Errorf("%q: %q is not a day: %s", r, lo, want)
	}
	to, err := time.Parse(time.DateOnly, hi)
	if err != nil {
		return nil, fmt.Errorf("%q: %q is not a day: %s", r, hi, want)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("%q: the range is reversed (%s is after %s)", r, lo, hi)
	}
	return Filter{
		Where(column, Ge, String(lo)),
		Where(column, Le, String(hi)),
	}, nil
}
