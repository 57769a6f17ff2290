package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

// limited is sh -c script under the limits given as flag=value pairs.
func limited(t *testing.T, script string, flags ...string) *Spec {
	t.Helper()
	s := sh(script)
	s.Limits = limits.DefaultLimits()
	for i := 0; i+1 < len(flags); i += 2 {
		if err := s.Limits.Set(flags[i], flags[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// between reports whether d lies in [lo, hi] milliseconds.
func between(d time.Duration, lo, hi int) bool {
	return d >= time.Duration(lo)*time.Millisecond && d <= time.Duration(hi)*time.Millisecond
}

// verdict is the part of a Result every limit test checks exactly.
type verdict struct {
	Status    Status
	ExitCode  int
	Signal    int
	OOMKilled bool
}

func verdictOf(r *Result) verdict { return verdict{r.Status, r.ExitCode, r.Signal, r.OOMKilled} }

func TestMemoryLimit(t *testing.T) {
	needCgroupLimits(t, "memory")
	// tail keeps the last ten lines; /dev/zero has no line end, so tail's one
	// line grows until the OOM killer stops it.
	_, _, res := run(t, limited(t, "exec tail /dev/zero", "memory", "64M"))
	if diff := cmp.Diff(verdict{StatusMemory, -1, 9, true}, verdictOf(res)); diff != "" {
		t.Errorf("verdict (-want +got):\n%s", diff)
	}
	const mib64 = 64 << 20
	if res.MemoryPeak < mib64*9/10 || res.MemoryPeak > mib64*11/10 {
		t.Errorf("memory peak %d bytes, want within 10%% of 64 MiB", res.MemoryPeak)
	}
	if want := "memory limit 64 MiB exceeded; killed by the OOM killer"; res.Message != want {
		t.Errorf("message %q, want %q", res.Message, want)
	}
}

func TestPidsLimit(t *testing.T) {
	needCgroupLimits(t, "pids")
	// A fork bomb: every process starts two more and waits for them, so
	// the tree grows until fork fails.
	var errb bytes.Buffer
	// Its wall limit bounds it; under emulation (TimeScaleEnv) the bomb
	// gets up to 10 s to reach its pids limit, as setting the run up
	// alone can take most of 2 s there.
	wall := min(fixtures.Overshoot(2*time.Second), 10*time.Second)
	// The sandbox names its pid namespace first (the link's inode is the
	// same everywhere). Read from the host, PID 1's link is out of a
	// rootless caller's reach once PID 1 has taken CMD's ids, which made
	// the kernel mark it non-dumpable: that raced with Start's return.
	spec := limited(t, "readlink /proc/self/ns/pid; b() { b | b; }; b", "pids", "32", "wall-time", wall.String())
	spec.RunDir, spec.CgroupRoot = testRunDir(t), testCgroupRoot
	var outb bytes.Buffer
	spec.IO.Stdout, spec.IO.Stderr = &outb, &errb
	start := time.Now()
	c, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// The host stays usable while the bomb goes off: it can still start
	// processes, promptly.
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Errorf("starting a host process during the fork bomb: %v", err)
		} else if d := time.Since(t0); d > fixtures.Overshoot(time.Second) {
			t.Errorf("a host process took %v to run during the fork bomb", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > wall+fixtures.Overshoot(3*time.Second) {
		t.Errorf("fork bomb run took %v: not contained by its %v wall limit", d, wall)
	}
	// It ends at its wall limit, or by itself when the shell at the top
	// of the tree gives up on a refused fork.
	if res.Status != StatusTime && res.Status != StatusRuntime {
		t.Errorf("fork bomb verdict %s (%s), want TO or RE", res.Status, res.Message)
	}
	// The limit, not luck, contained it: forks were refused.
	if !strings.Contains(errb.String(), "fork") {
		t.Errorf("no fork was refused under --pids 32; stderr %q", shorten(errb.String()))
	}
	// Nothing of the sandbox is left running.
	pidns, _, _ := strings.Cut(outb.String(), "\n")
	if !strings.HasPrefix(pidns, "pid:[") {
		t.Fatalf("the sandbox's pid namespace: %q, want pid:[N]", outb.String())
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/pid")
	for _, p := range procs {
		if ns, err := os.Readlink(p); err == nil && ns == pidns {
			t.Errorf("process %s of the fork bomb's sandbox still runs", filepath.Dir(filepath.Dir(p)))
		}
	}
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestTimeLimits(t *testing.T) {
	needRunner(t)
	tests := []struct {
		name           string
		script         string
		flags          []string
		cpuLo, cpuHi   int // ms, -1: not checked
		wallLo, wallHi int
	}{
		{"CPU time of one process", "while :; do :; done", []string{"cpu-time", "500ms"}, 500, 520, -1, -1},
		{"CPU time of four processes", "for i in 1 2 3 4; do (while :; do :; done) & done; wait", []string{"cpu-time", "500ms"}, 500, 540, -1, -1},
		{"wall time", "exec sleep 10", []string{"wall-time", "300ms"}, -1, -1, 300, 330},
		{"CPU time with grace", "while :; do :; done", []string{"cpu-time", "200ms", "extra-time", "100ms"}, 300, 320, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, res := run(t, limited(t, tt.script, tt.flags...))
			if diff := cmp.Diff(verdict{StatusTime, -1, 9, false}, verdictOf(res)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			cpuHi := tt.cpuHi
			if res.CgroupVersion == 0 {
				// Rootless without a cgroup: the supervisor reads CPU time
				// from /proc, at the kernel's 10 ms tick, scanning every
				// process of the host for the sandbox's (see noCgroup).
				cpuHi += 80
			}
			if hi := tt.cpuLo + int(fixtures.Overshoot(time.Duration(cpuHi-tt.cpuLo)*time.Millisecond).Milliseconds()); tt.cpuLo >= 0 && !between(res.CPU, tt.cpuLo, hi) {
				t.Errorf("cpu %v, want [%d, %d] ms", res.CPU, tt.cpuLo, hi)
			}
			wallHi := tt.wallHi
			if os.Geteuid() != 0 {
				// A rootless root has an overlay per host directory, and
				// the kernel unmounts them all before PID 1 is reaped.
				wallHi += 60
			}
			if hi := tt.wallLo + int(fixtures.Overshoot(time.Duration(wallHi-tt.wallLo)*time.Millisecond).Milliseconds()); tt.wallLo >= 0 && !between(res.Wall, tt.wallLo, hi) {
				t.Errorf("wall %v, want [%d, %d] ms", res.Wall, tt.wallLo, hi)
			}
		})
	}
}

func TestCPUBandwidth(t *testing.T) {
	needCgroupLimits(t, "cpu")
	// One second of CPU at half a CPU takes two seconds of wall time:
	// never much less (the bandwidth limit), and not much more but where
	// the runner is slow to notice the CPU limit (TimeScaleEnv).
	_, _, res := run(t, limited(t, "while :; do :; done", "cpus", "0.5", "cpu-time", "1s"))
	if res.Status != StatusTime || !between(res.Wall, 1700, 2000+int(fixtures.Overshoot(300*time.Millisecond).Milliseconds())) {
		t.Errorf("1s of CPU at --cpus 0.5: %s after %v (cpu %v), want TO after 2s ±15%%", res.Status, res.Wall, res.CPU)
	}
}

func TestOutputLimit(t *testing.T) {
	needRunner(t)
	s := limited(t, "exec yes", "output-limit", "1M")
	_, _, res := run(t, s)
	if diff := cmp.Diff(verdict{StatusOutput, -1, 9, false}, verdictOf(res)); diff != "" {
		t.Errorf("verdict (-want +got):\n%s", diff)
	}
	if res.OutputBytes == nil || *res.OutputBytes > 1<<20+64<<10 {
		t.Errorf("output bytes %v, want at most 1 MiB and a pipe buffer", res.OutputBytes)
	}
	t.Run("under the limit", func(t *testing.T) {
		out, _, res := run(t, limited(t, "echo hello; echo world >&2", "output-limit", "1M"))
		if res.Status != StatusOK || out != "hello\n" || res.OutputBytes == nil || *res.OutputBytes != 12 {
			t.Errorf("%s %q output bytes %v", res.Status, out, res.OutputBytes)
		}
	})
}

func TestWriteLimits(t *testing.T) {
	needRunner(t)
	tests := []struct {
		name  string
		path  string
		flags []string
		want  verdict
		msg   string
	}{
		{"file size rlimit", "/tmp/big", []string{"rlimit-fsize", "1M"}, verdict{StatusSignal, -1, 25, false}, "killed by signal SIGXFSZ (file size limit exceeded)"},
		{"disk on the root", "/big", []string{"disk", "8M"}, verdict{StatusRuntime, 1, 0, false}, "exited with status 1"},
		{"disk on /tmp", "/tmp/big", []string{"disk", "8M"}, verdict{StatusRuntime, 1, 0, false}, "exited with status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dirUsage(t, os.TempDir())
			_, errs, res := run(t, limited(t, "exec head -c 16M /dev/zero > "+tt.path, tt.flags...))
			if diff := cmp.Diff(tt.want, verdictOf(res)); diff != "" || res.Message != tt.msg {
				t.Errorf("writing 16 MiB under %v (-want +got):\n%s\nmessage %q, stderr %q", tt.flags, diff, res.Message, errs)
			}
			// Other processes write to the host's disk too: only a growth by
			// what the sandbox wrote would point at the sandbox.
			if grew := dirUsage(t, os.TempDir()) - before; grew >= 16<<20 {
				t.Errorf("the host's %s grew by %d bytes", os.TempDir(), grew)
			}
			if _, err := os.Stat(tt.path); err == nil {
				t.Errorf("%s written inside appeared on the host", tt.path)
			}
		})
	}
}

// dirUsage is how much the filesystem holding dir has in use.
func dirUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Blocks-s.Bfree) * s.Bsize
}

// TestReport checks every field of the Result, and of its JSON form,
// against expected values, with tolerances where timing is involved.
func TestReport(t *testing.T) {
	needCgroupLimits(t, "memory", "pids")
	s := limited(t, "echo out; head -c 1000 /dev/zero >&2; exit 3", "memory", "128M", "pids", "16",
		"cpu-time", "5s", "wall-time", "10s", "output-limit", "1M", "disk", "64M")
	_, _, res := run(t, s)
	n := int64(1004)
	want := &Result{
		ID: res.ID, Status: StatusRuntime, ExitCode: 3, OutputBytes: &n, CgroupVersion: res.CgroupVersion, UserNamespace: res.UserNamespace,
		Limits: s.Limits, Message: "exited with status 3",
		EnforcedBy: Enforcement{"memory_bytes": ByCgroup, "pids": ByCgroup, "cpus": ByNone, "cpuset": ByNone, "io_weight": ByNone,
			"cpu_time_ms": BySupervisor, "wall_time_ms": BySupervisor, "output_limit_bytes": BySupervisor,
			"disk_bytes": ByTmpfs, "rlimits": ByRlimit},
		Wall: 20 * time.Millisecond, CPU: 10 * time.Millisecond, CPUUser: 5 * time.Millisecond, CPUSys: 5 * time.Millisecond,
		MemoryPeak: 4 << 20,
	}
	approx := cmp.Options{
		// Times: a run of sh takes milliseconds; allow a loaded or
		// emulated machine (5 s: vmtest's guests under TCG took 2.1 s on
		// a loaded host), but not nothing: each time must have been measured.
		cmp.FilterPath(func(p cmp.Path) bool {
			f := p.Last().String()
			return f == ".Wall" || f == ".CPU"
		}, cmp.Comparer(func(a, b time.Duration) bool { return a > 0 && b > 0 && (a-b).Abs() < 5*time.Second })),
		// User and system time come at the kernel's tick on v1: either may be 0.
		cmp.FilterPath(func(p cmp.Path) bool {
			f := p.Last().String()
			return f == ".CPUUser" || f == ".CPUSys"
		}, cmp.Comparer(func(a, b time.Duration) bool { return a >= 0 && b >= 0 && (a-b).Abs() < 2*time.Second })),
		// Memory: PID 1's Go runtime and sh, a few MiB; far below the limit.
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".MemoryPeak" },
			cmp.Comparer(func(a, b int64) bool { return a > 256<<10 && b > 256<<10 && a < 64<<20 && b < 64<<20 })),
		// Context switches: sh waits for head, so at least one voluntary one.
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CSWVoluntary" },
			cmp.Comparer(func(a, b int64) bool { return a > 0 && b > 0 })),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CSWForced" },
			cmp.Comparer(func(a, b int64) bool { return a >= 0 && b >= 0 })),
	}
	want.CSWVoluntary = 1
	// pids_peak: v1's pids controller keeps no peak (null); v2's does: sh and head.
	if res.CgroupVersion == 2 {
		peak := int64(2)
		want.PidsPeak = &peak
		approx = append(approx, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".PidsPeak" },
			cmp.Comparer(func(a, b *int64) bool { return a != nil && b != nil && *a >= 2 && *b >= 2 })))
		// Block I/O: v2 accounts it always, and sh may have read its binary.
		approx = append(approx, cmpopts.IgnoreFields(Result{}, "IORead", "IOWrite"))
	}
	// On v1 block I/O is accounted only with --io-weight (the blkio
	// controller): the documented 0.
	// v1 counts user and system time in ticks (10 ms each): their sum may
	// exceed the exact total by up to a tick apiece.
	if res.CPUUser+res.CPUSys > res.CPU+25*time.Millisecond {
		t.Errorf("user %v + sys %v exceed total CPU %v", res.CPUUser, res.CPUSys, res.CPU)
	}
	if res.CPU > 2*res.Wall+10*time.Millisecond {
		t.Errorf("CPU %v exceeds what 2 CPUs give in wall %v", res.CPU, res.Wall)
	}
	if diff := cmp.Diff(want, res, approx); diff != "" {
		t.Errorf("Result (-want +got):\n%s", diff)
	}

	// The JSON report: every documented key, with the same values.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	for _, k := range []string{"version", "id", "status", "exit_code", "signal", "wall_ms", "cpu_ms", "cpu_user_ms",
		"cpu_sys_ms", "memory_peak_bytes", "oom_killed", "pids_peak", "io_read_bytes", "io_write_bytes",
		"csw_voluntary", "csw_forced", "output_bytes", "cgroup_version", "limits", "message"} {
		if _, ok := got[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	fixed := map[string]any{"version": 1.0, "status": "RE", "exit_code": 3.0, "signal": 0.0, "oom_killed": false,
		"output_bytes": 1004.0, "message": "exited with status 3"}
	for k, v := range fixed {
		if !cmp.Equal(v, got[k]) {
			t.Errorf("report[%q] = %v, want %v", k, got[k], v)
		}
	}
	wantLimits := map[string]any{"memory_bytes": float64(128 << 20), "pids": 16.0, "cpus": nil, "cpuset": "",
		"cpu_time_ms": 5000.0, "wall_time_ms": 10000.0, "extra_time_ms": 0.0, "output_limit_bytes": float64(1 << 20),
		"disk_bytes": float64(64 << 20), "rlimits": map[string]any{
			"nofile": fmt.Sprintf("%d:%d", s.Limits.Rlimits.NoFile.Soft, s.Limits.Rlimits.NoFile.Hard),
			"core":   "0:0",
		}}
	if diff := cmp.Diff(wantLimits, got["limits"]); diff != "" {
		t.Errorf("report limits (-want +got):\n%s", diff)
	}
}

// TestReportSchema pins the JSON form of a Result: a change here is a
// change of the documented schema (README), and of ReportVersion if a
// field changes meaning.
func TestReportSchema(t *testing.T) {
	pids, peak, out := int64(8), int64(3), int64(12)
	l := limits.Limits{Memory: 64 << 20, Pids: &pids, CPUTime: 2 * time.Second, OutputLimit: 1 << 20}
	res := &Result{ID: "0123456789abcdef", Status: StatusMemory, ExitCode: -1, Signal: 9,
		Wall: 1500 * time.Microsecond, CPU: 1234 * time.Microsecond, CPUUser: time.Millisecond, CPUSys: 234 * time.Microsecond,
		MemoryPeak: 64 << 20, OOMKilled: true, PidsPeak: &peak, IORead: 4096, IOWrite: 8192,
		CSWVoluntary: 10, CSWForced: 2, OutputBytes: &out, CgroupVersion: 1, Limits: l, EnforcedBy: enforcement(l),
		Message: "memory limit 64 MiB exceeded; killed by the OOM killer"}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "report.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test -run ReportSchema writes it)", err)
	}
	if diff := cmp.Diff(strings.TrimSpace(string(want)), string(b)); diff != "" {
		t.Errorf("report schema (-want +got):\n%s", diff)
	}
}

// needCgroupLimits skips unless runs here can have cgroup limits needing
// the controllers: as root, or rootless in a delegated cgroup v2 subtree
// that gives them (TestRootless's delegated run; make vmtest's guests).
func needCgroupLimits(t *testing.T, controllers ...string) {
	t.Helper()
	needRunner(t)
	if os.Geteuid() == 0 {
		return
	}
	d, err := limits.FindDelegation()
	if err != nil {
		t.Skipf("rootless without a delegated cgroup v2 subtree (%v): TestRootlessLimits checks the refusal", err)
	}
	for _, c := range controllers {
		if !d.Has(c) {
			t.Skipf("the delegated group %s does not give the %s controller: TestRootlessLimits checks the refusal", d.Top, c)
		}
	}
}
