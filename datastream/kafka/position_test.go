package kafka

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

func TestPositionRoundTrip(t *testing.T) {
	tests := []Position{
		{Topic: "t", Next: map[int32]int64{}},
		{Topic: "clicks", Next: map[int32]int64{0: 0, 3: 1 << 40, 1: 17}},
	}
	for _, p := range tests {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q Position
		if err := q.UnmarshalBinary(b); err != nil {
			t.Fatalf("Unmarshal(%x): %v", b, err)
		}
		if q.Topic != p.Topic || !maps.Equal(q.Next, p.Next) {
			t.Errorf("round trip %+v -> %+v", p, q)
		}
	}
	var q Position
	for _, b := range [][]byte{nil, []byte("LSKP"), []byte("LSKP\x01\x05ab")} {
		if err := q.UnmarshalBinary(b); !errors.Is(err, ErrBadPosition) {
			t.Errorf("Unmarshal(%q) = %v, want ErrBadPosition", b, err)
		}
	}
}

// FuzzPosition checks that decoding never panics and that whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func FuzzPosition(f *testing.F) {
	b, _ := Position{Topic: "clicks", Next: map[int32]int64{0: 5, 2: 9}}.MarshalBinary()
	f.Add(b)
	f.Add([]byte("LSKP\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Position
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		c, _ := p.MarshalBinary()
		if !bytes.Equal(b, c) {
			// Varints have one canonical form; a non-minimal encoding is
			// the only way to differ.
			var q Position
			if err := q.UnmarshalBinary(c); err != nil || q.Topic != p.Topic || !maps.Equal(q.Next, p.Next) {
				t.Fatalf("re-encoding %x gave %x which decodes to %+v, %v", b, c, q, err)
			}
		}
	})
}
