package bench

import (
	"math"
	"sort"

	"github.com/montanaflynn/stats"
)

// Summary describes a sample. CILow and CIHigh bound a 95% confidence
// interval of the median, distribution-free (from order statistics, as
// benchstat does): run times are skewed and have outliers, so an interval
// of the mean from the normal or t distribution would claim more than it
// knows. With fewer than 6 samples no pair of order statistics covers 95%,
// and the interval is the whole range (CILevel says how much it covers).
type Summary struct {
	N       int     `json:"n"`
	Min     float64 `json:"min"`
	P25     float64 `json:"p25"`
	Median  float64 `json:"median"`
	P75     float64 `json:"p75"`
	P95     float64 `json:"p95"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
	Stddev  float64 `json:"stddev"` // sample standard deviation (n-1)
	CILow   float64 `json:"ci95_low"`
	CIHigh  float64 `json:"ci95_high"`
	CILevel float64 `json:"ci_level"` // the interval's actual coverage, >= 0.95 when N >= 6
}

// Summarize computes the summary of xs, which must not be empty.
func Summarize(xs []float64) Summary {
	d := stats.Float64Data(xs)
	s := Summary{N: len(xs)}
	s.Min, _ = stats.Min(d)
	s.Max, _ = stats.Max(d)
	s.Median, _ = stats.Median(d)
	s.Mean, _ = stats.Mean(d)
	s.P25 = percentile(d, 25)
	s.P75 = percentile(d, 75)
	s.P95 = percentile(d, 95)
	if len(xs) > 1 {
		s.Stddev, _ = stats.StandardDeviationSample(d)
	}
	s.CILow, s.CIHigh, s.CILevel = medianCI(xs, 0.95)
	return s
}

func percentile(d stats.Float64Data, p float64) float64 {
	v, err := stats.Percentile(d, p)
	if err != nil {
		return math.NaN()
	}
	return v
}

// medianCI returns the order statistics x(j) and x(n+1-j) (1-based) with the
// largest j whose interval covers the median with probability >= level:
// P(j <= B <= n-j) for B ~ Binomial(n, 1/2).
func medianCI(xs []float64, level float64) (lo, hi, coverage float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN(), math.NaN(), 0
	}
	pmf := binomialHalf(n)
	// cover(j) = sum_{i=j}^{n-j} pmf[i]; it shrinks as j grows.
	best, bestCov := 0, 1.0
	for j := 1; 2*j <= n; j++ {
		c := 0.0
		for i := j; i <= n-j; i++ {
			c += pmf[i]
		}
		if c < level {
			break
		}
		best, bestCov = j, c
	}
	if best == 0 {
		// No pair of order statistics reaches the level: the whole range,
		// which covers all but the two tails of probability 2^-n each.
		return s[0], s[n-1], 1 - 2*math.Pow(0.5, float64(n))
	}
	return s[best-1], s[n-best], bestCov
}

// binomialHalf returns P(B = i) for B ~ Binomial(n, 1/2), i = 0..n,
// computed in logs so that large n does not overflow.
func binomialHalf(n int) []float64 {
	p := make([]float64, n+1)
	lf := func(k int) float64 { v, _ := math.Lgamma(float64(k + 1)); return v }
	for i := 0; i <= n; i++ {
		p[i] = math.Exp(lf(n) - lf(i) - lf(n-i) - float64(n)*math.Ln2)
	}
	return p
}
