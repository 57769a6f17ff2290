package main

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	guestDir     = "/vmtest"   // on the guest's disk: the payload
	resultMarker = "@@vmtest " // frames the results port's stream
	consoleMark  = "vmtest-guest: "
)

// Suite is one test binary run in a guest: plain data, written by the host
// into the guest's plan and run there by the guest's runner.
type Suite struct {
	Name    string `json:"name"`    // as in the summary and the docs table
	Package string `json:"package"` // directory below the module root; the test's working directory
	Run     string `json:"run"`     // -test.run, "" for all
	// Short runs with -test.short: the package's own lighter variants
	// (TestNothingLeaks with 40 runs instead of 200; the soak skipped).
	Short bool `json:"short"`
	// Elsewhere are top-level tests another suite runs (not counted here).
	Elsewhere []string `json:"elsewhere"`
	// Excluded are tests not run in a guest, each with the reason; they
	// count as skipped, and their reasons are in the log like any skip's.
	Excluded []Exclusion `json:"excluded"`
	Timeout  Duration    `json:"timeout"` // the whole binary's, in the guest's time
	// Count is -test.count (0: 1): vmtest -count runs a flaky test again
	// and again in one boot, which is how one seen failing once is chased.
	Count int `json:"count,omitempty"`
}

// Exclusion is a test (a -test.skip pattern element) and why it is not run.
type Exclusion struct {
	Test   string `json:"test"`
	Reason string `json:"reason"`
}

// Duration is a time.Duration that reads and writes as text in JSON.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Under TCG a guest runs about ten times slower than the host, and `make
// test` as a whole must stay under 20 minutes on 2 cores with two kernels
// booted. What is left out is either covered on the host already with
// nothing cgroup- or kernel-specific about it, or measures wall-clock
// bounds that emulation stretches.
const (
	whyBench = "`sandbox bench`'s harness (fixtures, statistics, reports; 130 s under TCG): nothing in it depends on the kernel or the cgroup mode beyond the runs the sandbox, hostile and exec tests make; the host's `make test` and `make bench-smoke` run it"
)

// suites is what every guest runs, in order: the limits package's real
// tests first (the cgroup code itself), then the sandbox package, the
// hostile suite, and the CLI.
var suites = []Suite{
	{
		Name: "limits", Package: "limits",
		Timeout: Duration(5 * time.Minute),
	},
	{
		// -short: TestNothingLeaks makes 40 runs, not 200 (280 s under
		// TCG); the same leak checks over runs that fail and are killed.
		Name: "sandbox", Package: "sandbox", Short: true,
		Elsewhere: []string{"TestHostile", "TestRootless"},
		Excluded: []Exclusion{
			{Test: "TestSoak", Reason: "hundreds of runs even with -short (over 2 minutes under TCG), for leaks TestNothingLeaks checks in the guest with 40; the host's `make test` makes 2000 and `make soak` 11000"},
		},
		Timeout: Duration(12 * time.Minute),
	},
	{
		Name: "hostile", Package: "sandbox",
		Run: "^TestHostile$",
		Excluded: append(gradeCPUBound("membomb", "fill-root", "fill-tmp", "fill-shm", "fill-bind", "zombies", "setuid-binary", "daemon", "daemon-holding-stderr", "setid-bind"),
			Exclusion{Test: "TestHostile/pids-default", Reason: "forks 4160 processes: over a minute under TCG, and past grade's 2 s of CPU; the host's make test runs it"}),
		Timeout: Duration(8 * time.Minute),
	},
	{
		// The sandbox package's tests as an unprivileged user in a cgroup
		// v2 subtree delegated to it, as systemd's user@.service gives
		// one: TestRootless makes the subtree (every controller of the
		// guest's root enabled in it) and runs them as sandbox-rootless
		// (addTestUser), where the limits tests (memory, pids, cpu,
		// cpuset, io, the report's enforced_by) run for real. The subuid
		// and auto maps' runs are the host's: nothing in them depends on
		// the cgroup mode.
		Name: "rootless", Package: "sandbox",
		Run:     "^TestRootless$/^delegated$",
		Timeout: Duration(8 * time.Minute),
	},
	{
		Name: "cli", Package: "cmd/sandbox",
		Excluded: []Exclusion{
			{Test: "TestBenchSuite", Reason: whyBench},
			{Test: "TestBenchCommand", Reason: whyBench},
			{Test: "TestBenchCompare", Reason: whyBench},
			{Test: "TestBenchHelpAndErrors", Reason: whyBench},
			{Test: "TestJudgeCLI", Reason: whyNoCompiler},
			{Test: "TestIsolateCMS", Reason: whyGraderLines},
			{Test: "TestIsolateJudge0", Reason: whyGraderLines},
			{Test: "TestIsolateLifecycle/interrupted", Reason: "sends isolate SIGTERM 500 ms after its start, taking it to be running the program by then; under TCG it is still starting (the Go runtime, the staging runner), and a signal before its handler is set kills it with no meta file, as it would kill Judge0's isolate; the host's make test runs it"},
		},
		Timeout: Duration(10 * time.Minute),
	},
}

// gradeCPUBound leaves out the grade-mode runs of hostile cases whose
// work (allocating, filling a disk, forking, copying a binary) takes more
// than the grade profile's 2 s of CPU under TCG: they end TO, rightly, and
// the default-mode run of the same attack still runs.
func gradeCPUBound(cases ...string) []Exclusion {
	var ex []Exclusion
	for _, c := range cases {
		ex = append(ex, Exclusion{Test: "TestHostile/" + c + "/grade",
			Reason: "the grade profile's 2 s CPU limit: under TCG the program's own work takes longer, so the verdict is TO (the default-mode run of this case runs)"})
	}
	return ex
}

// args are the test binary's flags.
func (s Suite) args() []string {
	args := []string{"-test.v", "-test.count=" + strconv.Itoa(max(s.Count, 1)), "-test.timeout=" + time.Duration(s.Timeout).String()}
	if s.Run != "" {
		args = append(args, "-test.run", s.Run)
	}
	if s.Short {
		args = append(args, "-test.short")
	}
	// One pattern of alternatives, each matched level by level: a
	// subtest's exclusion leaves the rest of its parent running.
	var skip []string
	for _, t := range s.Elsewhere {
		skip = append(skip, levels(t))
	}
	for _, e := range s.Excluded {
		skip = append(skip, levels(e.Test))
	}
	if len(skip) > 0 {
		args = append(args, "-test.skip", strings.Join(skip, "|"))
	}
	return args
}

func levels(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// whyGraderLines: CMS's and Judge0's command lines as those graders run
// them, measured in the guests.
const whyGraderLines = "replays CMS's and Judge0's command lines as they are: bash and the GNU tools (/bin/bash, GNU chmod -R going on past an error) under isolate's CPU limits of 1 s, and under TCG bash alone takes 1.0-1.8 s of CPU to start (TO; measured in the guests with /bin linked to the GNU programs), while busybox's tools in their place behave otherwise (its chmod -R stops at the first error); the host's make test runs it"

// whyNoCompiler: the guest image is busybox, dash and the host's GNU
// tools (bash among them), with no compilers.
const whyNoCompiler = "the guest image has no C compiler, which the judge's c language compiles the submissions with (TestIsolateCMS skips its own C case for the same reason); the host's make test runs it"
