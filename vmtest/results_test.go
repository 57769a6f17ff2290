package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	plan := []Suite{
		{Name: "limits", Excluded: []Exclusion{{Test: "TestSlow/sub", Reason: "too slow"}}},
		{Name: "cli"},
		{Name: "never"},
	}
	stream := strings.Join([]string{
		"boot noise",
		"@@vmtest kernel 6.1.0-57-amd64",
		"@@vmtest cgroup 2",
		"@@vmtest feature openat2 (Linux 5.6): present, used (x)",
		"@@vmtest begin limits",
		"=== RUN   TestA",
		"--- PASS: TestA (0.00s)",
		"=== RUN   TestV1Real",
		"    real_linux_test.go:180: real cgroup v1 test: this host's mode is unified",
		"--- SKIP: TestV1Real (0.01s)",
		"=== RUN   TestB",
		"=== RUN   TestB/one",
		"    b_test.go:9: some log",
		"=== RUN   TestB/two",
		"        b_test.go:12: no such tool",
		"=== NAME  TestB",
		"    b_test.go:20: it broke",
		"--- FAIL: TestB (1.00s)",
		"    --- PASS: TestB/one (0.10s)",
		"    --- SKIP: TestB/two (0.00s)",
		"FAIL",
		"@@vmtest end limits 1 12.5",
		"@@vmtest begin cli",
		"=== RUN   TestC",
		"--- PASS: TestC (0.00s)",
		"panic: boom",
		"@@vmtest end cli 2 3.0",
		"@@vmtest done",
	}, "\r\n") + "\r\n"
	r := Parse(strings.NewReader(stream), plan)
	if r.Kernel != "6.1.0-57-amd64" || r.Cgroup != "2" || !r.Done || len(r.Features) != 1 {
		t.Errorf("header: %q %q %v %q", r.Kernel, r.Cgroup, r.Done, r.Features)
	}
	want := []SuiteResult{
		{Name: "limits", Passed: 2, Failed: 1, Skipped: 3, ExitCode: 1, Seconds: 12.5},
		{Name: "cli", Passed: 1, Failed: 1, ExitCode: 2, Seconds: 3},
		{Name: "never", Failed: 1, ExitCode: -1},
	}
	if diff := cmp.Diff(want, r.Suites); diff != "" {
		t.Errorf("suites (-want +got):\n%s", diff)
	}
	var skips, fails []string
	for _, o := range r.Outcomes {
		switch o.Result {
		case "SKIP":
			skips = append(skips, o.Test+": "+o.Reason)
		case "FAIL":
			fails = append(fails, o.Suite+" "+o.Test)
		}
	}
	wantSkips := []string{
		"TestSlow/sub: not run in the VM: too slow",
		"TestV1Real: real cgroup v1 test: this host's mode is unified",
		"TestB/two: no such tool",
	}
	if diff := cmp.Diff(wantSkips, skips); diff != "" {
		t.Errorf("skips (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"limits TestB", "cli (suite)", "never (suite)"}, fails); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if got, want := r.Summary("x", "y"), "vmtest: linux 6.1.0-57-amd64 cgroup2: 3 passed, 3 failed, 3 skipped"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestParseGuestDied(t *testing.T) {
	r := Parse(strings.NewReader("@@vmtest begin limits\n=== RUN   TestA\n"), []Suite{{Name: "limits"}})
	if r.Done || len(r.Suites) != 1 || r.Suites[0].Failed != 1 {
		t.Errorf("a suite cut short: %+v", r)
	}
	if got := r.Summary("6.12.1", "2"); got != "vmtest: linux 6.12.1 cgroup2: 0 passed, 1 failed, 0 skipped" {
		t.Errorf("Summary without a kernel line = %q", got)
	}
}

func TestParseTimeout(t *testing.T) {
	// -test.timeout: a failed test earlier, then the panic (exit 2).
	stream := "@@vmtest begin sandbox\n--- FAIL: TestA (0.10s)\npanic: test timed out after 10m0s\n@@vmtest end sandbox 2 600.0\n@@vmtest done\n"
	r := Parse(strings.NewReader(stream), []Suite{{Name: "sandbox"}})
	if got := r.Suites[0].Failed; got != 2 {
		t.Errorf("a failed test and a timed-out binary: %d failures, want 2", got)
	}
}

func TestSuiteArgs(t *testing.T) {
	s := Suite{Run: "^TestX$", Elsewhere: []string{"TestHostile"}, Excluded: []Exclusion{{Test: "TestTimeLimits/wall_time"}, {Test: "TestSoak"}}}
	want := []string{"-test.v", "-test.count=1", "-test.timeout=0s", "-test.run", "^TestX$",
		"-test.skip", "^TestHostile$|^TestTimeLimits$/^wall_time$|^TestSoak$"}
	if diff := cmp.Diff(want, s.args()); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}

func TestTable(t *testing.T) {
	reps := []*Report{
		{Kernel: "6.12.117+deb12-amd64", Cgroup: "2", Suites: []SuiteResult{{Name: "limits", Passed: 5}}},
		{Kernel: "6.1.0-57-amd64", Cgroup: "2", Suites: []SuiteResult{{Name: "limits", Passed: 4, Skipped: 1}}},
	}
	want := "| kernel | cgroup | suite | passed | failed | skipped |\n|---|---|---|---:|---:|---:|\n" +
		"| 6.1.0-57-amd64 | v2 | limits | 4 | 0 | 1 |\n| 6.12.117+deb12-amd64 | v2 | limits | 5 | 0 | 0 |\n"
	if diff := cmp.Diff(want, Table(reps)); diff != "" {
		t.Errorf("Table (-want +got):\n%s", diff)
	}
}
