package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// CatalogueFile is the object of a version directory that holds its
// catalogue (see Catalogue), listed in the manifest as "catalogue".
const CatalogueFile = "catalogue.bin"

// Bounds of a catalogue, so that neither a training run nor a predictor
// holds an unbounded one: MaxCatalogueItems distinct items, MaxCatalogueUsers
// distinct users, MaxCatalogueInteractions (user, item) rows collected
// (duplicates included), MaxCatalogueValue bytes per user or item value,
// and MaxCatalogueBytes for the whole file (the values, their lengths and
// 4 bytes per interaction). A predictor holds about the file's size again
// in its index, plus 4·(1+k) bytes per item.
const (
	MaxCatalogueItems        = 1 << 20
	MaxCatalogueUsers        = 1 << 23
	MaxCatalogueInteractions = 1 << 25
	MaxCatalogueValue        = 1 << 10
	MaxCatalogueBytes        = 1 << 28
)

// ErrCatalogueTooLarge is returned by CatalogueBuilder.Add for an
// interaction past one of the catalogue bounds.
var ErrCatalogueTooLarge = errors.New("catalogue too large")

// Catalogue is what a recommendation (mf) model needs to answer a user's
// top-N items: the items it may recommend and, for each user of the
// interactions it was built from, the items that user already has. Users
// and items are their column values as text (an integer in decimal), in
// order of first appearance.
type Catalogue struct {
	Items []string
	Users []string
	// Indptr has len(Users)+1 offsets into Seen: user u's items are
	// Seen[Indptr[u]:Indptr[u+1]], indices into Items, ascending, each once.
	Indptr []int64
	Seen   []int32
}

// SeenBy returns user u's items, sharing memory.
func (c *Catalogue) SeenBy(u int) []int32 { return c.Seen[c.Indptr[u]:c.Indptr[u+1]] }

// CatalogueBuilder collects interactions into a Catalogue. The zero value
// is not usable; call NewCatalogueBuilder.
type CatalogueBuilder struct {
	items, users       map[string]int32
	itemVals, userVals []string
	seen               [][]int32
	rows               int
	size               int // bytes of the encoded catalogue, at most
}

// NewCatalogueBuilder returns an empty builder.
func NewCatalogueBuilder() *CatalogueBuilder {
	return &CatalogueBuilder{items: map[string]int32{}, users: map[string]int32{}}
}

// Add records that user interacted with item. It returns an error wrapping
// ErrCatalogueTooLarge, and records nothing, when the interaction would
// take the catalogue past a bound (see MaxCatalogueItems).
func (b *CatalogueBuilder) Add(user, item string) error {
	if b.rows >= MaxCatalogueInteractions {
		return fmt.Errorf("%w: more than %d interactions", ErrCatalogueTooLarge, MaxCatalogueInteractions)
	}
	if len(user) > MaxCatalogueValue || len(item) > MaxCatalogueValue {
		return fmt.Errorf("%w: a user or item value of more than %d bytes", ErrCatalogueTooLarge, MaxCatalogueValue)
	}
	if b.size+2*MaxCatalogueValue+24 > MaxCatalogueBytes-len(catalogueMagic)-16 {
		return fmt.Errorf("%w: more than %d bytes", ErrCatalogueTooLarge, MaxCatalogueBytes)
	}
	i, ok := b.items[item]
	if !ok {
		if len(b.itemVals) >= MaxCatalogueItems {
			return fmt.Errorf("%w: more than %d items", ErrCatalogueTooLarge, MaxCatalogueItems)
		}
		b.size += binary.MaxVarintLen32 + len(item)
		i = int32(len(b.itemVals))
		b.items[item] = i
		b.itemVals = append(b.itemVals, item)
	}
	u, ok := b.users[user]
	if !ok {
		if len(b.userVals) >= MaxCatalogueUsers {
			return fmt.Errorf("%w: more than %d users", ErrCatalogueTooLarge, MaxCatalogueUsers)
		}
		u = int32(len(b.userVals))
		b.users[user] = u
		b.userVals = append(b.userVals, user)
		b.seen = append(b.seen, nil)
		b.size += 2*binary.MaxVarintLen64 + len(user)
	}
	b.size += 4
	b.seen[u] = append(b.seen[u], i)
	b.rows++
	return nil
}

// Catalogue returns what was added. The builder must not be used after.
func (b *CatalogueBuilder) Catalogue() *Catalogue {
	c := &Catalogue{Items: b.itemVals, Users: b.userVals, Indptr: make([]int64, 1, len(b.userVals)+1)}
	for u, s := range b.seen {
		slices.Sort(s)
		c.Seen = append(c.Seen, slices.Compact(s)...)
		c.Indptr = append(c.Indptr, int64(len(c.Seen)))
		b.seen[u] = nil
	}
	return c
}

// catalogueMagic starts a catalogue file.
const catalogueMagic = "LSCAT1\n\x00"

// encode writes c as: the magic, item, user and pair counts (uint32,
// uint32, uint64), each item as a uvarint length and its bytes, each user
// likewise followed by a uvarint count of seen items, then every seen item
// index as a little-endian uint32, user by user.
func (c *Catalogue) encode() []byte {
	n := len(catalogueMagic) + 16 + 4*len(c.Seen)
	for _, s := range c.Items {
		n += binary.MaxVarintLen32 + len(s)
	}
	for _, s := range c.Users {
		n += 2*binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, catalogueMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Items)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Users)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(c.Seen)))
	for _, s := range c.Items {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for u, s := range c.Users {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		b = binary.AppendUvarint(b, uint64(c.Indptr[u+1]-c.Indptr[u]))
	}
	for _, i := range c.Seen {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
	}
	return b
}

// decodeCatalogue reads what encode wrote. Every count is checked against
// the bounds and the bytes left before anything is allocated for it, so a
// crafted file cannot make the reader allocate more than its own size.
func decodeCatalogue(b []byte) (*Catalogue, error) {
	if len(b) < len(catalogueMagic)+16 || string(b[:len(catalogueMagic)]) != catalogueMagic {
		return nil, errors.New("not a catalogue file")
	}
	b = b[len(catalogueMagic):]
	nItems, nUsers, nSeen := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint64(b[8:])
	b = b[16:]
	switch {
	case nItems > MaxCatalogueItems || nUsers > MaxCatalogueUsers || nSeen > MaxCatalogueInteractions:
		return nil, fmt.Errorf("%d items, %d users, %d interactions: past the bounds (%d, %d, %d)",
			nItems, nUsers, nSeen, MaxCatalogueItems, MaxCatalogueUsers, MaxCatalogueInteractions)
	case uint64(nItems)+2*uint64(nUsers)+4*nSeen > uint64(len(b)):
		return nil, fmt.Errorf("%d items, %d users, %d interactions cannot fit in %d bytes", nItems, nUsers, nSeen, len(b))
	}
	value := func() (string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > MaxCatalogueValue || n > uint64(len(b)-w) {
			return "", errors.New("bad value length")
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, nil
	}
	c := &Catalogue{Items: make([]string, nItems), Users: make([]string, nUsers), Indptr: make([]int64, 1, nUsers+1)}
	var err error
	for i := range c.Items {
		if c.Items[i], err = value(); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	var total uint64
	for u := range c.Users {
		if c.Users[u], err = value(); err != nil {
			return nil, fmt.Errorf("user %d: %w", u, err)
		}
		n, w := binary.Uvarint(b)
		if w <= 0 || n > nSeen-total {
			return nil, fmt.Errorf("user %d: bad count of items", u)
		}
		b = b[w:]
		total += n
		c.Indptr = append(c.Indptr, int64(total))
	}
	if total != nSeen || uint64(len(b)) != 4*nSeen {
		return nil, fmt.Errorf("%d interactions announced, %d counted, %d bytes for them", nSeen, total, len(b))
	}
	c.Seen = make([]int32, nSeen)
	for j := range c.Seen {
		c.Seen[j] = int32(binary.LittleEndian.Uint32(b[4*j:]))
	}
	return c, c.check()
}

// check verifies the invariants a decoded catalogue must hold.
func (c *Catalogue) check() error {
	if len(c.Indptr) != len(c.Users)+1 || c.Indptr[0] != 0 || c.Indptr[len(c.Users)] != int64(len(c.Seen)) {
		return errors.New("user offsets do not cover the interactions")
	}
	for u := range c.Users {
		if c.Indptr[u] > c.Indptr[u+1] {
			return fmt.Errorf("user %d: offsets go backwards", u)
		}
		prev := int32(-1)
		for _, i := range c.SeenBy(u) {
			if i <= prev || int(i) >= len(c.Items) {
				return fmt.Errorf("user %d: item index %d out of order or past %d items", u, i, len(c.Items))
			}
			prev = i
		}
	}
	return nil
}
