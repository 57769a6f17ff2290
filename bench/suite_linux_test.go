package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// testCgroupRoot keeps the tests' cgroups apart from real runs.
var testCgroupRoot = fmt.Sprintf("/sandbox-bench-test-%d", os.Getpid())

// TestMain lets the test binary stand in for the sandbox binary's I/O
// driver, which the io scenario runs as `SANDBOX bench io-driver ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == IODriverArgs[0] && os.Args[2] == IODriverArgs[1] {
		os.Exit(IODriverMain(os.Args[3:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: sandboxes, mounts and cgroups")
	}
}

// runSuite runs a small suite in a temporary directory of the test's and
// checks that it left nothing behind.
func runSuite(t *testing.T, cfg Config) *Report {
	t.Helper()
	needRoot(t)
	tmp := t.TempDir()
	cfg.TempDir, cfg.CgroupRoot, cfg.Sandbox = tmp, testCgroupRoot, os.Args[0]
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left in the temporary directory: %v", entries)
	}
	if ids, _ := limits.List(testCgroupRoot); len(ids) != 0 {
		t.Errorf("cgroups left under %s: %v", testCgroupRoot, ids)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), tmp) {
		t.Errorf("mounts left under %s", tmp)
	}
	return rep
}

// wantOK checks that the named results have n samples each.
func wantOK(t *testing.T, rep *Report, n int, keys ...string) {
	t.Helper()
	for _, k := range keys {
		found := false
		for _, r := range rep.Results {
			if r.Key() != k {
				continue
			}
			found = true
			if !r.OK() || len(r.Samples) != n {
				t.Errorf("%s: status %s (%s), %d samples; want ok with %d", k, r.Status, r.Error, len(r.Samples), n)
			}
		}
		if !found {
			t.Errorf("%s: not in the report", k)
		}
	}
}

func TestSuiteStartupInProcess(t *testing.T) {
	rep := runSuite(t, Config{Scenarios: []string{ScenarioStartup}, Backends: []string{bBare, "namespaces", bAPI}, N: 3, Warmup: 1})
	wantOK(t, rep, 3, "startup/bare/wall", "startup/namespaces/wall", "startup/sandbox-api/wall")
	if r := rep.Find(ScenarioStartup, "", bAPI, "wall"); r.RatioToBare == nil || *r.RatioToBare <= 1 {
		t.Errorf("sandbox-api's ratio to bare: %v, want > 1", r.RatioToBare)
	}
	if rep.Host.Kernel == "" || rep.Host.CPUs < 1 || rep.Host.CgroupMode == "" {
		t.Errorf("host facts missing: %+v", rep.Host)
	}
}

func TestSuiteCloneIOMemory(t *testing.T) {
	rep := runSuite(t, Config{
		Scenarios: []string{ScenarioClone, ScenarioIO, ScenarioMemory},
		Backends:  []string{bSnapshot, bCp, bReflink, bHostDisk, bHostTmpfs, bAPI},
		N:         2, Warmup: 1, Smoke: true, CloneSizes: []int64{1 << 20, 2 << 20},
		IODriver: "builtin", IOSize: 1 << 20, Idle: 3,
	})
	wantOK(t, rep, 2, "clone/1MB/snapshot/wall", "clone/2MB/cp-a/wall",
		"io/seqwrite/host-disk/throughput", "io/randrw/host-tmpfs/iops")
	wantOK(t, rep, 3, "memory/sandbox-api/pss", "memory/sandbox-api/rss")
	r := rep.Find(ScenarioClone, "1MB", bReflink, "wall")
	if r == nil || r.Status == StatusFailed {
		t.Errorf("cp-reflink: %+v, want ok, or skipped where the filesystem has no reflinks", r)
	}
}

func TestRunCommand(t *testing.T) {
	needRoot(t)
	t.Cleanup(func() { limits.RemoveRoot(testCgroupRoot); removeCgroupTree(testCgroupRoot) })
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo hi"}, RunDir: t.TempDir(), CgroupRoot: testCgroupRoot, Limits: limits.DefaultLimits()}
	rep, err := RunCommand(context.Background(), CommandConfig{Spec: spec, N: 3, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, rep, 3, "command/sandbox/wall", "command/sandbox/cpu", "command/sandbox/memory_peak", "command/sandbox/io_read", "command/sandbox/io_write")
	if rep.Kind != KindCommand || strings.Join(rep.Command, " ") != "/bin/sh -c echo hi" {
		t.Errorf("report of kind %q for %q", rep.Kind, rep.Command)
	}
	spec.Args = []string{"/bin/sh", "-c", "echo oops >&2; exit 3"}
	_, err = RunCommand(context.Background(), CommandConfig{Spec: spec, N: 3})
	if err == nil || !strings.Contains(err.Error(), "status RE (exit status 3)") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing command: %v, want its status and stderr", err)
	}
}
