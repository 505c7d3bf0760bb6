package model

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"path"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/feature"
)

// Format is the artifact format this package writes; Load accepts it and
// rejects others with ErrIncompatible.
const Format = "lakestream-model/1"

// Object names inside a version directory.
const (
	ManifestFile = "manifest.json"
	SpecFile     = "spec.yaml"
	claimPrefix  = "_claim-"
)

// Manifest is the last object of a version directory: the metadata and the
// list of files with their checksums.
type Manifest struct {
	Format string     `json:"format"`
	Meta   Metadata   `json:"meta"`
	Spec   File       `json:"spec"`
	Tables []TableRef `json:"tables"`
	// Catalogue is the mf model's catalogue file, if it has one (see
	// Catalogue).
	Catalogue *File `json:"catalogue,omitempty"`
}

// File is one object of a version, relative to the version directory.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// TableRef describes a stored table: its shape and files. Keys is empty for
// dense tables.
type TableRef struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Dense  bool   `json:"dense,omitempty"`
	Rows   int    `json:"rows"`
	Keys   *File  `json:"keys,omitempty"`
	Values File   `json:"values"`
}

// Size returns the total bytes of the version's files.
func (mf *Manifest) Size() int64 {
	n := mf.Spec.Size
	for _, t := range mf.Tables {
		n += t.Values.Size
		if t.Keys != nil {
			n += t.Keys.Size
		}
	}
	if mf.Catalogue != nil {
		n += mf.Catalogue.Size
	}
	return n
}

// SaveOption configures Save.
type SaveOption func(*saveOptions)

type saveOptions struct {
	now func() time.Time
}

// WithClock sets the clock that stamps Metadata.Created when it is zero
// (default time.Now).
func WithClock(now func() time.Time) SaveOption { return func(o *saveOptions) { o.now = now } }

// Prefix returns the folder of a model's versions: models/<name>/.
func Prefix(name string) string { return "models/" + name + "/" }

// VersionPrefix returns models/<name>/<version>/.
func VersionPrefix(name string, version int) string {
	return Prefix(name) + strconv.Itoa(version) + "/"
}

// ValidateName checks a model name: 1–128 letters, digits, '-', '_' or '.',
// not starting with '.' or '_'.
func ValidateName(name string) error {
	ok := name != "" && len(name) <= 128 && name[0] != '.' && name[0] != '_'
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("model name %q: want 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '_'", name)
	}
	return nil
}

// Save writes the model as the next version of name and returns the
// version. Files go first, manifest.json last, so readers never see a
// partial version. Save sets Meta().Name, Version, Created (if zero) and
// CodeVersion (if empty) in the stored manifest; the receiver is not changed.
func (m *Model) Save(ctx context.Context, store lake.Store, name string, opts ...SaveOption) (int, error) {
	o := saveOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateName(name); err != nil {
		return 0, err
	}
	meta := m.meta
	meta.Name = name
	if meta.Created.IsZero() {
		meta.Created = o.now().UTC()
	}
	if meta.CodeVersion == "" {
		meta.CodeVersion = buildVersion()
	}
	version, claim, err := claimVersion(ctx, store, name)
	if err != nil {
		return 0, err
	}
	meta.Version = version
	dir := VersionPrefix(name, version)

	put := func(rel string, data []byte) (File, error) {
		if err := lake.PutBytes(ctx, store, dir+rel, data); err != nil {
			return File{}, fmt.Errorf("save model %s: %w", dir+rel, err)
		}
		sum := sha256.Sum256(data)
		return File{Path: rel, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
	}
	mf := Manifest{Format: Format, Meta: meta}
	specYAML, err := m.spec.Marshal()
	if err != nil {
		return 0, err
	}
	if mf.Spec, err = put(SpecFile, specYAML); err != nil {
		return 0, err
	}
	for i := range m.tables {
		t := &m.tables[i]
		ref := TableRef{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows()}
		if !t.Dense {
			kf, err := put(t.Name+".keys", encodeKeys(t.Keys))
			if err != nil {
				return 0, err
			}
			ref.Keys = &kf
		}
		if ref.Values, err = put(t.Name+".f32", encodeFloats(t.Values)); err != nil {
			return 0, err
		}
		mf.Tables = append(mf.Tables, ref)
	}
	if m.catalogue != nil {
		cf, err := put(CatalogueFile, m.catalogue.encode())
		if err != nil {
			return 0, err
		}
		mf.Catalogue = &cf
	}
	// An undefined metric (the AUC of one class: NaN) has no JSON number;
	// it is left out, as the manifest's readers expect of a missing one.
	undefined := func(_ string, x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	for k, x := range mf.Meta.Metrics {
		if undefined(k, x) {
			mf.Meta.Metrics = maps.Clone(mf.Meta.Metrics) // the caller's map stays as it is
			maps.DeleteFunc(mf.Meta.Metrics, undefined)
			break
		}
	}
	raw, err := json.MarshalIndent(&mf, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("save model %s: encode manifest: %w", dir, err)
	}
	if err := lake.PutBytes(ctx, store, dir+ManifestFile, raw); err != nil {
		return 0, fmt.Errorf("save model %s: %w", dir+ManifestFile, err)
	}
	// The claim has done its job once the manifest exists; removing it is
	// tidiness only, so a store without deletes keeps it.
	if d, ok := store.(lake.Deleter); ok {
		if err := d.Delete(ctx, dir+claim); err != nil {
			return 0, fmt.Errorf("save model %s: remove claim: %w", dir+claim, err)
		}
	}
	return version, nil
}

// claimVersion allocates the next version number of name; see the package
// documentation for the protocol. It returns the version and the name of the
// claim object in its directory.
//
// A writer that finds company in a directory withdraws (deletes its claim if
// the store can delete), waits a random moment and starts over above the
// highest version it now sees. Withdrawing is safe: a writer only wins a
// version when its listing shows its own claim alone, and a withdrawn writer
// never returns to that version. The random wait breaks the lockstep in
// which concurrent writers would otherwise keep colliding.
func claimVersion(ctx context.Context, store lake.Store, name string) (int, string, error) {
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return 0, "", fmt.Errorf("save model %s: claim token: %w", name, err)
	}
	claim := claimPrefix + hex.EncodeToString(tok[:12])
	jitter := mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(tok[:8]), binary.LittleEndian.Uint64(tok[8:])))
	const attempts = 100
	for attempt := range attempts {
		top, err := highestVersion(ctx, store, name)
		if err != nil {
			return 0, "", err
		}
		next := top + 1
		dir := VersionPrefix(name, next)
		if err := lake.PutBytes(ctx, store, dir+claim, nil); err != nil {
			return 0, "", fmt.Errorf("save model %s: claim version %d: %w", name, next, err)
		}
		objs, err := lake.ListAll(ctx, store, dir)
		if err != nil {
			return 0, "", fmt.Errorf("save model %s: claim version %d: %w", name, next, err)
		}
		if len(objs) == 1 && objs[0].Key == dir+claim {
			return next, claim, nil
		}
		if d, ok := store.(lake.Deleter); ok {
			if err := d.Delete(ctx, dir+claim); err != nil {
				return 0, "", fmt.Errorf("save model %s: withdraw claim on version %d: %w", name, next, err)
			}
		}
		wait := time.Duration(jitter.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return 0, "", fmt.Errorf("save model %s: claim version: %w", name, ctx.Err())
		case <-time.After(wait):
		}
	}
	return 0, "", fmt.Errorf("save model %s: could not claim a version in %d attempts", name, attempts)
}

// highestVersion returns the largest version number with any object under
// models/<name>/, manifest or not, or 0.
func highestVersion(ctx context.Context, store lake.Store, name string) (int, error) {
	objs, err := lake.ListAll(ctx, store, Prefix(name))
	if err != nil {
		return 0, fmt.Errorf("list model %s: %w", name, err)
	}
	best := 0
	for _, o := range objs {
		if v, _, ok := parseVersionKey(name, o.Key); ok {
			best = max(best, v)
		}
	}
	return best, nil
}

// parseVersionKey splits models/<name>/<version>/<rest>.
func parseVersionKey(name, key string) (version int, rest string, ok bool) {
	s, found := strings.CutPrefix(key, Prefix(name))
	if !found {
		return 0, "", false
	}
	vs, rest, found := strings.Cut(s, "/")
	if !found {
		return 0, "", false
	}
	v, err := strconv.Atoi(vs)
	if err != nil || v < 1 || strconv.Itoa(v) != vs {
		return 0, "", false
	}
	return v, rest, true
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return bi.Main.Path + "@" + bi.Main.Version
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func encodeKeys(keys []uint64) []byte {
	b := make([]byte, 8*len(keys))
	for i, k := range keys {
		binary.LittleEndian.PutUint64(b[8*i:], k)
	}
	return b
}

func encodeFloats(vals []float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// Load reads and verifies version of name (0 means the latest version that
// has a manifest) and compiles it for scoring. Missing models give an error
// wrapping ErrNotFound; a file that is missing or does not match its
// checksum, ErrCorrupt; an unknown format, kind or layout, ErrIncompatible.
func Load(ctx context.Context, store lake.Store, name string, version int) (*Model, error) {
	mf, err := ReadManifest(ctx, store, name, version)
	if err != nil {
		return nil, err
	}
	dir := VersionPrefix(name, mf.Meta.Version)
	read := func(f File) ([]byte, error) {
		key := dir + f.Path
		if f.Path == "" || strings.Contains(f.Path, "/") {
			return nil, &ArtifactError{Key: dir + ManifestFile, Reason: fmt.Sprintf("bad file name %q", f.Path), Err: ErrCorrupt}
		}
		data, err := lake.ReadAll(ctx, store, key)
		if errors.Is(err, lake.ErrNotExist) {
			return nil, &ArtifactError{Key: key, Reason: "listed in the manifest but missing", Err: ErrCorrupt}
		}
		if err != nil {
			return nil, fmt.Errorf("load model %s: %w", key, err)
		}
		if int64(len(data)) != f.Size {
			return nil, &ArtifactError{Key: key, Reason: fmt.Sprintf("%d bytes, the manifest says %d", len(data), f.Size), Err: ErrCorrupt}
		}
		sum := sha256Yielding(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, &ArtifactError{Key: key, Reason: "SHA-256 does not match the manifest", Err: ErrCorrupt}
		}
		return data, nil
	}
	specYAML, err := read(mf.Spec)
	if err != nil {
		return nil, err
	}
	spec, err := feature.Parse(specYAML)
	if err != nil {
		return nil, &ArtifactError{Key: dir + mf.Spec.Path, Reason: err.Error(), Err: ErrCorrupt}
	}
	tables := make([]Table, 0, len(mf.Tables))
	for _, ref := range mf.Tables {
		t := Table{Name: ref.Name, Width: ref.Width, Dense: ref.Dense}
		// ReadManifest checked the shape, so 4·rows·width cannot overflow.
		raw, err := read(ref.Values)
		if err != nil {
			return nil, err
		}
		if len(raw) != 4*ref.Rows*ref.Width {
			return nil, &ArtifactError{Key: dir + ref.Values.Path, Reason: fmt.Sprintf("%d bytes for %d×%d float32", len(raw), ref.Rows, ref.Width), Err: ErrCorrupt}
		}
		t.Values = make([]float32, len(raw)/4)
		for i := range t.Values {
			t.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			yieldEvery(i)
		}
		if !ref.Dense {
			if ref.Keys == nil {
				return nil, &ArtifactError{Key: dir + ManifestFile, Reason: fmt.Sprintf("sparse table %q has no keys file", ref.Name), Err: ErrCorrupt}
			}
			raw, err := read(*ref.Keys)
			if err != nil {
				return nil, err
			}
			if len(raw) != 8*ref.Rows {
				return nil, &ArtifactError{Key: dir + ref.Keys.Path, Reason: fmt.Sprintf("%d bytes for %d uint64 keys", len(raw), ref.Rows), Err: ErrCorrupt}
			}
			t.Keys = make([]uint64, ref.Rows)
			for i := range t.Keys {
				t.Keys[i] = binary.LittleEndian.Uint64(raw[8*i:])
				yieldEvery(i)
			}
		}
		tables = append(tables, t)
	}
	m, err := New(mf.Meta, spec, tables)
	if err != nil {
		return nil, &ArtifactError{Key: dir + ManifestFile, Reason: err.Error(), Err: ErrIncompatible}
	}
	if f := mf.Catalogue; f != nil {
		if f.Size > MaxCatalogueBytes {
			return nil, &ArtifactError{Key: dir + f.Path, Reason: fmt.Sprintf("%d bytes, more than a catalogue may have (%d)", f.Size, MaxCatalogueBytes), Err: ErrCorrupt}
		}
		raw, err := read(*f)
		if err != nil {
			return nil, err
		}
		c, err := decodeCatalogue(raw)
		if err != nil {
			return nil, &ArtifactError{Key: dir + f.Path, Reason: err.Error(), Err: ErrCorrupt}
		}
		if err := m.SetCatalogue(c); err != nil {
			return nil, &ArtifactError{Key: dir + f.Path, Reason: err.Error(), Err: ErrIncompatible}
		}
	}
	return m, nil
}

// ReadManifest reads and checks the manifest of version of name (0: the
// latest), without loading the tables.
func ReadManifest(ctx context.Context, store lake.Store, name string, version int) (*Manifest, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if version == 0 {
		vs, err := versions(ctx, store, name)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("%w: no versions of model %q under %s", ErrNotFound, name, Prefix(name))
		}
		version = vs[len(vs)-1]
	}
	key := VersionPrefix(name, version) + ManifestFile
	raw, err := lake.ReadAll(ctx, store, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, fmt.Errorf("%w: model %q version %d (no %s)", ErrNotFound, name, version, key)
	}
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", key, err)
	}
	var mf Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&mf); err != nil {
		return nil, &ArtifactError{Key: key, Reason: "decode: " + err.Error(), Err: ErrCorrupt}
	}
	if mf.Format != Format {
		return nil, &ArtifactError{Key: key, Reason: fmt.Sprintf("format %q, this build reads %q", mf.Format, Format), Err: ErrIncompatible}
	}
	if !slices.Contains(Kinds, mf.Meta.Kind) {
		return nil, &ArtifactError{Key: key, Reason: fmt.Sprintf("unknown kind %q (known: %v)", mf.Meta.Kind, Kinds), Err: ErrIncompatible}
	}
	if mf.Meta.Name != name || mf.Meta.Version != version {
		return nil, &ArtifactError{Key: key, Reason: fmt.Sprintf("manifest names %s version %d", mf.Meta.Name, mf.Meta.Version), Err: ErrCorrupt}
	}
	for _, t := range mf.Tables {
		if err := t.checkShape(); err != nil {
			return nil, &ArtifactError{Key: key, Reason: err.Error(), Err: ErrCorrupt}
		}
	}
	return &mf, nil
}

// Caps on a stored table's shape. Rows are addressed with int32 by the
// scoring index; a width above MaxTableWidth or more than MaxTableValues
// float32 (8 GiB) is no model this code writes, only a damaged or crafted
// manifest.
const (
	MaxTableRows   = math.MaxInt32
	MaxTableWidth  = 1 << 20
	MaxTableValues = 1 << 31
)

// checkShape refuses a table whose shape is out of the caps or disagrees
// with its files' sizes. The products are checked by division, so no
// arithmetic on manifest numbers can overflow.
func (t TableRef) checkShape() error {
	switch {
	case t.Width < 1 || t.Width > MaxTableWidth:
		return fmt.Errorf("table %q: width %d, want 1..%d", t.Name, t.Width, MaxTableWidth)
	case t.Rows < 0 || t.Rows > MaxTableRows:
		return fmt.Errorf("table %q: rows %d, want 0..%d", t.Name, t.Rows, MaxTableRows)
	case t.Rows > MaxTableValues/t.Width:
		return fmt.Errorf("table %q: %d rows × %d exceeds %d values", t.Name, t.Rows, t.Width, MaxTableValues)
	case t.Values.Size != 4*int64(t.Rows)*int64(t.Width):
		return fmt.Errorf("table %q: values file of %d bytes for %d×%d float32", t.Name, t.Values.Size, t.Rows, t.Width)
	case t.Dense && t.Keys != nil:
		return fmt.Errorf("dense table %q has a keys file", t.Name)
	case !t.Dense && t.Keys == nil:
		return fmt.Errorf("sparse table %q has no keys file", t.Name)
	case t.Keys != nil && t.Keys.Size != 8*int64(t.Rows):
		return fmt.Errorf("table %q: keys file of %d bytes for %d uint64 keys", t.Name, t.Keys.Size, t.Rows)
	}
	return nil
}

// versions returns the versions of name that have a manifest, ascending.
func versions(ctx context.Context, store lake.Store, name string) ([]int, error) {
	objs, err := lake.ListAll(ctx, store, Prefix(name))
	if err != nil {
		return nil, fmt.Errorf("list model %s: %w", name, err)
	}
	var vs []int
	for _, o := range objs {
		if v, rest, ok := parseVersionKey(name, o.Key); ok && rest == ManifestFile {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// Versions returns the manifests of every complete version of name,
// ascending by version. A model with no versions gives an empty list.
func Versions(ctx context.Context, store lake.Store, name string) ([]*Manifest, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	vs, err := versions(ctx, store, name)
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, 0, len(vs))
	for _, v := range vs {
		mf, err := ReadManifest(ctx, store, name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, mf)
	}
	return out, nil
}

// Names returns the names of models that have at least one complete version,
// sorted.
func Names(ctx context.Context, store lake.Store) ([]string, error) {
	objs, err := lake.ListAll(ctx, store, "models/")
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, "models/")
		name, tail, ok := strings.Cut(rest, "/")
		if !ok || path.Base(tail) != ManifestFile || seen[name] {
			continue
		}
		if _, r, ok := parseVersionKey(name, o.Key); ok && r == ManifestFile {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// WriteText writes the manifest for people, as `trainer models show` prints
// it: identity, data, metrics, hyperparameters and tables.
func (mf *Manifest) WriteText(w io.Writer) error {
	m := mf.Meta
	var b strings.Builder
	fmt.Fprintf(&b, "model      %s version %d\n", m.Name, m.Version)
	fmt.Fprintf(&b, "kind       %s\n", m.Kind)
	if arch, err := json.Marshal(m.Arch); err == nil && string(arch) != "{}" {
		fmt.Fprintf(&b, "arch       %s\n", arch)
	}
	fmt.Fprintf(&b, "created    %s\n", m.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "code       %s\n", m.CodeVersion)
	if m.Data != (DataRange{}) {
		fmt.Fprintf(&b, "data       %s", m.Data.Source)
		if m.Data.From != "" || m.Data.To != "" {
			fmt.Fprintf(&b, " [%s .. %s]", m.Data.From, m.Data.To)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "rows       %d\n", m.Rows)
	fmt.Fprintf(&b, "seed       %d\n", m.Seed)
	if m.Optimizer != nil {
		o, _ := json.Marshal(m.Optimizer)
		fmt.Fprintf(&b, "optimizer  %s\n", o)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Hyperparameters)) {
		fmt.Fprintf(&b, "param      %s = %s\n", k, m.Hyperparameters[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metrics)) {
		fmt.Fprintf(&b, "metric     %s = %.6g\n", k, m.Metrics[k])
	}
	for _, t := range mf.Tables {
		kind := "sparse"
		if t.Dense {
			kind = "dense"
		}
		fmt.Fprintf(&b, "table      %s %s %d×%d\n", t.Name, kind, t.Rows, t.Width)
	}
	if c := mf.Catalogue; c != nil {
		fmt.Fprintf(&b, "catalogue  %s (%d bytes): top-N requests as %s:topn\n", c.Path, c.Size, m.Name)
	}
	fmt.Fprintf(&b, "size       %d bytes\n", mf.Size())
	_, err := io.WriteString(w, b.String())
	return err
}

// Loading runs beside request handling in the predictor. Its loops yield
// the processor every few thousand iterations, so a load delays the
// requests sharing its core by tens of microseconds rather than holding it
// for the whole load (Go preempts a busy goroutine only after 10ms).

// yieldEvery yields once every 16384 calls, by loop index.
func yieldEvery(i int) {
	if i&0x3fff == 0x3fff {
		runtime.Gosched()
	}
}

// sha256Yielding is sha256.Sum256 over 64 KiB chunks with a yield between
// them.
func sha256Yielding(data []byte) [sha256.Size]byte {
	h := sha256.New()
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		h.Write(data[:n])
		data = data[n:]
		runtime.Gosched()
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
