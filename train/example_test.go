package train_test

import (
	"context"
	"fmt"

	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
)

// A Stepper trains a model one mini-batch at a time against a parameter
// store: here logistic regression with FTRL on two examples that differ in
// one feature, repeated until the model separates them.
func ExampleStepper() {
	m, _ := train.NewModel(train.DefaultModelConfig(train.KindLogistic))
	opt := optim.DefaultConfig(optim.FTRL)
	opt.Alpha = 0.5
	store, _ := paramserver.NewLocal(job.TableSpecs(m, opt, 1, false)...) // the in-process parameter store
	st := train.NewStepper(m, store, 0)

	// Row 0: features 1 and 7, clicked. Row 1: features 2 and 7, not clicked.
	b := &train.Batch{
		Indptr:  []int32{0, 2, 4},
		Indices: []uint64{1, 7, 2, 7},
		Values:  []float32{1, 1, 1, 1},
		Fields:  []int32{0, 1, 0, 1},
		Labels:  []float32{1, 0},
	}
	ctx := context.Background()
	for range 200 {
		if _, err := st.Step(ctx, b); err != nil {
			fmt.Println(err)
			return
		}
	}
	p := make([]float64, 2)
	_ = st.Predict(ctx, b, p)
	fmt.Printf("P(click | 1,7) = %.2f\nP(click | 2,7) = %.2f\n", p[0], p[1])
	// Output:
	// P(click | 1,7) = 0.97
	// P(click | 2,7) = 0.03
}
