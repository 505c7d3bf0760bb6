package eval_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

// BinaryState goes into stream checkpoints with encoding/gob: a restored
// state must give the same metrics and keep accumulating.
func TestBinaryStateGobRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	s, y, w := randomBinary(r, 2000, 0)
	cfg := eval.DefaultBinaryConfig()
	cfg.Sketch.Bins = 1 << 10
	var st eval.BinaryState
	for i := range 1000 {
		if err := cfg.Observe(&st, s[i], y[i], w[i]); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&st); err != nil {
		t.Fatal(err)
	}
	var back eval.BinaryState
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	for i := 1000; i < 2000; i++ {
		if err := cfg.Observe(&st, s[i], y[i], w[i]); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Observe(&back, s[i], y[i], w[i]); err != nil {
			t.Fatal(err)
		}
	}
	a, err := cfg.Result(&st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Result(&back)
	if err != nil {
		t.Fatal(err)
	}
	if a.AUC != b.AUC || a.AUCBound != b.AUCBound || a.LogLoss != b.LogLoss || a.Confusion != b.Confusion || a.Calibration.ECE != b.Calibration.ECE {
		t.Errorf("restored state diverged:\n%+v\n%+v", a, b)
	}
	// The same examples through a Binary accumulator give the same result.
	acc, _ := eval.NewBinary(cfg)
	if err := acc.Add(s, y, w); err != nil {
		t.Fatal(err)
	}
	c, _ := acc.Result()
	if c.AUC != a.AUC || c.LogLoss != a.LogLoss {
		t.Errorf("Binary %v/%v, state %v/%v", c.AUC, c.LogLoss, a.AUC, a.LogLoss)
	}

	other := eval.DefaultBinaryConfig()
	var big eval.BinaryState
	_ = other.Observe(&big, 0.5, 1, 1)
	if err := st.Merge(&big); !errors.Is(err, eval.ErrIncompatible) {
		t.Errorf("merging states of different bins: err = %v", err)
	}
}
