package serve

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/lakestream/lakestream/api/inference"
)

// checkDecodeLikeProto fails unless decodeInferRequest either leaves b to
// proto.Unmarshal or decodes exactly what proto.Unmarshal decodes.
func checkDecodeLikeProto(t *testing.T, b []byte) (fast bool) {
	t.Helper()
	want := &pb.ModelInferRequest{}
	werr := proto.Unmarshal(b, want)
	got := &pb.ModelInferRequest{}
	if !decodeInferRequest(append([]byte(nil), b...), got) {
		return false
	}
	if werr != nil {
		t.Fatalf("decoded %x, which proto.Unmarshal refuses: %v", b, werr)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %x as\n%v\nproto.Unmarshal: \n%v", b, got, want)
	}
	return true
}

// TestDecodeInferRequestLikeProto: random requests of every datatype,
// typed and raw, decode as proto.Unmarshal decodes them; so do the wire
// forms proto.Marshal never writes (unpacked repeated values, a contents
// message sent twice, a string sent twice); parameters, unknown fields and
// invalid UTF-8 are left to proto.Unmarshal.
func TestDecodeInferRequestLikeProto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b, err := proto.Marshal(randomInferRequest(r))
		if err != nil {
			t.Fatal(err)
		}
		if !checkDecodeLikeProto(t, b) {
			t.Fatalf("a plain request %x was left to proto.Unmarshal", b)
		}
	}
	join := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// field5 is field 5 holding a message of fields: an input tensor of a
	// request, and the contents of a tensor.
	field5 := func(fields ...[]byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), join(fields...))
	}
	tensor, contents := field5, field5
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	fixed64 := protowire.AppendFixed64(protowire.AppendTag(nil, 7, protowire.Fixed64Type), 0x3ff0000000000000)
	fixed32 := protowire.AppendFixed32(protowire.AppendTag(nil, 6, protowire.Fixed32Type), 0x3f800000)
	for _, tc := range []struct {
		name string
		b    []byte
		fast bool
	}{
		{"unpacked values and shape", join(str(1, "m"), tensor(str(1, "a"), str(2, "INT64"), varint(3, 2),
			contents(varint(3, 5), varint(3, 1<<63), varint(1, 2), varint(2, 1<<40), varint(4, 1<<33), fixed64, fixed32))), true},
		{"contents sent twice merge", join(tensor(str(1, "a"), contents(varint(3, 1)), contents(varint(3, 2)))), true},
		{"name sent twice, last wins", join(str(1, "first"), str(1, "second"), str(3, "id")), true},
		{"empty", nil, true},
		{"request parameters", join(str(1, "m"), protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), str(1, "k"))), false},
		{"unknown field", join(str(1, "m"), varint(99, 1)), false},
		{"name with the wrong wire type", varint(1, 1), false},
		{"invalid UTF-8", str(1, "\xff"), false},
		{"truncated", str(1, "model")[:4], false},
		{"packed fp64 of 7 bytes", tensor(contents(protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType), make([]byte, 7)))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkDecodeLikeProto(t, tc.b); got != tc.fast {
				t.Errorf("decoded itself: %v, want %v", got, tc.fast)
			}
		})
	}
}

// FuzzDecodeInferRequest: whatever the input, decodeInferRequest decodes
// only what proto.Unmarshal decodes, and to the same message.
func FuzzDecodeInferRequest(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		b, _ := proto.Marshal(randomInferRequest(r))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeLikeProto(t, b) })
}

func randomInferRequest(r *rand.Rand) *pb.ModelInferRequest {
	rows := r.IntN(5)
	req := &pb.ModelInferRequest{ModelName: "ctr", Id: []string{"", "x", "héllo"}[r.IntN(3)], ModelVersion: []string{"", "3"}[r.IntN(2)]}
	raw := r.IntN(2) == 0
	for i := range r.IntN(4) {
		t := &pb.ModelInferRequest_InferInputTensor{Name: string(rune('a' + i)), Shape: []int64{int64(rows)}}
		if r.IntN(2) == 0 {
			t.Shape = append(t.Shape, 1)
		}
		c := &pb.InferTensorContents{}
		switch k := r.IntN(8); k {
		case 0:
			t.Datatype = "BOOL"
			for range rows {
				c.BoolContents = append(c.BoolContents, r.IntN(2) == 0)
			}
		case 1:
			t.Datatype = "INT32"
			for range rows {
				c.IntContents = append(c.IntContents, int32(r.Uint32()))
			}
		case 2:
			t.Datatype = "INT64"
			for range rows {
				c.Int64Contents = append(c.Int64Contents, int64(r.Uint64()))
			}
		case 3:
			t.Datatype = "UINT32"
			for range rows {
				c.UintContents = append(c.UintContents, r.Uint32())
			}
		case 4:
			t.Datatype = "UINT64"
			for range rows {
				c.Uint64Contents = append(c.Uint64Contents, r.Uint64())
			}
		case 5:
			t.Datatype = "FP32"
			for range rows {
				c.Fp32Contents = append(c.Fp32Contents, float32(r.NormFloat64()))
			}
		case 6:
			t.Datatype = "FP64"
			for range rows {
				c.Fp64Contents = append(c.Fp64Contents, r.NormFloat64())
			}
		case 7:
			t.Datatype = "BYTES"
			for range rows {
				c.BytesContents = append(c.BytesContents, []byte("v"+string(rune('a'+r.IntN(26)))))
			}
		}
		if raw {
			req.RawInputContents = append(req.RawInputContents, []byte{byte(r.IntN(256)), 0, 1})
		} else {
			t.Contents = c
		}
		req.Inputs = append(req.Inputs, t)
	}
	if r.IntN(2) == 0 {
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}}
	}
	return req
}

// BenchmarkDecodeInferRequest compares decodeInferRequest with
// proto.Unmarshal on a request of three typed columns (INT64, BYTES, FP64).
func BenchmarkDecodeInferRequest(b *testing.B) {
	for _, batch := range []int{1, 256} {
		req := typedRequest(batch)
		wire, err := proto.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("batch="+strconv.Itoa(batch)+"/proto.Unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(wire, &pb.ModelInferRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("batch="+strconv.Itoa(batch)+"/decodeInferRequest", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !decodeInferRequest(append([]byte(nil), wire...), &pb.ModelInferRequest{}) {
					b.Fatal("left to proto")
				}
			}
		})
	}
}
