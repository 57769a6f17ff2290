package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/NAME (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (go test -update writes it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// spread returns n samples around median m, deterministic.
func spread(m float64, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = m * (1 + 0.02*float64(i%5-2))
	}
	return xs
}

func row1(scenario, group, backend, metric, unit, better string, samples []float64) Result {
	r := result(scenario, group, backend, metric, unit, better)
	r.Samples = samples
	return *r
}

// sampleReport is a small suite report with every kind of row.
func sampleReport() *Report {
	rep := &Report{
		Version: SchemaVersion, Kind: KindSuite, Started: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), DurationS: 420,
		Host: Host{Kernel: "6.1.0", CgroupMode: "hybrid", CPUs: 2, CPUModel: "Test CPU", MemoryBytes: 24 << 30,
			Accelerator: "tcg", Filesystem: "ext4", GoVersion: "go1.26"},
		Method: Method{Warmup: 2, BudgetS: 360, MinN: 5, MaxN: 300, Interleaved: true},
	}
	st := func(backend string, m float64) Result {
		r := row1(ScenarioStartup, "", backend, "wall", "ms", Lower, spread(m, 10))
		r.Bare, r.Sandbox = bBare, bSandbox
		return r
	}
	rep.Results = append(rep.Results, st(bBare, 0.8), st(bSandbox, 3), st(bBwrap, 4), st(bRunc, 20),
		st(bCrun+"-no-cgroup2", 7), st(bVM+"-tcg", 4300))
	crun := result(ScenarioStartup, "", bCrun, "wall", "ms", Lower)
	crun.Status, crun.Error = StatusFailed, "crun: exit status 1: cgroups in hybrid mode not supported"
	pod := result(ScenarioStartup, "", "podman-runc", "wall", "ms", Lower)
	pod.Status, pod.Error = StatusSkipped, "podman: not installed (Debian package podman; make bench-deps)"
	rep.Results = append(rep.Results, *crun, *pod)
	tp := row1(ScenarioThroughput, "c=2", bSandbox, "rate", "1/s", Higher, spread(350, 5))
	tp.Bare, tp.Sandbox = bBare, bSandbox
	tpb := row1(ScenarioThroughput, "c=2", bBwrap, "rate", "1/s", Higher, spread(400, 5))
	tpb.Bare, tpb.Sandbox = bBare, bSandbox
	rep.Results = append(rep.Results, tp, tpb)
	// The hot path's rows: CPU per run beside the wall time, and the API.
	for _, c := range []struct {
		backend, metric string
		m               float64
	}{{bSandbox, "cpu", 6}, {bBwrap, "cpu", 3}, {bAPI, "wall", 2}} {
		r := row1(ScenarioStartup, "", c.backend, c.metric, "ms", Lower, spread(c.m, 10))
		r.Bare, r.Sandbox = bBare, bSandbox
		rep.Results = append(rep.Results, r)
	}
	for _, g := range []struct {
		size      string
		snap, cpa float64
	}{{"100MB", 1.2, 3300}, {"1GB", 1.3, 7700}} {
		a := row1(ScenarioClone, g.size, bSnapshot, "wall", "ms", Lower, spread(g.snap, 6))
		b := row1(ScenarioClone, g.size, bCp, "wall", "ms", Lower, spread(g.cpa, 3))
		a.Bare, a.Sandbox, b.Bare, b.Sandbox = bCp, bSnapshot, bCp, bSnapshot
		rep.Results = append(rep.Results, a, b)
	}
	for _, io := range []struct {
		group, metric, unit string
		host, upper, bind   float64
	}{{IOSeqWrite, "throughput", "MiB/s", 1000, 980, 900}, {IORandRW, "iops", "IOPS", 25000, 24000, 25500}} {
		h := row1(ScenarioIO, io.group, bHostDisk, io.metric, io.unit, Higher, spread(io.host, 5))
		u := row1(ScenarioIO, io.group, bUpperDisk, io.metric, io.unit, Higher, spread(io.upper, 5))
		b := row1(ScenarioIO, io.group, bBind, io.metric, io.unit, Higher, spread(io.bind, 5))
		u.Bare, b.Bare = bHostDisk, bHostDisk
		rep.Results = append(rep.Results, h, u, b)
	}
	rep.Results = append(rep.Results, row1(ScenarioMemory, "", bSandbox, "pss", "MiB", Lower, spread(3.5, 100)))
	rep.Results = append(rep.Results,
		row1(ScenarioLimits, "cpu-time", bSandbox, "overshoot", "ms", Lower, []float64{1, 2, 3, -1, 2, 4}),
		row1(ScenarioLimits, "wall-time", bSandbox, "overshoot", "ms", Lower, []float64{5, 6, 12, 14, 6, 30}))
	rep.Notes = []string{"KVM not used: the kvm guest did not power off within 10s (it hangs on this host)"}
	rep.finish()
	rep.Targets = EvaluateTargets(rep)
	return rep
}

func TestReportRoundTrip(t *testing.T) {
	rep := sampleReport()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, got); diff != "" {
		t.Errorf("report after a JSON round trip (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left beside the report: %v", entries)
	}
}

func TestReadReportErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json": "not json",
		"v99.json":     `{"version": 99, "kind": "suite"}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o644)
		if _, err := ReadReport(path); !errors.Is(err, ErrBadReport) {
			t.Errorf("ReadReport(%s): %v, want ErrBadReport", name, err)
		}
	}
}

func TestRatios(t *testing.T) {
	rep := sampleReport()
	tests := []struct {
		scenario, group, backend, metric string
		bare, sandbox                    float64
	}{
		{ScenarioStartup, "", bBwrap, "wall", 5, 4.0 / 3},
		{ScenarioStartup, "", bSandbox, "wall", 3.75, 1},
		// spread's medians: 0.98 of m for 3 samples, 0.99 of m for 6.
		{ScenarioClone, "1GB", bCp, "wall", 1, (7700 * 0.98) / (1.3 * 0.99)},
		{ScenarioIO, IOSeqWrite, bUpperDisk, "throughput", 0.98, 0},
	}
	for _, tt := range tests {
		r := rep.Find(tt.scenario, tt.group, tt.backend, tt.metric)
		got := func(p *float64) float64 {
			if p == nil {
				return 0
			}
			return *p
		}
		if b, s := got(r.RatioToBare), got(r.RatioToSandbox); abs(b-tt.bare) > 1e-9 || abs(s-tt.sandbox) > 1e-9 {
			t.Errorf("%s: ratios %g to bare, %g to sandbox; want %g, %g", r.Key(), b, s, tt.bare, tt.sandbox)
		}
	}
}

func TestTargets(t *testing.T) {
	var b strings.Builder
	for _, tg := range sampleReport().Targets {
		got := tg.Got
		if tg.Met == nil {
			got = tg.Why
		}
		b.WriteString(tg.Status() + "\t" + tg.Name + "\t" + got + "\n")
	}
	golden(t, "targets.golden", b.String())
}

func TestWriteTableAndMarkdown(t *testing.T) {
	rep := sampleReport()
	var tb, md bytes.Buffer
	if err := WriteTable(&tb, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", tb.String())
	golden(t, "markdown.golden", md.String())
}

func TestWriteFactsDuration(t *testing.T) {
	for _, tt := range []struct {
		s    float64
		want string
	}{{0.14, "; 0.1 s in all."}, {9.96, "; 10.0 s in all."}, {441.3, "; 441 s in all."}} {
		rep := sampleReport()
		rep.DurationS = tt.s
		var b bytes.Buffer
		writeFacts(&b, rep, "")
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("%v s: %q, want it to hold %q", tt.s, b.String(), tt.want)
		}
	}
}

// The chart is well-formed XML with one panel per scenario and metric,
// and the failed and skipped backends keep their rows.
func TestWriteSVG(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := WriteSVG(&b, rep); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var texts []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(cd)) != "" {
			texts = append(texts, string(cd))
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"startup — wall", "throughput — rate", "clone — wall", "io — throughput", "io — iops",
		"memory — pss", "limits — overshoot", "failed: crun: exit status 1", "skipped: podman: not installed", "log scale", "linear scale"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestScale(t *testing.T) {
	rows := []*Result{{Status: StatusOK, Summary: &Summary{Min: 0.8, Median: 3, P95: 4300}}}
	s := newScale(rows)
	if !s.log || s.lo != -1 || s.hi != 4 {
		t.Errorf("scale of 0.8..4300: %+v, want log from 10^-1 to 10^4", s)
	}
	if x0, x1 := s.x(0.1), s.x(10000); x0 != plotX || x1 != plotX+plotW {
		t.Errorf("ends of the scale at %g and %g, want %d and %d", x0, x1, plotX, plotX+plotW)
	}
	rows[0].Summary = &Summary{Min: -2, Median: 3, P95: 14}
	if s := newScale(rows); s.log || s.lo > -2 || s.hi < 14 {
		t.Errorf("scale of -2..14: %+v, want linear covering it", s)
	}
}
