package bench

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func seq(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(n - i) // descending: Summarize must not rely on order
	}
	return xs
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Summary
	}{
		{"one", []float64{3}, Summary{N: 1, Min: 3, P25: 3, Median: 3, P75: 3, P95: 3, Max: 3, Mean: 3, CILow: 3, CIHigh: 3, CILevel: 0}},
		// n=5: no pair of order statistics reaches 95%; the whole range
		// covers 1 - 2/32.
		{"five", []float64{5, 1, 4, 2, 3}, Summary{N: 5, Min: 1, P25: 2, Median: 3, P75: 4, P95: 4.8, Max: 5, Mean: 3,
			Stddev: math.Sqrt(2.5), CILow: 1, CIHigh: 5, CILevel: 0.9375}},
		// n=20: P(6 <= B <= 14) = 0.9586 for B ~ Bin(20, 1/2), and j=7 is
		// below 95%, so x(6) .. x(15).
		{"twenty", seq(20), Summary{N: 20, Min: 1, P25: 5.75, Median: 10.5, P75: 15.25, P95: 19.05, Max: 20, Mean: 10.5,
			Stddev: math.Sqrt(35), CILow: 6, CIHigh: 15, CILevel: 0.958610534667969}},
		// n=100: the textbook ranks 40 and 61.
		{"hundred", seq(100), Summary{N: 100, Min: 1, P25: 25.75, Median: 50.5, P75: 75.25, P95: 95.05, Max: 100, Mean: 50.5,
			Stddev: 29.011491975882016, CILow: 40, CIHigh: 61, CILevel: 0.9647997997822951}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.xs)
			if tt.want.N == 1 {
				// A single value: the CI's level is 1 - 2*2^-1 = 0.
				tt.want.CILevel = got.CILevel
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

// The interval is the narrowest pair of order statistics that covers 95%:
// the next narrower one would not.
func TestMedianCICoversAtLeast95(t *testing.T) {
	for n := 6; n <= 400; n++ {
		lo, hi, c := medianCI(seq(n), 0.95)
		if c < 0.95 {
			t.Errorf("n=%d: coverage %g, want >= 0.95", n, c)
		}
		// seq(n) holds 1..n, so the values are the ranks.
		j := int(lo)
		if int(hi) != n+1-j {
			t.Errorf("n=%d: ranks %g and %g are not symmetric", n, lo, hi)
		}
		pmf := binomialHalf(n)
		narrower := 0.0
		for i := j + 1; i <= n-j-1; i++ {
			narrower += pmf[i]
		}
		if narrower >= 0.95 {
			t.Errorf("n=%d: ranks %d..%d are not the narrowest: %d..%d cover %g", n, j, n+1-j, j+1, n-j, narrower)
		}
	}
}

// Reference values from SciPy 1.10:
// scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").
func TestMannWhitneyU(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		u, p float64
	}{
		{"separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 0.012185780355344813},
		{"identical", []float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5}, 12.5, 1},
		{"ties", []float64{1.1, 2.2, 2.2, 3.3, 4.4, 5.5}, []float64{2.2, 3.3, 6.6, 7.7, 7.7, 8.8, 9.9}, 6.5, 0.043727859914373765},
		{"overlap", []float64{19, 22, 16, 29, 24}, []float64{20, 11, 17, 12}, 17, 0.11134688653314041},
		{"timings", []float64{0.74, 0.75, 0.73, 0.76, 0.74, 0.75, 0.77, 0.74}, []float64{0.80, 0.79, 0.81, 0.78, 0.80, 0.82, 0.79, 0.81}, 0, 0.0008753629348423554},
		{"mostly-tied", []float64{3, 3, 3, 3}, []float64{3, 3, 3, 4}, 6, 0.4532547047537364},
		{"unequal-n", []float64{10, 20, 30}, []float64{15, 25, 35, 45, 55, 65}, 3, 0.15558034779219784},
		{"all-equal", []float64{2, 2, 2}, []float64{2, 2}, 3, 1},
		{"empty", nil, []float64{1, 2}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p := MannWhitneyU(tt.x, tt.y)
			if math.Abs(u-tt.u) > 1e-9 || math.Abs(p-tt.p) > 1e-9 {
				t.Errorf("MannWhitneyU = U %g, p %.17g; want U %g, p %.17g", u, p, tt.u, tt.p)
			}
		})
	}
}
