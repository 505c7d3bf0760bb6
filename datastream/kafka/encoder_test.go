package kafka

import (
	"encoding/json"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestEncodeDecodeRoundTrip encodes decoded rows back to JSON, checks the
// text is valid JSON, and decodes it again to the same values.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rows := []string{
		`{"id":7,"ok":true,"n32":-3,"f":1.5,"f32":2.25,"s":"q\"\\\u0001é","ts":"2026-11-01T12:00:00.25Z","tags":["a",null,"b"]}`,
		`{"id":-1}`,
		`{"id":0,"f":1e300,"s":"","tags":[]}`,
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d, err := NewDecoder(testSchema(), mem, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	for _, r := range rows {
		if err := d.Decode([]byte(r)); err != nil {
			t.Fatalf("Decode(%s): %v", r, err)
		}
	}
	rec := d.NewRecord()
	defer rec.Release()
	var buf []byte
	for i := range int(rec.NumRows()) {
		buf, err = appendRow(buf[:0], rec, i)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(buf) {
			t.Fatalf("row %d: invalid JSON %s", i, buf)
		}
		if err := d.Decode(buf); err != nil {
			t.Fatalf("row %d: re-decode %s: %v", i, buf, err)
		}
	}
	again := d.NewRecord()
	defer again.Release()
	for i := range int(rec.NumRows()) {
		a, _ := appendRow(nil, rec, i)
		b, _ := appendRow(nil, again, i)
		if string(a) != string(b) {
			t.Errorf("row %d: %s != %s", i, a, b)
		}
	}
	if got, _ := appendRow(nil, rec, 1); string(got) != `{"id":-1,"ok":null,"n32":null,"f":null,"f32":null,"s":null,"ts":null,"tags":null}` {
		t.Errorf("row 1 = %s", got)
	}
}
