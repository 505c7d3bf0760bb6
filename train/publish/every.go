package publish

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Every says when a job publishes its next version. At most one field is
// set; the zero value never publishes on its own (a bounded job publishes
// once at its end).
type Every struct {
	// Records publishes after this many more examples were trained.
	Records int64
	// Interval publishes after this much processing (wall-clock) time.
	Interval time.Duration
	// EventTime publishes once the watermark has advanced this far.
	EventTime time.Duration
}

// ParseEvery reads the --publish-every syntax: a count of examples
// ("500000"), a processing-time duration ("30s", "5m") or an event-time
// duration ("event:1h"). "" and "0" never publish before the job ends.
func ParseEvery(s string) (Every, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Every, error) {
		return Every{}, fmt.Errorf("--publish-every %q: %s; want a count of examples (500000), a processing-time interval (30s) or an event-time interval (event:1h)", s, why)
	}
	switch {
	case s == "" || s == "0":
		return Every{}, nil
	case strings.HasPrefix(s, "event:"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "event:"))
		if err != nil || d <= 0 {
			return bad("not a positive duration after event:")
		}
		return Every{EventTime: d}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return bad("negative")
		}
		return Every{Records: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return bad("not a count nor a positive duration")
	}
	return Every{Interval: d}, nil
}

// String writes e in ParseEvery's syntax.
func (e Every) String() string {
	switch {
	case e.Records > 0:
		return strconv.FormatInt(e.Records, 10)
	case e.Interval > 0:
		return e.Interval.String()
	case e.EventTime > 0:
		return "event:" + e.EventTime.String()
	}
	return "0"
}

// Zero reports whether e never publishes on its own.
func (e Every) Zero() bool { return e == Every{} }
