package datastream_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

var update = flag.Bool("update", false, "rewrite golden outputs in testdata/")

var clickSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Int64},
}, nil)

type click struct {
	user   string
	ts     int64
	amount int64
}

func clicks(rows ...click) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, clickSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.user)
		b.Field(1).(*array.Int64Builder).Append(r.ts)
		b.Field(2).(*array.Int64Builder).Append(r.amount)
	}
	return b.NewRecord()
}

// stepSink records each row with the number of source steps read when it
// arrived, which shows when windows fired. The whole golden pipeline runs
// chained in one goroutine, so this is deterministic.
type stepSink struct {
	src  *datastreamtest.Source
	mu   sync.Mutex
	rows []string
}

func (s *stepSink) WriteBatch(_ context.Context, b datastream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range datastreamtest.FormatRows(b.Record) {
		s.rows = append(s.rows, fmt.Sprintf("after step %d: %s", s.src.Next(), r))
	}
	return nil
}

func (s *stepSink) Close(context.Context) error { return nil }

// script is a parsed golden script; see testdata/README.
type script struct {
	assigner datastream.WindowAssigner
	ws       datastream.WatermarkStrategy
	lateness time.Duration
	steps    []datastreamtest.Step
}

func parseDuration(t *testing.T, line int, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("line %d: duration %q: %v", line, s, err)
	}
	return d
}

func parseScript(t *testing.T, text string) *script {
	sc := &script{ws: datastream.WatermarkStrategy{TimestampColumn: "ts"}}
	for i, line := range strings.Split(text, "\n") {
		if j := strings.Index(line, "#"); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		ln := i + 1
		switch f[0] {
		case "window":
			switch f[1] {
			case "tumbling":
				sc.assigner = datastream.Tumbling(parseDuration(t, ln, f[2]))
			case "sliding":
				sc.assigner = datastream.Sliding(parseDuration(t, ln, f[2]), parseDuration(t, ln, f[3]))
			case "session":
				sc.assigner = datastream.Session(parseDuration(t, ln, f[2]))
			case "global":
				n, err := strconv.Atoi(f[2])
				if err != nil {
					t.Fatalf("line %d: %v", ln, err)
				}
				sc.assigner = datastream.GlobalCount(n)
			default:
				t.Fatalf("line %d: unknown window %q", ln, f[1])
			}
			if len(f) > 3 && f[len(f)-1] == "proctime" {
				sc.assigner = sc.assigner.InProcessingTime()
			}
		case "outoforder":
			sc.ws.OutOfOrderness = parseDuration(t, ln, f[1])
		case "idle":
			sc.ws.IdleTimeout = parseDuration(t, ln, f[1])
		case "lateness":
			sc.lateness = parseDuration(t, ln, f[1])
		case "advance":
			sc.steps = append(sc.steps, datastreamtest.Step{Advance: parseDuration(t, ln, f[1])})
		case "rows":
			var rows []click
			for _, r := range f[2:] {
				at := strings.IndexByte(r, '@')
				eq := strings.IndexByte(r, '=')
				if at < 0 || eq < at {
					t.Fatalf("line %d: row %q is not key@time=amount", ln, r)
				}
				amount, err := strconv.ParseInt(r[eq+1:], 10, 64)
				if err != nil {
					t.Fatalf("line %d: %v", ln, err)
				}
				rows = append(rows, click{r[:at], parseDuration(t, ln, r[at+1:eq]).Milliseconds(), amount})
			}
			rec := clicks(rows...)
			t.Cleanup(rec.Release)
			sc.steps = append(sc.steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec, Split: f[1]}})
		default:
			t.Fatalf("line %d: unknown directive %q", ln, f[0])
		}
	}
	return sc
}

func runScript(t *testing.T, sc *script) string {
	clock := datastreamtest.NewFakeClock(time.UnixMilli(0))
	src := datastreamtest.NewSource(clock, sc.steps...)
	out := &stepSink{src: src}
	late := &stepSink{src: src}
	job := datastream.NewJob("golden", datastream.WithClock(clock))
	w := datastream.Aggregate(
		job.Source("clicks", src, datastream.Watermarks(sc.ws)).
			KeyBy("user").
			Window(sc.assigner, datastream.AllowedLateness(sc.lateness)),
		"window",
		datastream.Aggregates(datastream.Count("count"), datastream.SumInt("amount", "sum")))
	w.To("out", out)
	w.Late().To("late", late)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := job.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var b strings.Builder
	b.WriteString("## results\n")
	for _, r := range out.rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("## late\n")
	for _, r := range late.rows {
		b.WriteString(r + "\n")
	}
	o := sum.Operator("window")
	fmt.Fprintf(&b, "## counts\nwindow in=%d out=%d late=%d\n", o.RecordsIn, o.RecordsOut, o.LateRecords)
	return b.String()
}

// TestGoldenWindows runs the scripts in testdata/windows/*.script on a fake
// clock and compares the window results, late rows and counts with the
// .golden files next to them. Run with -update to rewrite them after
// checking the differences by hand.
func TestGoldenWindows(t *testing.T) {
	scripts, err := filepath.Glob("testdata/windows/*.script")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in testdata/windows (err %v)", err)
	}
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".script")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, parseScript(t, string(text)))
			golden := strings.TrimSuffix(path, ".script") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: output differs from %s\n--- got\n%s--- want\n%s", name, golden, got, want)
			}
		})
	}
}
