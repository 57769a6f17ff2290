package bench

import (
	"math"
	"sort"
)

// MannWhitneyU tests whether samples x and y come from the same
// distribution, against the two-sided alternative that one tends to be
// larger. It returns U for x (the number of pairs (xi, yj) with xi > yj,
// ties counting one half) and the p-value from the normal approximation
// with a correction for ties and a continuity correction: what SciPy's
// mannwhitneyu(x, y, method="asymptotic") and R's wilcox.test(exact=FALSE)
// compute. The test assumes nothing about the shape of the distributions,
// which is why benchmark comparisons use it (benchstat does too). p is 1
// when either sample is empty or every value is the same.
func MannWhitneyU(x, y []float64) (u, p float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	type obs struct {
		v     float64
		fromX bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })

	// Average ranks over runs of ties; tieSum collects t^3 - t per run.
	n := len(all)
	var r1, tieSum float64
	for i := 0; i < n; {
		j := i
		for j < n && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+1+j) / 2 // mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].fromX {
				r1 += rank
			}
		}
		t := float64(j - i)
		tieSum += t*t*t - t
		i = j
	}
	f1, f2, fn := float64(n1), float64(n2), float64(n)
	u = r1 - f1*(f1+1)/2
	mu := f1 * f2 / 2
	variance := f1 * f2 / 12 * ((fn + 1) - tieSum/(fn*(fn-1)))
	if variance <= 0 {
		return u, 1
	}
	z := (math.Abs(u-mu) - 0.5) / math.Sqrt(variance)
	if z < 0 {
		z = 0
	}
	p = math.Erfc(z / math.Sqrt2)
	return u, math.Min(p, 1)
}
