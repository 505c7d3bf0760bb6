package clicklog

import (
	"bytes"
	"fmt"
	"math"
	"time"
)

// deviceIP is the index of device_ip in fields.
const deviceIP = 9

// Burst sizes of Config.Activity: burstStarts device_ips start a burst
// every hour and stay in it for two hours; burstShare of the rows come
// from the active bursts.
const (
	burstStarts = 40
	burstShare  = 0.4
)

// activity is the state of Config.Activity: rows per device_ip in the
// current and the previous hour.
type activity struct {
	hour      int64 // unix hour of cur
	cur, prev map[int]int
}

// HourEffect is the planted log-odds term of the hour of day under
// Config.Activity.
func HourEffect(hod int) float64 { return 2.5 * math.Sin(2*math.Pi*float64(hod)/24) }

// ActivityEffect is the planted log-odds term of a device_ip's rows in the
// hour before under Config.Activity.
func ActivityEffect(rows int) float64 { return 2*math.Log1p(float64(min(rows, 30))) - 2 }

// plant draws the row's device_ip (from a burst burstShare of the time),
// counts it in its hour and returns the planted terms of the hour of day
// and of the device_ip's rows in the hour before.
func (a *activity) plant(g *generator, hour time.Time) float64 {
	h := hour.Unix() / 3600
	if h != a.hour {
		a.prev, a.cur = a.cur, a.prev
		clear(a.cur)
		if h != a.hour+1 {
			clear(a.prev)
		}
		a.hour = h
	}
	if g.rng.Float64() < burstShare {
		k := g.rng.IntN(2 * burstStarts)
		start := h - int64(k/burstStarts) // bursts that started this hour or the one before
		g.vals[deviceIP] = int(mix(g.seed, uint64(start), uint64(k%burstStarts), 0xb0) % uint64(fields[deviceIP].card))
	}
	ip := g.vals[deviceIP]
	before := a.prev[ip]
	a.cur[ip]++
	return HourEffect(hour.Hour()) + ActivityEffect(before)
}

// ActivitySpecYAML returns SpecYAML's spec plus the features that see
// Config.Activity's planted terms: the hour of day taken out of the
// YYMMDDHH hour column, and the device_ip's rows in the hour before the
// row's (a window over 1h at 1h resolution on the hour's event time).
func ActivitySpecYAML(hashBits int) string {
	var b bytes.Buffer
	b.WriteString(SpecYAML(hashBits))
	b.WriteString("  - {column: hod}\n")
	b.WriteString("event_time: ts\n")
	b.WriteString("derived:\n")
	b.WriteString("  - {name: hod, expr: 'hour(hour, \"YYMMDDHH\")'}\n")
	b.WriteString("  - {name: ts, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}\n")
	b.WriteString("windows:\n")
	b.WriteString("  - {name: ip_rows_1h, key: device_ip, agg: count, over: 1h, resolution: 1h}\n")
	b.WriteString("numeric:\n")
	fmt.Fprintf(&b, "  - {column: ip_rows_1h, log1p: true}\n")
	return b.String()
}
