package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// parquet-go v0.32.0 mis-decodes LZ4_RAW pages whose compression ratio is
// below about 3: its codec reallocates the output buffer and the page
// reader keeps the old one (parquet-go issue #608, fix pending in PR #609).
// Until a release has the fix, this file reads LZ4_RAW column chunks
// itself: it walks the page headers, decompresses each page with
// pierrec/lz4, and hands the plain bytes to parquet-go's page decoder
// through a twin of the file whose metadata says UNCOMPRESSED, so nothing is
// decompressed twice. Remove it when go.mod moves to a fixed parquet-go.

// uncompressedTwin returns a parquet.File with the schema and metadata of
// pf but every column chunk marked UNCOMPRESSED. Only its Column objects are
// used (to decode pages); it has no data.
func uncompressedTwin(pf *parquet.File) (*parquet.File, error) {
	md := *pf.Metadata()
	md.RowGroups = append([]format.RowGroup(nil), md.RowGroups...)
	for i := range md.RowGroups {
		cols := append([]format.ColumnChunk(nil), md.RowGroups[i].Columns...)
		for j := range cols {
			cols[j].MetaData.Codec = format.Uncompressed
		}
		md.RowGroups[i].Columns = cols
	}
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		return nil, err
	}
	img := make([]byte, 0, len(footer)+12)
	img = append(img, "PAR1"...)
	img = append(img, footer...)
	img = binary.LittleEndian.AppendUint32(img, uint32(len(footer)))
	img = append(img, "PAR1"...)
	return parquet.OpenFile(bytes.NewReader(img), int64(len(img)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
}

// leafByIndex finds the leaf column with the given column index.
func leafByIndex(c *parquet.Column, index int) *parquet.Column {
	if c.Leaf() {
		if c.Index() == index {
			return c
		}
		return nil
	}
	for _, k := range c.Columns() {
		if l := leafByIndex(k, index); l != nil {
			return l
		}
	}
	return nil
}

// lz4Pages implements parquet.Pages over one LZ4_RAW column chunk.
type lz4Pages struct {
	col       *parquet.Column // from the uncompressed twin
	rbuf      *bufio.Reader
	dec       *thrift.Decoder
	dict      parquet.Dictionary
	values    int64 // values (levels) read so far
	numValues int64 // values in the chunk
	key       string
}

func newLZ4Pages(key string, col *parquet.Column, md *format.ColumnMetaData, r io.ReaderAt) *lz4Pages {
	base := md.DataPageOffset
	if md.DictionaryPageOffset != 0 && md.DictionaryPageOffset < base {
		base = md.DictionaryPageOffset
	}
	rbuf := bufio.NewReaderSize(io.NewSectionReader(r, base, md.TotalCompressedSize), 64<<10)
	return &lz4Pages{
		col:       col,
		rbuf:      rbuf,
		dec:       thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(rbuf)),
		numValues: md.NumValues,
		key:       key,
	}
}

func (p *lz4Pages) ReadPage() (parquet.Page, error) {
	for {
		if p.values >= p.numValues {
			return nil, io.EOF
		}
		h := new(format.PageHeader)
		if err := p.dec.Decode(h); err != nil {
			return nil, fmt.Errorf("page header: %w", err)
		}
		if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 {
			return nil, fmt.Errorf("negative page size")
		}
		raw := make([]byte, h.CompressedPageSize)
		if _, err := io.ReadFull(p.rbuf, raw); err != nil {
			return nil, fmt.Errorf("page data: %w", err)
		}
		switch h.Type {
		case format.DictionaryPage:
			if !h.DictionaryPageHeader.Valid {
				return nil, fmt.Errorf("dictionary page without header")
			}
			data, err := lz4Block(raw, int(h.UncompressedPageSize))
			if err != nil {
				return nil, err
			}
			hv := &h.DictionaryPageHeader.V
			dh := *(*parquet.DictionaryPageHeader)(unsafe.Pointer(&hv))
			if p.dict, err = p.col.DecodeDictionary(dh, data); err != nil {
				return nil, err
			}
		case format.DataPage:
			if !h.DataPageHeader.Valid {
				return nil, fmt.Errorf("data page without header")
			}
			data, err := lz4Block(raw, int(h.UncompressedPageSize))
			if err != nil {
				return nil, err
			}
			hv := &h.DataPageHeader.V
			p.values += int64(hv.NumValues)
			return p.col.DecodeDataPageV1(*(*parquet.DataPageHeaderV1)(unsafe.Pointer(&hv)), data, p.dict)
		case format.DataPageV2:
			if !h.DataPageHeaderV2.Valid {
				return nil, fmt.Errorf("data page v2 without header")
			}
			hv := &h.DataPageHeaderV2.V
			levels := int(hv.RepetitionLevelsByteLength) + int(hv.DefinitionLevelsByteLength)
			if levels < 0 || levels > len(raw) {
				return nil, fmt.Errorf("level sizes exceed the page")
			}
			data := raw
			if !hv.IsCompressed.Valid || hv.IsCompressed.V {
				vals, err := lz4Block(raw[levels:], int(h.UncompressedPageSize)-levels)
				if err != nil {
					return nil, err
				}
				data = append(raw[:levels:levels], vals...)
			}
			p.values += int64(hv.NumValues)
			return p.col.DecodeDataPageV2(*(*parquet.DataPageHeaderV2)(unsafe.Pointer(&hv)), data, p.dict)
		}
		// Index pages and unknown page types carry no values.
	}
}

func lz4Block(src []byte, size int) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative uncompressed size")
	}
	dst := make([]byte, size)
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("lz4: %d bytes, header says %d", n, size)
	}
	return dst, nil
}

func (p *lz4Pages) SeekToRow(int64) error {
	return fmt.Errorf("dataset: seeking inside LZ4_RAW column chunks is not supported")
}

func (p *lz4Pages) Close() error { return nil }
