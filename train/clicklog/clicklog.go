package clicklog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
)

// Row is one click-log row, in Avazu's column order. Hour is YYMMDDHH as in
// Avazu; the categorical identifiers are 8-hex-digit strings and the
// anonymized C* columns integers.
type Row struct {
	ID             string `parquet:"id"`
	Click          int32  `parquet:"click"`
	Hour           int64  `parquet:"hour"`
	C1             int64  `parquet:"C1"`
	BannerPos      int64  `parquet:"banner_pos"`
	SiteID         string `parquet:"site_id,dict"`
	SiteDomain     string `parquet:"site_domain,dict"`
	SiteCategory   string `parquet:"site_category,dict"`
	AppID          string `parquet:"app_id,dict"`
	AppDomain      string `parquet:"app_domain,dict"`
	AppCategory    string `parquet:"app_category,dict"`
	DeviceID       string `parquet:"device_id,dict"`
	DeviceIP       string `parquet:"device_ip,dict"`
	DeviceModel    string `parquet:"device_model,dict"`
	DeviceType     int64  `parquet:"device_type"`
	DeviceConnType int64  `parquet:"device_conn_type"`
	C14            int64  `parquet:"C14"`
	C15            int64  `parquet:"C15"`
	C16            int64  `parquet:"C16"`
	C17            int64  `parquet:"C17"`
	C18            int64  `parquet:"C18"`
	C19            int64  `parquet:"C19"`
	C20            int64  `parquet:"C20"`
	C21            int64  `parquet:"C21"`
}

// field describes one feature column: its cardinality, Zipf exponent, the
// spread of its main effect, and how a value index becomes a cell.
type field struct {
	name   string
	card   int
	zipf   float64 // exponent s > 1 of the value distribution
	effect float64 // std of the main effect w_f
	str    bool    // string identifier, else integer code
	base   int64   // integer codes are base + value index
}

// fields are the 21 feature columns. Cardinalities roughly follow Avazu's
// (device_ip and device_id are scaled down so small runs still repeat them).
var fields = []field{
	{name: "C1", card: 7, zipf: 2.5, effect: 0.3, base: 1001},
	{name: "banner_pos", card: 7, zipf: 2.0, effect: 0.3},
	{name: "site_id", card: 3000, zipf: 1.3, effect: 0.5, str: true},
	{name: "site_domain", card: 2000, zipf: 1.3, effect: 0.3, str: true},
	{name: "site_category", card: 26, zipf: 1.6, effect: 0.4, str: true},
	{name: "app_id", card: 3000, zipf: 1.4, effect: 0.4, str: true},
	{name: "app_domain", card: 200, zipf: 1.6, effect: 0.3, str: true},
	{name: "app_category", card: 30, zipf: 1.8, effect: 0.4, str: true},
	{name: "device_id", card: 20000, zipf: 1.8, effect: 0.2, str: true},
	{name: "device_ip", card: 50000, zipf: 1.2, effect: 0.2, str: true},
	{name: "device_model", card: 5000, zipf: 1.3, effect: 0.3, str: true},
	{name: "device_type", card: 5, zipf: 2.5, effect: 0.3},
	{name: "device_conn_type", card: 4, zipf: 2.5, effect: 0.3},
	{name: "C14", card: 2500, zipf: 1.3, effect: 0.5, base: 15000},
	{name: "C15", card: 8, zipf: 2.5, effect: 0.2, base: 300},
	{name: "C16", card: 9, zipf: 2.5, effect: 0.2, base: 50},
	{name: "C17", card: 400, zipf: 1.5, effect: 0.4, base: 1700},
	{name: "C18", card: 4, zipf: 2.0, effect: 0.3},
	{name: "C19", card: 60, zipf: 1.8, effect: 0.3, base: 30},
	{name: "C20", card: 170, zipf: 1.5, effect: 0.3, base: 100000},
	{name: "C21", card: 60, zipf: 1.6, effect: 0.3, base: 1},
}

// interactions are the planted field pairs (indexes into fields) with the
// std of each factor of their rank-Rank interaction vectors.
var interactions = []struct{ a, b int }{
	{4, 12},  // site_category × device_conn_type
	{7, 1},   // app_category × banner_pos
	{16, 11}, // C17 × device_type
	{2, 17},  // site_id × C18
	{10, 4},  // device_model × site_category
	{13, 7},  // C14 × app_category
}

// Rank is the dimension of the planted interaction vectors.
const Rank = 4

// interactionStd is the std of one interaction vector's factors; a pair's
// term ⟨u, v⟩ then has std Rank^½·interactionStd² ≈ 1.1.
const interactionStd = 0.75

// Columns returns the names of the 24 columns in file order.
func Columns() []string {
	out := []string{"id", "click", "hour"}
	for _, f := range fields {
		out = append(out, f.name)
	}
	return out
}

// FeatureColumns returns the 21 feature columns.
func FeatureColumns() []string { return Columns()[3:] }

// Config sizes a generated lake.
type Config struct {
	// Rows is the total number of rows over all days (default 1,000,000).
	Rows int
	// Days is the number of days; the last one is meant for testing
	// (default 4: 3 train days and 1 test day).
	Days int
	// Start is the first day (default 2014-10-21, Avazu's first day).
	Start time.Time
	// Seed selects the planted model and the sampled rows.
	Seed uint64
	// RowGroupRows is the Parquet row-group size (default 65,536).
	RowGroupRows int
	// Activity plants two more terms in the click log-odds: one of the
	// hour of day (read from the hour column) and one of how many rows the
	// row's device_ip had in the hour before the row's hour; burstShare (40%) of
	// the rows come from bursts of device_ips active for two hours, so that
	// count varies for the same device. ActivitySpecYAML declares the
	// features that see them.
	Activity bool
}

// DefaultConfig returns 1M rows over 4 days with seed 1.
func DefaultConfig() Config {
	return Config{Rows: 1_000_000, Days: 4, Start: time.Date(2014, 10, 21, 0, 0, 0, 0, time.UTC), Seed: 1, RowGroupRows: 1 << 16}
}

// ErrConfig is returned by Generate for an invalid Config.
var ErrConfig = errors.New("clicklog: invalid configuration")

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Days < 2:
		return fmt.Errorf("%w: days = %d, want ≥ 2 (train days and one test day)", ErrConfig, c.Days)
	case c.Rows < c.Days*10:
		return fmt.Errorf("%w: rows = %d, want ≥ %d (10 per day)", ErrConfig, c.Rows, c.Days*10)
	case c.RowGroupRows < 1:
		return fmt.Errorf("%w: row group rows = %d, want ≥ 1", ErrConfig, c.RowGroupRows)
	}
	return nil
}

// Day is one generated partition.
type Day struct {
	DT   string // the partition value, YYYY-MM-DD
	Key  string // the Parquet object's key
	Rows int
	CTR  float64 // fraction of clicks
	// BestAUC is the AUC of the true click probabilities on this day: no
	// model can do better in expectation.
	BestAUC float64
	// BestLogLoss is the log loss of the true probabilities.
	BestLogLoss float64
}

// Summary describes a generated lake.
type Summary struct {
	Prefix string
	Days   []Day
}

// Test returns the last day, meant for testing.
func (s Summary) Test() Day { return s.Days[len(s.Days)-1] }

// Generate writes the click log under prefix ("clicks" gives
// clicks/dt=2014-10-21/part-00000.parquet …) and commits each day. It
// overwrites objects of the same keys.
func Generate(ctx context.Context, store lake.Store, prefix string, c Config) (Summary, error) {
	if err := c.Validate(); err != nil {
		return Summary{}, err
	}
	g := newGenerator(c.Seed)
	if c.Activity {
		g.act = &activity{hour: math.MinInt64, cur: map[int]int{}, prev: map[int]int{}}
	}
	sum := Summary{Prefix: prefix}
	var buf bytes.Buffer
	rows := make([]Row, 0, c.Rows/c.Days+1)
	probs := make([]float64, 0, cap(rows))
	labels := make([]float64, 0, cap(rows))
	for d := range c.Days {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		day := c.Start.AddDate(0, 0, d)
		n := c.Rows / c.Days
		if d < c.Rows%c.Days {
			n++
		}
		rows, probs, labels = rows[:0], probs[:0], labels[:0]
		clicks := 0
		for i := range n {
			var r Row
			p := g.row(&r, day, i, n)
			rows = append(rows, r)
			probs = append(probs, p)
			labels = append(labels, float64(r.Click))
			clicks += int(r.Click)
		}
		dt := day.Format("2006-01-02")
		folder := fmt.Sprintf("%s/dt=%s", prefix, dt)
		key := folder + "/part-00000.parquet"
		buf.Reset()
		w := parquet.NewGenericWriter[Row](&buf, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(int64(c.RowGroupRows)))
		if _, err := w.Write(rows); err != nil {
			return sum, fmt.Errorf("clicklog: encode %s: %w", key, err)
		}
		if err := w.Close(); err != nil {
			return sum, fmt.Errorf("clicklog: encode %s: %w", key, err)
		}
		if err := lake.PutBytes(ctx, store, key, buf.Bytes()); err != nil {
			return sum, fmt.Errorf("clicklog: %w", err)
		}
		if err := lake.Commit(ctx, store, folder); err != nil {
			return sum, fmt.Errorf("clicklog: %w", err)
		}
		info := Day{DT: dt, Key: key, Rows: n, CTR: float64(clicks) / float64(n)}
		if auc, err := eval.ROCAUC(probs, labels, nil); err == nil {
			info.BestAUC = auc
		}
		if ll, err := eval.LogLoss(probs, labels, nil); err == nil {
			info.BestLogLoss = ll
		}
		sum.Days = append(sum.Days, info)
	}
	return sum, nil
}

// generator samples rows of the planted model.
type generator struct {
	seed   uint64
	rng    *rand.Rand
	zipf   []*rand.Zipf
	names  [][]string     // string fields: the identifier of each value
	effect [][]float64    // effect[f][v] = w_f(v)
	vec    [][2][]float64 // vec[i][side][v*Rank+k]: the interaction vectors of pair i
	vals   []int
	bias   float64
	act    *activity // nil unless Config.Activity
}

func newGenerator(seed uint64) *generator {
	g := &generator{seed: seed, rng: rand.New(rand.NewPCG(seed, 0x636c69636b)), bias: -4.4, vals: make([]int, len(fields))}
	for fi, f := range fields {
		g.zipf = append(g.zipf, rand.NewZipf(g.rng, f.zipf, 1, uint64(f.card-1)))
		var names []string
		if f.str {
			names = make([]string, f.card)
			for v := range names {
				names[v] = fmt.Sprintf("%08x", uint32(mix(seed, uint64(fi), uint64(v), 0xa11)))
			}
		}
		g.names = append(g.names, names)
	}
	// Tabulate the pure functions once: the per-row work is then lookups.
	for fi, f := range fields {
		e := make([]float64, f.card)
		for v := range e {
			e[v] = f.effect * gauss(seed, uint64(fi), uint64(v), 0)
		}
		g.effect = append(g.effect, e)
	}
	for i, p := range interactions {
		var sides [2][]float64
		for s, fi := range []int{p.a, p.b} {
			v := make([]float64, fields[fi].card*Rank)
			for x := range fields[fi].card {
				for k := range Rank {
					v[x*Rank+k] = interactionStd * gauss(seed, uint64(fi), uint64(x), uint64(1+i*Rank+k))
				}
			}
			sides[s] = v
		}
		g.vec = append(g.vec, sides)
	}
	return g
}

// logit returns the planted model's log-odds for feature values vals
// (value indexes, one per field).
func (g *generator) logit(vals []int) float64 {
	z := g.bias
	for fi := range fields {
		z += g.effect[fi][vals[fi]]
	}
	for i, p := range interactions {
		ua := g.vec[i][0][vals[p.a]*Rank : vals[p.a]*Rank+Rank]
		ub := g.vec[i][1][vals[p.b]*Rank : vals[p.b]*Rank+Rank]
		for k := range Rank {
			z += ua[k] * ub[k]
		}
	}
	return z
}

// row fills r with row i of n of day and returns its true click probability.
func (g *generator) row(r *Row, day time.Time, i, n int) float64 {
	for fi := range fields {
		g.vals[fi] = int(g.zipf[fi].Uint64())
	}
	// Permute value indexes per field so the most frequent value is not
	// always index 0 (and so not always the smallest integer code).
	for fi, f := range fields {
		g.vals[fi] = int(mix(g.seed, uint64(fi), uint64(g.vals[fi]), 0x9e) % uint64(f.card))
	}
	hour := day.Add(time.Duration(i*24/n) * time.Hour)
	z := g.logit(g.vals)
	if g.act != nil {
		z += g.act.plant(g, hour)
	}
	p := 1 / (1 + math.Exp(-z))
	if g.rng.Float64() < p {
		r.Click = 1
	}
	r.Hour, _ = strconv.ParseInt(hour.Format("06010215"), 10, 64)
	r.ID = strconv.FormatUint(mix(g.seed, uint64(day.Unix()), uint64(i), 0x1d), 10)
	str := func(fi int) string { return g.names[fi][g.vals[fi]] }
	num := func(fi int) int64 { return fields[fi].base + int64(g.vals[fi]) }
	r.C1, r.BannerPos = num(0), num(1)
	r.SiteID, r.SiteDomain, r.SiteCategory = str(2), str(3), str(4)
	r.AppID, r.AppDomain, r.AppCategory = str(5), str(6), str(7)
	r.DeviceID, r.DeviceIP, r.DeviceModel = str(8), str(9), str(10)
	r.DeviceType, r.DeviceConnType = num(11), num(12)
	r.C14, r.C15, r.C16, r.C17 = num(13), num(14), num(15), num(16)
	r.C18, r.C19, r.C20, r.C21 = num(17), num(18), num(19), num(20)
	return p
}

// mix hashes four words into one (SplitMix64 finalizer over a running sum).
func mix(a, b, c, d uint64) uint64 {
	h := a*0x9E3779B97F4A7C15 ^ b
	h = splitmix(h)*0xBF58476D1CE4E5B9 ^ c
	h = splitmix(h)*0x94D049BB133111EB ^ d
	return splitmix(h)
}

func splitmix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// gauss returns a standard normal deviate that is a pure function of its
// arguments (Box–Muller on two hashed uniforms).
func gauss(seed, field, value, slot uint64) float64 {
	h1 := mix(seed, field, value, slot*2+1)
	h2 := mix(seed, field, value, slot*2+2)
	u1 := (float64(h1>>11) + 0.5) / (1 << 53)
	u2 := float64(h2>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// SpecYAML returns a feature spec (see package train/feature) for the
// generated table: the click label and every feature column as a hashed
// categorical field with 2^hashBits buckets.
func SpecYAML(hashBits int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version: 1\nlabel: {column: click, type: binary}\nhash_bits: %d\ncategorical:\n", hashBits)
	for _, f := range fields {
		fmt.Fprintf(&b, "  - {column: %s}\n", f.name)
	}
	return b.String()
}

// EventTimeSpecYAML is SpecYAML with the rows' event time: the hour column
// (YYMMDDHH) as milliseconds since the epoch in the derived column
// event_ms, named by event_time. It is the spec "trainer quickstart" writes,
// so "trainer train --prequential" and "trainer stream" windows can read the
// generated rows in event-time order. Readers of it must read the hour
// column.
func EventTimeSpecYAML(hashBits int) string {
	return SpecYAML(hashBits) + "event_time: event_ms\nderived:\n  - {name: event_ms, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}\n"
}
