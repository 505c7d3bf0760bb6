package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timetable yields the ticks of a schedule in its time zone. A job's data
// intervals run from one tick to the next; the run of an interval starts
// once the interval has closed (as Airflow's data intervals).
type Timetable interface {
	// Next returns the first tick strictly after t.
	Next(t time.Time) time.Time
	// granularity is the coarsest unit in which two ticks never share a
	// label: 24h for at most one tick a day, 1h for at most one an hour,
	// otherwise a minute. Interval IDs are formatted at that unit.
	granularity() time.Duration
}

// cron is a 5-field cron expression: minute hour day-of-month month
// day-of-week, each a set of allowed values.
type cron struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i allowed
	domStar, dowStar              bool
	loc                           *time.Location
	src                           string
}

var (
	monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	dayNames   = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

// ParseSchedule parses a job's schedule in time zone loc: a 5-field cron
// expression ("30 2 * * *": minute, hour, day of month, month, day of week;
// "*", lists "1,15", ranges "1-5", steps "*/15" and "1-10/2", month and day
// names "jan", "mon"), the shorthands @hourly, @daily (or @midnight),
// @weekly, @monthly and @yearly, or "@every D" with a Go duration of at least
// one minute that divides a day or is a whole number of days (ticks at
// multiples of D from midnight of 2000-01-01 in loc). When day of month and
// day of week are both restricted, a day matching either is a tick, as in
// cron. A local time that a daylight-saving change skips has no tick.
func ParseSchedule(expr string, loc *time.Location) (Timetable, error) {
	if loc == nil {
		loc = time.UTC
	}
	e := strings.TrimSpace(expr)
	switch e {
	case "@hourly":
		e = "0 * * * *"
	case "@daily", "@midnight":
		e = "0 0 * * *"
	case "@weekly":
		e = "0 0 * * 0"
	case "@monthly":
		e = "0 0 1 * *"
	case "@yearly", "@annually":
		e = "0 0 1 1 *"
	}
	if d, ok := strings.CutPrefix(e, "@every "); ok {
		return parseEvery(strings.TrimSpace(d), loc, expr)
	}
	if strings.HasPrefix(e, "@") {
		return nil, fmt.Errorf("schedule %q: unknown shorthand (want @hourly, @daily, @weekly, @monthly, @yearly or @every DURATION)", expr)
	}
	f := strings.Fields(e)
	if len(f) != 5 {
		return nil, fmt.Errorf("schedule %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(f))
	}
	c := &cron{loc: loc, src: expr}
	var err error
	fields := []struct {
		name     string
		lo, hi   int
		names    map[string]int
		dst      *uint64
		wildcard *bool
	}{
		{"minute", 0, 59, nil, &c.minute, nil},
		{"hour", 0, 23, nil, &c.hour, nil},
		{"day of month", 1, 31, nil, &c.dom, &c.domStar},
		{"month", 1, 12, monthNames, &c.month, nil},
		{"day of week", 0, 7, dayNames, &c.dow, &c.dowStar},
	}
	for i, fd := range fields {
		if *fd.dst, err = parseField(f[i], fd.lo, fd.hi, fd.names); err != nil {
			return nil, fmt.Errorf("schedule %q: %s field %q: %w", expr, fd.name, f[i], err)
		}
		if fd.wildcard != nil {
			*fd.wildcard = f[i] == "*" || strings.HasPrefix(f[i], "*/")
		}
	}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow = c.dow&^(1<<7) | 1
	}
	// A day of month that no allowed month has (31 in February) never fires.
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", expr)
	}
	return c, nil
}

func parseField(s string, lo, hi int, names map[string]int) (uint64, error) {
	var bits uint64
	for part := range strings.SplitSeq(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a positive number", stepStr)
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			x, y, _ := strings.Cut(rng, "-")
			var err error
			if a, err = fieldValue(x, lo, hi, names); err != nil {
				return 0, err
			}
			if b, err = fieldValue(y, lo, hi, names); err != nil {
				return 0, err
			}
			if a > b {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := fieldValue(rng, lo, hi, names)
			if err != nil {
				return 0, err
			}
			a, b = v, v
			if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

func fieldValue(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", v, lo, hi)
	}
	return v, nil
}

func (c *cron) String() string { return c.src }

func (c *cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<t.Day()) != 0
	dow := c.dow&(1<<int(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next implements Timetable. It returns the zero time when no tick exists
// within five years (an impossible date).
func (c *cron) Next(after time.Time) time.Time {
	t := after.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		y, mo, d := t.Date()
		switch {
		case c.month&(1<<int(mo)) == 0:
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, c.loc)
		case !c.dayMatches(t):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, c.loc)
		case c.hour&(1<<t.Hour()) == 0:
			t = time.Date(y, mo, d, t.Hour()+1, 0, 0, 0, c.loc)
			if t.Hour() == 0 { // ran into the next day, or a DST gap
				t = time.Date(y, mo, d+1, 0, 0, 0, 0, c.loc)
			}
		case c.minute&(1<<t.Minute()) == 0:
			t = t.Truncate(time.Minute).Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

func (c *cron) granularity() time.Duration {
	switch {
	case onlyOne(c.minute) && onlyOne(c.hour):
		return 24 * time.Hour
	case onlyOne(c.minute):
		return time.Hour
	}
	return time.Minute
}

func onlyOne(bits uint64) bool { return bits != 0 && bits&(bits-1) == 0 }

// every ticks at multiples of a fixed duration from an anchor.
type every struct {
	d      time.Duration
	anchor time.Time
	src    string
}

func parseEvery(s string, loc *time.Location, src string) (Timetable, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %q is not a duration (e.g. 6h, 30m)", src, s)
	}
	day := 24 * time.Hour
	if d < time.Minute || d%time.Minute != 0 || (d < day && day%d != 0) || (d > day && d%day != 0) {
		return nil, fmt.Errorf("schedule %q: the interval must be whole minutes that divide a day (15m, 6h) or whole days (48h)", src)
	}
	return &every{d: d, anchor: time.Date(2000, 1, 1, 0, 0, 0, 0, loc), src: src}, nil
}

func (e *every) String() string { return e.src }

// Next implements Timetable.
func (e *every) Next(after time.Time) time.Time {
	n := after.Sub(e.anchor) / e.d
	t := e.anchor.Add(n * e.d)
	for !t.After(after) {
		t = t.Add(e.d)
	}
	return t
}

func (e *every) granularity() time.Duration {
	switch {
	case e.d >= 24*time.Hour:
		return 24 * time.Hour
	case e.d >= time.Hour && e.d%time.Hour == 0:
		return time.Hour
	}
	return time.Minute
}

// prev returns the last tick strictly before t, searching back up to five
// years; the zero time if there is none.
func prev(tt Timetable, t time.Time) time.Time {
	for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour} {
		s := tt.Next(t.Add(-back))
		if s.IsZero() || !s.Before(t) {
			continue
		}
		for {
			n := tt.Next(s)
			if n.IsZero() || !n.Before(t) {
				return s
			}
			s = n
		}
	}
	return time.Time{}
}
