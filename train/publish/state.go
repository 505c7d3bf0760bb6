package publish

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// publisherState is the part of a Publisher a checkpoint holds: the
// cadence's last cut and the gate window, so that a restored job cuts and
// judges its versions as the uninterrupted job would.
type publisherState struct {
	LastExamples int64
	LastWM       int64
	Since        int
	Chunks       []chunkState
}

// chunkState is one window chunk: its rows as an Arrow IPC stream (the
// champion is scored on them) and the prequential scores.
type chunkState struct {
	Record                  []byte
	Scores, Labels, Weights []float64
}

// marshalState encodes the publisher's cadence and gate window.
func (p *Publisher) marshalState() ([]byte, error) {
	st := publisherState{LastExamples: p.lastExamples, LastWM: p.lastWM, Since: p.win.since}
	var buf bytes.Buffer
	for _, c := range p.win.chunks {
		buf.Reset()
		w := ipc.NewWriter(&buf, ipc.WithSchema(c.rec.Schema()))
		if err := w.Write(c.rec); err != nil {
			return nil, fmt.Errorf("encode the gate window: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("encode the gate window: %w", err)
		}
		st.Chunks = append(st.Chunks, chunkState{Record: bytes.Clone(buf.Bytes()), Scores: c.scores, Labels: c.labels, Weights: c.weights})
	}
	return st.appendBinary(nil), nil
}

// publisherStateMagic starts the binary encoding of a publisherState;
// states without it are the gob encoding of earlier releases.
const publisherStateMagic = "LSPUB2"

// appendBinary appends st to b: the magic, varint LastExamples, LastWM and
// Since, uvarint chunk count, then per chunk: blob(Record), uvarint rows,
// the rows' Scores and Labels as little-endian float64 bits, a byte saying
// whether Weights follow, and the Weights. A gate window of 100k rows
// encodes about ten times faster than with gob, at every checkpoint.
func (st *publisherState) appendBinary(b []byte) []byte {
	size := len(publisherStateMagic) + 40
	for _, c := range st.Chunks {
		size += len(c.Record) + 12 + 8*(len(c.Scores)+len(c.Labels)+len(c.Weights))
	}
	b = slices.Grow(b, size)
	b = append(b, publisherStateMagic...)
	b = binary.AppendVarint(b, st.LastExamples)
	b = binary.AppendVarint(b, st.LastWM)
	b = binary.AppendVarint(b, int64(st.Since))
	b = binary.AppendUvarint(b, uint64(len(st.Chunks)))
	floats := func(b []byte, fs []float64) []byte {
		for _, f := range fs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		return b
	}
	for _, c := range st.Chunks {
		b = appendBlob(b, c.Record)
		b = binary.AppendUvarint(b, uint64(len(c.Scores)))
		b = floats(b, c.Scores)
		b = floats(b, c.Labels)
		if c.Weights == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = floats(b, c.Weights)
	}
	return b
}

// decodeBinary reads what appendBinary wrote.
func (st *publisherState) decodeBinary(b []byte) error {
	b = b[len(publisherStateMagic):]
	bad := errors.New("truncated or malformed")
	varint := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	floats := func(n int) []float64 {
		if len(b) < 8*n {
			b = nil
			return nil
		}
		fs := make([]float64, n)
		for i := range fs {
			fs[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		b = b[8*n:]
		return fs
	}
	st.LastExamples, st.LastWM, st.Since = varint(), varint(), int(varint())
	count, n := binary.Uvarint(b)
	if b == nil || n <= 0 || count > uint64(len(b)) {
		return bad
	}
	b = b[n:]
	for range count {
		var c chunkState
		var err error
		if c.Record, b, err = nextBlob(b); err != nil {
			return bad
		}
		rows, n := binary.Uvarint(b)
		if n <= 0 || rows > uint64(len(b)/8) {
			return bad
		}
		b = b[n:]
		c.Scores, c.Labels = floats(int(rows)), floats(int(rows))
		if len(b) < 1 {
			return bad
		}
		weighted := b[0]
		b = b[1:]
		if weighted == 1 {
			c.Weights = floats(int(rows))
		} else if weighted != 0 {
			return bad
		}
		if b == nil {
			return bad
		}
		st.Chunks = append(st.Chunks, c)
	}
	if len(b) != 0 {
		return bad
	}
	return nil
}

// unmarshalState replaces the publisher's cadence and gate window with a
// state marshalState wrote.
func (p *Publisher) unmarshalState(data []byte) error {
	var st publisherState
	if bytes.HasPrefix(data, []byte(publisherStateMagic)) {
		if err := st.decodeBinary(data); err != nil {
			return fmt.Errorf("decode the publisher state: %w", err)
		}
	} else if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return fmt.Errorf("decode the publisher state: %w", err)
	}
	var chunks []chunk
	rows := 0
	fail := func(err error) error {
		for _, c := range chunks {
			c.rec.Release()
		}
		return fmt.Errorf("decode the gate window: %w", err)
	}
	for _, cs := range st.Chunks {
		rd, err := ipc.NewReader(bytes.NewReader(cs.Record), ipc.WithAllocator(memory.DefaultAllocator))
		if err != nil {
			return fail(err)
		}
		var rec arrow.Record
		if rd.Next() {
			rec = rd.Record()
			rec.Retain()
		}
		rd.Release()
		if rec == nil {
			return fail(errors.New("a chunk without rows"))
		}
		n := int(rec.NumRows())
		chunks = append(chunks, chunk{rec: rec, scores: cs.Scores, labels: cs.Labels, weights: cs.Weights})
		if len(cs.Scores) != n || len(cs.Labels) != n || (cs.Weights != nil && len(cs.Weights) != n) {
			return fail(fmt.Errorf("a chunk of %d rows with %d scores", n, len(cs.Scores)))
		}
		rows += n
	}
	p.win.release()
	p.win.chunks, p.win.rows, p.win.since = chunks, rows, st.Since
	p.lastExamples, p.lastWM, p.lastAt = st.LastExamples, st.LastWM, p.cfg.Now()
	return nil
}

// appendBlob appends a length-prefixed blob to b.
func appendBlob(b, blob []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(blob)))
	return append(b, blob...)
}

// nextBlob reads a blob appendBlob wrote from the front of b.
func nextBlob(b []byte) (blob, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) || n > math.MaxInt {
		return nil, nil, errors.New("truncated")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}
