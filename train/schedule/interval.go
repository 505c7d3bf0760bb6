package schedule

import (
	"fmt"
	"time"
)

// Interval is one data interval of a job: from one tick of its schedule to
// the next, in the job's time zone. Its run may start once End has passed.
type Interval struct {
	Start, End time.Time
	// ID names the interval in run records, lake keys and on the command
	// line: Start formatted as "2006-01-02" when the schedule ticks at most
	// once a day, "2006-01-02T15" at most once an hour, else
	// "2006-01-02T15:04".
	ID string
}

func idLayout(tt Timetable) string {
	switch tt.granularity() {
	case 24 * time.Hour:
		return time.DateOnly
	case time.Hour:
		return "2006-01-02T15"
	}
	return "2006-01-02T15:04"
}

// intervalAt returns the interval that starts at tick s.
func intervalAt(tt Timetable, s time.Time) Interval {
	return Interval{Start: s, End: tt.Next(s), ID: s.Format(idLayout(tt))}
}

// IntervalByID returns the job's interval named id (see Interval.ID): the
// first tick at or after the time id names, which must fall within the day,
// hour or minute id names.
func (j *Job) IntervalByID(id string) (Interval, error) {
	layout := idLayout(j.timetable)
	t, err := time.ParseInLocation(layout, id, j.loc)
	if err != nil {
		return Interval{}, fmt.Errorf("interval %q of job %s: want the form %s (the schedule %q ticks at most once per %s)",
			id, j.Name, layout, j.Schedule, unitName(j.timetable.granularity()))
	}
	s := j.timetable.Next(t.Add(-time.Nanosecond))
	end := t.Add(j.timetable.granularity())
	if j.timetable.granularity() == 24*time.Hour {
		end = t.AddDate(0, 0, 1) // a calendar day, also across DST changes
	}
	if s.IsZero() || !s.Before(end) {
		return Interval{}, fmt.Errorf("interval %q of job %s: the schedule %q has no tick on %s", id, j.Name, j.Schedule, id)
	}
	return intervalAt(j.timetable, s), nil
}

// LatestClosed returns the last interval of the job that has ended by now.
func (j *Job) LatestClosed(now time.Time) Interval {
	end := prev(j.timetable, now.Add(time.Nanosecond)) // a tick at or before now
	return intervalAt(j.timetable, prev(j.timetable, end))
}

// After returns the interval following iv.
func (j *Job) After(iv Interval) Interval { return intervalAt(j.timetable, iv.End) }

// Before returns the interval preceding iv.
func (j *Job) Before(iv Interval) Interval {
	return intervalAt(j.timetable, prev(j.timetable, iv.Start))
}

// Intervals returns the job's intervals whose IDs lie in [from, to], in order.
func (j *Job) Intervals(from, to string) ([]Interval, error) {
	a, err := j.IntervalByID(from)
	if err != nil {
		return nil, err
	}
	b, err := j.IntervalByID(to)
	if err != nil {
		return nil, err
	}
	if b.Start.Before(a.Start) {
		return nil, fmt.Errorf("interval range %s..%s of job %s runs backwards", from, to, j.Name)
	}
	var out []Interval
	for iv := a; !iv.Start.After(b.Start); iv = j.After(iv) {
		out = append(out, iv)
	}
	return out, nil
}

func unitName(d time.Duration) string {
	switch d {
	case 24 * time.Hour:
		return "day"
	case time.Hour:
		return "hour"
	}
	return "minute"
}
