package dataset

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// chunkReader reads one column chunk (one column of one row group) page by
// page, appending a requested number of rows to its builder at a time. It
// keeps its position inside the current page between calls.
type chunkReader struct {
	key   string
	col   *leafColumn
	pages parquet.Pages
	page  parquet.Page
	b     leafBuilder

	defs, reps []byte
	nlev       int // levels (or values, for required flat columns) in the page
	lpos, vpos int // positions in the page's levels and non-null values

	// List state for the current batch.
	loffs  []int32
	lvalid validity
	rows   int
}

func newChunkReader(f *planFile, rowGroup int, col *leafColumn, r io.ReaderAt, recycle bool) (*chunkReader, error) {
	key := f.key
	chunk := f.pf.RowGroups()[rowGroup].ColumnChunks()[col.leaf]
	flen := 0
	if t := chunk.Type(); t.Kind() == parquet.FixedLenByteArray {
		flen = t.Length()
	}
	b, err := newLeafBuilder(col, flen, recycle)
	if err != nil {
		return nil, err
	}
	var pages parquet.Pages
	md := &f.pf.Metadata().RowGroups[rowGroup].Columns[col.leaf].MetaData
	switch fc, ok := chunk.(*parquet.FileColumnChunk); {
	case md.Codec == format.Lz4Raw && f.twin != nil:
		twinCol := leafByIndex(f.twin.Root(), col.leaf)
		if twinCol == nil {
			return nil, fmt.Errorf("%w: %s: column %q: no leaf %d", ErrCorrupt, key, col.name, col.leaf)
		}
		pages = newLZ4Pages(key, twinCol, md, r)
	case ok:
		pages = fc.PagesFrom(r)
	default:
		pages = chunk.Pages()
	}
	return &chunkReader{key: key, col: col, pages: pages, b: b}, nil
}

func (c *chunkReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s: column %q: %s", ErrCorrupt, c.key, c.col.name, fmt.Sprintf(format, args...))
}

// nextPage releases the current page and loads the next one; io.EOF at the
// end of the chunk.
func (c *chunkReader) nextPage() error {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	p, err := c.pages.ReadPage()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("%w: %s: column %q: %v", ErrCorrupt, c.key, c.col.name, err)
	}
	c.page = p
	c.defs, c.reps = p.DefinitionLevels(), p.RepetitionLevels()
	c.nlev = int(p.NumValues())
	c.lpos, c.vpos = 0, 0
	data := p.Data()
	raw, offs := data.Data()
	if err := c.b.setPage(raw, offs, p.Dictionary()); err != nil {
		return fmt.Errorf("%s: %w", c.key, err)
	}
	if c.col.maxDef > 0 && len(c.defs) != c.nlev {
		return c.corrupt("%d definition levels for %d values", len(c.defs), c.nlev)
	}
	if c.col.maxRep > 0 && len(c.reps) != c.nlev {
		return c.corrupt("%d repetition levels for %d values", len(c.reps), c.nlev)
	}
	return nil
}

// read appends n rows to the builder.
func (c *chunkReader) read(n int) error {
	if c.col.isList {
		return c.readList(n)
	}
	c.b.reserve(n)
	maxDef := byte(c.col.maxDef)
	for n > 0 {
		if c.lpos >= c.nlev {
			if err := c.nextPage(); err != nil {
				if err == io.EOF {
					return c.corrupt("column chunk ended %d rows early", n)
				}
				return err
			}
			continue
		}
		k := min(n, c.nlev-c.lpos)
		nv := c.b.numValues()
		if maxDef == 0 {
			if c.vpos+k > nv {
				return c.corrupt("page holds %d values, %d needed", nv, c.vpos+k)
			}
			if err := c.b.appendValues(c.vpos, k); err != nil {
				return fmt.Errorf("%s: %w", c.key, err)
			}
			c.vpos += k
		} else {
			defs := c.defs[c.lpos : c.lpos+k]
			for i := 0; i < k; {
				j := i + 1
				if defs[i] == maxDef {
					for j < k && defs[j] == maxDef {
						j++
					}
					if c.vpos+(j-i) > nv {
						return c.corrupt("page holds %d values, %d needed", nv, c.vpos+j-i)
					}
					if err := c.b.appendValues(c.vpos, j-i); err != nil {
						return fmt.Errorf("%s: %w", c.key, err)
					}
					c.vpos += j - i
				} else {
					for j < k && defs[j] != maxDef {
						j++
					}
					c.b.appendNulls(j - i)
				}
				i = j
			}
		}
		c.lpos += k
		n -= k
	}
	return nil
}

// readList appends n list rows. A row starts at repetition level 0; the
// definition level says whether the list is null, empty, or holds a (maybe
// null) element.
func (c *chunkReader) readList(n int) error {
	maxDef := byte(c.col.maxDef)
	listDef, elemDef := byte(c.col.listDef), byte(c.col.elemDef)
	if c.loffs == nil {
		c.loffs = make([]int32, 0, n+1)
	}
	done := 0
	for {
		if c.lpos >= c.nlev {
			if err := c.nextPage(); err != nil {
				if err == io.EOF && done == n {
					return nil
				}
				if err == io.EOF {
					return c.corrupt("column chunk ended %d rows early", n-done)
				}
				return err
			}
			continue
		}
		rep, def := c.reps[c.lpos], c.defs[c.lpos]
		if rep == 0 {
			if done == n {
				return nil
			}
			done++
			c.loffs = append(c.loffs, int32(c.b.length()))
			if def < listDef {
				c.lvalid.appendNull(c.rows, 1)
				c.rows++
				c.lpos++
				continue
			}
			c.lvalid.appendValid(c.rows, 1)
			c.rows++
		} else if done == 0 {
			return c.corrupt("list continues a row that started before this batch")
		}
		if def >= elemDef {
			if def == maxDef {
				if c.vpos >= c.b.numValues() {
					return c.corrupt("page holds %d values, more needed", c.b.numValues())
				}
				if err := c.b.appendValues(c.vpos, 1); err != nil {
					return fmt.Errorf("%s: %w", c.key, err)
				}
				c.vpos++
			} else {
				c.b.appendNulls(1)
			}
		}
		c.lpos++
	}
}

// finish returns the batch's array data.
func (c *chunkReader) finish() arrow.ArrayData {
	if !c.col.isList {
		return c.b.finish()
	}
	child := c.b.finish()
	defer child.Release()
	offs := append(c.loffs, int32(child.Len()))
	vb, nulls := c.lvalid.take()
	ob := memory.NewBufferBytes(int32Bytes(offs))
	d := array.NewData(c.col.typ, c.rows, []*memory.Buffer{vb, ob}, []arrow.ArrayData{child}, nulls, 0)
	c.loffs, c.rows = nil, 0
	return d
}

// close releases the current page and the page reader.
func (c *chunkReader) close() error {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	return c.pages.Close()
}
