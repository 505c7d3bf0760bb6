package kafka

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// positionMagic starts every encoded Position ("LSKP", version 1); version
// 2 (positionTurn) adds the round-robin turn.
var positionMagic = [5]byte{'L', 'S', 'K', 'P', 1}

const positionTurn = 2

// Position is where a Source stands in a topic: for each partition, the
// offset of the next record to read. It is what checkpoints record.
type Position struct {
	Topic string
	Next  map[int32]int64
	// Turn is the partition whose turn is next in a source that merges its
	// partitions in turn (MergeInTurn), so that a restored source resumes
	// mid-round; -1 for none (a MergeArrival source, or no batch yet).
	Turn int32
}

// MarshalBinary encodes p as: magic (version 1 when Turn is -1, else 2),
// uvarint topic length, topic, uvarint partition count, then (varint
// partition, varint offset) in partition order, then in version 2 the
// varint Turn, so equal positions encode to equal bytes.
func (p Position) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(positionMagic)+len(p.Topic)+2+len(p.Next)*10+5)
	b = append(b, positionMagic[:]...)
	if p.Turn >= 0 {
		b[len(positionMagic)-1] = positionTurn
	}
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
	if p.Turn >= 0 {
		b = binary.AppendVarint(b, int64(p.Turn))
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It fails with
// ErrBadPosition on anything else.
func (p *Position) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("position: %s: %w", what, ErrBadPosition) }
	if len(b) < len(positionMagic) || [4]byte(b[:4]) != [4]byte(positionMagic[:4]) || (b[4] != positionMagic[4] && b[4] != positionTurn) {
		return bad("no magic header")
	}
	version := b[4]
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
	turn := int64(-1)
	if version == positionTurn {
		var k int
		if turn, k = binary.Varint(b); k <= 0 || turn < 0 || turn > 1<<31-1 {
			return bad("turn")
		}
		b = b[k:]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	p.Topic, p.Next, p.Turn = topic, next, int32(turn)
	return nil
}
