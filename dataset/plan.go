package dataset

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"golang.org/x/sync/errgroup"

	"github.com/lakestream/lakestream/lake"
)

// Query selects what a Plan reads.
type Query struct {
	// Columns is the projection, in output order; data and partition
	// columns may be mixed. Empty means every column: the data columns in
	// order of first appearance across files, then the partition columns.
	Columns []string
	// Where prunes files and row groups; see Filter.
	Where Filter
}

// Split is the unit of parallel work: one row group of one file. Splits of
// a plan are disjoint; give each worker its own (see AssignSplits).
type Split struct {
	Key      string
	RowGroup int
	Rows     int64
	// Bytes is the compressed size of the row group's projected columns.
	Bytes int64
	file  int // index into Plan.files
}

func (s Split) String() string { return RowGroupName(s.Key, s.RowGroup) }

// Plan is a pruned, projected dataset ready to scan: the footers of the
// files that survived partition pruning have been read and their schemas
// unified. A Plan is immutable and safe for concurrent use; several
// Scanners may read disjoint splits of it in parallel.
type Plan struct {
	ds          *Dataset
	schema      *arrow.Schema
	outputs     []output // the schema's columns, then hidden filter-only columns
	rowPreds    []rowPredicate
	files       []*planFile
	splits      []Split
	skipped     int // row groups skipped by statistics
	unsupported []string
	totalRGs    int
	totalRows   int64
}

// output says where an output column comes from.
type output struct {
	name string
	part int // partition column index, or -1 for a data column
	typ  arrow.DataType
}

type planFile struct {
	key    string
	size   int64
	index  int // index into Dataset.files
	pf     *parquet.File
	schema *fileSchema
	twin   *parquet.File // set when some column chunk is LZ4_RAW; see lz4pages.go
}

// openParallelism bounds concurrent footer reads (S3 round trips).
const openParallelism = 8

// Plan prunes partitions with q.Where, reads the surviving footers, unifies
// their schemas, checks the projection, and skips row groups whose
// statistics rule out the data-column predicates of q.Where.
//
// Schema rule across files: a column missing from some files reads as nulls
// there (and is nullable); a column whose Arrow type differs between two
// files is a *SchemaConflictError naming both files. Errors name the object
// at fault: a non-Parquet or truncated object wraps ErrNotParquet.
func (d *Dataset) Plan(ctx context.Context, q Query) (*Plan, error) {
	obs := d.cfg.observer
	if obs == nil {
		obs = nopObserver{}
	}
	partIdx := map[string]int{}
	for i, f := range d.partCols {
		partIdx[f.Name] = i
	}
	// 1. Partition pruning: exact, before any file is opened.
	var partPreds, dataPreds []Predicate
	for _, p := range q.Where {
		if _, ok := partIdx[p.Column]; ok {
			partPreds = append(partPreds, p)
		} else {
			dataPreds = append(dataPreds, p)
		}
	}
	var boundParts []boundPredicate
	var boundIdx []int
	for _, p := range partPreds {
		i := partIdx[p.Column]
		bp, err := bind(p, d.partCols[i].Type)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		boundParts, boundIdx = append(boundParts, bp), append(boundIdx, i)
	}
	var keep []int
	for i := range d.files {
		ok := true
		for j, bp := range boundParts {
			if !bp.matches(d.parts[i][boundIdx[j]]) {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, i)
		}
	}
	// 2. Footers of the surviving files. When pruning removed every file,
	// the first file's footer still gives the schema (it yields no splits).
	schemaOnly := len(keep) == 0
	if schemaOnly {
		keep = []int{0}
	}
	p := &Plan{ds: d, files: make([]*planFile, len(keep))}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(openParallelism)
	for n, i := range keep {
		g.Go(func() error {
			f := d.files[i]
			pf, err := openFooter(gctx, d.store, f.Key, f.Size)
			obs.OpenFile(f.Key)
			if err != nil {
				return err
			}
			pl := &planFile{key: f.Key, size: f.Size, index: i, pf: pf, schema: schemaOf(pf)}
			if hasLZ4(pf) {
				if pl.twin, err = uncompressedTwin(pf); err != nil {
					return fmt.Errorf("%w: %s: %v", ErrNotParquet, f.Key, err)
				}
			}
			p.files[n] = pl
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// 3. Unified schema of the data columns.
	type seen struct {
		typ      arrow.DataType
		key      string
		nullable bool
		count    int
		err      error
		conflict error
	}
	var order []string
	cols := map[string]*seen{}
	for _, f := range p.files {
		for _, c := range f.schema.cols {
			s, ok := cols[c.name]
			if !ok {
				s = &seen{}
				cols[c.name] = s
				order = append(order, c.name)
			}
			s.count++
			if c.err != nil {
				s.err = fmt.Errorf("dataset: %s: %w", f.key, c.err)
				continue
			}
			s.nullable = s.nullable || c.nullable
			if s.typ == nil {
				s.typ, s.key = c.typ, f.key
			} else if !arrow.TypeEqual(s.typ, c.typ) && s.conflict == nil {
				s.conflict = &SchemaConflictError{Column: c.name, FirstKey: s.key, FirstType: s.typ, ConflictKey: f.key, ConflictType: c.typ}
			}
		}
	}
	dataField := func(name string) (arrow.Field, error) {
		s := cols[name]
		switch {
		case s.conflict != nil:
			return arrow.Field{}, s.conflict
		case s.err != nil:
			return arrow.Field{}, s.err
		}
		return arrow.Field{Name: name, Type: s.typ, Nullable: s.nullable || s.count < len(p.files)}, nil
	}
	// 4. Projection.
	names := q.Columns
	if len(names) == 0 {
		for _, n := range order {
			if cols[n].err != nil && cols[n].typ == nil {
				p.unsupported = append(p.unsupported, n)
				continue
			}
			names = append(names, n)
		}
		for _, f := range d.partCols {
			if _, ok := cols[f.Name]; !ok {
				names = append(names, f.Name)
			}
		}
	}
	var fields []arrow.Field
	dup := map[string]bool{}
	for _, n := range names {
		if dup[n] {
			return nil, fmt.Errorf("dataset: column %q projected twice", n)
		}
		dup[n] = true
		if i, ok := partIdx[n]; ok {
			if _, clash := cols[n]; clash {
				return nil, fmt.Errorf("dataset: column %q is both a partition column and a column of the files", n)
			}
			fields = append(fields, d.partCols[i])
			p.outputs = append(p.outputs, output{name: n, part: i, typ: d.partCols[i].Type})
			continue
		}
		if _, ok := cols[n]; !ok {
			if parent, _, nested := strings.Cut(n, "."); nested {
				if _, isCol := cols[parent]; isCol {
					return nil, fmt.Errorf("%w %q: %q is a struct (or map) column and nested fields are not read; write %s as a top-level column", ErrUnknownColumn, n, parent, n)
				}
			}
			return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownColumn, n, strings.Join(append(slices.Clone(order), partNames(d.partCols)...), ", "))
		}
		f, err := dataField(n)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
		p.outputs = append(p.outputs, output{name: n, part: -1, typ: f.Type})
	}
	p.schema = arrow.NewSchema(fields, nil)
	// 5. Row-group pruning by statistics.
	var stats []boundPredicate
	for _, pr := range dataPreds {
		if _, ok := cols[pr.Column]; !ok {
			return nil, fmt.Errorf("%w %q in filter %s", ErrUnknownColumn, pr.Column, pr)
		}
		f, err := dataField(pr.Column)
		if err != nil {
			return nil, err
		}
		if f.Type.ID() == arrow.LIST {
			return nil, fmt.Errorf("dataset: filter %s: list columns cannot be filtered", pr)
		}
		bp, err := bind(pr, f.Type)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		stats = append(stats, bp)
		// Rows are filtered too: find the predicate's column among the
		// outputs, or read it as a hidden output.
		idx := slices.IndexFunc(p.outputs, func(o output) bool { return o.name == pr.Column })
		if idx < 0 {
			idx = len(p.outputs)
			p.outputs = append(p.outputs, output{name: pr.Column, part: -1, typ: f.Type})
		}
		p.rowPreds = append(p.rowPreds, rowPredicate{boundPredicate: bp, out: idx})
	}
	for fi, f := range p.files {
		if schemaOnly {
			break
		}
		for ri, rg := range f.pf.RowGroups() {
			p.totalRGs++
			if !rowGroupMayMatch(f, rg, stats) {
				p.skipped++
				continue
			}
			var bytes int64
			for _, o := range p.outputs {
				if ci, ok := f.schema.index[o.name]; ok && o.part < 0 {
					bytes += f.pf.Metadata().RowGroups[ri].Columns[f.schema.cols[ci].leaf].MetaData.TotalCompressedSize
				}
			}
			p.splits = append(p.splits, Split{Key: f.key, RowGroup: ri, Rows: rg.NumRows(), Bytes: bytes, file: fi})
			p.totalRows += rg.NumRows()
		}
	}
	return p, nil
}

func hasLZ4(pf *parquet.File) bool {
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec == format.Lz4Raw {
				return true
			}
		}
	}
	return false
}

func partNames(fs []arrow.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// rowGroupMayMatch reports whether the statistics of rg allow a row that
// satisfies every predicate. Missing statistics keep the row group.
func rowGroupMayMatch(f *planFile, rg parquet.RowGroup, preds []boundPredicate) bool {
	chunks := rg.ColumnChunks()
	for _, bp := range preds {
		ci, ok := f.schema.index[bp.Column]
		if !ok {
			return false // the column is all null in this file
		}
		c := &f.schema.cols[ci]
		if c.err != nil || c.isList {
			continue
		}
		fc, ok := chunks[c.leaf].(*parquet.FileColumnChunk)
		if !ok {
			continue
		}
		if nv := fc.NumValues(); nv > 0 && fc.NullCount() == nv {
			return false // only nulls
		}
		lo, hi, ok := fc.Bounds()
		if !ok {
			continue
		}
		slo, ok1 := statScalar(c, bp.typ, lo)
		shi, ok2 := statScalar(c, bp.typ, hi)
		if !ok1 || !ok2 {
			continue
		}
		if !bp.mayMatch(slo, shi) {
			return false
		}
	}
	return true
}

// statScalar converts a statistics value of column c to a scalar comparable
// with literals bound to type t.
func statScalar(c *leafColumn, t arrow.DataType, v parquet.Value) (scalar, bool) {
	s := scalar{fam: familyOf(t)}
	if v.IsNull() {
		return s, false
	}
	switch c.conv {
	case convInt32, convInt8, convInt16, convDate32:
		s.i = int64(v.Int32())
	case convUint8, convUint16, convUint32:
		s.u = uint64(uint32(v.Int32()))
	case convInt64:
		if s.fam == famUint {
			s.u = uint64(v.Int64())
		} else {
			s.i = v.Int64()
		}
	case convFloat32:
		s.f = float64(v.Float())
	case convFloat64:
		s.f = v.Double()
	case convDecimal32:
		s.f = float64(v.Int32()) / math.Pow10(int(c.scale))
	case convDecimal64:
		s.f = float64(v.Int64()) / math.Pow10(int(c.scale))
	case convBinary:
		s.s = string(v.ByteArray())
	case convBool:
		s.b = v.Boolean()
	default:
		return s, false
	}
	if s.fam == famFloat && math.IsNaN(s.f) {
		return s, false
	}
	return s, true
}

// rowPredicate is a data-column predicate evaluated on every row; out is
// the index of its column in Plan.outputs.
type rowPredicate struct {
	boundPredicate
	out int
}

// Schema returns the Arrow schema of the records a scan of p yields.
func (p *Plan) Schema() *arrow.Schema { return p.schema }

// Splits returns the row groups to read, file by file in key order. The
// slice is a copy.
func (p *Plan) Splits() []Split { return slices.Clone(p.splits) }

// Files returns the keys of the files whose footers were read: those that
// survived partition pruning.
func (p *Plan) Files() []string {
	out := make([]string, len(p.files))
	for i, f := range p.files {
		out[i] = f.key
	}
	return out
}

// Rows returns the number of rows in the plan's splits.
func (p *Plan) Rows() int64 { return p.totalRows }

// RowGroups returns the number of row groups in the opened files, and how
// many of them statistics skipped.
func (p *Plan) RowGroups() (total, skipped int) { return p.totalRGs, p.skipped }

// Unsupported lists data columns left out of the default projection because
// their type cannot be read (structs, maps, nested lists).
func (p *Plan) Unsupported() []string { return p.unsupported }

// openFooter reads the footer of one file with ranged reads.
func openFooter(ctx context.Context, store lake.Store, key string, size int64) (pf *parquet.File, err error) {
	r, err := store.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("dataset: open %s: %w", key, err)
	}
	defer r.Close()
	pf, err = openParquet(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotParquet, key, err)
	}
	return pf, nil
}

// openParquet parses a footer. A panic in the footer decoder, which a
// malformed file can cause, becomes an error.
func openParquet(r lake.Reader) (pf *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			pf, err = nil, fmt.Errorf("footer decoder panic: %v", p)
		}
	}()
	// Check the trailer before parquet-go allocates the footer length it
	// states: a corrupt length would ask for up to 4 GiB.
	size := r.Size()
	if size < 12 {
		return nil, fmt.Errorf("%d bytes is too short for a Parquet file", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("read trailer: %w", err)
	}
	if string(tail[4:]) != "PAR1" {
		return nil, fmt.Errorf("no PAR1 magic at the end (truncated or not Parquet)")
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return nil, fmt.Errorf("footer length %d exceeds the file (%d bytes)", n, size)
	}
	pf, err = parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(64<<10))
	if err != nil {
		return nil, err
	}
	// Column chunks must lie inside the file: parquet-go trusts these
	// offsets and sizes when it reads pages.
	for i, rg := range pf.Metadata().RowGroups {
		for j, c := range rg.Columns {
			md := &c.MetaData
			start := md.DataPageOffset
			if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
				start = md.DictionaryPageOffset
			}
			if start < 4 || md.TotalCompressedSize < 0 || start+md.TotalCompressedSize > size || md.NumValues < 0 {
				return nil, fmt.Errorf("row group %d column %d: chunk [%d, +%d) outside the file (%d bytes)", i, j, start, md.TotalCompressedSize, size)
			}
		}
		if rg.NumRows < 0 {
			return nil, fmt.Errorf("row group %d: negative row count", i)
		}
	}
	return pf, nil
}
