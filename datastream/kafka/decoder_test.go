package kafka

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func testSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "n32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
}

// rowJSON renders row 0 of rec with arrow's own JSON marshaling, an
// independent view of what the builders received.
func rowJSON(t *testing.T, rec arrow.Record) string {
	t.Helper()
	var parts []string
	for i, f := range rec.Schema().Fields() {
		b, err := json.Marshal(rec.Column(i).GetOneForMarshal(0))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, f.Name+"="+string(b))
	}
	return strings.Join(parts, " ")
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"all types", `{"id":7,"ok":true,"n32":-3,"f":1.5,"f32":2,"s":"x\u00e9\n","ts":"2026-11-01T12:00:00.25Z","tags":["a",null,"b"]}`,
			`id=7 ok=true n32=-3 f=1.5 f32=2 s="xé\n" ts="2026-11-01 12:00:00.25Z" tags=["a",null,"b"]`},
		{"missing nullable and unknown keys", `{"zzz":{"a":[1,{"b":null}]},"id":1}`,
			`id=1 ok=null n32=null f=null f32=null s=null ts=null tags=null`},
		{"coercions", `{"id":"12","ok":"false","n32":2e3,"f":"-0.5e1","f32":"3","s":12.50,"ts":1700000000123,"tags":[true,1]}`,
			`id=12 ok=false n32=2000 f=-5 f32=3 s="12.50" ts="2023-11-14 22:13:20.123Z" tags=["true","1"]`},
		{"integral float into int", `{"id":4.0}`, `id=4 ok=null n32=null f=null f32=null s=null ts=null tags=null`},
		{"timestamp offset and epoch string", `{"id":1,"ts":"2026-01-01T01:00:00+01:00"}`,
			`id=1 ok=null n32=null f=null f32=null s=null ts="2026-01-01 00:00:00Z" tags=null`},
		{"explicit nulls", `{"id":1,"ok":null,"s":null,"tags":null}`,
			`id=1 ok=null n32=null f=null f32=null s=null ts=null tags=null`},
		{"empty list", ` {"id":-9223372036854775808 , "tags":[ ]} `,
			`id=-9223372036854775808 ok=null n32=null f=null f32=null s=null ts=null tags=[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			d, err := NewDecoder(testSchema(), mem, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release()
			if err := d.Decode([]byte(tt.in)); err != nil {
				t.Fatalf("Decode(%s): %v", tt.in, err)
			}
			rec := d.NewRecord()
			defer rec.Release()
			if got := rowJSON(t, rec); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		reason   Reason
		field    string
	}{
		{"not json", `{"id":1,`, ReasonInvalidJSON, ""},
		{"array top level", `[1]`, ReasonInvalidJSON, ""},
		{"trailing garbage", `{"id":1} x`, ReasonInvalidJSON, ""},
		{"bad escape", `{"id":1,"s":"\x"}`, ReasonInvalidJSON, ""},
		{"bad number", `{"id":01}`, ReasonInvalidJSON, ""},
		{"bad literal", `{"id":1,"ok":tru}`, ReasonInvalidJSON, ""},
		{"unknown key bad value", `{"id":1,"q":[1,]}`, ReasonInvalidJSON, ""},
		{"control char", "{\"id\":1,\"s\":\"a\x01\"}", ReasonInvalidJSON, ""},
		{"string for int", `{"id":"abc"}`, ReasonWrongType, "id"},
		{"fraction for int", `{"id":1.5}`, ReasonWrongType, "id"},
		{"int overflow", `{"id":9223372036854775808}`, ReasonWrongType, "id"},
		{"int32 overflow", `{"id":1,"n32":2147483648}`, ReasonWrongType, "n32"},
		{"bool for float", `{"id":1,"f":true}`, ReasonWrongType, "f"},
		{"object for string", `{"id":1,"s":{}}`, ReasonWrongType, "s"},
		{"scalar for list", `{"id":1,"tags":"a"}`, ReasonWrongType, "tags"},
		{"bad timestamp", `{"id":1,"ts":"2026-02-30T00:00:00Z"}`, ReasonWrongType, "ts"},
		{"null non-nullable", `{"id":null}`, ReasonWrongType, "id"},
		{"missing non-nullable", `{"s":"x"}`, ReasonMissingField, "id"},
		{"duplicate", `{"id":1,"id":2}`, ReasonDuplicateField, "id"},
		{"invalid utf8", "{\"id\":1,\"s\":\"\xff\"}", ReasonWrongType, "s"},
		{"oversized", `{"id":1,"s":"` + strings.Repeat("x", 100) + `"}`, ReasonOversized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(testSchema(), nil, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release()
			// A good row before and after shows the failure left no trace.
			if err := d.Decode([]byte(`{"id":1,"s":"a"}`)); err != nil {
				t.Fatal(err)
			}
			err = d.Decode([]byte(tt.in))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) = %v, want a *DecodeError", tt.in, err)
			}
			if de.Reason != tt.reason || de.Field != tt.field {
				t.Errorf("Decode(%q) = %v, want reason %s field %q", tt.in, err, tt.reason, tt.field)
			}
			if err := d.Decode([]byte(`{"id":2,"s":"b","tags":["c"]}`)); err != nil {
				t.Fatal(err)
			}
			rec := d.NewRecord()
			defer rec.Release()
			if rec.NumRows() != 2 {
				t.Fatalf("rows = %d, want 2", rec.NumRows())
			}
			for i := range rec.Columns() {
				if n := rec.Column(i).Len(); n != 2 {
					t.Errorf("column %d has %d rows, want 2", i, n)
				}
			}
			if got := rec.Column(5).(*array.String).Value(1); got != "b" {
				t.Errorf("s[1] = %q, want b", got)
			}
		})
	}
}

func TestNewDecoderUnsupported(t *testing.T) {
	s := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)}}, nil)
	if _, err := NewDecoder(s, nil, 0); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("NewDecoder(map) = %v, want ErrUnsupportedType", err)
	}
}

// FuzzDecode checks that the decoder never panics, never accepts what
// encoding/json rejects, keeps every column the same length, round-trips
// through the encoder, and agrees with encoding/json on the integer column
// when it accepts.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"id":1}`, `{"id":"2","s":"\ud83d\ude00","tags":["a"]}`, `{"id":1,"ts":"2026-11-01T00:00:00Z"}`,
		`{"id":1,"f":-1.5e-3,"x":{"y":[true,false,null]}}`, `{`, `{"id":1,"id":1}`, `{"id":1e2,"n32":"7"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d, err := NewDecoder(testSchema(), nil, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Release()
		if err := d.Decode(msg); err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Reason == ReasonInvalidJSON && json.Valid(msg) && strings.HasPrefix(strings.TrimSpace(string(msg)), "{") {
				t.Fatalf("rejected valid JSON %q: %v", msg, err)
			}
			return
		}
		if !json.Valid(msg) {
			t.Fatalf("accepted invalid JSON %q", msg)
		}
		id, _ := d.Int64At(0)
		rec := d.NewRecord()
		defer rec.Release()
		for i := range rec.Columns() {
			if rec.Column(i).Len() != 1 {
				t.Fatalf("column %d has %d rows", i, rec.Column(i).Len())
			}
		}
		// The encoder writes the row back as JSON that decodes to the same row.
		enc, err := appendRow(nil, rec, 0)
		if err != nil || !json.Valid(enc) {
			t.Fatalf("encoding the row of %q gave %q, %v", msg, enc, err)
		}
		if err := d.Decode(enc); err != nil {
			t.Fatalf("re-decoding %q (from %q): %v", enc, msg, err)
		}
		again := d.NewRecord()
		defer again.Release()
		if enc2, _ := appendRow(nil, again, 0); string(enc2) != string(enc) {
			t.Fatalf("round trip of %q: %q then %q", msg, enc, enc2)
		}
		var ref map[string]any
		dec := json.NewDecoder(strings.NewReader(string(msg)))
		dec.UseNumber()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("encoding/json rejects accepted %q: %v", msg, err)
		}
		var num json.Number
		switch v := ref["id"].(type) {
		case json.Number:
			num = v
		case string:
			num = json.Number(v)
		default:
			t.Fatalf("accepted id %v of type %T in %q", v, v, msg)
		}
		if want, err := num.Float64(); err != nil || (want != float64(id) && want < 1e15 && want > -1e15) {
			t.Fatalf("id = %d, encoding/json says %v (%v) in %q", id, num, err, msg)
		}
	})
}
