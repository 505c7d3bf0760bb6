package movielens

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
)

// The dt partitions WriteLake writes.
const (
	TrainDT      = "2026-01-01" // 80% of the ratings
	ValidationDT = "2026-01-02" // 10%
	TestDT       = "2026-01-03" // 10%
)

// SpecYAML is the feature spec of the table WriteLake writes: the rating as
// a real label, the user and the item as categorical fields 0 and 1 (the
// mf defaults --user-field 0 --item-field 1).
const SpecYAML = "label: {column: rating, type: real}\ncategorical:\n  - column: user\n  - column: item\n"

// Rating is one rating of the file.
type Rating struct {
	User, Item string
	Rating     float64
}

// Path returns the path of ml-100k.inter under $LAKESTREAM_DATASETS, or under
// ~/.cache/lakestream/data when that is not set.
func Path() string {
	dir := os.Getenv("LAKESTREAM_DATASETS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "lakestream", "data")
	}
	return filepath.Join(dir, "ml-100k", "ml-100k.inter")
}

// Require returns the ratings for a test, skipped under -short and failed
// with the command to run when the file is missing (deploy/local/up.sh
// fetches it).
func Require(t testing.TB) []Rating {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MovieLens 100k; run without -short (make test)")
	}
	rs, err := Read(Path())
	if err != nil {
		t.Fatalf("%v (run deploy/local/datasets.sh, which deploy/local/up.sh runs)", err)
	}
	return rs
}

// Read reads ml-100k.inter: a header line, then tab-separated user id,
// item id, rating and timestamp.
func Read(path string) ([]Rating, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []Rating
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		if line == 0 {
			continue // header
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			return nil, fmt.Errorf("%s:%d: %d columns, want user, item, rating, timestamp", path, line+1, len(cols))
		}
		r, err := strconv.ParseFloat(cols[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rating: %w", path, line+1, err)
		}
		rs = append(rs, Rating{User: cols[0], Item: cols[1], Rating: r})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s: no ratings", path)
	}
	return rs, nil
}

// Split returns the part of r: 0 for training, 1 for validation, 2 for
// the held-out test split. It is a hash of user and item, so the split is
// the same on every machine.
func Split(r Rating) int {
	h := uint64(14695981039346656037)
	for _, s := range []string{r.User, "\x00", r.Item} {
		for i := range len(s) {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	switch h % 10 {
	case 0:
		return 2
	case 1:
		return 1
	}
	return 0
}

// WriteLake writes rs to store as the Hive-partitioned table
// table/dt=…/part-0.parquet (columns user, item, rating), one committed
// partition per split.
func WriteLake(ctx context.Context, store lake.Store, table string, rs []Rating) error {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "item", Type: arrow.BinaryTypes.String},
		{Name: "rating", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	for part, dt := range []string{TrainDT, ValidationDT, TestDT} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for _, r := range rs {
			if Split(r) == part {
				b.Field(0).(*array.StringBuilder).Append(r.User)
				b.Field(1).(*array.StringBuilder).Append(r.Item)
				b.Field(2).(*array.Float64Builder).Append(r.Rating)
			}
		}
		rec := b.NewRecord()
		b.Release()
		folder := table + "/dt=" + dt
		err := dataset.WriteFile(ctx, store, folder+"/part-0.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{})
		rec.Release()
		if err != nil {
			return err
		}
		if err := lake.Commit(ctx, store, folder); err != nil {
			return err
		}
	}
	return nil
}

// BiasBaseline is the regularized baseline predictor of Koren (2010,
// "Factor in the Neighbors", §2.1): r̂ = μ + b_u + b_i with the item biases
// b_i = Σ(r − μ)/(λ_i + n_i), then the user biases
// b_u = Σ(r − μ − b_i)/(λ_u + n_u), over train.
type BiasBaseline struct {
	Mean       float64
	User, Item map[string]float64
}

// FitBiasBaseline fits the baseline on train with shrinkage lambdaItem and
// lambdaUser (Koren uses 25 and 10).
func FitBiasBaseline(train []Rating, lambdaItem, lambdaUser float64) *BiasBaseline {
	b := &BiasBaseline{User: map[string]float64{}, Item: map[string]float64{}}
	for _, r := range train {
		b.Mean += r.Rating
	}
	b.Mean /= float64(len(train))
	sum, n := map[string]float64{}, map[string]float64{}
	for _, r := range train {
		sum[r.Item] += r.Rating - b.Mean
		n[r.Item]++
	}
	for i, s := range sum {
		b.Item[i] = s / (lambdaItem + n[i])
	}
	clear(sum)
	clear(n)
	for _, r := range train {
		sum[r.User] += r.Rating - b.Mean - b.Item[r.Item]
		n[r.User]++
	}
	for u, s := range sum {
		b.User[u] = s / (lambdaUser + n[u])
	}
	return b
}

// Predict returns μ + b_u + b_i (a missing user or item has bias 0).
func (b *BiasBaseline) Predict(user, item string) float64 {
	return b.Mean + b.User[user] + b.Item[item]
}

// RMSE returns the root mean squared error of predict over rs.
func RMSE(rs []Rating, predict func(user, item string) float64) float64 {
	var s float64
	for _, r := range rs {
		d := predict(r.User, r.Item) - r.Rating
		s += d * d
	}
	return math.Sqrt(s / float64(len(rs)))
}
