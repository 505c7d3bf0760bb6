package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Query is one ranking list: the model's scores of its items and their true
// relevance grades (0 = irrelevant; any positive grade counts as relevant for
// the binary metrics, and as the gain for NDCG).
type Query struct {
	Scores, Relevance []float64
}

// Ranking holds ranking metrics at a cut-off K, each the weighted mean over
// queries. A query without relevant items scores 0 on every metric (it still
// counts in the mean), as scikit-learn's ndcg_score does.
type Ranking struct {
	K int `json:"k"`
	// PrecisionAtK is (relevant items in the top K) / K.
	PrecisionAtK float64 `json:"precision_at_k"`
	// RecallAtK is (relevant items in the top K) / (relevant items).
	RecallAtK float64 `json:"recall_at_k"`
	// MAPAtK is the mean of AP@K = Σ_{i≤K, item i relevant} P@i / min(K, relevant items).
	MAPAtK float64 `json:"map_at_k"`
	// MRRAtK is the mean of 1/rank of the first relevant item, 0 when none is
	// in the top K.
	MRRAtK float64 `json:"mrr_at_k"`
	// NDCGAtK is DCG@K / ideal DCG@K with linear gains (the grade) and
	// discount 1/log₂(rank+1). Tied scores get the mean gain of their tie
	// group (McSherry & Najork 2008), exactly as scikit-learn's ndcg_score.
	NDCGAtK float64 `json:"ndcg_at_k"`
	// HitRateAtK is the fraction of queries with a relevant item in the top K.
	HitRateAtK float64 `json:"hit_rate_at_k"`
	// Queries is the number of queries and Weight their total weight.
	Queries int     `json:"queries"`
	Weight  float64 `json:"weight"`
}

// RankingMetrics evaluates queries at cut-off k. weights holds one weight per
// query (nil means 1). Except for NDCG, the top K is taken by descending score
// with ties broken by position in the query (a stable sort).
func RankingMetrics(k int, queries []Query, weights []float64) (Ranking, error) {
	a, err := NewRankingAccumulator(k)
	if err != nil {
		return Ranking{}, err
	}
	if weights != nil && len(weights) != len(queries) {
		panic(fmt.Sprintf("eval: len(weights) = %d, want len(queries) = %d", len(weights), len(queries)))
	}
	for i, q := range queries {
		if err := a.AddQuery(q.Scores, q.Relevance, weightAt(weights, i)); err != nil {
			return Ranking{}, fmt.Errorf("query %d: %w", i, err)
		}
	}
	return a.Result()
}

// RankingAccumulator accumulates ranking metrics query by query. It keeps
// O(1) sums plus a scratch buffer as large as the longest query; Merge
// combines accumulators of workers. It is not safe for concurrent use.
type RankingAccumulator struct {
	k                               int
	n                               int
	w, prec, rec, ap, rr, ndcg, hit float64
	order                           []int
	ideal                           []float64
}

// NewRankingAccumulator returns an empty accumulator for cut-off k ≥ 1.
func NewRankingAccumulator(k int) (*RankingAccumulator, error) {
	if k < 1 {
		return nil, fmt.Errorf("ranking cut-off K = %d < 1: %w", k, ErrInvalidConfig)
	}
	return &RankingAccumulator{k: k}, nil
}

// AddQuery adds one query with the given weight. It panics if scores and
// relevance differ in length.
func (a *RankingAccumulator) AddQuery(scores, relevance []float64, weight float64) error {
	checkLen("relevance", len(relevance), len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			return &ValueError{"scores", i, s, ErrNaN}
		}
	}
	nrel := 0
	for i, r := range relevance {
		if math.IsNaN(r) {
			return &ValueError{"relevance", i, r, ErrNaN}
		}
		if r < 0 || math.IsInf(r, 0) {
			return &ValueError{"relevance", i, r, ErrInvalidLabel}
		}
		if r > 0 {
			nrel++
		}
	}
	if err := checkWeight(0, weight); err != nil {
		return err
	}
	a.n++
	a.w += weight
	if nrel == 0 || weight == 0 {
		return nil
	}
	n := len(scores)
	a.order = slices.Grow(a.order[:0], n)[:n]
	for i := range a.order {
		a.order[i] = i
	}
	slices.SortStableFunc(a.order, func(x, y int) int { return cmp.Compare(scores[y], scores[x]) })
	k := min(a.k, n)

	var hits int
	var ap, rr float64
	for rank, i := range a.order[:k] {
		if relevance[i] > 0 {
			hits++
			ap += float64(hits) / float64(rank+1)
			if rr == 0 {
				rr = 1 / float64(rank+1)
			}
		}
	}
	a.prec += weight * float64(hits) / float64(a.k)
	a.rec += weight * float64(hits) / float64(nrel)
	a.ap += weight * ap / float64(min(a.k, nrel))
	a.rr += weight * rr
	if hits > 0 {
		a.hit += weight
	}
	a.ndcg += weight * a.ndcgOf(scores, relevance)
	return nil
}

func discount(rank int) float64 { return 1 / math.Log2(float64(rank)+2) }

// ndcgOf computes tie-averaged NDCG@K; a.order holds the stable descending
// order of scores.
func (a *RankingAccumulator) ndcgOf(scores, relevance []float64) float64 {
	var dcg float64
	for start := 0; start < len(a.order) && start < a.k; {
		end := start + 1
		v := scores[a.order[start]]
		gain := relevance[a.order[start]]
		for end < len(a.order) && scores[a.order[end]] == v {
			gain += relevance[a.order[end]]
			end++
		}
		gain /= float64(end - start)
		var disc float64
		for r := start; r < end && r < a.k; r++ {
			disc += discount(r)
		}
		dcg += gain * disc
		start = end
	}
	a.ideal = append(a.ideal[:0], relevance...)
	slices.SortFunc(a.ideal, func(x, y float64) int { return cmp.Compare(y, x) })
	var idcg float64
	for r, g := range a.ideal[:min(a.k, len(a.ideal))] {
		idcg += g * discount(r)
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Merge adds o's sums into a.
func (a *RankingAccumulator) Merge(o *RankingAccumulator) error {
	if o.k != a.k {
		return fmt.Errorf("merge K=%d into K=%d: %w", o.k, a.k, ErrIncompatible)
	}
	a.n += o.n
	a.w += o.w
	a.prec += o.prec
	a.rec += o.rec
	a.ap += o.ap
	a.rr += o.rr
	a.ndcg += o.ndcg
	a.hit += o.hit
	return nil
}

// Result returns the weighted means so far, or ErrNoData.
func (a *RankingAccumulator) Result() (Ranking, error) {
	if a.w == 0 {
		return Ranking{}, ErrNoData
	}
	return Ranking{
		K:            a.k,
		PrecisionAtK: a.prec / a.w,
		RecallAtK:    a.rec / a.w,
		MAPAtK:       a.ap / a.w,
		MRRAtK:       a.rr / a.w,
		NDCGAtK:      a.ndcg / a.w,
		HitRateAtK:   a.hit / a.w,
		Queries:      a.n,
		Weight:       a.w,
	}, nil
}
