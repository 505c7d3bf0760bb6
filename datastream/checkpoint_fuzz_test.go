package datastream

import (
	"bytes"
	"testing"
)

func FuzzDecodeManifest(f *testing.F) {
	m := &Manifest{
		Version: ManifestVersion, Job: "count", ID: 7, CreatedMs: 1700000000000,
		States: []StateFile{
			{Chain: "clicks", Subtask: 0, Parallelism: 1, Key: "checkpoints/count/7/clicks-0.state", Size: 12, CRC32: 99},
			{Chain: "count", Subtask: 1, Parallelism: 2, Key: "checkpoints/count/7/count-1.state", Size: 0},
		},
		Sources: []SourcePosition{{Operator: "clicks", Subtask: 0, Position: []byte{0, 1, 2}}},
	}
	good, err := m.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"job":"j","id":1,"states":[],"sources":[]}`))
	f.Add([]byte(`{"version":1,"job":"a/b","id":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"job":"j","id":1,"states":[{"chain":"c","subtask":3,"parallelism":2,"key":"checkpoints/j/1/c-3.state"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		// Whatever decodes must validate and survive a round trip.
		if err := m.validate(); err != nil {
			t.Fatalf("decoded manifest fails validation: %v", err)
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, enc)
		}
		enc2, _ := m2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeStates(f *testing.F) {
	f.Add(encodeStates([]opState{{name: "count", data: []byte("abc")}, {name: "sink", data: nil}}))
	f.Add(encodeStates(nil))
	f.Add([]byte(stateFileMagic + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeStates(b)
		if err != nil {
			return
		}
		var ops []opState
		for name, data := range st {
			ops = append(ops, opState{name: name, data: data})
		}
		st2, err := decodeStates(encodeStates(ops))
		if err != nil || len(st2) != len(st) {
			t.Fatalf("re-decode: %v (%d states, want %d)", err, len(st2), len(st))
		}
		for name, data := range st {
			if !bytes.Equal(st2[name], data) {
				t.Fatalf("state %q changed", name)
			}
		}
	})
}

func TestDecodeManifestRejects(t *testing.T) {
	for _, tc := range []struct{ name, json string }{
		{"version", `{"version":9,"job":"j","id":1}`},
		{"job with slash", `{"version":1,"job":"a/b","id":1}`},
		{"zero id", `{"version":1,"job":"j","id":0}`},
		{"unknown field", `{"version":1,"job":"j","id":1,"extra":true}`},
		{"subtask out of range", `{"version":1,"job":"j","id":1,"states":[{"chain":"c","subtask":2,"parallelism":2,"key":"checkpoints/j/1/c-2.state"}]}`},
		{"key outside checkpoint", `{"version":1,"job":"j","id":1,"states":[{"chain":"c","subtask":0,"parallelism":1,"key":"checkpoints/j/2/c-0.state"}]}`},
		{"duplicate state", `{"version":1,"job":"j","id":1,"states":[{"chain":"c","subtask":0,"parallelism":1,"key":"checkpoints/j/1/a"},{"chain":"c","subtask":0,"parallelism":1,"key":"checkpoints/j/1/b"}]}`},
		{"trailing data", `{"version":1,"job":"j","id":1} {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeManifest([]byte(tc.json)); err == nil {
				t.Fatal("decoded an invalid manifest")
			}
		})
	}
}
