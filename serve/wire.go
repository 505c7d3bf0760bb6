package serve

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Bounds on what one ModelInferRequest may hold, checked on the wire before
// the message is decoded (see checkInferWire). Decoding multiplies memory:
// an empty raw_input_contents entry is 2 bytes on the wire and a 24-byte
// slice header plus bookkeeping in Go, a 1-byte varint is an 8-byte int64.
const (
	maxParameters = 64 // entries of one parameters map
	maxShape      = 2  // [batch] or [batch, 1]
	maxOutputs    = 8  // requested outputs
)

// inferBounds are the limits of one request, derived from the served
// model and the batch limit.
type inferBounds struct {
	inputs int // tensors, and raw_input_contents entries: the model's columns
	elems  int // values of one tensor: the batch limit
}

// wireModelName returns field 1 (model_name) of an encoded
// ModelInferRequest (the last one, as proto decoding does).
func wireModelName(b []byte) (string, error) {
	name := ""
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 1 && typ == protowire.BytesType {
			name = string(v)
		}
		return nil
	})
	return name, err
}

// checkInferWire refuses an encoded ModelInferRequest whose element counts
// exceed bd, without allocating for its elements.
func checkInferWire(b []byte, bd inferBounds) error {
	var inputs, raws, outputs, params int
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 4:
			if params++; params > maxParameters {
				return fmt.Errorf("more than %d request parameters", maxParameters)
			}
		case 5:
			if inputs++; inputs > bd.inputs {
				return fmt.Errorf("more than %d input tensors; the model reads %d columns", bd.inputs, bd.inputs)
			}
			return checkTensorWire(v, typ, bd)
		case 6:
			if outputs++; outputs > maxOutputs {
				return fmt.Errorf("more than %d requested outputs", maxOutputs)
			}
			return checkParamsWire(v, typ, 2)
		case 7:
			if raws++; raws > bd.inputs {
				return fmt.Errorf("more than %d raw_input_contents entries; the model reads %d columns", bd.inputs, bd.inputs)
			}
		}
		return nil
	})
}

func checkTensorWire(b []byte, typ protowire.Type, bd inferBounds) error {
	if typ != protowire.BytesType {
		return nil // proto decoding refuses the wire type
	}
	var shape, params int
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 3:
			n := 1
			if typ == protowire.BytesType {
				n = countVarints(v)
			}
			if shape += n; shape > maxShape {
				return fmt.Errorf("an input shape has more than %d dimensions", maxShape)
			}
		case 4:
			if params++; params > maxParameters {
				return fmt.Errorf("an input has more than %d parameters", maxParameters)
			}
		case 5:
			if typ != protowire.BytesType {
				return nil
			}
			elems := 0
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				n := 1
				if typ == protowire.BytesType && num >= 1 && num <= 7 { // packed
					switch num {
					case 6:
						n = len(v) / 4
					case 7:
						n = len(v) / 8
					default:
						n = countVarints(v)
					}
				}
				if elems += n; elems > bd.elems {
					return fmt.Errorf("an input tensor holds more than %d values, the batch limit of %d rows", bd.elems, bd.elems)
				}
				return nil
			})
		}
		return nil
	})
}

// checkParamsWire bounds the entries of the parameters map (field num) of
// a message.
func checkParamsWire(b []byte, typ protowire.Type, num protowire.Number) error {
	if typ != protowire.BytesType {
		return nil
	}
	params := 0
	return walk(b, func(n protowire.Number, _ protowire.Type, _ []byte) error {
		if n == num {
			if params++; params > maxParameters {
				return fmt.Errorf("more than %d parameters", maxParameters)
			}
		}
		return nil
	})
}

// walk calls fn for each field of an encoded message, with the value's
// bytes (the payload for length-delimited fields). It stops at fn's first
// error or at malformed input.
func walk(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				v = b[:n]
			}
		}
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

var errMalformed = fmt.Errorf("malformed protobuf message")

// countVarints counts the varints of a packed field: one per byte without
// the continuation bit.
func countVarints(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n
}
