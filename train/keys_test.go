package train

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyIndexMatchesMap checks deduplication against a map over batches of
// varying sizes and repetition, so the table grows, shrinks and reuses its
// storage across generations.
func TestKeyIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var k keyIndex
	for batch := range 200 {
		n := 1 + rng.IntN(5000)
		space := 1 + rng.IntN(3*n)
		k.reset(n)
		want := map[uint64]int32{}
		for range n {
			key := uint64(rng.IntN(space)) << uint(rng.IntN(40))
			got := k.add(key)
			p, ok := want[key]
			if !ok {
				p = int32(len(want))
				want[key] = p
			}
			if got != p {
				t.Fatalf("batch %d: key %x at %d, want %d", batch, key, got, p)
			}
		}
		if len(k.uniq) != len(want) {
			t.Fatalf("batch %d: %d distinct keys, want %d", batch, len(k.uniq), len(want))
		}
		for key, p := range want {
			if k.uniq[p] != key {
				t.Fatalf("batch %d: uniq[%d] = %x, want %x", batch, p, k.uniq[p], key)
			}
		}
	}
}

// TestKeyIndexIndex checks the batch form against a map, with batches whose
// distinct keys outgrow the table mid-batch (reset sizes it from the
// previous batch) and shrink again.
func TestKeyIndexIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var k keyIndex
	for batch := range 100 {
		n := 1 + rng.IntN(8000)
		if batch%10 == 0 {
			n = 1 + rng.IntN(20)
		}
		keys := make([]uint64, n)
		space := 1 + rng.IntN(2*n)
		for i := range keys {
			keys[i] = uint64(rng.IntN(space)) * 0x100000001
		}
		k.reset(n)
		slot := make([]int32, n)
		k.index(keys, slot)
		want := map[uint64]int32{}
		for j, key := range keys {
			p, ok := want[key]
			if !ok {
				p = int32(len(want))
				want[key] = p
			}
			if slot[j] != p {
				t.Fatalf("batch %d: key %x at %d, want %d", batch, key, slot[j], p)
			}
		}
		if len(k.uniq) != len(want) {
			t.Fatalf("batch %d: %d distinct keys, want %d", batch, len(k.uniq), len(want))
		}
	}
}

func TestKeySet(t *testing.T) {
	var s keySet
	want := map[uint64]bool{}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		k := rng.Uint64() % 7000
		s.add(k)
		want[k] = true
	}
	s.add(0)
	want[0] = true
	got := s.keys(nil)
	slices.Sort(got)
	if len(got) != len(want) || s.len() != len(want) {
		t.Fatalf("%d keys (len %d), want %d", len(got), s.len(), len(want))
	}
	for _, k := range got {
		if !want[k] {
			t.Fatalf("unexpected key %d", k)
		}
	}
	for k := range uint64(8000) {
		if s.has(k) != want[k] {
			t.Fatalf("has(%d) = %v, want %v", k, s.has(k), want[k])
		}
	}
	var empty keySet
	if empty.has(0) || empty.has(1) || empty.len() != 0 {
		t.Fatal("an empty set reports a key")
	}
}
