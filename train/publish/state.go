package publish

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"

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
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&st); err != nil {
		return nil, fmt.Errorf("encode the publisher state: %w", err)
	}
	return b.Bytes(), nil
}

// unmarshalState replaces the publisher's cadence and gate window with a
// state marshalState wrote.
func (p *Publisher) unmarshalState(data []byte) error {
	var st publisherState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
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
