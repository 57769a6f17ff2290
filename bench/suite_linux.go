package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

// suite is the state one Run shares among its scenarios.
type suite struct {
	cfg  Config
	dir  string // the run's own temporary directory, removed at the end
	run  string // the sandboxes' run directory, inside dir
	host Host
	prog Progress

	mu       sync.Mutex
	cleanups []func()
	notes    []string

	busyboxOnce sync.Once
	busybox     string
	busyboxErr  error
}

// Run runs the suite and returns its report. A backend that is missing or
// fails is in the report as skipped or failed with its error; Run's own
// error is for what stops the whole suite (a bad config, the context's
// end, no temporary directory). Everything Run makes (trees, stores,
// mounts, cgroups, processes) is gone when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Sandbox == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the sandbox binary: %w", err)
		}
		cfg.Sandbox = exe
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: the suite needs root (sandboxes, mounts, cgroups)", ErrInvalid)
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "sandbox-bench-")
	if err != nil {
		return nil, fmt.Errorf("making the benchmark directory: %w", err)
	}
	s := &suite{cfg: cfg, dir: dir, run: filepath.Join(dir, "run"), prog: cfg.Progress}
	if s.prog == nil {
		s.prog = nopProgress{}
	}
	defer s.close()
	// crun, and runc under podman, make their default state directories
	// whatever --root says: remove them after, if they were not there.
	for _, d := range []string{"/run/runc", "/run/crun"} {
		if _, err := os.Stat(d); err != nil {
			s.atEnd(func() { os.Remove(d) })
		}
	}
	s.host = hostFacts(dir)

	rep := &Report{
		Version: SchemaVersion, Kind: KindSuite, Started: time.Now().UTC().Truncate(time.Second),
		Method: Method{Warmup: cfg.Warmup, BudgetS: cfg.Budget.Seconds(), MinN: cfg.MinN, MaxN: cfg.MaxN,
			FixedN: cfg.N, Interleaved: true},
	}
	rep.Config = &cfg
	start := time.Now()
	type scenarioFunc func(context.Context, plan) ([]*Result, error)
	funcs := map[string]scenarioFunc{
		ScenarioStartup: s.startup, ScenarioThroughput: s.throughput, ScenarioClone: s.clone,
		ScenarioIO: s.io, ScenarioMemory: s.memory, ScenarioLimits: s.limits,
		ScenarioJudge: s.judge,
	}
	for _, name := range Scenarios() {
		if !cfg.wants(name) {
			continue
		}
		// What the last scenario wrote must not be written back during
		// this one (1 GB trees before the io scenario).
		s.prog.Phase(name, "syncing")
		unix.Sync()
		p := plan{scenario: name, warmup: cfg.Warmup, minN: cfg.MinN, maxN: cfg.MaxN, fixedN: cfg.N,
			budget: time.Duration(float64(cfg.Budget) * weights[name]), progress: s.prog}
		results, err := funcs[name](ctx, p)
		if ctx.Err() != nil {
			s.prog.End()
			return nil, ctx.Err()
		}
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %v", name, err))
		}
		for _, r := range results {
			rep.Results = append(rep.Results, *r)
		}
	}
	s.prog.End()
	// A run that cannot delete its cgroup says so on stderr, which the
	// suite does not show: look for what the runs left.
	if left := cgroupChildren(cfg.CgroupRoot); len(left) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d cgroups of sandbox runs were left under %s (%s): "+
			"the runner could not delete them; the suite removed them", len(left), cfg.CgroupRoot, strings.Join(left, ", ")))
	}
	s.host.LoadEnd = loadAvg()
	rep.Host = s.host
	rep.Notes = append(rep.Notes, s.notes...)
	rep.DurationS = time.Since(start).Round(time.Millisecond).Seconds()
	rep.finish()
	rep.Targets = EvaluateTargets(rep)
	return rep, nil
}

// atEnd adds a cleanup, run in reverse order when the suite ends.
func (s *suite) atEnd(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *suite) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
	unmountUnder(s.dir)
	os.RemoveAll(s.dir)
	limits.RemoveRoot(s.cfg.CgroupRoot)
	removeCgroupTree(s.cfg.CgroupRoot)
}

// note adds a line to the report's notes.
func (s *suite) note(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, msg)
}

// tool records a tool's version in the host facts.
func (s *suite) tool(name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host.Tools == nil {
		s.host.Tools = map[string]string{}
	}
	s.host.Tools[name] = version
}

// busyboxRoot builds, once, a busybox root the OCI runtimes, podman and
// the small-root sandbox run /bin/true from.
func (s *suite) busyboxRoot() (string, error) {
	s.busyboxOnce.Do(func() {
		dir := filepath.Join(s.dir, "busybox")
		if err := fixtures.BusyboxRoot(dir); err != nil {
			if errors.Is(err, fixtures.ErrMissing) {
				err = missing("static busybox", "busybox-static")
			}
			s.busyboxErr = err
			return
		}
		s.busybox = dir
	})
	return s.busybox, s.busyboxErr
}

// sandboxArgs is the command line of a CLI run: the suite's run directory
// and cgroup root, then args.
func (s *suite) sandboxArgs(args ...string) []string {
	return append([]string{"exec", "--run-dir", s.run, "--cgroup-root", s.cfg.CgroupRoot}, args...)
}

// runCmd runs a command to completion and returns its error with the tail
// of its stderr, so that a failed backend says why.
func runCmd(cmd *exec.Cmd) error {
	var errb tailBuffer
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	return nil
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// firstLine runs a program and returns the first line of its output: a
// version string.
func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// hostFacts gathers what the numbers depend on; dir is where the
// disk-backed files go.
func hostFacts(dir string) Host {
	h := Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), CgroupMode: cgroupMode()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.MemoryBytes = int64(si.Totalram) * int64(si.Unit)
	}
	h.Filesystem = fsType(dir)
	h.LoadStart = loadAvg()
	return h
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// cgroupMode tells v1, hybrid and v2 apart by what is mounted where.
func cgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	return "v1"
}

var fsNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC: "ext4", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
	unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlay", 0x2fc12fc1: "zfs", 0x65735546: "fuse",
}

// fsType names the filesystem dir is on.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return ""
	}
	if n, ok := fsNames[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// unmountUnder detaches every mount at or below dir, deepest first: what
// a failed step may have left.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var targets []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 5 {
			continue
		}
		t := unescapeOctal(f[4])
		if t == dir || strings.HasPrefix(t, dir+"/") {
			targets = append(targets, t)
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		unix.Unmount(targets[i], unix.MNT_DETACH)
	}
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// timed runs f and returns how long it took, in milliseconds.
func timed(f func() error) (float64, error) {
	t0 := time.Now()
	if err := f(); err != nil {
		return 0, err
	}
	return float64(time.Since(t0).Nanoseconds()) / 1e6, nil
}
