package train

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/optim"
)

// BenchmarkCheckpointBarrier measures what the train operator does at a
// checkpoint barrier for an FM k=8 model (FTRL) whose sparse table holds
// 2^20 rows: SnapshotState (store snapshot with optimizer state, trained
// keys, loop state) and the write of the state file to a local lake. The
// subtask trains nothing meanwhile: this is the stall per checkpoint.
func BenchmarkCheckpointBarrier(b *testing.B) {
	ctx := context.Background()
	m, err := NewModel(ModelConfig{Kind: KindFM, Factors: 8, Loss: LossLogistic, FactorStd: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	opt := optim.DefaultConfig(optim.FTRL)
	var specs []paramserver.TableSpec
	for _, t := range m.Tables() {
		specs = append(specs, paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)})
	}
	ps, err := paramserver.NewLocal(specs...)
	if err != nil {
		b.Fatal(err)
	}
	st := NewStepper(m, ps, 0)
	const rows = 1 << 20
	keys := make([]uint64, 4096)
	grads := make([]float32, len(keys)*9)
	for i := range grads {
		grads[i] = 0.01
	}
	for lo := 0; lo < rows; lo += len(keys) {
		for i := range keys {
			keys[i] = uint64(lo+i)*0x9E3779B97F4A7C15 + 1
			st.seen.add(keys[i])
		}
		if err := ps.Push(ctx, TableWeights, keys, grads); err != nil {
			b.Fatal(err)
		}
	}
	store, err := lake.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	cps := datastream.ObjectCheckpoints(store, lake.ErrNotExist)
	f := &fit{cfg: Config{Checkpoint: Checkpointing{Fingerprint: []byte("bench")}}, now: time.Now}
	s := &fitSink{Sink: NewSink(st, nil, 0), fit: f}
	var size int
	for b.Loop() {
		state, err := s.SnapshotState(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := cps.Put(ctx, "checkpoints/bench/1/train-0.state", bytes.NewReader(state), int64(len(state))); err != nil {
			b.Fatal(err)
		}
		size = len(state)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/checkpoint")
}
