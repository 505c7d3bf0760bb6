package main

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/job"
)

// TestTrainResumesAfterKill is the bounded resume acceptance test: "trainer
// train --checkpoint-every" killed with SIGKILL 5 times at random points and
// restarted each time ends with the tables of the uninterrupted run, bit
// for bit (one train subtask; the FTRL update is deterministic and the
// checkpoint holds every table with its optimizer state and the Parquet
// position at the barrier). LAKESTREAM_KILL_SEED replays a run's kill
// points.
func TestTrainResumesAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real trainer processes, ~1 min (run without -short)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LAKESTREAM_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LAKESTREAM_KILL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("kill seed %d (LAKESTREAM_KILL_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))

	bin := buildTrainer(t)
	store, lakeDir, specPath, sum := clickLake(t, 600_000, 20_000)
	args := []string{"train", "--lake", lakeDir, "--data", "clicks", "--spec", specPath,
		"--dt", sum.Days[0].DT + ".." + sum.Days[len(sum.Days)-2].DT, "--validation-dt", sum.Test().DT,
		"--model", "fm", "--epochs", "2", "--seed", "3"}
	run := func(extra ...string) *exec.Cmd {
		cmd := exec.Command(bin, append(append([]string(nil), args...), extra...)...)
		cmd.Stdout, cmd.Stderr = new(bytes.Buffer), new(bytes.Buffer)
		return cmd
	}

	ref := run("--output", "ref")
	start := time.Now()
	if err := ref.Run(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, ref.Stderr)
	}
	full := time.Since(start)
	t.Logf("uninterrupted run: %s\n%s", full.Round(time.Millisecond), ref.Stdout)

	// Checkpoints every 1/30 of the uninterrupted run (at least 20ms), so a
	// fast machine and a slow one take the same number of them.
	every := max(full/30, 20*time.Millisecond)
	ck := []string{"--output", "resumed", "--checkpoint-every", every.String()}
	ckDir := filepath.Join(lakeDir, "checkpoints")
	resumes := 0
	for i := range 5 {
		// Each run is killed a random 0-5% of the uninterrupted run's time
		// after it has begun writing a checkpoint of its own: a kill at a
		// fixed time could come before the first checkpoint on a fast machine
		// (and then nothing resumes), and each run moves the job on by only a
		// few checkpoints, so five runs never reach the end.
		after := time.Duration(float64(full) * 0.05 * rng.Float64())
		before := checkpointFiles(t, ckDir)
		cmd := run(ck...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !hasNew(checkpointFiles(t, ckDir), before) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(after)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("run %d ended before its kill at %s (%v):\n%s", i+1, after, err, cmd.Stderr)
		}
		if strings.Contains(cmd.Stderr.(*bytes.Buffer).String(), "resuming from checkpoint") {
			resumes++
		}
		t.Logf("run %d killed %s after its first checkpoint began", i+1, after.Round(time.Millisecond))
	}
	last := run(ck...)
	if err := last.Run(); err != nil {
		t.Fatalf("final run: %v\n%s", err, last.Stderr)
	}
	if strings.Contains(last.Stderr.(*bytes.Buffer).String(), "resuming from checkpoint") {
		resumes++
	}
	t.Logf("final run:\n%s", last.Stdout)
	if resumes == 0 {
		t.Fatalf("no run resumed from a checkpoint; stderr of the last:\n%s", last.Stderr)
	}
	t.Logf("%d of 6 runs resumed from a checkpoint", resumes)

	a, err := model.Load(context.Background(), store, "ref", 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Load(context.Background(), store, "resumed", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := job.TablesDiff(tableData(a), tableData(b)); d != 0 {
		t.Fatalf("resumed tables differ from the uninterrupted run's by %g, want bit-identical", d)
	}
	if a.Meta().Rows != b.Meta().Rows {
		t.Errorf("resumed model counts %d training examples, the uninterrupted %d", b.Meta().Rows, a.Meta().Rows)
	}
	objs := store.List(context.Background(), "checkpoints/")
	for objs.Next() {
		t.Errorf("checkpoint object %s left after the job finished", objs.At().Key)
	}
}

// tableData returns a saved model's tables as train exports them.
func tableData(m *model.Model) []train.TableData {
	var out []train.TableData
	for _, t := range m.Tables() {
		out = append(out, train.TableData{Name: t.Name, Width: t.Width, Dense: t.Dense, Keys: t.Keys, Values: t.Values})
	}
	return out
}

// checkpointFiles lists the files under dir (none when it does not exist).
func checkpointFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed while walking, or no folder yet
		}
		if !d.IsDir() {
			files[path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list checkpoints in %s: %v", dir, err)
	}
	return files
}

// hasNew reports whether now holds a file that before did not.
func hasNew(now, before map[string]bool) bool {
	for f := range now {
		if !before[f] {
			return true
		}
	}
	return false
}

// TestTrainParallelAnswersSIGTERM: the largest --parallel starts at once and
// a SIGTERM during its training ends the process promptly with an error
// saying why (--parallel 100000 is refused before any work, see
// TestTrainRefusesBadInputBeforeWork).
func TestTrainParallelAnswersSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals a real trainer process (run without -short)")
	}
	bin := buildTrainer(t)
	_, lakeDir, specPath, _ := clickLake(t, 100_000, 5_000)
	// Far more epochs than the test waits for: only the signal ends it.
	cmd := exec.Command(bin, "train", "--lake", lakeDir, "--data", "clicks", "--spec", specPath,
		"--model", "fm", "--epochs", "100000", "--parallel", strconv.Itoa(maxParallel))
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Signal once the first epoch has ended, so the workers are training.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(stderr.String(), "epoch done") {
		select {
		case err := <-done:
			t.Fatalf("trainer ended before the signal: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no epoch done within 2 min:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A bound on the reply to the signal, not on speed: the workers check
	// the context between mini-batches (milliseconds; 0.14 s by hand on the
	// 2-core machine). Minutes would mean it was ignored.
	select {
	case err := <-done:
		if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "signal received") {
			t.Errorf("after SIGTERM: %v, exit %d, want exit 1 saying the signal stopped it\n%s", err, cmd.ProcessState.ExitCode(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("trainer train --parallel %d still running 30 s after SIGTERM", maxParallel)
	}
}

// lockedBuffer is a bytes.Buffer a child process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildTrainer builds the trainer binary into the test's folder.
func buildTrainer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trainer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// clickLake generates a click log of rows rows (row groups of groupRows)
// as table "clicks" of a new local lake, with the 18-bit feature spec
// beside it; it returns the store, its folder, the spec's path and the
// generator's summary.
func clickLake(t *testing.T, rows, groupRows int) (lake.Store, string, string, clicklog.Summary) {
	t.Helper()
	dir := t.TempDir()
	lakeDir, specPath := filepath.Join(dir, "lake"), filepath.Join(dir, "spec.yaml")
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.RowGroupRows = rows, groupRows
	sum, err := clicklog.Generate(context.Background(), store, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, []byte(clicklog.SpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	return store, lakeDir, specPath, sum
}
