package datastream

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// WatermarkStrategy says how a source derives event time and watermarks.
//
// Watermark semantics follow Flink: a watermark W asserts that no more rows
// with event time <= W will arrive. With bounded out-of-orderness D, a split
// whose largest timestamp so far is T has watermark T - D - 1 (or the
// watermark its batches carry, if larger). A source subtask's watermark is the
// minimum over its splits (Batch.Split, e.g. Kafka partitions) that are not
// idle; downstream operators take the minimum over their inputs. Watermarks
// never go backwards.
type WatermarkStrategy struct {
	// TimestampColumn names the event-time column: Int64 milliseconds since
	// the Unix epoch, or an Arrow Timestamp of any unit. Nulls are ignored
	// when computing watermarks.
	TimestampColumn string
	// OutOfOrderness is how far behind the largest timestamp seen a row may
	// arrive without being late.
	OutOfOrderness time.Duration
	// IdleTimeout marks a split idle when it has delivered no batch for this
	// long (processing time): its watermark no longer holds the others back
	// until it delivers again. When every split of a source subtask is idle,
	// downstream operators ignore that subtask. Zero disables idleness.
	IdleTimeout time.Duration
}

func (ws WatermarkStrategy) validate() error {
	switch {
	case ws.TimestampColumn == "":
		return errors.New("watermark strategy needs a TimestampColumn")
	case ws.OutOfOrderness < 0:
		return fmt.Errorf("negative out-of-orderness %v", ws.OutOfOrderness)
	case ws.IdleTimeout < 0:
		return fmt.Errorf("negative idle timeout %v", ws.IdleTimeout)
	}
	return nil
}

// splitClock tracks the watermark of one split.
type splitClock struct {
	wm       int64
	lastSeen int64 // processing time ms of the last batch
	idle     bool
}

// watermarker combines per-split watermarks of one source subtask.
type watermarker struct {
	ws      *WatermarkStrategy // nil: use batch watermarks only
	ooo     int64
	splits  map[string]*splitClock
	scratch []int64
}

func newWatermarker(ws *WatermarkStrategy) *watermarker {
	w := &watermarker{ws: ws, splits: map[string]*splitClock{}}
	if ws != nil {
		w.ooo = ws.OutOfOrderness.Milliseconds()
	}
	return w
}

// observe accounts for batch b seen at processing time now.
func (w *watermarker) observe(b Batch, now int64) error {
	s := w.splits[b.Split]
	if s == nil && b.Record == nil && (b.Watermark == 0 || b.Watermark == NoWatermark) {
		return nil // a heartbeat of a split that never delivered says nothing
	}
	if s == nil {
		s = &splitClock{wm: NoWatermark}
		w.splits[b.Split] = s
	}
	s.lastSeen, s.idle = now, false
	if b.Watermark > s.wm && b.Watermark != 0 {
		s.wm = b.Watermark
	}
	if w.ws == nil || b.Record == nil || b.Record.NumRows() == 0 {
		return nil
	}
	ts, err := eventTimes(b.Record, w.ws.TimestampColumn, &w.scratch)
	if err != nil {
		return err
	}
	col := b.Record.Column(b.Record.Schema().FieldIndices(w.ws.TimestampColumn)[0])
	maxTs := NoWatermark
	if col.NullN() == 0 {
		for _, t := range ts {
			maxTs = max(maxTs, t)
		}
	} else {
		for i, t := range ts {
			if col.IsValid(i) {
				maxTs = max(maxTs, t)
			}
		}
	}
	if maxTs != NoWatermark {
		if wm := maxTs - w.ooo - 1; wm > s.wm {
			s.wm = wm
		}
	}
	return nil
}

// end marks split as finished: its watermark becomes MaxWatermark.
func (w *watermarker) endAll() {
	for _, s := range w.splits {
		s.wm, s.idle = MaxWatermark, false
	}
}

// current returns the minimum watermark over the non-idle splits at
// processing time now, and whether every split is idle.
func (w *watermarker) current(now int64) (wm int64, idle bool) {
	var timeout int64
	if w.ws != nil {
		timeout = w.ws.IdleTimeout.Milliseconds()
	}
	wm, active := MaxWatermark, 0
	for _, s := range w.splits {
		if timeout > 0 && now-s.lastSeen >= timeout {
			s.idle = true
		}
		if s.idle {
			continue
		}
		active++
		wm = min(wm, s.wm)
	}
	if active == 0 {
		return NoWatermark, len(w.splits) > 0 && timeout > 0
	}
	return wm, false
}

// nextIdleCheck returns when (processing time ms) a split may turn idle, or
// -1 when none can.
func (w *watermarker) nextIdleCheck() int64 {
	if w.ws == nil || w.ws.IdleTimeout <= 0 {
		return -1
	}
	next := int64(-1)
	for _, s := range w.splits {
		if s.idle {
			continue
		}
		at := s.lastSeen + w.ws.IdleTimeout.Milliseconds()
		if next < 0 || at < next {
			next = at
		}
	}
	return next
}

// eventTimes returns the event times of rec's column name in milliseconds
// since the epoch. Int64 and millisecond Timestamp columns are returned
// without a copy; other units are converted into *scratch. Null slots hold
// unspecified values.
func eventTimes(rec arrow.Record, name string, scratch *[]int64) ([]int64, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("timestamp column %q not in record (columns %v)", name, columnNames(rec.Schema()))
	}
	switch a := rec.Column(idx[0]).(type) {
	case *array.Int64:
		return a.Int64Values(), nil
	case *array.Timestamp:
		v := a.TimestampValues()
		raw := unsafe.Slice((*int64)(unsafe.SliceData(v)), len(v))
		div, mul := int64(1), int64(1)
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Millisecond:
			return raw, nil
		case arrow.Second:
			mul = 1000
		case arrow.Microsecond:
			div = 1000
		case arrow.Nanosecond:
			div = 1000000
		}
		if cap(*scratch) < len(raw) {
			*scratch = make([]int64, len(raw))
		}
		out := (*scratch)[:len(raw)]
		for i, t := range raw {
			out[i] = floorDiv(t, div) * mul
		}
		return out, nil
	}
	return nil, fmt.Errorf("timestamp column %q has type %s, want int64 milliseconds or timestamp", name, rec.Column(idx[0]).DataType())
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
