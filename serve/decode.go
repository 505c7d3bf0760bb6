package serve

import (
	"math"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/lakestream/lakestream/api/inference"
)

// decodeInferRequest decodes an encoded ModelInferRequest into req exactly
// as proto.Unmarshal would, except that strings, bytes_contents elements
// and raw_input_contents entries alias b instead of being copied one by one
// (a batch of 256 strings was 256 allocations). b must therefore be the
// caller's own copy, never modified afterwards. It reports false, leaving
// req in an unspecified state, for anything it does not decode itself:
// parameters, unknown fields, unexpected wire types, invalid UTF-8 and
// malformed input; the caller then resets req and uses proto.Unmarshal,
// which gives those their usual meaning and errors.
func decodeInferRequest(b []byte, req *pb.ModelInferRequest) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		if typ != protowire.BytesType {
			return false
		}
		switch num {
		case 1, 2, 3:
			s, ok := aliasString(v)
			if !ok {
				return false
			}
			switch num {
			case 1:
				req.ModelName = s
			case 2:
				req.ModelVersion = s
			case 3:
				req.Id = s
			}
		case 5:
			t := &pb.ModelInferRequest_InferInputTensor{}
			if !decodeInput(v, t) {
				return false
			}
			req.Inputs = append(req.Inputs, t)
		case 6:
			o := &pb.ModelInferRequest_InferRequestedOutputTensor{}
			ok := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) bool {
				if num != 1 || typ != protowire.BytesType {
					return false
				}
				s, ok := aliasString(v)
				o.Name = s
				return ok
			})
			if !ok {
				return false
			}
			req.Outputs = append(req.Outputs, o)
		case 7:
			req.RawInputContents = append(req.RawInputContents, v[:len(v):len(v)])
		default:
			return false
		}
		return true
	})
}

func decodeInput(b []byte, t *pb.ModelInferRequest_InferInputTensor) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		switch num {
		case 1, 2:
			if typ != protowire.BytesType {
				return false
			}
			s, ok := aliasString(v)
			if num == 1 {
				t.Name = s
			} else {
				t.Datatype = s
			}
			return ok
		case 3:
			return appendVarints(&t.Shape, typ, v, func(u uint64) int64 { return int64(u) })
		case 5:
			if typ != protowire.BytesType {
				return false
			}
			if t.Contents == nil { // a repeated message field merges
				t.Contents = &pb.InferTensorContents{}
			}
			return decodeContents(v, t.Contents)
		}
		return false
	})
}

func decodeContents(b []byte, c *pb.InferTensorContents) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		switch num {
		case 1:
			return appendVarints(&c.BoolContents, typ, v, func(u uint64) bool { return u != 0 })
		case 2:
			return appendVarints(&c.IntContents, typ, v, func(u uint64) int32 { return int32(u) })
		case 3:
			return appendVarints(&c.Int64Contents, typ, v, func(u uint64) int64 { return int64(u) })
		case 4:
			return appendVarints(&c.UintContents, typ, v, func(u uint64) uint32 { return uint32(u) })
		case 5:
			return appendVarints(&c.Uint64Contents, typ, v, func(u uint64) uint64 { return u })
		case 6:
			return appendFixed(&c.Fp32Contents, typ, protowire.Fixed32Type, 4, v, func(b []byte) float32 {
				return math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
			})
		case 7:
			return appendFixed(&c.Fp64Contents, typ, protowire.Fixed64Type, 8, v, func(b []byte) float64 {
				u, _ := protowire.ConsumeFixed64(b)
				return math.Float64frombits(u)
			})
		case 8:
			if typ != protowire.BytesType {
				return false
			}
			c.BytesContents = append(c.BytesContents, v[:len(v):len(v)])
			return true
		}
		return false
	})
}

// eachField calls fn for each field of an encoded message with the
// payload of a length-delimited field or the encoding of any other (see
// walk). It reports false at malformed input, a group, or fn's first
// false.
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) bool) bool {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ == protowire.StartGroupType || !fn(num, typ, v) {
			return errMalformed
		}
		return nil
	}) == nil
}

// appendVarints appends one varint (typ VarintType) or a packed run of
// them (BytesType), converted by conv, to *dst.
func appendVarints[T any](dst *[]T, typ protowire.Type, v []byte, conv func(uint64) T) bool {
	switch typ {
	case protowire.VarintType:
		u, _ := protowire.ConsumeVarint(v)
		*dst = append(*dst, conv(u))
		return true
	case protowire.BytesType:
		if *dst == nil {
			*dst = make([]T, 0, countVarints(v))
		}
		for len(v) > 0 {
			u, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return false
			}
			*dst = append(*dst, conv(u))
			v = v[n:]
		}
		return true
	}
	return false
}

// appendFixed appends one fixed-width value (typ one) or a packed run of
// them (BytesType) of size bytes each, converted by conv, to *dst.
func appendFixed[T any](dst *[]T, typ, one protowire.Type, size int, v []byte, conv func([]byte) T) bool {
	switch typ {
	case one:
		*dst = append(*dst, conv(v))
		return true
	case protowire.BytesType:
		if len(v)%size != 0 {
			return false
		}
		if *dst == nil {
			*dst = make([]T, 0, len(v)/size)
		}
		for ; len(v) > 0; v = v[size:] {
			*dst = append(*dst, conv(v))
		}
		return true
	}
	return false
}

// aliasString returns v as a string sharing its memory, if it is valid
// UTF-8 (proto3 strings must be).
func aliasString(v []byte) (string, bool) {
	if !utf8.Valid(v) {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(v), len(v)), true
}
