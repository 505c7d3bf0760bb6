package publish

import (
	"reflect"
	"testing"
)

// TestPublisherStateBinary round-trips the binary encoding of the
// publisher's checkpoint state, and checks that every truncation of it is
// refused, not misread.
func TestPublisherStateBinary(t *testing.T) {
	st := publisherState{LastExamples: 1 << 40, LastWM: -5, Since: 3, Chunks: []chunkState{
		{Record: []byte("ipc one"), Scores: []float64{0.1, 0.9}, Labels: []float64{0, 1}},
		{Record: []byte("ipc two"), Scores: []float64{0.5}, Labels: []float64{1}, Weights: []float64{2.5}},
	}}
	b := st.appendBinary(nil)
	var got publisherState
	if err := got.decodeBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip %+v -> %+v", st, got)
	}
	for n := len(publisherStateMagic); n < len(b); n++ {
		var p publisherState
		if err := p.decodeBinary(b[:n]); err == nil {
			t.Errorf("the first %d of %d bytes decode", n, len(b))
		}
	}
}
