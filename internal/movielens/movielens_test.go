package movielens_test

import (
	"math"
	"testing"

	"github.com/lakestream/lakestream/internal/movielens"
)

// TestSplitAndBaseline: the hash split is 80/10/10 within a percent, and
// the regularized bias baseline beats the global mean on the held-out part
// (1.13 → 0.95 measured), so the baseline the mf test is judged against
// is a real one.
func TestSplitAndBaseline(t *testing.T) {
	rs := movielens.Require(t)
	if len(rs) != 100_000 {
		t.Fatalf("%d ratings, want 100000", len(rs))
	}
	var parts [3][]movielens.Rating
	for _, r := range rs {
		parts[movielens.Split(r)] = append(parts[movielens.Split(r)], r)
	}
	for i, want := range []float64{0.8, 0.1, 0.1} {
		if got := float64(len(parts[i])) / float64(len(rs)); math.Abs(got-want) > 0.01 {
			t.Errorf("split %d holds %.3f of the ratings, want %.2f ± 0.01", i, got, want)
		}
	}
	b := movielens.FitBiasBaseline(parts[0], 5, 5)
	mean := movielens.RMSE(parts[2], func(string, string) float64 { return b.Mean })
	base := movielens.RMSE(parts[2], b.Predict)
	t.Logf("held-out RMSE: global mean %.4f, bias baseline %.4f", mean, base)
	if base > mean-0.1 {
		t.Errorf("bias baseline RMSE %.4f, want at least 0.1 under the global mean's %.4f", base, mean)
	}
}
