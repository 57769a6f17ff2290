package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// CompareOptions tune Compare.
type CompareOptions struct {
	// Alpha is the significance level of the Mann-Whitney U test: a change
	// with p >= Alpha is reported as "~" (no significant change).
	Alpha float64
	// Threshold is the relative change of the median, in the metric's
	// worse direction, beyond which a significant change is a regression
	// (0.05 = 5%).
	Threshold float64
}

// DefaultCompareOptions are benchstat's alpha and a 5% threshold.
var DefaultCompareOptions = CompareOptions{Alpha: 0.05, Threshold: 0.05}

// Delta is how one metric changed between two reports.
type Delta struct {
	Key    string `json:"key"`
	Unit   string `json:"unit"`
	Better string `json:"better"`
	// OldMedian and NewMedian are the medians; OldN and NewN the samples.
	OldMedian float64 `json:"old_median"`
	NewMedian float64 `json:"new_median"`
	OldN      int     `json:"old_n"`
	NewN      int     `json:"new_n"`
	// Change is (new - old) / old of the medians.
	Change float64 `json:"change"`
	// P is the Mann-Whitney U test's two-sided p-value.
	P float64 `json:"p"`
	// Significant: P < Alpha. Regression: significant, in the worse
	// direction and beyond the threshold; Improvement likewise the other way.
	Significant bool `json:"significant"`
	Regression  bool `json:"regression"`
	Improvement bool `json:"improvement"`
	// Note is set when the metric is not in both reports with numbers.
	Note string `json:"note,omitempty"`
}

// Compare compares every metric of new with the same metric of old, in
// new's order (then metrics only old has).
func Compare(old, new *Report, opts CompareOptions) []Delta {
	var ds []Delta
	seen := map[string]bool{}
	for i := range new.Results {
		n := &new.Results[i]
		key := n.Key()
		seen[key] = true
		o := old.Find(n.Scenario, n.Group, n.Backend, n.Metric)
		d := Delta{Key: key, Unit: n.Unit, Better: n.Better}
		switch {
		case o == nil:
			d.Note = "only in new"
		case !o.OK() && !n.OK():
			d.Note = fmt.Sprintf("%s in both", n.Status)
		case !o.OK():
			d.Note = fmt.Sprintf("%s in old", o.Status)
		case !n.OK():
			d.Note = fmt.Sprintf("%s in new: %s", n.Status, n.Error)
		default:
			d = compareResults(o, n, opts)
		}
		ds = append(ds, d)
	}
	for i := range old.Results {
		o := &old.Results[i]
		if !seen[o.Key()] {
			ds = append(ds, Delta{Key: o.Key(), Unit: o.Unit, Better: o.Better, Note: "only in old"})
		}
	}
	return ds
}

func compareResults(o, n *Result, opts CompareOptions) Delta {
	d := Delta{Key: n.Key(), Unit: n.Unit, Better: n.Better,
		OldMedian: o.Summary.Median, NewMedian: n.Summary.Median, OldN: len(o.Samples), NewN: len(n.Samples)}
	if d.OldMedian != 0 {
		d.Change = (d.NewMedian - d.OldMedian) / abs(d.OldMedian)
	}
	_, d.P = MannWhitneyU(o.Samples, n.Samples)
	d.Significant = d.P < opts.Alpha
	worse := d.Change
	if n.Better == Higher {
		worse = -d.Change
	}
	d.Regression = d.Significant && worse > opts.Threshold
	d.Improvement = d.Significant && -worse > opts.Threshold
	return d
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Regressions counts the deltas that are regressions.
func Regressions(ds []Delta) int {
	n := 0
	for _, d := range ds {
		if d.Regression {
			n++
		}
	}
	return n
}

// WriteCompare writes the deltas as benchstat does: old and new medians,
// the change, or "~" when it is not significant, and the p-value and
// sample counts.
func WriteCompare(w io.Writer, ds []Delta, opts CompareOptions) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\told\tnew\tdelta\t")
	for _, d := range ds {
		if d.Note != "" {
			fmt.Fprintf(tw, "%s\t\t\t%s\t\n", d.Key, d.Note)
			continue
		}
		delta := "~"
		if d.Significant {
			delta = fmt.Sprintf("%+.2f%%", 100*d.Change)
		}
		mark := ""
		switch {
		case d.Regression:
			mark = "  REGRESSION"
		case d.Improvement:
			mark = "  improved"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s %s\t%s\t(p=%.3f n=%d+%d)%s\n", d.Key, fmtNum(d.OldMedian), d.Unit,
			fmtNum(d.NewMedian), d.Unit, delta, d.P, d.OldN, d.NewN, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := Regressions(ds); n > 0 {
		fmt.Fprintf(w, "\n%d %s beyond the %.3g%% threshold (alpha %.3g).\n", n, plural(n, "regression", "regressions"),
			100*opts.Threshold, opts.Alpha)
	} else {
		fmt.Fprintf(w, "\nNo regression beyond the %.3g%% threshold (alpha %.3g).\n", 100*opts.Threshold, opts.Alpha)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ParseThreshold reads a threshold as "5%" or "0.05".
func ParseThreshold(s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, div = strings.TrimSpace(p), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	v /= div
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: threshold %q: want a percentage (5%%) or a fraction (0.05)", ErrInvalid, s)
	}
	return v, nil
}
