package datastream

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// CheckpointStore keeps checkpoint files. Keys are slash-separated paths
// (checkpoints/<job>/<id>/manifest.json). Put must be atomic: a reader sees
// the whole object or none. Get returns an error satisfying
// errors.Is(err, fs.ErrNotExist) when the key is missing. Delete of a missing
// key is not an error; a store that cannot delete returns an error wrapping
// errors.ErrUnsupported, and old checkpoints are then kept.
//
// A lake.Store becomes a CheckpointStore with ObjectCheckpoints.
type CheckpointStore interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
}

// ObjectReader is a random-access object reader, such as lake.Reader.
type ObjectReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// ObjectStore is the part of an object store (such as lake.Store) that
// checkpoints need. R is the store's reader type.
type ObjectStore[R ObjectReader] interface {
	Open(ctx context.Context, key string) (R, error)
	Put(ctx context.Context, key string, r io.Reader, size int64) error
}

// ObjectCheckpoints adapts an object store to a CheckpointStore. notExist
// is the sentinel the store wraps for missing keys (lake.ErrNotExist).
// Deletion uses the store's Delete(ctx, key) method when it has one.
//
//	cps := datastream.ObjectCheckpoints(store, lake.ErrNotExist)
func ObjectCheckpoints[R ObjectReader](s ObjectStore[R], notExist error) CheckpointStore {
	return &objectCheckpoints[R]{s: s, notExist: notExist}
}

type objectCheckpoints[R ObjectReader] struct {
	s        ObjectStore[R]
	notExist error
}

func (o *objectCheckpoints[R]) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return o.s.Put(ctx, key, r, size)
}

func (o *objectCheckpoints[R]) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := o.s.Open(ctx, key)
	if err != nil {
		if errors.Is(err, o.notExist) {
			return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return nil, err
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

func (o *objectCheckpoints[R]) Delete(ctx context.Context, key string) error {
	d, ok := o.s.(interface {
		Delete(ctx context.Context, key string) error
	})
	if !ok {
		return fmt.Errorf("delete %s: %w", key, errors.ErrUnsupported)
	}
	return d.Delete(ctx, key)
}

// ManifestVersion is the manifest format this package writes and reads.
const ManifestVersion = 1

// Manifest describes one complete checkpoint. It is written last, as
// checkpoints/<job>/<id>/manifest.json: a checkpoint whose manifest exists is
// complete.
type Manifest struct {
	Version   int              `json:"version"`
	Job       string           `json:"job"`
	ID        int64            `json:"id"`
	Savepoint bool             `json:"savepoint,omitempty"`
	CreatedMs int64            `json:"created_unix_ms"` // processing time at the trigger
	States    []StateFile      `json:"states"`
	Sources   []SourcePosition `json:"sources"`
}

// StateFile names the state file of one chain subtask.
type StateFile struct {
	Chain       string `json:"chain"`
	Subtask     int    `json:"subtask"`
	Parallelism int    `json:"parallelism"`
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	CRC32       uint32 `json:"crc32"`
}

// SourcePosition is a source subtask's position (from Positioner) at the
// checkpoint barrier; nil for sources without positions.
type SourcePosition struct {
	Operator string `json:"operator"`
	Subtask  int    `json:"subtask"`
	Position []byte `json:"position"`
}

// Size is the total size of the checkpoint's state files in bytes.
func (m *Manifest) Size() int64 {
	var n int64
	for _, s := range m.States {
		n += s.Size
	}
	return n
}

// Encode returns the manifest as JSON.
func (m *Manifest) Encode() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// DecodeManifest parses and validates a manifest. Errors wrap ErrBadManifest.
func DecodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrBadManifest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: manifest: trailing data", ErrBadManifest)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrBadManifest, err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	switch {
	case m.Version != ManifestVersion:
		return fmt.Errorf("version %d, want %d", m.Version, ManifestVersion)
	case m.Job == "" || strings.Contains(m.Job, "/"):
		return fmt.Errorf("job name %q", m.Job)
	case m.ID <= 0:
		return fmt.Errorf("checkpoint id %d", m.ID)
	}
	prefix := checkpointDir(m.Job, m.ID)
	seen := map[taskKey]bool{}
	for _, s := range m.States {
		k := taskKey{s.Chain, s.Subtask}
		switch {
		case s.Chain == "":
			return errors.New("state file with an empty chain name")
		case s.Parallelism < 1 || s.Subtask < 0 || s.Subtask >= s.Parallelism:
			return fmt.Errorf("state of %s: subtask %d of parallelism %d", s.Chain, s.Subtask, s.Parallelism)
		case !strings.HasPrefix(s.Key, prefix) || strings.Contains(s.Key[len(prefix):], "/"):
			return fmt.Errorf("state of %s[%d]: key %q outside %s", s.Chain, s.Subtask, s.Key, prefix)
		case s.Size < 0:
			return fmt.Errorf("state of %s[%d]: size %d", s.Chain, s.Subtask, s.Size)
		case seen[k]:
			return fmt.Errorf("duplicate state of %s[%d]", s.Chain, s.Subtask)
		}
		seen[k] = true
	}
	seenSrc := map[taskKey]bool{}
	for _, s := range m.Sources {
		k := taskKey{s.Operator, s.Subtask}
		if s.Operator == "" || s.Subtask < 0 || seenSrc[k] {
			return fmt.Errorf("source position %s[%d] invalid or duplicate", s.Operator, s.Subtask)
		}
		seenSrc[k] = true
	}
	return nil
}

type taskKey struct {
	chain   string
	subtask int
}

func checkpointRoot(job string) string { return "checkpoints/" + job + "/" }
func checkpointDir(job string, id int64) string {
	return checkpointRoot(job) + strconv.FormatInt(id, 10) + "/"
}
func manifestKey(job string, id int64) string { return checkpointDir(job, id) + "manifest.json" }
func latestKey(job string) string             { return checkpointRoot(job) + "latest" }

// stateFileMagic starts every state file.
const stateFileMagic = "LSDS1\n"

type opState struct {
	name string
	data []byte
}

func encodeStates(states []opState) []byte {
	b := []byte(stateFileMagic)
	b = binary.AppendUvarint(b, uint64(len(states)))
	for _, s := range states {
		b = binary.AppendUvarint(b, uint64(len(s.name)))
		b = append(b, s.name...)
		b = binary.AppendUvarint(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

func decodeStates(b []byte) (map[string][]byte, error) {
	if !bytes.HasPrefix(b, []byte(stateFileMagic)) {
		return nil, errors.New("state file: bad magic")
	}
	b = b[len(stateFileMagic):]
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, errors.New("state file: truncated")
		}
		v := b[w : w+int(n)]
		b = b[w+int(n):]
		return v, nil
	}
	count, w := binary.Uvarint(b)
	if w <= 0 || count > uint64(len(b)) {
		return nil, errors.New("state file: bad count")
	}
	b = b[w:]
	out := make(map[string][]byte, count)
	for range count {
		name, err := next()
		if err != nil {
			return nil, err
		}
		data, err := next()
		if err != nil {
			return nil, err
		}
		out[string(name)] = data
	}
	if len(b) != 0 {
		return nil, errors.New("state file: trailing data")
	}
	return out, nil
}

// LatestCheckpoint returns the manifest of job's latest complete checkpoint
// in store, or an error wrapping ErrNoCheckpoint.
func LatestCheckpoint(ctx context.Context, store CheckpointStore, job string) (*Manifest, error) {
	return latestManifest(ctx, store, job)
}

// maxProbe bounds how far past the latest pointer restore looks for newer
// manifests (the pointer is written after the manifest, so a crash between
// the two leaves a newer complete checkpoint; aborted ids leave gaps).
const maxProbe = 16

func latestManifest(ctx context.Context, store CheckpointStore, job string) (*Manifest, error) {
	var from int64
	b, err := store.Get(ctx, latestKey(job))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", latestKey(job), err)
	default:
		if from, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || from < 0 {
			return nil, fmt.Errorf("%w: %s: %q", ErrBadManifest, latestKey(job), b)
		}
	}
	var best *Manifest
	if from > 0 {
		m, err := readManifest(ctx, store, job, from)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		best = m
	}
	for id, misses := from+1, 0; misses < maxProbe; id++ {
		m, err := readManifest(ctx, store, job, id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			misses++
		case err != nil:
			return nil, err
		default:
			best, misses = m, 0
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w for job %q", ErrNoCheckpoint, job)
	}
	return best, nil
}

func readManifest(ctx context.Context, store CheckpointStore, job string, id int64) (*Manifest, error) {
	key := manifestKey(job, id)
	b, err := store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if m.Job != job || m.ID != id {
		return nil, fmt.Errorf("%w: %s names job %q checkpoint %d", ErrBadManifest, key, m.Job, m.ID)
	}
	return m, nil
}

// opPart is one subtask's checkpointed state of an operator.
type opPart struct {
	subtask, parallelism int
	data                 []byte
}

// loadStates reads and checks the state files of m and groups the state by
// operator name. Every operator with state in the checkpoint must exist in
// the job graph; operators new to the graph start empty.
func (x *execution) loadStates(ctx context.Context, m *Manifest) (map[string][]opPart, error) {
	out := map[string][]opPart{}
	for _, sf := range m.States {
		b, err := x.cfg.store.Get(ctx, sf.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", sf.Key, err)
		}
		if int64(len(b)) != sf.Size || crc32.ChecksumIEEE(b) != sf.CRC32 {
			return nil, fmt.Errorf("%w: %s: size or checksum mismatch", ErrBadManifest, sf.Key)
		}
		st, err := decodeStates(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadManifest, sf.Key, err)
		}
		for name, data := range st {
			out[name] = append(out[name], opPart{subtask: sf.Subtask, parallelism: sf.Parallelism, data: data})
		}
	}
	for name := range out {
		if !x.job.names[name] {
			return nil, fmt.Errorf("%w: checkpoint %d has state of operator %q, which the job graph does not have", ErrBadManifest, m.ID, name)
		}
	}
	return out, nil
}

// rescaler is implemented by operators whose state can move to a different
// parallelism: keyed operators keep the keys that hash to their subtask.
type rescaler interface {
	restoreRescaled(parts [][]byte, keep func(key string) bool) error
}

// restoreOp gives operator r of subtask t its checkpointed state.
func (x *execution) restoreOp(t *task, r *opRuntime, parts []opPart) error {
	if len(parts) == 0 {
		return nil
	}
	n := r.node
	if parts[0].parallelism == n.parallelism {
		for _, p := range parts {
			if p.subtask == t.subtask {
				return r.op.restore(p.data)
			}
		}
		return nil
	}
	rs, ok := r.op.(rescaler)
	if !ok {
		return fmt.Errorf("operator %q had parallelism %d in checkpoint %d and has %d now; only keyed and broadcast operators can change parallelism",
			n.name, parts[0].parallelism, x.restored.ID, n.parallelism)
	}
	datas := make([][]byte, len(parts))
	for i, p := range parts {
		datas[i] = p.data
	}
	sub, par := uint64(t.subtask), uint64(n.parallelism)
	return rs.restoreRescaled(datas, func(key string) bool { return hashKey([]byte(key))%par == sub })
}
