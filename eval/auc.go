package eval

import "math"

// ROCAUC returns the area under the ROC curve of scores against binary labels
// (0 or 1), exactly, with ties counted as half: it is the probability that a
// random positive scores above a random negative, each drawn with probability
// proportional to its weight, a tie counting one half (the Mann–Whitney
// statistic). This equals the trapezoidal area under the full ROC curve, as
// computed by scikit-learn's roc_auc_score, R's ROCR and pROC.
//
// weights may be nil (every weight 1). Scores may be any ordered values,
// including ±Inf. The inputs are left untouched: ROCAUC radix-sorts copies
// of the scores' bits, in O(n) time and 16 bytes per example without
// weights, 32 with. It returns ErrNoData for no examples, ErrOneClass when one class has
// no weight, and a *ValueError for NaN inputs, labels other than 0 and 1, or
// negative or infinite weights. It panics if the slices differ in length.
func ROCAUC(scores, labels, weights []float64) (float64, error) {
	if err := checkBinary(scores, labels, weights); err != nil {
		return 0, err
	}
	if len(scores) == 0 {
		return 0, ErrNoData
	}
	if weights == nil {
		return aucUnweighted(scores, labels)
	}
	return aucWeighted(scores, labels, weights)
}

func aucUnweighted(scores, labels []float64) (float64, error) {
	np := 0
	for _, y := range labels {
		if y == 1 {
			np++
		}
	}
	nn := len(labels) - np
	if np == 0 || nn == 0 {
		return 0, ErrOneClass
	}
	// One allocation: positives' keys, negatives' keys, and scratch.
	buf := make([]uint64, 2*len(scores))
	pos, neg := buf[:0:np], buf[np:np:len(scores)]
	for i, s := range scores {
		if labels[i] == 1 {
			pos = append(pos, sortKey(s))
		} else {
			neg = append(neg, sortKey(s))
		}
	}
	scratch := buf[len(scores):]
	pos, _ = radixSort(pos, scratch[:np], nil, nil)
	neg, _ = radixSort(neg, scratch[np:], nil, nil)
	// Sweep distinct positive scores in ascending order. Counts are integers
	// and halves below 2^53, so the sum is exact.
	var sum float64
	j := 0
	for i := 0; i < len(pos); {
		v := pos[i]
		k := i + 1
		for k < len(pos) && pos[k] == v {
			k++
		}
		for j < len(neg) && neg[j] < v {
			j++
		}
		e := j
		for e < len(neg) && neg[e] == v {
			e++
		}
		sum += float64(k-i) * (float64(j) + 0.5*float64(e-j))
		i = k
	}
	return sum / (float64(np) * float64(nn)), nil
}

func aucWeighted(scores, labels, weights []float64) (float64, error) {
	var np, nn int
	var wp, wn float64
	for i, y := range labels {
		switch w := weights[i]; {
		case w == 0:
		case y == 1:
			np++
			wp += w
		default:
			nn++
			wn += w
		}
	}
	if wp == 0 || wn == 0 {
		return 0, ErrOneClass
	}
	n := np + nn
	keys := make([]uint64, 2*n)
	vals := make([]float64, 2*n)
	pk, nk := keys[:0:np], keys[np:np:n]
	pv, nv := vals[:0:np], vals[np:np:n]
	for i, s := range scores {
		switch w := weights[i]; {
		case w == 0:
		case labels[i] == 1:
			pk, pv = append(pk, sortKey(s)), append(pv, w)
		default:
			nk, nv = append(nk, sortKey(s)), append(nv, w)
		}
	}
	pk, pv = radixSort(pk, keys[n:n+np], pv, vals[n:n+np])
	nk, nv = radixSort(nk, keys[n+np:], nv, vals[n+np:])
	var sum, below float64
	j := 0
	for i := 0; i < len(pk); {
		v := pk[i]
		var gp float64
		for ; i < len(pk) && pk[i] == v; i++ {
			gp += pv[i]
		}
		for ; j < len(nk) && nk[j] < v; j++ {
			below += nv[j]
		}
		var eq float64
		for e := j; e < len(nk) && nk[e] == v; e++ {
			eq += nv[e]
		}
		sum += gp * (below + 0.5*eq)
	}
	return sum / (wp * wn), nil
}

// group is one distinct score with the weight of positives and negatives
// holding it.
type group struct{ score, pos, neg float64 }

// scoreGroups returns the distinct scores in descending order with their
// class weights, and the class totals. Examples of weight zero are dropped.
// It radix-sorts (key, ±weight) pairs: 32 bytes per example, O(n).
func scoreGroups(scores, labels, weights []float64) (gs []group, wp, wn float64) {
	n := 0
	for i := range scores {
		if weightAt(weights, i) != 0 {
			n++
		}
	}
	if n == 0 {
		return nil, 0, 0
	}
	keys := make([]uint64, 2*n)
	vals := make([]float64, 2*n) // +w for a positive, −w for a negative
	k, v := keys[:0:n], vals[:0:n]
	for i, s := range scores {
		w := weightAt(weights, i)
		if w == 0 {
			continue
		}
		if labels[i] != 1 {
			w = -w
		}
		k, v = append(k, sortKey(s)), append(v, w)
	}
	k, v = radixSort(k, keys[n:], v, vals[n:])
	for i := n - 1; i >= 0; i-- {
		if len(gs) == 0 || k[i] != k[i+1] {
			gs = append(gs, group{score: fromSortKey(k[i])})
		}
		g := &gs[len(gs)-1]
		if w := v[i]; w > 0 {
			g.pos += w
			wp += w
		} else {
			g.neg -= w
			wn -= w
		}
	}
	return gs, wp, wn
}

// fromSortKey inverts sortKey (−0 comes back as +0).
func fromSortKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}
