package model

import (
	"testing"
)

// FuzzDecodeCatalogue: no input panics the decoder or makes it allocate
// past its size, and what decodes is a catalogue that encodes back to the
// same bytes.
func FuzzDecodeCatalogue(f *testing.F) {
	b := NewCatalogueBuilder()
	for _, p := range [][2]string{{"u1", "a"}, {"u2", "b"}, {"u1", "c"}, {"u3", "a"}} {
		if err := b.Add(p[0], p[1]); err != nil {
			f.Fatal(err)
		}
	}
	good := b.Catalogue().encode()
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(catalogueMagic + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCatalogue(data)
		if err != nil {
			return
		}
		if again := c.encode(); string(again) != string(data) {
			t.Fatalf("decoded catalogue encodes to %q, not %q", again, data)
		}
	})
}
