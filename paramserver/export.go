package paramserver

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/paramserver"
)

// An export cursor is a stripe number in its high 32 bits and a row of that
// stripe in its low 32 bits: the position of the next row to read. 0 is
// the start; "stripe" numStripes is the warm start's base keys (SetBase)
// that the table does not hold, by position in the base; the cursor past it
// ends the table, and is given to callers as 0.
const (
	exportBase = uint64(numStripes) << 32
	exportEnd  = uint64(numStripes+1) << 32
)

// ExportPage appends to keys and vals (weights only, width values per row)
// up to maxRows rows of the sparse table, in storage order from cursor (0:
// the start), and returns them with the cursor of the next page, 0 when the
// table is exhausted. The rows are those pushed at least once and, with a
// warm start (SetBase), the base's keys never pushed: a trained model's
// rows, with the base added. Each stripe is read under its lock; rows pushed or expired
// between two pages may be missed or repeated, so export when no push runs.
// It fails for a dense table (pull its rows 0 … Rows-1 instead).
func (l *Local) ExportPage(table string, cursor uint64, maxRows int, keys []uint64, vals []float32) ([]uint64, []float32, uint64, error) {
	t, err := l.table(table)
	if err != nil {
		return keys, vals, 0, err
	}
	if t.sparse == nil {
		return keys, vals, 0, fmt.Errorf("paramserver: export of dense table %q: pull its rows 0…%d instead", table, t.spec.Rows-1)
	}
	if maxRows < 1 {
		return keys, vals, 0, fmt.Errorf("paramserver: export of table %q: page of %d rows", table, maxRows)
	}
	st := t.sparse
	w, stride := st.width, st.stride
	base := l.base[table]
	n := 0
	for cursor < exportBase && n < maxRows {
		s := &st.stripes[cursor>>32]
		row := int(uint32(cursor))
		s.mu.RLock()
		take := min(len(s.keys)-row, maxRows-n)
		if take > 0 {
			keys = append(keys, s.keys[row:row+take]...)
			for r := row; r < row+take; r++ {
				vals = append(vals, s.vals[r*stride:r*stride+w]...)
				if base != nil {
					if b := base.row(s.keys[r]); b != nil {
						v := vals[len(vals)-w:]
						for c := range v {
							v[c] += b[c]
						}
					}
				}
			}
			n += take
			row += take
		}
		more := row < len(s.keys)
		s.mu.RUnlock()
		if more {
			cursor = cursor&^0xffffffff | uint64(row)
		} else {
			cursor = (cursor>>32 + 1) << 32
		}
	}
	if cursor == exportBase && n < maxRows && base == nil {
		cursor = exportEnd
	}
	for cursor >= exportBase && cursor < exportEnd && n < maxRows {
		// The base's keys never pushed: their rows are the base's.
		row := int(uint32(cursor))
		for ; row < len(base.keys) && n < maxRows; row++ {
			k := base.keys[row]
			h := mix64(k)
			s := st.stripeOf(h)
			s.mu.RLock()
			held := s.find(k, h) >= 0
			s.mu.RUnlock()
			if !held {
				keys = append(keys, k)
				vals = append(vals, base.vals[row*w:row*w+w]...)
				n++
			}
		}
		cursor = exportBase | uint64(row)
		if row == len(base.keys) {
			cursor = exportEnd
		}
	}
	if cursor >= exportEnd {
		cursor = 0
	}
	return keys, vals, cursor, nil
}

// Export implements the Export RPC.
func (s *Server) Export(ctx context.Context, req *pb.ExportRequest) (*pb.ExportResponse, error) {
	spec, err := s.spec(req.Table)
	if err != nil {
		return nil, err
	}
	if spec.Dense {
		return nil, invalid("export %q: a dense table is read with Pull of rows 0…%d", req.Table, spec.Rows-1)
	}
	if req.MaxRows < 1 {
		return nil, invalid("export %q: max_rows %d, want ≥ 1", req.Table, req.MaxRows)
	}
	if req.Cursor >= exportEnd {
		return nil, invalid("export %q: cursor %#x is past the table", req.Table, req.Cursor)
	}
	// The page must fit a message: each row is a key and width values.
	fit := (s.cfg.MaxMsgBytes - 64) / (8 + 4*spec.Width)
	rows := int(min(req.MaxRows, int64(fit), int64(s.cfg.MaxKeysPerCall)))
	if rows < 1 {
		return nil, status.Errorf(codes.ResourceExhausted, "paramserver: export %q: a row of width %d does not fit the shard's message limit", req.Table, spec.Width)
	}
	if req.Cursor == 0 {
		// The first page applies what a bulk-synchronous shard holds
		// back, as Snapshot does.
		if err := s.cfg.Store.Flush(ctx, -1); err != nil {
			s.cfg.Logger.Warn("flush before export refused updates", "err", err)
		}
	}
	// Sized once for the page (or the whole table when it is smaller):
	// the buffers escape as the response's bytes.
	n, err := s.cfg.Store.Len(req.Table)
	if err != nil {
		return nil, toStatus(err)
	}
	n = min(n, rows)
	keys, vals, next, err := s.cfg.Store.ExportPage(req.Table, req.Cursor, rows, make([]uint64, 0, n), make([]float32, 0, n*spec.Width))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ExportResponse{Keys: keyBytes(keys), Values: floatBytes(vals), Next: next}, nil
}

// ExportTable reads every trained row of a table from the shards: for a
// sparse table each shard's rows (ExportPage, paged in calls of at most
// pageRows rows or the message limit), for a dense table its rows 0 …
// Rows-1, each from the shard that owns it. Keys come back sorted, row i of
// vals belonging to keys[i], so a model exported twice from the same
// tables is the same bytes. Call it once no worker pushes.
func (c *Client) ExportTable(ctx context.Context, spec TableSpec, pageRows int) ([]uint64, []float32, error) {
	w := spec.Width
	if spec.Dense {
		keys := make([]uint64, spec.Rows)
		for i := range keys {
			keys[i] = uint64(i)
		}
		vals := make([]float32, spec.Rows*w)
		if err := c.Pull(ctx, spec.Name, keys, vals); err != nil {
			return nil, nil, fmt.Errorf("export %s: %w", spec.Name, err)
		}
		return keys, vals, nil
	}
	if pageRows < 1 {
		pageRows = max(1, (c.cfg.MaxMsgBytes/2)/(8+4*w))
	}
	parts := make([]struct {
		keys []uint64
		vals []float32
	}, len(c.stubs))
	err := eachShard(len(c.stubs), func(s int) error {
		var keys []uint64
		var vals []float32
		cursor := uint64(0)
		for {
			cctx, cancel := c.callCtx(ctx)
			resp, err := c.stubs[s].Export(cctx, &pb.ExportRequest{Table: spec.Name, Cursor: cursor, MaxRows: int64(pageRows)})
			cancel()
			if err != nil {
				return c.shardErr(s, "export", spec.Name, err)
			}
			n := len(keys)
			if keys, err = decodeKeys(keys, resp.Keys); err != nil {
				return fmt.Errorf("paramserver: export %q on shard %d: %w", spec.Name, s, err)
			}
			vals = slices.Grow(vals, (len(keys)-n)*w)[:len(keys)*w]
			if err := decodeFloats(vals[n*w:], resp.Values); err != nil {
				return fmt.Errorf("paramserver: export %q on shard %d: %w", spec.Name, s, err)
			}
			if cursor = resp.Next; cursor == 0 {
				break
			}
		}
		parts[s].keys, parts[s].vals = keys, vals // each shard's goroutine has its own element
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	total := 0
	for _, p := range parts {
		total += len(p.keys)
	}
	type ref struct {
		key   uint64
		shard int32
		row   int32
	}
	order := make([]ref, 0, total)
	for s, p := range parts {
		for r, k := range p.keys {
			order = append(order, ref{k, int32(s), int32(r)})
		}
	}
	slices.SortFunc(order, func(a, b ref) int { return cmp.Compare(a.key, b.key) })
	keys := make([]uint64, total)
	vals := make([]float32, total*w)
	for i, o := range order {
		if i > 0 && order[i-1].key == o.key {
			return nil, nil, fmt.Errorf("paramserver: export %q: key %d came twice (from shards %d and %d): the table changed while it was read, or the shard map is wrong",
				spec.Name, o.key, order[i-1].shard, o.shard)
		}
		if want := ShardOf(o.key, len(c.stubs)); want != int(o.shard) {
			return nil, nil, fmt.Errorf("paramserver: export %q: shard %d holds key %d, which belongs to shard %d: the shard map differs from the one the job trained with",
				spec.Name, o.shard, o.key, want)
		}
		keys[i] = o.key
		p := parts[o.shard]
		copy(vals[i*w:(i+1)*w], p.vals[int(o.row)*w:int(o.row+1)*w])
	}
	return keys, vals, nil
}
