package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/bench"
)

func TestBenchHelpAndErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"bench-help", []string{"bench", "--help"}, 0},
		{"bench-compare-help", []string{"bench", "compare", "--help"}, 0},
		{"bench-bad-scenario", []string{"bench", "-s", "startup,boot"}, 125},
		{"bench-save-without-command", []string{"bench", "--save", "main"}, 125},
		{"bench-exec-flag-without-command", []string{"bench", "--memory", "64M"}, 125},
		{"bench-suite-flag-with-command", []string{"bench", "--smoke", "--", "true"}, 125},
		{"bench-bad-threshold", []string{"bench", "--threshold", "5x", "--", "true"}, 125},
		{"bench-bad-baseline-name", []string{"bench", "--save", "a b", "--", "true"}, 125},
		{"bench-missing-baseline", []string{"bench", "--baseline-dir", "/nonexistent", "--against", "main", "--", "true"}, 125},
		{"bench-compare-one-file", []string{"bench", "compare", "old.json"}, 125},
		{"bench-compare-missing-file", []string{"bench", "compare", "/nonexistent/a.json", "/nonexistent/b.json"}, 125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", tt.args...)
			if got.Exit != tt.exit {
				t.Errorf("sandbox %q: exit %d, want %d (stderr %q)", tt.args, got.Exit, tt.exit, got.Stderr)
			}
			golden(t, tt.name, "stdout:\n"+got.Stdout+"stderr:\n"+got.Stderr)
		})
	}
}

// writeReport writes a command report whose cpu samples are around cpu.
func writeReport(t *testing.T, path string, cpu float64) {
	t.Helper()
	var samples []float64
	for i := 0; i < 10; i++ {
		samples = append(samples, cpu*(1+0.01*float64(i%5-2)))
	}
	rep := bench.Report{Version: bench.SchemaVersion, Kind: bench.KindCommand, Started: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		Results: []bench.Result{{Scenario: "command", Backend: "sandbox", Metric: "cpu", Unit: "ms", Better: bench.Lower, Status: bench.StatusOK, Samples: samples}}}
	if err := rep.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestBenchCompare(t *testing.T) {
	dir := t.TempDir()
	old, same, slow := filepath.Join(dir, "old.json"), filepath.Join(dir, "same.json"), filepath.Join(dir, "slow.json")
	writeReport(t, old, 100)
	writeReport(t, same, 100)
	writeReport(t, slow, 130)
	if got := runSandbox(t, "", "bench", "compare", old, same); got.Exit != 0 || !strings.Contains(got.Stdout, "~") {
		t.Errorf("same numbers: exit %d, stdout %q; want 0 and ~", got.Exit, got.Stdout)
	}
	got := runSandbox(t, "", "bench", "compare", old, slow)
	if got.Exit != 1 || !strings.Contains(got.Stdout, "+30.00%") || !strings.Contains(got.Stdout, "REGRESSION") {
		t.Errorf("30%% slower: exit %d, stdout %q; want 1 and the regression", got.Exit, got.Stdout)
	}
	if got := runSandbox(t, "", "bench", "compare", "--threshold", "50%", old, slow); got.Exit != 0 {
		t.Errorf("30%% slower with a 50%% threshold: exit %d, want 0", got.Exit)
	}
	got = runSandbox(t, "", "bench", "compare", "--json", "-", old, slow)
	var ds []bench.Delta
	if err := json.Unmarshal([]byte(got.Stdout), &ds); err != nil || len(ds) != 1 || !ds[0].Regression {
		t.Errorf("--json -: %v, %+v", err, ds)
	}
}

// A command timed, saved as a baseline, and timed again against it.
func TestBenchCommand(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "baselines")
	report := filepath.Join(dir, "run.json")
	got := runSandbox(t, "", "bench", "-n", "3", "-q", "--baseline-dir", base, "--save", "main", "--json", report, "-e", "X=1",
		"--", "sh", "-c", "test \"$X\" = 1")
	if got.Exit != 0 {
		t.Fatalf("exit %d: %s", got.Exit, got.Stderr)
	}
	for _, want := range []string{"command", "cpu (ms)", "memory_peak (MiB)"} {
		if !strings.Contains(got.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, got.Stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "main.json")); err != nil {
		t.Errorf("baseline not saved: %v", err)
	}
	rep, err := bench.ReadReport(report)
	if err != nil || len(rep.Results) != 5 || len(rep.Results[0].Samples) != 3 {
		t.Fatalf("--json report: %v", err)
	}
	// Wall times of a millisecond command vary far more than 5%: the test
	// wants the comparison, not a verdict on this machine's noise.
	got = runSandbox(t, "", "bench", "-n", "3", "-q", "--baseline-dir", base, "--against", "main", "--threshold", "10000%", "-e", "X=1",
		"--", "sh", "-c", "test \"$X\" = 1")
	if got.Exit != 0 || !strings.Contains(got.Stdout, "Against baseline main") {
		t.Errorf("--against: exit %d, stdout %q, stderr %q", got.Exit, got.Stdout, got.Stderr)
	}
	got = runSandbox(t, "", "bench", "-n", "2", "-q", "--", "sh", "-c", "exit 3")
	if got.Exit != 125 || !strings.Contains(got.Stderr, "status RE (exit status 3)") {
		t.Errorf("failing command: exit %d, stderr %q", got.Exit, got.Stderr)
	}
}

// A small suite through the CLI: the sandbox backend runs this binary.
func TestBenchSuite(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	files := map[string]string{"json": "b.json", "markdown": "b.md", "chart": "b.svg"}
	args := []string{"bench", "-s", "startup,limits", "--backend", "bare,sandbox", "-n", "2", "--warmup", "1", "-q",
		"--tmp", dir, "--cgroup-root", cgroupRoot + "-bench"}
	for flag, name := range files {
		args = append(args, "--"+flag, filepath.Join(dir, name))
	}
	got := runSandbox(t, "", args...)
	if got.Exit != 0 {
		t.Fatalf("exit %d: %s", got.Exit, got.Stderr)
	}
	rep, err := bench.ReadReport(filepath.Join(dir, "b.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"startup/bare/wall", "startup/sandbox/wall", "limits/cpu-time/sandbox/overshoot", "limits/wall-time/sandbox/overshoot"} {
		var r *bench.Result
		for i := range rep.Results {
			if rep.Results[i].Key() == key {
				r = &rep.Results[i]
			}
		}
		if r == nil || !r.OK() || len(r.Samples) != 2 {
			t.Errorf("%s: %+v, want ok with 2 samples", key, r)
		}
	}
	for _, name := range files {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.Contains(got.Stdout, "Targets:") || !strings.Contains(got.Stdout, "startup vs bare") {
		t.Errorf("table without targets:\n%s", got.Stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(files) {
		t.Errorf("left in --tmp: %v", entries)
	}
}
