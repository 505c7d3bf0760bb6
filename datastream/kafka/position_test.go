package kafka

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

func TestPositionRoundTrip(t *testing.T) {
	tests := []Position{
		{Topic: "t", Next: map[int32]int64{}, Turn: -1},
		{Topic: "clicks", Next: map[int32]int64{0: 0, 3: 1 << 40, 1: 17}, Turn: -1},
		{Topic: "clicks", Next: map[int32]int64{0: 0, 3: 1 << 40, 1: 17}, Turn: 3},
		{Topic: "clicks", Next: map[int32]int64{0: 4}, Turn: 0},
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
		if q.Topic != p.Topic || !maps.Equal(q.Next, p.Next) || q.Turn != p.Turn {
			t.Errorf("round trip %+v -> %+v", p, q)
		}
	}
	var q Position
	for _, b := range [][]byte{nil, []byte("LSKP"), []byte("LSKP\x01\x05ab"), []byte("LSKP\x03\x00\x00"), []byte("LSKP\x02\x00\x00"), []byte("LSKP\x02\x00\x00\x01")} {
		if err := q.UnmarshalBinary(b); !errors.Is(err, ErrBadPosition) {
			t.Errorf("Unmarshal(%q) = %v, want ErrBadPosition", b, err)
		}
	}
}

// FuzzPosition checks that decoding never panics and that whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func FuzzPosition(f *testing.F) {
	b, _ := Position{Topic: "clicks", Next: map[int32]int64{0: 5, 2: 9}, Turn: -1}.MarshalBinary()
	f.Add(b)
	b, _ = Position{Topic: "clicks", Next: map[int32]int64{0: 5, 2: 9}, Turn: 2}.MarshalBinary()
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
			if err := q.UnmarshalBinary(c); err != nil || q.Topic != p.Topic || !maps.Equal(q.Next, p.Next) || q.Turn != p.Turn {
				t.Fatalf("re-encoding %x gave %x which decodes to %+v, %v", b, c, q, err)
			}
		}
	})
}
