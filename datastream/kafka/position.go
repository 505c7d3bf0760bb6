package kafka

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// positionMagic starts every encoded Position ("LSKP", version 1).
var positionMagic = [5]byte{'L', 'S', 'K', 'P', 1}

// Position is where a Source stands in a topic: for each partition, the
// offset of the next record to read. It is what checkpoints record.
type Position struct {
	Topic string
	Next  map[int32]int64
}

// MarshalBinary encodes p as: magic, uvarint topic length, topic, uvarint
// partition count, then (varint partition, varint offset) in partition order,
// so equal positions encode to equal bytes.
func (p Position) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(positionMagic)+len(p.Topic)+2+len(p.Next)*10)
	b = append(b, positionMagic[:]...)
	b = binary.AppendUvarint(b, uint64(len(p.Topic)))
	b = append(b, p.Topic...)
	parts := make([]int32, 0, len(p.Next))
	for k := range p.Next {
		parts = append(parts, k)
	}
	slices.Sort(parts)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, k := range parts {
		b = binary.AppendVarint(b, int64(k))
		b = binary.AppendVarint(b, p.Next[k])
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It fails with
// ErrBadPosition on anything else.
func (p *Position) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("position: %s: %w", what, ErrBadPosition) }
	if len(b) < len(positionMagic) || [5]byte(b[:5]) != positionMagic {
		return bad("no magic header")
	}
	b = b[5:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return bad("topic length")
	}
	topic := string(b[k : k+int(n)])
	b = b[k+int(n):]
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return bad("partition count")
	}
	b = b[k:]
	next := make(map[int32]int64, count)
	for range count {
		part, k := binary.Varint(b)
		if k <= 0 || part < 0 || part > 1<<31-1 {
			return bad("partition")
		}
		b = b[k:]
		off, k := binary.Varint(b)
		if k <= 0 || off < 0 {
			return bad("offset")
		}
		b = b[k:]
		if _, dup := next[int32(part)]; dup {
			return bad(fmt.Sprintf("partition %d twice", part))
		}
		next[int32(part)] = off
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	p.Topic, p.Next = topic, next
	return nil
}
