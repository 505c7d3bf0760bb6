package dataset

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/lake"
)

// Option configures Open.
type Option func(*config)

type config struct {
	partTypes     map[string]arrow.DataType
	observer      Observer
	ignoreMarkers bool
}

// WithPartitionType declares the Arrow type of a partition column; path
// values are converted when the dataset is opened (YYYY-MM-DD for date32).
// Supported: string (the default for undeclared columns), int32, int64,
// float64, bool and date32.
func WithPartitionType(column string, t arrow.DataType) Option {
	return func(c *config) { c.partTypes[column] = t }
}

// WithObserver reports every file footer and row group the dataset reads.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observer = o }
}

// WithoutSuccessMarkers reads every partition folder, including those that
// hold no _SUCCESS marker (tables written by tools that do not write one).
func WithoutSuccessMarkers() Option {
	return func(c *config) { c.ignoreMarkers = true }
}

// Observer is told which objects a scan actually reads, for tests, metrics
// and the "trainer scan" report. Implementations must be safe for
// concurrent use; Counter is one.
type Observer interface {
	// OpenFile is called when a file's footer is read.
	OpenFile(key string)
	// ReadRowGroup is called when a row group's column chunks are read.
	ReadRowGroup(key string, rowGroup int)
}

// Partition is one name=value folder of a file's path. Null is set for
// lake.HiveDefaultPartition; Value is percent-decoded.
type Partition struct {
	Column string
	Value  string
	Null   bool
}

// File is one data file of a dataset.
type File struct {
	Key        string
	Size       int64
	ModTime    time.Time
	Partitions []Partition
}

// Dataset is a table of Parquet files under one prefix of a store,
// optionally Hive-partitioned (events/dt=2026-11-01/country=fr/part-0.parquet).
// It is cheap: Open only lists objects. Footers are read by Plan, for the
// files that survive partition pruning. A Dataset is safe for concurrent use.
type Dataset struct {
	store    lake.Store
	prefix   string
	cfg      config
	files    []File
	parts    []scalarRow // typed partition values, parallel to files
	partCols []arrow.Field
	skipped  []string
}

type scalarRow []scalar // one per partition column

// Open lists the data files of a dataset. where is a folder ("events/"),
// a single object key, or a lake.Glob pattern
// ("events/dt=2026-11-0[1-7]/*.parquet"). Partition columns are parsed from
// the "name=value" folders below the pattern's literal folder ("events/").
// Hidden objects (a path segment starting with "_" or ".") are not data.
// Files in Hive partitions that no _SUCCESS marker commits (the rule of
// lake.Commit) are skipped unless WithoutSuccessMarkers is given; Skipped
// lists them. Every other object is expected to be Parquet: a stray CSV
// file is reported by Plan, naming its key.
func Open(ctx context.Context, store lake.Store, where string, opts ...Option) (*Dataset, error) {
	d := &Dataset{store: store, cfg: config{partTypes: map[string]arrow.DataType{}}}
	for _, o := range opts {
		o(&d.cfg)
	}
	for col, t := range d.cfg.partTypes {
		if !partitionTypeOK(t) {
			return nil, fmt.Errorf("dataset: partition column %q: type %s is not supported", col, t)
		}
	}
	if where == "." || where == "./" {
		where = "" // the table is the store's root
	}
	pattern, folder := where, ""
	listed := false // the listing holds every object below folder
	if strings.ContainsAny(where, "*?[\\") {
		lit := where[:strings.IndexAny(where, "*?[\\")]
		if i := strings.LastIndexByte(lit, '/'); i >= 0 {
			folder = lit[:i+1]
		}
	} else if where == "" || strings.HasSuffix(where, "/") {
		folder, listed = where, true
	} else if info, err := store.Stat(ctx, where); err == nil && info.Key != "" {
		// A single object.
		if i := strings.LastIndexByte(where, '/'); i >= 0 {
			folder = where[:i+1]
		}
	} else {
		folder, listed = where+"/", true
		pattern = folder
	}
	if pattern == "" {
		pattern = "**"
	}
	objs, err := lake.Glob(ctx, store, pattern, lake.IncludeHidden(), lake.IncludeUncommitted())
	if err != nil {
		return nil, fmt.Errorf("dataset: list %q: %w", where, err)
	}
	d.prefix = folder
	markers := map[string]bool{}
	for _, o := range objs {
		if path.Base(o.Key) == lake.SuccessMarker {
			markers[strings.TrimSuffix(o.Key, lake.SuccessMarker)] = true
		}
	}
	// A marker the listing could not see (a glob that does not match
	// "_SUCCESS", or a table root above the listed folder) is looked up
	// with Stat, once per folder.
	var statErr error
	committed := func(key string) bool {
		for _, f := range lake.PartitionFolders(key) {
			seen, ok := markers[f]
			if !ok && !(listed && strings.HasPrefix(f, folder)) {
				_, err := store.Stat(ctx, f+lake.SuccessMarker)
				if err != nil && !errors.Is(err, lake.ErrNotExist) && statErr == nil {
					statErr = fmt.Errorf("dataset: look for %s%s: %w", f, lake.SuccessMarker, err)
				}
				seen = err == nil
				markers[f] = seen
			}
			if seen {
				return true
			}
		}
		return false
	}
	colIndex := map[string]int{}
	var raw [][]Partition
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, folder)
		if hidden(rel) {
			continue
		}
		lp, err := lake.ParsePartitions(rel)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", o.Key, err)
		}
		parts := make([]Partition, len(lp))
		for i, p := range lp {
			parts[i] = Partition{Column: p.Name, Value: p.Value, Null: p.Null}
		}
		if len(parts) > 0 && !d.cfg.ignoreMarkers && !committed(o.Key) {
			d.skipped = append(d.skipped, o.Key)
			continue
		}
		for _, p := range parts {
			if _, ok := colIndex[p.Column]; !ok {
				colIndex[p.Column] = len(d.partCols)
				t, ok := d.cfg.partTypes[p.Column]
				if !ok {
					t = arrow.BinaryTypes.String
				}
				d.partCols = append(d.partCols, arrow.Field{Name: p.Column, Type: t, Nullable: true})
			}
		}
		d.files = append(d.files, File{Key: o.Key, Size: o.Size, ModTime: o.ModTime, Partitions: parts})
		raw = append(raw, parts)
	}
	if statErr != nil {
		return nil, statErr
	}
	if len(d.files) == 0 {
		if len(d.skipped) > 0 {
			return nil, &UncommittedError{Where: where, Partitions: d.SkippedPartitions()}
		}
		return nil, fmt.Errorf("%w in %q", ErrNoFiles, where)
	}
	for i, parts := range raw {
		row := make(scalarRow, len(d.partCols))
		for j := range row {
			row[j] = scalar{fam: familyOf(d.partCols[j].Type), null: true}
		}
		for _, p := range parts {
			j := colIndex[p.Column]
			v, err := partitionValue(d.partCols[j].Type, p)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrBadPartition, d.files[i].Key, err)
			}
			row[j] = v
		}
		d.parts = append(d.parts, row)
	}
	return d, nil
}

// Files returns the data files of the dataset in key order. The slice is
// shared: do not modify it.
func (d *Dataset) Files() []File { return d.files }

// Skipped returns the keys of files skipped because their partition folder
// has no _SUCCESS marker.
func (d *Dataset) Skipped() []string { return d.skipped }

// SkippedPartitions returns the partition folders of Skipped, each once, in
// key order.
func (d *Dataset) SkippedPartitions() []string {
	var out []string
	for _, k := range d.skipped {
		dir := path.Dir(k) + "/"
		if len(out) == 0 || out[len(out)-1] != dir {
			out = append(out, dir)
		}
	}
	return out
}

// UncommittedError is returned by Open when every data file found is in a
// partition that no _SUCCESS marker commits (still being written, or
// written by a job that did not commit). It wraps ErrNoFiles.
type UncommittedError struct {
	Where      string
	Partitions []string // the uncommitted partition folders
}

func (e *UncommittedError) Error() string {
	return fmt.Sprintf("no committed files in %q: %s (no %s marker: still being written, or never committed)",
		e.Where, PartitionList(e.Partitions), lake.SuccessMarker)
}

// Unwrap returns ErrNoFiles.
func (e *UncommittedError) Unwrap() error { return ErrNoFiles }

// PartitionList renders partition folders for a message: all of them up to
// five, then the first three and a count.
func PartitionList(parts []string) string {
	if len(parts) == 1 {
		return "partition " + parts[0]
	}
	if len(parts) <= 5 {
		return fmt.Sprintf("%d partitions %s", len(parts), strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%d partitions %s, … (%d more)", len(parts), strings.Join(parts[:3], ", "), len(parts)-3)
}

// PartitionColumns returns the partition columns in order of first
// appearance in the paths, with their declared types.
func (d *Dataset) PartitionColumns() []arrow.Field { return d.partCols }

// Prefix returns the folder the dataset was opened on, with a trailing slash
// (or "" for the store's root).
func (d *Dataset) Prefix() string { return d.prefix }

func hidden(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

func partitionTypeOK(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.INT32, arrow.INT64, arrow.FLOAT64, arrow.BOOL, arrow.DATE32:
		return true
	}
	return false
}

func partitionValue(t arrow.DataType, p Partition) (scalar, error) {
	s := scalar{fam: familyOf(t)}
	if p.Null {
		s.null = true
		return s, nil
	}
	var err error
	switch t.ID() {
	case arrow.STRING:
		s.s = p.Value
	case arrow.INT32:
		s.i, err = strconv.ParseInt(p.Value, 10, 32)
	case arrow.INT64:
		s.i, err = strconv.ParseInt(p.Value, 10, 64)
	case arrow.FLOAT64:
		s.f, err = strconv.ParseFloat(p.Value, 64)
	case arrow.BOOL:
		s.b, err = strconv.ParseBool(p.Value)
	case arrow.DATE32:
		var tm time.Time
		tm, err = time.Parse(time.DateOnly, p.Value)
		s.i = daysSinceEpoch(tm)
	}
	if err != nil {
		return s, fmt.Errorf("column %q value %q is not a %s", p.Column, p.Value, t)
	}
	return s, nil
}

// daysSinceEpoch is the date32 value of t's UTC date.
func daysSinceEpoch(t time.Time) int64 {
	sec := t.Unix()
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return d
}
