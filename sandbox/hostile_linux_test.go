package sandbox_test

// The hostile suite: fixtures/hostile's attacks, each run in a sandbox as
// the default Spec makes it and as the grade profile makes it, each checked
// three ways: the run's verdict, the program's own line (BLOCKED or
// ESCAPED), and the host, which must be as it was (sentinel file, a canary
// process, the mount table, the cgroups, the run directory, the runner's
// binary). docs/security.md lists the attacks and what stops each; the
// names of its table and of hostileCases are kept equal by TestSecurityDoc.
//
// It is an external test package because profile imports sandbox.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/profile"
	"github.com/sandbox-dev/sandbox/sandbox"
	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/sys/unix"
)

// hostileEnv is what every case shares: the program and the host-side
// things the attacks aim at.
type hostileEnv struct {
	// dir is a GoRoot holding bin/<name>; bound read-only at /box in every
	// run, and the root itself in --root cases.
	dir string
	// name is the program's file name, hostile-<pid>: every process of
	// ours in a sandbox has it in its command line (argv[0] is kept across
	// re-executions), so the host can tell whether one survived.
	name string
	// sentinel is a host file no sandbox may see or change (in the host's
	// /tmp, which every sandbox replaces).
	sentinel     string
	sentinelData []byte
	// hostTarget is a host directory that exists, at the same path, in dir
	// too: a planted symlink points bind targets at it.
	hostTarget string
	// Servers on the host: a sandbox must not reach them.
	tcpAddr, abstractAddr, unixPath string
	accepted                        atomic.Int64
	cgroupRoot                      string
	grade                           *profile.Profile
	corePattern                     []byte
	runnerExe                       string
	runnerStat                      os.FileInfo
}

// inside is the program's path inside a sandbox.
func (e *hostileEnv) inside() string { return "/box/" + e.name }

// hostileCase is one attack. Names are the subtests' and docs/security.md's.
type hostileCase struct {
	name string
	// args are the program's arguments; s is the Spec of the run (mode
	// applied), for limits the attack is measured against.
	args func(e *hostileEnv, s *sandbox.Spec) []string
	// limits are flag=value pairs over limits.DefaultLimits() in the default
	// mode: the one limit the attack is about. The grade profile has its own.
	limits []string
	// want are the acceptable verdicts; wantGrade, when set, under grade.
	want, wantGrade []sandbox.Status
	// blocked: the program must print its BLOCKED line.
	blocked bool
	// setupErrOK: the runner may refuse to start the run (Run's error).
	setupErrOK bool
	// setup changes the Spec (mode applied) and prepares the host.
	setup func(t *testing.T, e *hostileEnv, s *sandbox.Spec)
	// check adds host-side checks after the run.
	check func(t *testing.T, e *hostileEnv, s *sandbox.Spec, res *sandbox.Result)
	// run, when set, runs the Spec in place of sandbox.Run: for a runner
	// that must itself be somewhere else (in a container's mount namespace).
	run func(ctx context.Context, t *testing.T, e *hostileEnv, s *sandbox.Spec) (*sandbox.Result, error)
}

var (
	wantOK      = []sandbox.Status{sandbox.StatusOK}
	timeOrCrash = []sandbox.Status{sandbox.StatusTime, sandbox.StatusRuntime}
)

func args(a ...string) func(*hostileEnv, *sandbox.Spec) []string {
	return func(*hostileEnv, *sandbox.Spec) []string { return a }
}

// fillArgs fills dir with up to twice the run's disk limit.
func fillArgs(dir string) func(*hostileEnv, *sandbox.Spec) []string {
	return func(_ *hostileEnv, s *sandbox.Spec) []string {
		disk := s.Limits.Disk
		if disk == 0 {
			disk = sandbox.DefaultDisk
		}
		return []string{"fill", dir, strconv.FormatInt(2*disk, 10)}
	}
}

func hostileCases() []hostileCase {
	cases := []hostileCase{
		// Resources.
		{name: "forkbomb", args: args("forkbomb"), limits: []string{"pids", "64", "cpu-time", "1s", "wall-time", "5s"},
			want: timeOrCrash},
		{name: "membomb", args: args("membomb"), limits: []string{"memory", "64M"},
			want: []sandbox.Status{sandbox.StatusMemory},
			check: func(t *testing.T, e *hostileEnv, s *sandbox.Spec, res *sandbox.Result) {
				if !res.OOMKilled || res.MemoryPeak > s.Limits.Memory*11/10 {
					t.Errorf("memory bomb: OOM kill %v, peak %d bytes for a limit of %d", res.OOMKilled, res.MemoryPeak, s.Limits.Memory)
				}
			}},
		{name: "fill-root", args: fillArgs("/var/tmp"), limits: []string{"disk", "16M"}, want: wantOK, blocked: true,
			check: noFillFiles("/var/tmp")},
		{name: "fill-tmp", args: fillArgs("/tmp"), limits: []string{"disk", "16M"}, want: wantOK, blocked: true},
		// /dev/shm is a tmpfs of its own, 64 MiB whatever the disk limit.
		{name: "fill-shm", args: args("fill", "/dev/shm", strconv.Itoa(128<<20)), limits: []string{"disk", "16M"}, want: wantOK, blocked: true,
			check: noFillFiles("/dev/shm")},
		{name: "fill-bind", args: fillArgs("/out"), limits: []string{"disk", "16M"}, want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				// A writable bind is the caller's own filesystem: the runner
				// meters only its own layers (--disk) and each file
				// (--fsize), so the caller bounds the directory it lends, as
				// a grader does with a size-capped tmpfs.
				dir := t.TempDir()
				if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=0777"); err != nil {
					t.Fatalf("mounting the bounded output directory: %v", err)
				}
				t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
				s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: "/out"})
			}},
		{name: "flood", args: args("flood"), limits: []string{"output-limit", "1M"},
			want: []sandbox.Status{sandbox.StatusOutput},
			check: func(t *testing.T, e *hostileEnv, s *sandbox.Spec, res *sandbox.Result) {
				if res.OutputBytes == nil || *res.OutputBytes > s.Limits.OutputLimit {
					t.Errorf("output passed on: %v bytes for a limit of %d", res.OutputBytes, s.Limits.OutputLimit)
				}
			}},
		{name: "zombies", args: args("zombies", "100000"), limits: []string{"pids", "128"}, want: wantOK, blocked: true},
		// Under grade, 64 pids cannot hold 64 threads and a Go runtime: the
		// program may die of it before its CPU time runs out.
		{name: "spin", args: args("spin", "64"), limits: []string{"cpu-time", "1s"},
			want: []sandbox.Status{sandbox.StatusTime}, wantGrade: timeOrCrash,
			check: func(t *testing.T, e *hostileEnv, s *sandbox.Spec, res *sandbox.Result) {
				l := s.Limits
				if max := l.CPUTime + l.ExtraTime + fixtures.Overshoot(500*time.Millisecond); res.CPU > max {
					t.Errorf("64 spinning threads used %v of CPU under a limit of %v", res.CPU, l.CPUTime)
				}
			}},

		// Processes of the host.
		{name: "killall", args: args("killall"), want: wantOK, blocked: true},
		{name: "signal-host-pid", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"signal", strconv.Itoa(canaryPid(s))}
		}, want: wantOK, blocked: true},
		{name: "signal-init", args: args("signal-init"), want: wantOK, blocked: true},
		{name: "ptrace-host-pid", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"ptrace", strconv.Itoa(canaryPid(s))}
		}, want: wantOK, blocked: true},

		// Mounts and roots.
		{name: "mount", args: args("mount"), want: wantOK, blocked: true},
		{name: "umount", args: args("umount"), want: wantOK, blocked: true},
		{name: "pivot-root", args: args("pivot"), want: wantOK, blocked: true},
		{name: "chroot-escape", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"chroot-escape", e.sentinel}
		}, want: wantOK, blocked: true},
		{name: "userns-mount", args: args("userns-mount"), want: wantOK, blocked: true},
		{name: "cgroup-escape", args: args("cgroup"), want: wantOK, blocked: true},
		// Given CAP_MKNOD, a program makes nodes of /dev/mem and of the
		// host's root disk in /dev, which allows devices.
		{name: "device-node", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			var st unix.Stat_t
			if err := unix.Stat("/", &st); err != nil {
				panic(err)
			}
			return []string{"mknod", "c:1:1", fmt.Sprintf("b:%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))}
		}, want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) { s.CapAdd = append(s.CapAdd, "CAP_MKNOD") }},
		{name: "inherited-mount", args: args("inherited-mount", "/box"), want: wantOK, blocked: true},

		// Kernel interfaces.
		{name: "sysrq-trigger", args: args("sysrq"), want: wantOK, blocked: true,
			setup: func(t *testing.T, _ *hostileEnv, _ *sandbox.Spec) {
				// Without the file on the host the attack proves nothing:
				// the mask is never reached.
				if _, err := os.Lstat("/proc/sysrq-trigger"); err != nil {
					t.Skipf("this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ): nothing to mask")
				}
			}},
		{name: "proc-sys", args: args("procsys"), want: wantOK, blocked: true},
		{name: "raw-socket", args: args("raw-socket"), want: wantOK, blocked: true},
		{name: "packet-socket", args: args("packet-socket"), want: wantOK, blocked: true},
		{name: "connect-host", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"connect", "tcp:" + e.tcpAddr, "unix:" + e.abstractAddr, "unix:" + e.unixPath}
		}, want: wantOK, blocked: true},
		{name: "keyctl", args: args("keyctl"), want: wantOK, blocked: true},
		{name: "bpf", args: args("bpf"), want: wantOK, blocked: true},
		{name: "io-uring", args: args("io-uring"), want: wantOK, blocked: true},
		{name: "userfaultfd", args: args("userfaultfd"), want: wantOK, blocked: true},
		{name: "perf-event-open", args: args("perf"), want: wantOK, blocked: true},

		// Files of the host.
		{name: "read-host-file", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"read", e.sentinel, "/etc/shadow", e.runnerExe, filepath.Join(e.dir, "bin", e.name)}
		}, want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) { s.Root = e.dir }},
		// An untrusted root holding nodes of the host's root disk and of
		// /dev/mem, readable by anyone.
		{name: "device-in-root", args: args("read", "/hostdisk", "/mem"), want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				var st unix.Stat_t
				if err := unix.Stat("/", &st); err != nil {
					t.Fatal(err)
				}
				root := hostileRoot(t)
				for _, n := range []struct {
					name string
					mode uint32
					dev  uint64
				}{{"hostdisk", unix.S_IFBLK, st.Dev}, {"mem", unix.S_IFCHR, unix.Mkdev(1, 1)}} {
					if err := unix.Mknod(filepath.Join(root, n.name), n.mode|0o666, int(n.dev)); err != nil {
						t.Fatal(err)
					}
					os.Chmod(filepath.Join(root, n.name), 0o666)
				}
				s.Root = root
			}},
		// An untrusted root whose /tmp and /run, where the runner mounts
		// tmpfs, are symlinks to a directory of the host's.
		{name: "symlinked-mount-targets", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"read", e.sentinel}
		}, want: wantOK, blocked: true, setupErrOK: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				root := hostileRoot(t)
				os.MkdirAll(filepath.Join(root, e.hostTarget), 0o777)
				for name, target := range map[string]string{"tmp": e.hostTarget, "run": strings.Repeat("../", 8) + e.hostTarget[1:]} {
					os.Remove(filepath.Join(root, name))
					if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
						t.Fatal(err)
					}
				}
				s.Root = root
			}, check: hostTargetEmpty},
		{name: "leaked-fd", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"fd-escape", e.sentinel}
		}, want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) { leakDirFD(t, filepath.Dir(e.sentinel)) }},
		// runc CVE-2024-21626: the workdir names the leaked descriptor. The
		// runner may refuse the run, or CMD must start inside the root.
		{name: "leaked-fd-workdir", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"fd-escape", e.sentinel}
		}, want: wantOK, blocked: true, setupErrOK: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				s.Dir = fmt.Sprintf("/proc/self/fd/%d", leakDirFD(t, filepath.Dir(e.sentinel)))
			}},
		// The caller hands a file of its own, opened read-only, as stdin.
		{name: "stdin-reopen", args: args("reopen", "0"), want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				p := filepath.Join(t.TempDir(), "input")
				if err := os.WriteFile(p, []byte("input\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					f.Close()
					if b, _ := os.ReadFile(p); string(b) != "input\n" {
						t.Errorf("the caller's input file changed: %q", b)
					}
				})
				s.IO.Stdin = f
			}},
		{name: "exe-overwrite", args: args("exe-overwrite"), want: wantOK, blocked: true},
		{name: "symlink-bind-target", args: args("bind-check", "/pub/escape/sub/marker"), want: wantOK, blocked: true,
			setupErrOK: true, setup: plantSymlink, check: hostTargetEmpty},
		{name: "tiocsti", args: args("tiocsti"), want: wantOK, blocked: true, setup: callerTerminal},
		{name: "proc1-root", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"proc1-root", e.sentinel, strconv.Itoa(canaryPid(s))}
		}, want: wantOK, blocked: true},
		{name: "setuid-binary", args: args("setuid", "/suid/suid-root", "/suid/file-caps"), want: wantOK, blocked: true,
			setup: setuidCopies},

		// Lifetime.
		{name: "daemon", args: args("daemon", "close"), want: wantOK, blocked: true, check: endsPromptly},
		{name: "daemon-holding-stderr", args: args("daemon", "hold"), want: wantOK, blocked: true, check: endsPromptly},
	}
	cases = append(cases, hostileCasesLead()...)
	cases = append(cases, round2LimitsCases()...)
	cases = append(cases, round2MountCases()...)
	return cases
}

func TestHostile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runner creates namespaces and mounts")
	}
	if testing.Short() {
		t.Skip("builds a Go program and runs a hundred sandboxes: skipped with -short")
	}
	e := newHostileEnv(t)
	modes := []struct {
		name string
		spec func(t *testing.T, c *hostileCase) *sandbox.Spec
	}{
		{"default", func(t *testing.T, c *hostileCase) *sandbox.Spec {
			s := baseSpec(e)
			setLimits(t, &s.Limits, c.limits)
			return s
		}},
		{"grade", func(t *testing.T, c *hostileCase) *sandbox.Spec {
			s := baseSpec(e)
			if err := e.grade.Apply(s); err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					want := c.want
					if m.name == "grade" && c.wantGrade != nil {
						want = c.wantGrade
					}
					runHostile(t, e, &c, m.spec(t, &c), want)
				})
			}
		})
	}
}

func baseSpec(e *hostileEnv) *sandbox.Spec {
	return &sandbox.Spec{
		Mounts: []sandbox.Mount{{Type: sandbox.MountBind, Source: filepath.Join(e.dir, "bin"), Destination: "/box", ReadOnly: true}},
		Limits: limits.DefaultLimits(),
	}
}

func setLimits(t *testing.T, l *limits.Limits, flags []string) {
	t.Helper()
	for i := 0; i+1 < len(flags); i += 2 {
		if err := l.Set(flags[i], flags[i+1]); err != nil {
			t.Fatal(err)
		}
	}
}

// runHostile runs one case in one mode and checks the verdict, the
// program's line and the host.
func runHostile(t *testing.T, e *hostileEnv, c *hostileCase, s *sandbox.Spec, want []sandbox.Status) {
	s.RunDir, s.CgroupRoot = hostileRunDir(t), e.cgroupRoot
	canary := startCanary(t, e)
	s.Env = []string{"PATH=/box", fmt.Sprintf("HOSTILE_CANARY=%d", canary.Process.Pid)}
	if c.setup != nil {
		c.setup(t, e, s)
	}
	s.Args = append([]string{e.inside()}, c.args(e, s)...)
	before := e.hostState(t, s)

	var out, errb bytes.Buffer
	s.IO.Stdout = &out
	if s.IO.Stderr == nil {
		s.IO.Stderr = &errb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(ctx context.Context, _ *testing.T, _ *hostileEnv, s *sandbox.Spec) (*sandbox.Result, error) {
		return sandbox.Run(ctx, s)
	}
	if c.run != nil {
		run = c.run
	}
	res, err := run(ctx, t, e, s)
	line := firstLine(out.String())
	switch {
	case err != nil && c.setupErrOK && (errors.Is(err, sandbox.ErrSetup) || errors.Is(err, sandbox.ErrInvalidSpec)):
		t.Logf("the runner refused the run: %v", err)
	case err != nil:
		t.Errorf("Run(%q): %v (stderr %q)", s.Args, err, clip(errb.String()))
	default:
		t.Logf("%s in %v: %s", res.Status, res.Wall.Round(time.Millisecond), line)
		prefix := "BLOCKED: " + s.Args[1] + ":"
		switch {
		case strings.HasPrefix(line, "ESCAPED"):
			t.Errorf("the program got out (verdict %s): %s", res.Status, line)
		case !slices.Contains(want, res.Status):
			t.Errorf("verdict %s (%s), want one of %v; program said %q, stderr %q", res.Status, res.Message, want, line, clip(errb.String()))
		case c.blocked && !strings.HasPrefix(line, prefix):
			t.Errorf("program said %q, want a line starting %q (verdict %s, stderr %q)", line, prefix, res.Status, clip(errb.String()))
		}
		if c.check != nil {
			c.check(t, e, s, res)
		}
	}
	e.checkHost(t, s, before, canary)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// hostileRunDir is a run directory that must be empty after the run.
func hostileRunDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sandbox-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer os.RemoveAll(dir)
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("run directory not empty after the run: %v", ents)
		}
	})
	return dir
}

func newHostileEnv(t *testing.T) *hostileEnv {
	e := &hostileEnv{name: fmt.Sprintf("hostile-%d", os.Getpid())}
	// Not t.TempDir: test names would end up in overlay options.
	dir, err := os.MkdirTemp("", "hostile-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e.dir = dir
	if err := fixtures.GoRoot(dir, "../fixtures/hostile"); err != nil {
		if errors.Is(err, fixtures.ErrMissing) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "bin", "hostile"), filepath.Join(dir, "bin", e.name)); err != nil {
		t.Fatal(err)
	}
	// Readable by the grade profile's nobody; /pub is where nobody may
	// plant things in a root of its own.
	for _, d := range []string{dir, filepath.Join(dir, "bin")} {
		os.Chmod(d, 0o755)
	}
	if err := os.Mkdir(filepath.Join(dir, "pub"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "pub"), 0o1777)

	sdir, err := os.MkdirTemp("", "hostile-sentinel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sdir) })
	os.Chmod(sdir, 0o755) // an escapee as nobody could read it: the test must see that
	e.sentinel = filepath.Join(sdir, "sentinel")
	e.sentinelData = []byte("the host's; no sandbox may see or change this\n")
	if err := os.WriteFile(e.sentinel, e.sentinelData, 0o644); err != nil {
		t.Fatal(err)
	}

	// The symlink target exists on the host and in the root, at one path:
	// a runner that followed the symlink out of the root would find it.
	vdir, err := os.MkdirTemp("/var/tmp", "hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vdir) })
	os.Chmod(vdir, 0o755)
	e.hostTarget = filepath.Join(vdir, "target")
	os.Mkdir(e.hostTarget, 0o777)
	if err := os.MkdirAll(filepath.Join(dir, e.hostTarget), 0o777); err != nil {
		t.Fatal(err)
	}

	e.cgroupRoot = fmt.Sprintf("/sandbox-hostile-%d", os.Getpid())
	t.Cleanup(func() {
		if ids, _ := limits.List(e.cgroupRoot); len(ids) > 0 {
			t.Errorf("cgroups left under %s: %v", e.cgroupRoot, ids)
		}
		limits.RemoveRoot(e.cgroupRoot)
	})

	// Servers the sandbox must not reach: TCP on the host's loopback, an
	// abstract unix socket, and a unix socket file on the host's root
	// filesystem (which the default root overlays).
	e.unixPath = filepath.Join(vdir, "sock")
	for _, l := range []struct{ network, addr string }{{"tcp", "127.0.0.1:0"}, {"unix", "@" + e.name}, {"unix", e.unixPath}} {
		ln, err := net.Listen(l.network, l.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				e.accepted.Add(1)
				c.Close()
			}
		}()
		switch l.network + l.addr[:1] {
		case "tcp1":
			e.tcpAddr = ln.Addr().String()
		case "unix@":
			e.abstractAddr = l.addr
		}
	}
	os.Chmod(e.unixPath, 0o777)

	if e.grade, err = profile.Load("grade"); err != nil {
		t.Fatal(err)
	}
	e.corePattern, _ = os.ReadFile("/proc/sys/kernel/core_pattern")
	if e.runnerExe, err = os.Executable(); err != nil {
		t.Fatal(err)
	}
	if e.runnerStat, err = os.Stat(e.runnerExe); err != nil {
		t.Fatal(err)
	}
	return e
}

// startCanary starts a process on the host for attacks to aim at; it must
// be alive and untraced after each run.
func startCanary(t *testing.T, e *hostileEnv) *exec.Cmd {
	cmd := &exec.Cmd{Path: filepath.Join(e.dir, "bin", e.name), Args: []string{"canary-" + strconv.Itoa(os.Getpid()), "sleep", "3600"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// canaryPid is the pid of the run's canary, from the Spec's environment.
func canaryPid(s *sandbox.Spec) int {
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "HOSTILE_CANARY="); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	panic("no canary")
}

// hostState is what a run must leave as it was.
type hostState struct {
	mounts    []string
	sentinels []string
}

func (e *hostileEnv) hostState(t *testing.T, s *sandbox.Spec) hostState {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	// Other tests and benchmarks of the machine mount in temporary
	// directories of their own meanwhile: there, only ours count.
	ours := []string{s.RunDir, e.dir, filepath.Dir(e.sentinel), filepath.Dir(e.hostTarget)}
	for _, m := range s.Mounts {
		ours = append(ours, m.Source)
	}
	var mounts []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || (isTemp(f[4]) && !slices.ContainsFunc(ours, func(d string) bool { return under(f[4], d) })) {
			continue
		}
		mounts = append(mounts, line)
	}
	ents, _ := os.ReadDir(filepath.Dir(e.sentinel))
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	return hostState{mounts: mounts, sentinels: names}
}

func isTemp(p string) bool {
	return under(p, os.TempDir()) || under(p, "/tmp") || under(p, "/var/tmp")
}

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func (e *hostileEnv) checkHost(t *testing.T, s *sandbox.Spec, before hostState, canary *exec.Cmd) {
	t.Helper()
	after := e.hostState(t, s)
	if diff := cmp.Diff(before.mounts, after.mounts); diff != "" {
		t.Errorf("the host's mount table changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.sentinels, after.sentinels); diff != "" {
		t.Errorf("the sentinel's directory changed (-before +after):\n%s", diff)
	}
	if b, err := os.ReadFile(e.sentinel); err != nil || !bytes.Equal(b, e.sentinelData) {
		t.Errorf("the sentinel changed: %q, %v", b, err)
	}
	if pids := hostProcesses(e.name); len(pids) > 0 {
		t.Errorf("processes of the sandbox outlived it: %v", pids)
	}
	if err := canary.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the host's canary process is gone: %v", err)
	} else if st := procStatus(canary.Process.Pid); st["TracerPid"] != "0" || strings.HasPrefix(st["State"], "t") || strings.HasPrefix(st["State"], "T") {
		t.Errorf("the host's canary is traced or stopped: state %q, tracer %q", st["State"], st["TracerPid"])
	}
	if ids, err := limits.List(e.cgroupRoot); err != nil || len(ids) > 0 {
		t.Errorf("cgroups left: %v %v", ids, err)
	}
	if n := e.accepted.Load(); n > 0 {
		t.Errorf("the host's servers accepted %d connections", n)
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); !bytes.Equal(b, e.corePattern) {
		t.Errorf("the host's core_pattern changed: %q, was %q", b, e.corePattern)
	}
	if fi, err := os.Stat(e.runnerExe); err != nil || fi.Size() != e.runnerStat.Size() || !fi.ModTime().Equal(e.runnerStat.ModTime()) {
		t.Errorf("the runner's binary %s changed: %v", e.runnerExe, err)
	}
}

func procStatus(pid int) map[string]string {
	m := map[string]string{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// hostProcesses lists pids whose command line contains s.
func hostProcesses(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// noFillFiles checks that a filler's files did not reach the host's dir.
func noFillFiles(dir string) func(*testing.T, *hostileEnv, *sandbox.Spec, *sandbox.Result) {
	return func(t *testing.T, _ *hostileEnv, _ *sandbox.Spec, _ *sandbox.Result) {
		if m, _ := filepath.Glob(filepath.Join(dir, "hostile-fill-*")); len(m) > 0 {
			t.Errorf("the filler's files are on the host: %d in %s", len(m), dir)
		}
	}
}

func endsPromptly(t *testing.T, _ *hostileEnv, _ *sandbox.Spec, res *sandbox.Result) {
	if res.Wall > 5*time.Second {
		t.Errorf("the run took %v: the daemon held it", res.Wall)
	}
}

func hostTargetEmpty(t *testing.T, e *hostileEnv, _ *sandbox.Spec, _ *sandbox.Result) {
	if ents, _ := os.ReadDir(e.hostTarget); len(ents) > 0 {
		t.Errorf("a mount through a planted symlink reached the host's %s: %v", e.hostTarget, ents)
	}
}

// hostileRoot is an empty root of the test's (the program is at /box).
func hostileRoot(t *testing.T) string {
	root, err := os.MkdirTemp("", "hostile-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := fixtures.Skeleton(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	return root
}

// leakDirFD opens dir without close-on-exec in the runner for the length
// of the test, as a careless caller would, and returns the descriptor.
func leakDirFD(t *testing.T, dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// plantSymlink has a first run, as hostile as the second, plant
// /pub/escape -> the host's target directory in a snapshot it commits; the
// second run, on that snapshot, binds a directory at /pub/escape/sub.
func plantSymlink(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	store := t.TempDir()
	st, err := snapshot.Open(snapshot.Config{Root: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), "base", e.dir, snapshot.ImportOptions{}); err != nil {
		st.Close()
		t.Fatal(err)
	}
	st.Close()

	first := *s
	first.Mounts = slices.Clone(s.Mounts)
	first.Args = []string{e.inside(), "plant", "/pub/escape", e.hostTarget}
	first.Snapshot = &sandbox.SnapshotRoot{Store: store, Name: "base", Commit: "planted"}
	if !sandbox.CommitDiskBounded() {
		// The planting run only sets the trap: where --disk cannot bound
		// a commit, it commits without one rather than being refused.
		first.Limits.Disk = 0
	}
	var out, errb bytes.Buffer
	first.IO.Stdout, first.IO.Stderr = &out, &errb
	res, err := sandbox.Run(context.Background(), &first)
	if err != nil || res.Committed != "planted" {
		t.Fatalf("planting run: %v, %+v: %q %q", err, res, out.String(), errb.String())
	}

	src := t.TempDir()
	os.Chmod(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Snapshot = &sandbox.SnapshotRoot{Store: store, Name: "planted"}
	s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: src, Destination: "/pub/escape/sub", ReadOnly: true})
}

// openPTY opens a pseudo-terminal of the host's and returns its slave,
// both ends closed when the test ends.
func openPTY(t *testing.T) *os.File {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// callerTerminal gives the run a terminal on stdin that is the
// controlling terminal of a session on the host, as a user's shell's is,
// and checks afterwards that nothing was pushed into its input.
func callerTerminal(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	tty := openPTY(t)
	shell := &exec.Cmd{Path: filepath.Join(e.dir, "bin", e.name), Args: []string{"shell-" + strconv.Itoa(os.Getpid()), "sleep", "3600"},
		Stdin: tty, SysProcAttr: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}}
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever was pushed into the terminal's input waits there for
		// the shell to read it.
		fd := int(tty.Fd())
		unix.SetNonblock(fd, true)
		buf := make([]byte, 256)
		if n, _ := unix.Read(fd, buf); n > 0 {
			t.Errorf("input was pushed into the caller's terminal: %q", buf[:n])
		}
		shell.Process.Kill()
		shell.Wait()
	})
	s.IO.Stdin = tty
}

// setuidCopies binds, at /suid, a setuid-root copy of the program and one
// with every file capability, both on a filesystem mounted with suid.
func setuidCopies(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	src, err := os.ReadFile(filepath.Join(e.dir, "bin", e.name))
	if err != nil {
		t.Fatal(err)
	}
	suid, caps := filepath.Join(dir, "suid-root"), filepath.Join(dir, "file-caps")
	for _, p := range []string{suid, caps} {
		if err := os.WriteFile(p, src, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(suid, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	// struct vfs_cap_data, revision 2, effective: every capability.
	var xattr [20]byte
	binary.LittleEndian.PutUint32(xattr[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(xattr[4:], 0xffffffff) // permitted, low word
	binary.LittleEndian.PutUint32(xattr[12:], 0x000001ff)
	if err := unix.Setxattr(caps, "security.capability", xattr[:], 0); err != nil {
		t.Fatalf("setting file capabilities: %v", err)
	}
	if fi, _ := os.Stat(suid); fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("%s is not setuid: %v", suid, fi.Mode())
	}
	s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: "/suid", ReadOnly: true})
}

// securityDocTests are the test names in the table of docs/security.md.
var securityDocTest = regexp.MustCompile("`(TestHostile/[^`]+)`")

// TestSecurityDoc keeps docs/security.md's table true: every test it names
// is a case of the hostile suite, and every case is in the table.
func TestSecurityDoc(t *testing.T) {
	f, err := os.Open("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inDoc := map[string]bool{}
	rows := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Errorf("docs/security.md: table row with %d cells, want 3 (attack | mechanism | test): %s", len(cells), line)
			continue
		}
		for _, m := range securityDocTest.FindAllStringSubmatch(cells[2], -1) {
			inDoc[m[1]] = true
			rows++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, c := range hostileCases() {
		cases = append(cases, "TestHostile/"+c.name)
	}
	var doc []string
	for n := range inDoc {
		doc = append(doc, n)
	}
	sort.Strings(cases)
	sort.Strings(doc)
	if diff := cmp.Diff(cases, doc); diff != "" {
		t.Errorf("tests of the hostile suite (-) and of docs/security.md's table (+) differ:\n%s", diff)
	}
	if rows == 0 {
		t.Error("docs/security.md: no test names found in its table")
	}
}
