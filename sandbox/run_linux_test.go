package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// testCgroupRoot keeps the tests' cgroups apart from real runs; TestMain
// checks it is empty at the end and removes it.
var testCgroupRoot = fmt.Sprintf("/sandbox-test-%d", os.Getpid())

func TestMain(m *testing.M) {
	// Inside a sandbox the test binary doubles as a probe of syscalls.
	if probe := os.Getenv(probeEnv); probe != "" {
		os.Exit(probeMain(probe))
	}
	if os.Getenv(zygoteThreadEnv) != "" {
		// A test binary of its own, with a cgroup root of its own.
		code := zygoteThreadMain()
		if fixtures.CgroupsLeft(testCgroupRoot, os.Stderr) {
			code = 1
		}
		os.Exit(code)
	}
	code := m.Run()
	if fixtures.CgroupsLeft(testCgroupRoot, os.Stderr) {
		code = 1
	}
	os.Exit(code)
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runner creates namespaces and mounts")
	}
}

// needRunner skips unless sandboxes can be made here: as root, or as the
// unprivileged user TestRootless runs the core tests as (rootless_linux_test.go).
func needRunner(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv(rootlessTestEnv) == "" {
		t.Skip("needs root, or a run by TestRootless as an unprivileged user")
	}
}

// run runs args in a sandbox with the test's own run directory and returns
// what CMD wrote.
func run(t *testing.T, spec *Spec) (stdout, stderr string, res *Result) {
	t.Helper()
	var out, errb bytes.Buffer
	if spec.RunDir == "" {
		spec.RunDir = testRunDir(t)
	}
	if spec.CgroupRoot == "" {
		spec.CgroupRoot = testCgroupRoot
	}
	spec.IO.Stdout, spec.IO.Stderr = &out, &errb
	res, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run(%q): %v (stderr %q)", spec.Args, err, errb.String())
	}
	return out.String(), errb.String(), res
}

// testRunDir is a run directory that must be empty when the test ends.
func testRunDir(t testing.TB) string {
	// Not t.TempDir: a test name may put a comma in the path, which
	// overlayfs's options cannot carry.
	dir, err := os.MkdirTemp("", "sandbox-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer os.RemoveAll(dir)
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("run directory not empty after the test: %v", ents)
		}
	})
	return dir
}

func sh(script string) *Spec { return &Spec{Args: []string{"sh", "-c", script}} }

func TestNamespaces(t *testing.T) {
	needRunner(t)
	// Not from the package's directory: under /tmp (a checkout there), it
	// would be shown in the private /tmp.
	t.Chdir("/")
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{"pid of CMD", "echo $$", "2\n"},
		{"hostname", "hostname", "sandbox\n"},
		{"network interfaces", "ls /sys/class/net", "lo\n"},
		// Builtins only: the shell starts no process while it looks.
		{"only sandbox processes", `cd /proc && for p in [0-9]*; do echo $p; done`, "1\n2\n"},
		{"init is PID 1", "cat /proc/1/comm", "sandbox-init\n"},
		{"loopback up", "cat /sys/class/net/lo/operstate", "unknown\n"},
		{"private /tmp", "ls -A /tmp | wc -l", "0\n"},
		{"PID 1 is off limits", "readlink /proc/1/exe /proc/1/root /proc/1/cwd /proc/1/fd/0; ls /proc/1/root/ 2>/dev/null | wc -l", "0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, res := run(t, sh(tt.script))
			if diff := cmp.Diff(tt.want, out); diff != "" || res.Status != StatusOK {
				t.Errorf("%s: status %s, stderr %q, output (-want +got):\n%s", tt.script, res.Status, errs, diff)
			}
		})
	}
	t.Run("masked paths read empty", func(t *testing.T) {
		n := 0
		for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/sysrq-trigger"} {
			if _, err := os.Lstat(p); err != nil {
				continue // not on this kernel: nothing to mask
			}
			n++
			out, errs, _ := run(t, sh("wc -c < "+p))
			if out != "0\n" {
				t.Errorf("%s inside: %q %q, want it masked (empty)", p, out, errs)
			}
		}
		if n == 0 {
			t.Skip("this kernel has none of the masked /proc files")
		}
	})
	t.Run("ps shows only the sandbox", func(t *testing.T) {
		if _, err := exec.LookPath("ps"); err != nil {
			t.Skip("ps not installed (Debian package procps)")
		}
		out, _, _ := run(t, &Spec{Args: []string{"ps", "-e", "-o", "pid=,comm="}})
		if diff := cmp.Diff([]string{"1", "sandbox-init", "2", "ps"}, strings.Fields(out)); diff != "" {
			t.Errorf("ps -e (-want +got):\n%s", diff)
		}
	})
	t.Run("namespaces differ from the host's", func(t *testing.T) {
		out, _, _ := run(t, &Spec{Args: []string{"readlink", "/proc/self/ns/pid", "/proc/self/ns/mnt", "/proc/self/ns/net", "/proc/self/ns/uts", "/proc/self/ns/ipc", "/proc/self/ns/cgroup"}})
		inside := strings.Fields(out)
		for i, ns := range []string{"pid", "mnt", "net", "uts", "ipc", "cgroup"} {
			host, _ := os.Readlink("/proc/self/ns/" + ns)
			if i >= len(inside) || inside[i] == host {
				t.Errorf("%s namespace: inside %v, host %s", ns, inside, host)
			}
		}
	})
	t.Run("a mount over /proc", func(t *testing.T) {
		// The stages need no /proc of the sandbox's once it is built: a
		// run's own mount may hide it.
		out, errs, res := run(t, &Spec{Args: []string{"sh", "-c", "ls -A /proc; echo ran"},
			Mounts: []Mount{{Type: MountTmpfs, Destination: "/proc"}}})
		if res.Status != StatusOK || out != "ran\n" {
			t.Errorf("with a tmpfs on /proc: %s %q %q %q", res.Status, out, errs, res.Message)
		}
	})
}

func TestNetworkNone(t *testing.T) {
	needRunner(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for /dev/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	connect := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected", port)
	for _, tt := range []struct {
		network string
		want    Status
	}{{NetworkNone, StatusRuntime}, {"", StatusRuntime}, {NetworkHost, StatusOK}} {
		t.Run("network="+tt.network, func(t *testing.T) {
			_, _, res := run(t, &Spec{Args: []string{"bash", "-c", connect}, Network: tt.network})
			if res.Status != tt.want {
				t.Errorf("connect to host's 127.0.0.1:%d with network %q: status %s, want %s", port, tt.network, res.Status, tt.want)
			}
		})
	}
}

func TestWritesStayInside(t *testing.T) {
	needRunner(t)
	name := fmt.Sprintf("sandbox-test-%d", time.Now().UnixNano())
	paths := []string{"/etc/" + name, "/usr/" + name, "/" + name}
	if os.Geteuid() != 0 {
		// Rootless, the host's directories of other owners are read-only
		// (see rootfs_linux.go): the root's top level is the sandbox's.
		paths = paths[2:]
		_, _, res := run(t, sh("echo x > /etc/"+name))
		if res.Status != StatusRuntime {
			t.Errorf("writing /etc rootless: status %s, want RE (read-only)", res.Status)
		}
		if _, err := os.Lstat("/etc/" + name); err == nil {
			os.Remove("/etc/" + name)
			t.Errorf("/etc/%s written inside is visible on the host", name)
		}
	}
	script := ""
	for _, p := range paths {
		script += fmt.Sprintf("echo x > %s && cat %s >/dev/null && ", p, p)
	}
	_, errs, res := run(t, sh(script+"true"))
	if res.Status != StatusOK {
		t.Fatalf("writing inside: status %s: %s", res.Status, errs)
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
			t.Errorf("%s written inside is visible on the host (%v)", p, err)
		}
	}
	out, _, _ := run(t, sh("ls "+strings.Join(paths, " ")+" 2>/dev/null; true"))
	if out != "" {
		t.Errorf("the next run sees the last one's files: %q", out)
	}
}

func TestBindMounts(t *testing.T) {
	needRunner(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ro     bool
		script string
		status Status
		out    string
	}{
		{"read-only bind is readable", true, "cat /data/in", StatusOK, "hello\n"},
		{"read-only bind cannot be written", true, "echo x > /data/out", StatusRuntime, ""},
		{"writable bind is written through", false, "echo written > /data/out", StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "out"))
			s := sh(tt.script)
			s.Mounts = []Mount{{Type: MountBind, Source: dir, Destination: "/data", ReadOnly: tt.ro}}
			out, _, res := run(t, s)
			if res.Status != tt.status || out != tt.out {
				t.Errorf("status %s output %q, want %s %q", res.Status, out, tt.status, tt.out)
			}
			_, err := os.Stat(filepath.Join(dir, "out"))
			if written := err == nil; written != (tt.status == StatusOK && !tt.ro) {
				t.Errorf("file written on the host: %v", written)
			}
		})
	}
	t.Run("tmpfs mount", func(t *testing.T) {
		s := sh("echo x > /scratch/f && grep -c ' /scratch tmpfs' /proc/mounts")
		s.Mounts = []Mount{{Type: MountTmpfs, Destination: "/scratch", Size: 1 << 20}}
		if out, _, res := run(t, s); out != "1\n" || res.Status != StatusOK {
			t.Errorf("tmpfs: %s %q", res.Status, out)
		}
	})
	t.Run("overlay mount writes land in the upper layer only", func(t *testing.T) {
		lower, upper, work := t.TempDir(), t.TempDir(), t.TempDir()
		// overlayfs leaves work/work mode 0 for its mounter: without root
		// that is the caller, who must open it up to remove it.
		t.Cleanup(func() { os.Chmod(filepath.Join(work, "work"), 0o700) })
		if err := os.WriteFile(filepath.Join(lower, "in"), []byte("lower\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := sh("cat /tree/in && echo changed > /tree/in && echo new > /tree/new && rm /tree/gone")
		if err := os.WriteFile(filepath.Join(lower, "gone"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		s.Mounts = []Mount{{Type: MountOverlay, Lower: []string{lower}, Upper: upper, Work: work, Destination: "/tree"}}
		if out, errs, res := run(t, s); out != "lower\n" || res.Status != StatusOK {
			t.Fatalf("overlay: %s %q %q", res.Status, out, errs)
		}
		for _, c := range []struct{ path, want string }{
			{filepath.Join(lower, "in"), "lower\n"}, {filepath.Join(upper, "in"), "changed\n"}, {filepath.Join(upper, "new"), "new\n"},
		} {
			if b, err := os.ReadFile(c.path); err != nil || string(b) != c.want {
				t.Errorf("%s: %q %v, want %q", c.path, b, err, c.want)
			}
		}
		if _, err := os.Stat(filepath.Join(lower, "gone")); err != nil {
			t.Errorf("a removal reached the lower layer: %v", err)
		}
	})
	t.Run("bind target behind a symlink stays inside the root", func(t *testing.T) {
		// A root whose /escape points at the host's /tmp directory: the
		// bind must land inside the root (at /tmp of the sandbox), never on
		// the host's directory.
		root := t.TempDir()
		hostTarget := t.TempDir()
		if err := os.Symlink(hostTarget, filepath.Join(root, "escape")); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "run"} {
			os.Mkdir(filepath.Join(root, d), 0o755)
		}
		s := &Spec{Args: []string{"/bin/true"}, Root: root,
			Mounts: []Mount{{Type: MountBind, Source: dir, Destination: "/escape/sub"}}}
		var errb bytes.Buffer
		s.IO.Stderr = &errb
		s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
		Run(context.Background(), s) // /bin/true is absent: 127 is fine
		if ents, _ := os.ReadDir(hostTarget); len(ents) != 0 {
			t.Errorf("bind through a symlink reached the host: %v", ents)
		}
	})
}

func TestDomainname(t *testing.T) {
	needRoot(t)
	host, err := os.ReadFile("/proc/sys/kernel/domainname")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, domain, want string }{
		{"set", "example.org", "example.org\n"},
		{"unset: the host's", "", string(host)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := sh("cat /proc/sys/kernel/domainname")
			s.Domainname = tt.domain
			if out, errs, res := run(t, s); out != tt.want || res.Status != StatusOK {
				t.Errorf("domain name %q (%s, %q), want %q", out, res.Status, errs, tt.want)
			}
		})
	}
}

// TestOOMScoreAdj: every process of the run has it, CMD's children
// included.
func TestOOMScoreAdj(t *testing.T) {
	needRunner(t)
	s := sh("cat /proc/self/oom_score_adj; sh -c 'cat /proc/self/oom_score_adj'")
	s.OOMScoreAdj = ptr(312)
	if out, errs, res := run(t, s); out != "312\n312\n" || res.Status != StatusOK {
		t.Errorf("oom_score_adj %q (%s, %q), want 312 twice", out, res.Status, errs)
	}
}

func ptr[T any](v T) *T { return &v }

func TestExitStatus(t *testing.T) {
	needRunner(t)
	notExec := filepath.Join(t.TempDir(), "notexec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		status   Status
		exit     int
		signal   int
		exitCode int
	}{
		{"success", []string{"true"}, StatusOK, 0, 0, 0},
		{"exit 3", []string{"sh", "-c", "exit 3"}, StatusRuntime, 3, 0, 3},
		{"killed by SIGKILL", []string{"sh", "-c", "kill -9 $$"}, StatusSignal, 137, 9, -1},
		{"killed by SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, StatusSignal, 143, 15, -1},
		{"not executable", []string{notExec}, StatusRuntime, 126, 0, 126},
		{"directory", []string{"/etc"}, StatusRuntime, 126, 0, 126},
		{"not found", []string{"no-such-command-here"}, StatusRuntime, 127, 0, 127},
		{"not found by path", []string{"/no/such/file"}, StatusRuntime, 127, 0, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Spec{Args: tt.args}
			if tt.name == "not executable" {
				s.Mounts = []Mount{{Type: MountBind, Source: filepath.Dir(notExec), Destination: filepath.Dir(notExec)}}
			}
			_, _, res := run(t, s)
			type got struct {
				Status                       Status
				ExitStatus, Signal, ExitCode int
			}
			want := got{tt.status, tt.exit, tt.signal, tt.exitCode}
			if diff := cmp.Diff(want, got{res.Status, res.ExitStatus(), res.Signal, res.ExitCode}); diff != "" {
				t.Errorf("%q (-want +got):\n%s\nmessage %q", tt.args, diff, res.Message)
			}
		})
	}
}

func TestInvalidSpec(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no command", Spec{}, "no command"},
		{"missing root", Spec{Args: []string{"true"}, Root: "/no/such/root"}, "root"},
		{"root is a file", Spec{Args: []string{"true"}, Root: file}, "not a directory"},
		{"bad network", Spec{Args: []string{"true"}, Network: "bridge"}, "network"},
		{"missing bind source", Spec{Args: []string{"true"}, Mounts: []Mount{{Type: MountBind, Source: "/no/such", Destination: "/x"}}}, "bind source"},
		{"relative destination", Spec{Args: []string{"true"}, Mounts: []Mount{{Type: MountTmpfs, Destination: "x"}}}, "absolute"},
		{"bad capability", Spec{Args: []string{"true"}, CapAdd: []string{"CAP_FLY"}}, "CAP_FLY"},
		{"bad env", Spec{Args: []string{"true"}, Env: []string{"NOEQUALS"}}, "NOEQUALS"},
		{"NUL in an argument", Spec{Args: []string{"echo", "a\x00b"}}, "NUL"},
		{"NUL in the environment", Spec{Args: []string{"true"}, Env: []string{"A=1\x002"}}, "NUL"},
		{"NUL in the hostname", Spec{Args: []string{"true"}, Hostname: "h\x00"}, "NUL"},
		{"NUL in a mount", Spec{Args: []string{"true"}, Mounts: []Mount{{Type: MountTmpfs, Destination: "/x\x00"}}}, "NUL"},
		{"oom_score_adj out of range", Spec{Args: []string{"true"}, OOMScoreAdj: ptr(1001)}, "oom_score_adj 1001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.RunDir, tt.spec.CgroupRoot = testRunDir(t), testCgroupRoot
			_, err := Run(context.Background(), &tt.spec)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want ErrInvalidSpec naming %q", err, tt.want)
			}
		})
	}
}

func TestHermeticEnv(t *testing.T) {
	needRunner(t)
	t.Setenv("SANDBOX_TEST_SECRET", "leak")
	t.Setenv("TERM", "xterm")
	out, _, _ := run(t, &Spec{Args: []string{"env"}})
	got := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(got)
	want := []string{"HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8", "PATH=" + os.Getenv("PATH"), "TERM=xterm", "TZ=UTC"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env inside (-want +got):\n%s", diff)
	}
}

func TestWorkdir(t *testing.T) {
	needRunner(t)
	// The test may run from under /tmp, which the sandbox replaces: start
	// from a directory every root has.
	t.Chdir("/usr/bin")
	tests := []struct {
		name string
		spec *Spec
		want string
	}{
		{"caller's directory", &Spec{Args: []string{"pwd"}}, "/usr/bin\n"},
		{"explicit and created", &Spec{Args: []string{"pwd"}, Dir: "/new/dir"}, "/new/dir\n"},
		{"caller's directory absent in a root of its own", &Spec{Args: []string{"/bin/pwd"}}, "/\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "absent") {
				tt.spec.Root = fixtures.Busybox(t)
				t.Chdir("/usr/share") // on the host, not in a busybox root
			}
			if out, errs, _ := run(t, tt.spec); out != tt.want {
				t.Errorf("pwd: %q, want %q (stderr %q)", out, tt.want, errs)
			}
		})
	}
}

// The caller's directory is CMD's even under the private /tmp and /run:
// CMD sees what is there, its writes stay in the sandbox, and the rest of
// the host's /tmp or /run stays hidden.
func TestWorkdirPrivate(t *testing.T) {
	needRoot(t)
	for _, parent := range []string{"/tmp", "/run"} {
		t.Run(parent, func(t *testing.T) {
			top, err := os.MkdirTemp(parent, "sandbox-wd-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(top) })
			dir := filepath.Join(top, "proj")
			os.Mkdir(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644)
			os.WriteFile(filepath.Join(top, "sibling"), nil, 0o644)
			t.Chdir(dir)
			out, errs, res := run(t, sh("pwd; cat go.mod; echo new > written; cat written; rm go.mod; ls "+top))
			want := dir + "\nmodule x\nnew\nproj\n"
			if out != want || res.Status != StatusOK {
				t.Errorf("in %s: %q, want %q (status %s, stderr %q)", dir, out, want, res.Status, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "written")); err == nil {
				t.Errorf("a write in the working directory reached the host")
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
				t.Errorf("a removal in the working directory reached the host: %v", err)
			}
		})
	}
}

// A live socket in the caller's directory (an X server's, a container
// engine's under /run) stays out of reach: the directory is shown through
// an overlay, whose socket files are not the host's, never bound; where
// overlayfs cannot take the directory, the run fails instead.
func TestWorkdirSocketsOutOfReach(t *testing.T) {
	needRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plain", "with,comma"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			os.Mkdir(dir, 0o755)
			sock := filepath.Join(dir, "engine.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			t.Chdir(dir)
			var out bytes.Buffer
			res, err := Run(context.Background(), &Spec{Args: []string{self}, RunDir: testRunDir(t), CgroupRoot: testCgroupRoot,
				Env: append(HermeticEnv(os.Environ()), probeEnv+"=connect-unix="+sock), IO: IO{Stdout: &out, Stderr: &out}})
			switch got := strings.TrimSpace(out.String()); {
			case err != nil:
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("Run in %s failed without naming it: %v", dir, err)
				}
			case got != "ECONNREFUSED":
				t.Errorf("connecting to the host's %s from inside: %q (status %s), want ECONNREFUSED", sock, got, res.Status)
			}
		})
	}
}

// A working directory that cannot be had fails the run, naming it; the
// sandbox never runs CMD in "/" instead.
func TestWorkdirUnavailable(t *testing.T) {
	needRoot(t)
	t.Run("deleted", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "sandbox-wd-")
		if err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		os.Remove(dir)
		_, err = Run(context.Background(), &Spec{Args: []string{"pwd"}, RunDir: testRunDir(t), CgroupRoot: testCgroupRoot})
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), dir+" (deleted)") {
			t.Errorf("Run in a deleted directory: %v, want ErrInvalidSpec naming %s", err, dir)
		}
	})
	t.Run("in a kernel view of the host's", func(t *testing.T) {
		// /proc/PID of a host process: the sandbox's /proc is its own.
		wd := fmt.Sprintf("/proc/%d", os.Getpid())
		t.Chdir(wd)
		var errb bytes.Buffer
		_, err := Run(context.Background(), &Spec{Args: []string{"pwd"}, RunDir: testRunDir(t), CgroupRoot: testCgroupRoot,
			IO: IO{Stderr: &errb}})
		if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "working directory "+wd) {
			t.Errorf("Run in %s: %v, want ErrSetup naming it", wd, err)
		}
	})
	t.Run("inside the run directory", func(t *testing.T) {
		runDir := testRunDir(t)
		t.Chdir(runDir)
		_, err := Run(context.Background(), &Spec{Args: []string{"pwd"}, RunDir: runDir, CgroupRoot: testCgroupRoot})
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "inside the run directory") {
			t.Errorf("Run in the run directory: %v, want ErrInvalidSpec", err)
		}
	})
}

// CMD's own file is found where the caller sees it, under /tmp too (go test
// -exec hands over a binary in $GOTMPDIR), by path or through PATH.
func TestCommandInPrivateDir(t *testing.T) {
	needRoot(t)
	t.Chdir("/usr/bin")
	dir, err := os.MkdirTemp("", "sandbox-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	prog := filepath.Join(dir, "prog")
	os.WriteFile(prog, []byte("#!/bin/sh\necho ran; ls "+dir+"\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o644)
	os.Symlink(prog, filepath.Join(dir, "link"))
	tests := []struct {
		name string
		spec *Spec
	}{
		{"absolute path", &Spec{Args: []string{prog}}},
		{"through PATH", &Spec{Args: []string{"prog"}, Env: []string{"PATH=" + dir + ":/usr/bin:/bin"}}},
		{"through a symlink", &Spec{Args: []string{filepath.Join(dir, "link")}}},
	}
	t.Run("missing", func(t *testing.T) {
		if _, _, res := run(t, &Spec{Args: []string{filepath.Join(dir, "missing")}}); res.ExitCode != ExitNotFound {
			t.Errorf("a missing CMD under /tmp: exit %d, want %d", res.ExitCode, ExitNotFound)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, res := run(t, tt.spec)
			// Only the file is shown, not its neighbours.
			if !strings.HasPrefix(out, "ran\n") || strings.Contains(out, "other") || res.Status != StatusOK {
				t.Errorf("%s: %q (status %s, stderr %q)", tt.spec.Args[0], out, res.Status, errs)
			}
		})
	}
	t.Run("read-only", func(t *testing.T) {
		self := filepath.Join(dir, "self")
		os.WriteFile(self, []byte("#!/bin/sh\necho x >> $0 2>/dev/null || echo refused\n"), 0o755)
		out, _, _ := run(t, &Spec{Args: []string{self}})
		if out != "refused\n" {
			t.Errorf("CMD writing its own shown file: %q", out)
		}
	})
}

func TestOwnRoot(t *testing.T) {
	needRunner(t)
	root := fixtures.Busybox(t)
	before, _ := os.ReadDir(filepath.Join(root, "etc"))
	out, errs, res := run(t, &Spec{Root: root, Args: []string{"sh", "-c",
		"echo $$; test -e /usr/local/go && echo host-visible; echo x > /etc/new && cat /etc/new; ls /proc/1/comm"}})
	if out != "2\nx\n/proc/1/comm\n" || res.Status != StatusOK {
		t.Errorf("in a busybox root: %q (status %s, stderr %q)", out, res.Status, errs)
	}
	if after, _ := os.ReadDir(filepath.Join(root, "etc")); len(after) != len(before) {
		t.Errorf("the root's tree changed on the host: %d entries in etc, were %d", len(after), len(before))
	}
	t.Run("static Go program", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds a Go program: skipped with -short")
		}
		root := t.TempDir()
		if err := fixtures.GoRoot(root, "../fixtures/testprog"); err != nil {
			t.Fatal(err)
		}
		out, _, res := run(t, &Spec{Root: root, Args: []string{"/bin/testprog", "hostname"}})
		if out != "sandbox\n" || res.Status != StatusOK {
			t.Errorf("testprog hostname: %q %s", out, res.Status)
		}
	})
}

func TestPrivileges(t *testing.T) {
	needRunner(t)
	status := func(t *testing.T, s *Spec) map[string]string {
		out, _, _ := run(t, s)
		m := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (strings.HasPrefix(k, "Cap") || k == "NoNewPrivs") {
				m[k] = strings.TrimSpace(v)
			}
		}
		return m
	}
	zero := "0000000000000000"
	t.Run("all dropped", func(t *testing.T) {
		got := status(t, &Spec{Args: []string{"cat", "/proc/self/status"}})
		want := map[string]string{"CapInh": zero, "CapPrm": zero, "CapEff": zero, "CapBnd": zero, "CapAmb": zero, "NoNewPrivs": "1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("/proc/self/status (-want +got):\n%s", diff)
		}
	})
	t.Run("cap-add keeps one", func(t *testing.T) {
		got := status(t, &Spec{Args: []string{"cat", "/proc/self/status"}, CapAdd: []string{"NET_RAW"}})
		raw := fmt.Sprintf("%016x", 1<<13)
		// CMD runs as the caller: a non-root one keeps an added
		// capability across exec only as an ambient one.
		amb := zero
		if os.Getuid() != 0 {
			amb = raw
		}
		want := map[string]string{"CapInh": raw, "CapPrm": raw, "CapEff": raw, "CapBnd": raw, "CapAmb": amb, "NoNewPrivs": "1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("/proc/self/status (-want +got):\n%s", diff)
		}
	})
	// PID 1 bounds the set the exec stage inherits to CMD's, then drops
	// what is left of its own: nothing of it is PID 1's once CMD runs,
	// whatever CMD was given.
	for _, add := range [][]string{nil, {"NET_RAW", "SYS_PTRACE"}} {
		t.Run(fmt.Sprintf("PID 1 with %v added", add), func(t *testing.T) {
			got := status(t, &Spec{Args: []string{"cat", "/proc/1/status"}, CapAdd: add})
			want := map[string]string{"CapInh": zero, "CapPrm": zero, "CapEff": zero, "CapBnd": zero, "CapAmb": zero, "NoNewPrivs": "1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/proc/1/status (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("other user", func(t *testing.T) {
		if os.Geteuid() != 0 && os.Getenv(EnvIDMap) == IDMapSingle { // (auto takes the range for --user)
			t.Skip("a single-id map has no other user (TestPlanUserNS checks the refusal)")
		}
		out, _, _ := run(t, &Spec{Args: []string{"id", "-u"}, User: &User{UID: 65534, GID: 65534}})
		if out != "65534\n" {
			t.Errorf("id -u: %q", out)
		}
	})
	if _, err := exec.LookPath("capsh"); err == nil {
		t.Run("capsh", func(t *testing.T) {
			out, _, _ := run(t, &Spec{Args: []string{"capsh", "--print"}})
			if !strings.Contains(out, "Current: =\n") || !strings.Contains(out, "Bounding set =\n") {
				t.Errorf("capsh --print:\n%s", out)
			}
		})
	}
}

func TestDescriptors(t *testing.T) {
	needRunner(t)
	// A descriptor the caller left open without close-on-exec must not
	// reach CMD either.
	leak, err := unix.Dup(1)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leak)
	out, _, _ := run(t, &Spec{Args: []string{"ls", "/proc/self/fd"}})
	if got := strings.Fields(out); !cmp.Equal(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("descriptors inside: %v, want 0 1 2 and ls's own 3", got)
	}
	t.Run("preserved", func(t *testing.T) {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s := &Spec{Args: []string{"sh", "-c", "readlink /proc/self/fd/3; ls /proc/self/fd | wc -l"}}
		s.IO.ExtraFiles = []*os.File{f}
		if out, _, _ := run(t, s); out != "/dev/null\n5\n" {
			t.Errorf("preserved fd 3: %q", out)
		}
	})
}

func TestStdio(t *testing.T) {
	needRunner(t)
	s := &Spec{Args: []string{"sh", "-c", "cat; echo err >&2"}}
	s.IO.Stdin = strings.NewReader("streamed\n")
	out, errs, _ := run(t, s)
	if out != "streamed\n" || errs != "err\n" {
		t.Errorf("stdout %q stderr %q", out, errs)
	}
}

func TestZombiesReaped(t *testing.T) {
	needRunner(t)
	// Each child forks a grandchild and exits: the grandchildren are
	// orphans that PID 1 must reap.
	script := `for i in $(seq 100); do (sh -c 'exit 0' &) ; done; sleep 0.3;
		z=0; for s in /proc/[0-9]*/stat; do case "$(cut -d' ' -f3 $s 2>/dev/null)" in Z) z=$((z+1));; esac; done; echo $z`
	out, errs, res := run(t, sh(script))
	if out != "0\n" || res.Status != StatusOK {
		t.Errorf("zombies left: %q (status %s, stderr %q)", out, res.Status, errs)
	}
}

func TestBackgroundKilled(t *testing.T) {
	needRunner(t)
	marker := fmt.Sprintf("%d.%d", 1000+time.Now().Nanosecond()%1000, os.Getpid())
	start := time.Now()
	_, _, res := run(t, sh("sleep "+marker+" & sleep "+marker+" & echo started"))
	if res.Status != StatusOK {
		t.Fatalf("status %s", res.Status)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v: the background sleeps held it", d)
	}
	if pids := hostProcesses("sleep " + marker); len(pids) > 0 {
		t.Errorf("background processes survived the run: %v", pids)
	}
}

// mountsMentioning lists the host's mounts whose line in mountinfo names
// dir: every mount a run makes lies on or names its run directory, so any
// such line on the host is a leak, whatever other processes mount meanwhile.
func mountsMentioning(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, dir) {
			out = append(out, line)
		}
	}
	return out
}

// ourChildren lists this test process's children whose command line
// contains s: other test binaries may run sandboxes at the same time.
func ourChildren(s string) []int {
	var pids []int
	for _, pid := range hostProcesses(s) {
		if p, ok := fixtures.ProcOf(pid); ok && p.PPid == os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
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

func TestContextCancel(t *testing.T) {
	needRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	marker := fmt.Sprintf("%d.5", 2000+os.Getpid()%1000)
	s := sh("sleep " + marker)
	s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
	res, err := Run(ctx, s)
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || res.Signal != int(unix.SIGKILL) {
		t.Errorf("Run after cancel: %+v, %v", res, err)
	}
	if pids := hostProcesses("sleep " + marker); len(pids) > 0 {
		t.Errorf("processes survived cancel: %v", pids)
	}
}

func TestSignalForwarded(t *testing.T) {
	needRunner(t)
	var out bytes.Buffer
	r, w, _ := os.Pipe()
	s := sh(`trap 'echo got; exit 42' TERM; echo ready; while :; do sleep 0.05; done`)
	s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
	s.IO.Stdout = w
	c, err := Start(context.Background(), s)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := r.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("waiting for ready: %q %v", buf, err)
	}
	if err := c.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait()
	out.ReadFrom(r)
	r.Close()
	if err != nil || res.ExitStatus() != 42 || out.String() != "got\n" {
		t.Errorf("after SIGTERM: %+v %v, output %q", res, err, out.String())
	}
}

// TestNothingLeaks runs many sandboxes, failing and killed ones among them,
// and checks that the test process and the host are as they were.
func TestNothingLeaks(t *testing.T) {
	needRunner(t)
	n := 200
	if testing.Short() {
		n = 40
	}
	runDir := testRunDir(t)
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	mounts := func() map[string]bool {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			m[l] = true
		}
		return m
	}
	// A process's first run makes what every later one shares for the
	// process's life (the zygote's socket, the mount table's file): a
	// leak is what grows after it.
	if _, err := Run(context.Background(), &Spec{Args: []string{"true"}, RunDir: runDir, CgroupRoot: testCgroupRoot}); err != nil {
		t.Fatal(err)
	}
	beforeFDs, beforeMounts := fds(), mounts()
	for i := 0; i < n; i++ {
		var s *Spec
		ctx, cancel := context.WithCancel(context.Background())
		switch i % 5 {
		case 0:
			s = &Spec{Args: []string{"true"}}
		case 1:
			s = sh("exit 7")
		case 2:
			s = sh("kill -9 $$")
		case 3:
			s = &Spec{Args: []string{"no-such-command"}}
		case 4: // killed from outside while running
			s = sh("sleep 10 & sleep 10")
			time.AfterFunc(20*time.Millisecond, cancel)
		}
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		if _, err := Run(ctx, s); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: %v", i, err)
		}
		cancel()
	}
	if m := mountsMentioning(runDir); len(m) > 0 {
		t.Errorf("mounts of the runs left on the host:\n%s", strings.Join(m, "\n"))
	}
	// Not one new entry in the test process's mount table, whatever it names.
	for l := range mounts() {
		if !beforeMounts[l] {
			t.Errorf("new mount after %d runs: %s", n, l)
		}
	}
	if got := fds(); got > beforeFDs {
		t.Errorf("open descriptors: %d before, %d after", beforeFDs, got)
	}
	if pids := ourChildren(stage.InitArg0); len(pids) > 0 {
		t.Errorf("init processes left: %v", pids)
	}
	if pids := hostProcesses("sleep 10"); len(pids) > 0 {
		t.Errorf("sandboxed processes left: %v", pids)
	}
	if ids, err := limits.List(testCgroupRoot); err != nil || len(ids) > 0 {
		t.Errorf("cgroups left: %v %v", ids, err)
	}
}

// TestEndOfRun: PID 1 ends what CMD left running, leaves the run's groups
// and reports, and the runner removes them while PID 1's namespaces are
// torn down; a process PID 1 may not signal (another uid, where CMD's ids
// are PID 1's) ends with the pid namespace, and the groups go after it.
// Either way nothing is left.
func TestEndOfRun(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	tests := []struct {
		name string
		spec *Spec
		left string // what CMD leaves running
	}{
		{"background process", sh("sleep 31.4159 & exit 3"), "sleep 31.4159"},
		{"process of another uid", func() *Spec {
			s := sh("setpriv --reuid 4242 --regid 4242 --clear-groups sleep 32.7182 & sleep 0.1; exit 3")
			s.CapAdd = []string{"CAP_SETUID", "CAP_SETGID"}
			return s
		}(), "sleep 32.7182"},
	}
	runDir := testRunDir(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.RunDir, tt.spec.CgroupRoot = runDir, testCgroupRoot
			res, err := Run(context.Background(), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 3 {
				t.Errorf("exit code %d, want 3 (%+v)", res.ExitCode, res)
			}
			// What CMD left sleeps for 30 s: a run as long ended by waiting
			// for it, not by ending it.
			if res.Wall > 20*time.Second {
				t.Errorf("the run took %v: it waited for what CMD left running", res.Wall)
			}
			if ids, err := limits.List(testCgroupRoot); err != nil || len(ids) > 0 {
				t.Errorf("cgroups left: %v %v", ids, err)
			}
			if pids := hostProcesses(tt.left); len(pids) > 0 {
				t.Errorf("sandboxed processes left: %v", pids)
			}
			if e, _ := os.ReadDir(runDir); len(e) > 0 {
				t.Errorf("run directory not empty: %v", e)
			}
		})
	}
}

// TestInitHoldsNoWayOut: a CMD given CAP_SYS_PTRACE reaches PID 1's
// descriptors (/proc/1/fd here; pidfd_getfd and injected syscalls too):
// none of them may be a cgroup's tasks file, which would move CMD out of
// its groups and its limits. Written against 93d3c69, whose PID 1 held
// the parent groups' tasks files for the whole run.
func TestInitHoldsNoWayOut(t *testing.T) {
	needRoot(t)
	s := sh(`for f in /proc/1/fd/*; do
		case "$(readlink "$f")" in *cgroup*) echo "$$" > "$f" 2>/dev/null && echo "escaped through $(readlink "$f")";; esac
	done
	cat /proc/self/cgroup`)
	s.CapAdd = []string{"CAP_SYS_PTRACE"}
	s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
	var out strings.Builder
	s.IO.Stdout = &out
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK {
		t.Fatalf("run: %s %q", res.Status, res.Message)
	}
	if strings.Contains(out.String(), "escaped") || strings.Contains(out.String(), "/..") {
		t.Errorf("CMD left its cgroup through PID 1's descriptors:\n%s", out.String())
	}
}

// TestInitHoldsNoStdio: once the exec stage has CMD's stdio, PID 1 keeps
// none of it. Its copies kept the caller's pipes open until PID 1's own
// end, and were one more way to the caller's streams through /proc/1/fd.
func TestInitHoldsNoStdio(t *testing.T) {
	needRoot(t)
	s := sh(`ls /proc/1/fd`)
	s.CapAdd = []string{"CAP_SYS_PTRACE"} // to read PID 1's descriptors
	s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
	var out strings.Builder
	s.IO.Stdout = &out
	s.IO.Stdin = strings.NewReader("input")
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK {
		t.Fatalf("run: %s %q", res.Status, res.Message)
	}
	fds := strings.Fields(out.String())
	if len(fds) == 0 {
		t.Fatal("CMD listed no descriptors of PID 1")
	}
	for _, fd := range fds {
		if fd == "0" || fd == "1" || fd == "2" {
			t.Errorf("PID 1 holds descriptor %s (all: %q)", fd, fds)
		}
	}
}

func TestGC(t *testing.T) {
	runDir := t.TempDir()
	past := time.Now().Add(-time.Hour)
	// A run's lock file with nobody holding it is debris; a locked one is
	// live. So is a run directory holding one, as runners before made them.
	for _, id := range []string{"dead", "live"} {
		os.WriteFile(filepath.Join(runDir, id), nil, 0o600)
		os.MkdirAll(filepath.Join(runDir, "dir-"+id), 0o700)
		os.WriteFile(filepath.Join(runDir, "dir-"+id, "lock"), nil, 0o600)
	}
	for _, p := range []string{"live", "dir-live/lock", ".new-locked"} {
		os.WriteFile(filepath.Join(runDir, p), nil, 0o600)
		f, err := os.Open(filepath.Join(runDir, p))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(filepath.Join(runDir, ".new-locked"), past, past)
	// Half-made: young (perhaps not locked yet) or old and unlocked (dead).
	os.WriteFile(filepath.Join(runDir, ".new-fresh"), nil, 0o600)
	os.WriteFile(filepath.Join(runDir, ".new-old"), nil, 0o600)
	os.Chtimes(filepath.Join(runDir, ".new-old"), past, past)
	os.Mkdir(filepath.Join(runDir, ".new-freshdir"), 0o700)
	os.Mkdir(filepath.Join(runDir, ".new-olddir"), 0o700)
	os.Chtimes(filepath.Join(runDir, ".new-olddir"), past, past)

	got, err := GC(runDir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"dead", "dir-dead", "old", "olddir"}, got); diff != "" {
		t.Errorf("GC cleaned (-want +got):\n%s", diff)
	}
	ents, _ := os.ReadDir(runDir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if diff := cmp.Diff([]string{".new-fresh", ".new-freshdir", ".new-locked", "dir-live", "live"}, left); diff != "" {
		t.Errorf("left after GC (-want +got):\n%s", diff)
	}
}
