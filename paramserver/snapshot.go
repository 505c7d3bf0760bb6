package paramserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/lakestream/lakestream/lake"
)

// Snapshot format (all integers little-endian):
//
//	file   = magic "LSPSNAP1" | u32 shard | u32 shards | u32 ntables | table* | "LSPSEND!"
//	table  = header | block* | u32 0
//	header = u16 len(name) | name | u8 dense | u32 width | u32 slots | u64 rows | u32 crc
//	block  = u32 nrows | row* | u32 crc
//	row    = u64 key | i64 step | i64 lastSeen | f32 × width·(1+slots)
//
// Every crc is CRC-32C (Castagnoli) over the bytes of its header or block
// before it, including the leading length. A block holds at most
// maxBlockBytes of rows (or a single row), which bounds what a decoder
// allocates before it can check a checksum.
const (
	snapMagic     = "LSPSNAP1"
	snapEnd       = "LSPSEND!"
	maxBlockBytes = 1 << 20
	maxSnapTables = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes every table to w in the snapshot format. Each stripe
// is read under its lock, so the snapshot is consistent per row; it is
// consistent across rows only when no push runs concurrently, which is why
// jobs take snapshots at a barrier. Gradients accumulated by a deferred
// store and not yet flushed are not part of the snapshot: Flush first.
func (l *Local) WriteSnapshot(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	ts := l.tables.Load()
	specs := l.Tables()
	var hdr []byte
	hdr = append(hdr, snapMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(l.cfg.Shard))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(l.cfg.Shards))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(specs)))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	enc := &blockEncoder{w: bw}
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := ts.byName[s.Name]
		if err := enc.table(t); err != nil {
			return fmt.Errorf("snapshot table %q: %w", s.Name, err)
		}
	}
	if _, err := bw.WriteString(snapEnd); err != nil {
		return err
	}
	return bw.Flush()
}

type blockEncoder struct {
	w     *bufio.Writer
	buf   []byte
	n     uint32 // rows in buf
	limit uint32 // rows per block
}

func (e *blockEncoder) table(t *table) error {
	stride := t.spec.Width * (1 + t.slots)
	rows := 0
	if t.dense != nil {
		rows = len(t.dense.steps)
	} else {
		rows = t.sparse.len()
	}
	h := binary.LittleEndian.AppendUint16(nil, uint16(len(t.spec.Name)))
	h = append(h, t.spec.Name...)
	dense := byte(0)
	if t.dense != nil {
		dense = 1
	}
	h = append(h, dense)
	h = binary.LittleEndian.AppendUint32(h, uint32(t.spec.Width))
	h = binary.LittleEndian.AppendUint32(h, uint32(t.slots))
	h = binary.LittleEndian.AppendUint64(h, uint64(rows))
	h = binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, castagnoli))
	if _, err := e.w.Write(h); err != nil {
		return err
	}
	e.limit = uint32(max(1, maxBlockBytes/(24+4*stride)))
	e.reset()
	if t.dense != nil {
		d := t.dense
		for r := range d.steps {
			mu := &d.locks[r%numStripes]
			mu.RLock()
			e.row(uint64(r), d.steps[r], 0, d.vals[r*d.stride:r*d.stride+stride])
			mu.RUnlock()
			if err := e.maybeFlush(); err != nil {
				return err
			}
		}
	} else {
		mem := t.sparse.stride
		for i := range t.sparse.stripes {
			s := &t.sparse.stripes[i]
			s.mu.RLock()
			for r, k := range s.keys {
				e.row(k, s.steps[r], s.seen[r], s.vals[r*mem:r*mem+stride])
				if e.n == e.limit {
					if err := e.flush(); err != nil {
						s.mu.RUnlock()
						return err
					}
				}
			}
			s.mu.RUnlock()
		}
	}
	if err := e.flush(); err != nil {
		return err
	}
	_, err := e.w.Write([]byte{0, 0, 0, 0})
	return err
}

func (e *blockEncoder) reset() {
	e.buf = append(e.buf[:0], 0, 0, 0, 0)
	e.n = 0
}

func (e *blockEncoder) row(key uint64, step, seen int64, vals []float32) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, key)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(step))
	e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(seen))
	for _, v := range vals {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(v))
	}
	e.n++
}

func (e *blockEncoder) maybeFlush() error {
	if e.n < e.limit {
		return nil
	}
	return e.flush()
}

func (e *blockEncoder) flush() error {
	if e.n == 0 {
		return nil
	}
	binary.LittleEndian.PutUint32(e.buf, e.n)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, crc32.Checksum(e.buf, castagnoli))
	_, err := e.w.Write(e.buf)
	e.reset()
	return err
}

// ReadSnapshot replaces every table with the contents of a snapshot read
// from r. The snapshot must hold exactly the declared tables, with the same
// kinds, widths and optimizer state sizes, and come from the same shard of
// the same shard count. On error the store keeps its previous contents.
// Pushes that run concurrently with ReadSnapshot may be lost.
func (l *Local) ReadSnapshot(ctx context.Context, r io.Reader) error {
	ts, err := l.newTableSet()
	if err != nil {
		return err
	}
	d := &snapDecoder{r: bufio.NewReaderSize(r, 1<<16)}
	if err := d.file(ctx, l, ts); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	l.tables.Store(ts)
	return nil
}

type snapDecoder struct {
	r   *bufio.Reader
	off int64
	buf []byte
}

func (d *snapDecoder) read(n int) ([]byte, error) {
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("at offset %d: %w", d.off, err)
	}
	d.off += int64(n)
	return b, nil
}

func (d *snapDecoder) file(ctx context.Context, l *Local, ts *tableSet) error {
	b, err := d.read(len(snapMagic) + 12)
	if err != nil {
		return err
	}
	if string(b[:len(snapMagic)]) != snapMagic {
		return errors.New("not a parameter-server snapshot (bad magic)")
	}
	shard := binary.LittleEndian.Uint32(b[8:])
	shards := binary.LittleEndian.Uint32(b[12:])
	ntables := binary.LittleEndian.Uint32(b[16:])
	if int(shard) != l.cfg.Shard || int(shards) != l.cfg.Shards {
		return fmt.Errorf("snapshot of shard %d/%d restored into shard %d/%d", shard, shards, l.cfg.Shard, l.cfg.Shards)
	}
	if int(ntables) != len(ts.byName) {
		return fmt.Errorf("snapshot has %d tables, store declares %d", ntables, len(ts.byName))
	}
	done := make(map[string]bool, ntables)
	for range ntables {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := d.table(ts)
		if err != nil {
			return err
		}
		if done[name] {
			return fmt.Errorf("table %q appears twice", name)
		}
		done[name] = true
	}
	b, err = d.read(len(snapEnd))
	if err != nil {
		return err
	}
	if string(b) != snapEnd {
		return fmt.Errorf("at offset %d: bad end marker", d.off-int64(len(snapEnd)))
	}
	return nil
}

func (d *snapDecoder) table(ts *tableSet) (string, error) {
	start := d.off
	b, err := d.read(2)
	if err != nil {
		return "", err
	}
	nameLen := int(binary.LittleEndian.Uint16(b))
	h := append([]byte(nil), b...)
	b, err = d.read(nameLen + 1 + 4 + 4 + 8 + 4)
	if err != nil {
		return "", err
	}
	h = append(h, b...)
	body, sum := h[:len(h)-4], binary.LittleEndian.Uint32(h[len(h)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return "", fmt.Errorf("table header at offset %d: checksum mismatch", start)
	}
	name := string(body[2 : 2+nameLen])
	p := body[2+nameLen:]
	dense := p[0] == 1
	width := int(binary.LittleEndian.Uint32(p[1:]))
	slots := int(binary.LittleEndian.Uint32(p[5:]))
	rows := binary.LittleEndian.Uint64(p[9:])
	t := ts.byName[name]
	switch {
	case t == nil:
		return "", fmt.Errorf("%w %q in snapshot", ErrUnknownTable, name)
	case dense != (t.dense != nil) || width != t.spec.Width || slots != t.slots:
		return "", fmt.Errorf("table %q: snapshot has dense=%v width=%d slots=%d, store declares dense=%v width=%d slots=%d",
			name, dense, width, slots, t.dense != nil, t.spec.Width, t.slots)
	case dense && rows != uint64(t.spec.Rows):
		return "", fmt.Errorf("dense table %q: snapshot has %d rows, store declares %d", name, rows, t.spec.Rows)
	}
	stride := width * (1 + slots)
	rowBytes := 24 + 4*stride
	vals := make([]float32, stride)
	var got uint64
	for {
		bstart := d.off
		b, err := d.read(4)
		if err != nil {
			return "", err
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n == 0 {
			break
		}
		if n > 1 && n*rowBytes > maxBlockBytes || n > maxBlockBytes {
			return "", fmt.Errorf("table %q: block at offset %d claims %d rows", name, bstart, n)
		}
		blk := make([]byte, 0, 4+n*rowBytes+4)
		blk = append(blk, b...)
		b, err = d.read(n*rowBytes + 4)
		if err != nil {
			return "", err
		}
		blk = append(blk, b...)
		body, sum := blk[:len(blk)-4], binary.LittleEndian.Uint32(blk[len(blk)-4:])
		if crc32.Checksum(body, castagnoli) != sum {
			return "", fmt.Errorf("table %q: block at offset %d: checksum mismatch", name, bstart)
		}
		for r := body[4:]; len(r) > 0; r = r[rowBytes:] {
			key := binary.LittleEndian.Uint64(r)
			step := int64(binary.LittleEndian.Uint64(r[8:]))
			seen := int64(binary.LittleEndian.Uint64(r[16:]))
			for j := range vals {
				vals[j] = math.Float32frombits(binary.LittleEndian.Uint32(r[24+4*j:]))
			}
			if step < 0 {
				return "", fmt.Errorf("table %q: key %d has negative step %d", name, key, step)
			}
			if t.dense != nil {
				if key >= uint64(len(t.dense.steps)) {
					return "", &KeyRangeError{Table: name, Key: key, Rows: len(t.dense.steps)}
				}
				mem := t.dense.stride
				copy(t.dense.vals[int(key)*mem:int(key)*mem+stride], vals)
				t.dense.steps[key] = step
			} else {
				t.sparse.restoreRow(key, step, seen, vals)
			}
			got++
		}
	}
	if got != rows {
		return "", fmt.Errorf("table %q: header says %d rows, blocks hold %d", name, rows, got)
	}
	return name, nil
}

// SaveSnapshot streams the snapshot to key in store, atomically
// (lake.Store.Put): readers see the previous snapshot or the whole new one.
// The encoder writes into a pipe the store reads, so the snapshot is never
// held in memory whole.
func (l *Local) SaveSnapshot(ctx context.Context, store lake.Store, key string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := l.WriteSnapshot(ctx, pw)
		pw.CloseWithError(err) // nil closes with io.EOF
		done <- err
	}()
	err := store.Put(ctx, key, pr, -1)
	pr.CloseWithError(errors.New("paramserver: snapshot upload ended")) // unblock the encoder if Put stopped early
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("save snapshot %s: %w", key, err)
	}
	return nil
}

// LoadSnapshot replaces every table with the snapshot stored at key.
func (l *Local) LoadSnapshot(ctx context.Context, store lake.Store, key string) error {
	r, err := store.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("load snapshot %s: %w", key, err)
	}
	defer r.Close()
	if err := l.ReadSnapshot(ctx, io.NewSectionReader(r, 0, r.Size())); err != nil {
		return fmt.Errorf("load snapshot %s: %w", key, err)
	}
	return nil
}
