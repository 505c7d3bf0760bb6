package eval

import (
	"cmp"
	"fmt"
	"slices"
)

// GroupAUC holds the grouped (per-user) ROC AUC.
type GroupAUC struct {
	// AUC is Σ_g W_g AUC_g / Σ_g W_g over the groups that hold both classes,
	// where W_g is the total sample weight of group g (its impression count
	// when unweighted) — the GAUC of Zhou et al. 2018 (Deep Interest Network).
	AUC float64 `json:"auc"`
	// Groups is the number of groups used; Skipped the number holding one
	// class only, whose AUC is undefined.
	Groups  int `json:"groups"`
	Skipped int `json:"skipped"`
}

// GroupedAUC computes the exact tie-aware ROC AUC (see ROCAUC) within each
// group of examples sharing a key, and their weighted mean. It sorts copies:
// 32 bytes per example. It returns ErrOneClass when no group holds both
// classes.
func GroupedAUC(groups []int64, scores, labels, weights []float64) (GroupAUC, error) {
	checkLen("groups", len(groups), len(scores))
	if err := checkBinary(scores, labels, weights); err != nil {
		return GroupAUC{}, err
	}
	if len(scores) == 0 {
		return GroupAUC{}, ErrNoData
	}
	type row struct {
		g    int64
		s, w float64
		pos  bool
	}
	rows := make([]row, len(scores))
	for i := range rows {
		rows[i] = row{groups[i], scores[i], weightAt(weights, i), labels[i] == 1}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(a.g, b.g); c != 0 {
			return c
		}
		return cmp.Compare(a.s, b.s)
	})
	var r GroupAUC
	var num, den float64
	for start := 0; start < len(rows); {
		end := start
		for end < len(rows) && rows[end].g == rows[start].g {
			end++
		}
		// rows[start:end] is one group in ascending score order.
		var wp, wn, sum, below float64
		for i := start; i < end; {
			v := rows[i].s
			var gp, gn float64
			for ; i < end && rows[i].s == v; i++ {
				if rows[i].pos {
					gp += rows[i].w
				} else {
					gn += rows[i].w
				}
			}
			sum += gp * (below + 0.5*gn)
			below += gn
			wp += gp
			wn += gn
		}
		if wp > 0 && wn > 0 {
			num += (wp + wn) * sum / (wp * wn)
			den += wp + wn
			r.Groups++
		} else {
			r.Skipped++
		}
		start = end
	}
	if r.Groups == 0 {
		return r, fmt.Errorf("grouped AUC over %d groups: %w", r.Skipped, ErrOneClass)
	}
	r.AUC = num / den
	return r, nil
}
