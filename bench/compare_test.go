package bench

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func reportOf(results ...Result) *Report {
	rep := &Report{Version: SchemaVersion, Kind: KindCommand, Results: results}
	rep.finish()
	return rep
}

func TestCompare(t *testing.T) {
	base := []float64{100, 101, 99, 102, 98, 100, 101, 99, 100, 100}
	scaled := func(f float64) []float64 {
		out := make([]float64, len(base))
		for i, v := range base {
			out[i] = v * f
		}
		return out
	}
	tests := []struct {
		name                  string
		better                string
		old, new              []float64
		sig, regress, improve bool
	}{
		{"same", Lower, base, base, false, false, false},
		{"slower-by-10pc", Lower, base, scaled(1.10), true, true, false},
		{"faster-by-10pc", Lower, base, scaled(0.90), true, false, true},
		// Significant but within the 5% threshold: neither.
		{"slower-by-3pc", Lower, base, scaled(1.03), true, false, false},
		{"throughput-down", Higher, base, scaled(0.90), true, true, false},
		{"throughput-up", Higher, base, scaled(1.10), true, false, true},
		// Too few samples to tell, however large the change.
		{"too-few", Lower, []float64{1, 2}, []float64{3, 4}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := reportOf(row1("command", "", "sandbox", "cpu", "ms", tt.better, tt.old))
			n := reportOf(row1("command", "", "sandbox", "cpu", "ms", tt.better, tt.new))
			ds := Compare(o, n, DefaultCompareOptions)
			if len(ds) != 1 {
				t.Fatalf("%d deltas, want 1", len(ds))
			}
			d := ds[0]
			if d.Significant != tt.sig || d.Regression != tt.regress || d.Improvement != tt.improve {
				t.Errorf("significant %v regression %v improvement %v (p=%.4f change %+.3f); want %v %v %v",
					d.Significant, d.Regression, d.Improvement, d.P, d.Change, tt.sig, tt.regress, tt.improve)
			}
		})
	}
}

func TestCompareMissingAndFailed(t *testing.T) {
	ok := func(backend string) Result { return row1("startup", "", backend, "wall", "ms", Lower, spread(3, 10)) }
	failed := ok("crun")
	failed.Status, failed.Error, failed.Samples = StatusFailed, "boom", nil
	o := reportOf(ok("bare"), ok("runc"), ok("crun"))
	n := reportOf(ok("bare"), failed, ok("bwrap"))
	var notes []string
	for _, d := range Compare(o, n, DefaultCompareOptions) {
		notes = append(notes, d.Key+": "+d.Note)
	}
	want := []string{"startup/bare/wall: ", "startup/crun/wall: failed in new: boom", "startup/bwrap/wall: only in new", "startup/runc/wall: only in old"}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
}

func TestWriteCompare(t *testing.T) {
	base := spread(100, 10)
	o := reportOf(row1("command", "", "sandbox", "wall", "ms", Lower, base), row1("command", "", "sandbox", "cpu", "ms", Lower, base))
	slower := make([]float64, len(base))
	for i, v := range base {
		slower[i] = v * 1.2
	}
	n := reportOf(row1("command", "", "sandbox", "wall", "ms", Lower, base), row1("command", "", "sandbox", "cpu", "ms", Lower, slower))
	var b bytes.Buffer
	ds := Compare(o, n, DefaultCompareOptions)
	if err := WriteCompare(&b, ds, DefaultCompareOptions); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.golden", b.String())
	if Regressions(ds) != 1 {
		t.Errorf("%d regressions, want 1", Regressions(ds))
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"5%", 0.05, true}, {"0.05", 0.05, true}, {" 12.5 % ", 0.125, true}, {"0", 0, true},
		{"-1%", 0, false}, {"5x", 0, false}, {"", 0, false}, {"NaN", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseThreshold(tt.in)
		if (err == nil) != tt.ok || abs(got-tt.want) > 1e-12 {
			t.Errorf("ParseThreshold(%q) = %g, %v; want %g, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
