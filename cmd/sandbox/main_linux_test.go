package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/cmd/sandbox/internal/earlysig"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testdata is absolute: some tests change directory.
var testdata, _ = filepath.Abs("testdata")

// The test binary doubles as the sandbox command: with this variable set it
// runs main, so CLI tests exercise the real entry point, init stage included.
const mainEnv = "SANDBOX_TEST_RUN_MAIN"

// cgroupRoot keeps the tests' cgroups apart from real runs.
var cgroupRoot = fmt.Sprintf("/sandbox-test-cli-%d", os.Getpid())

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	code := m.Run()
	if os.Geteuid() == 0 {
		if ids, _ := limits.List(cgroupRoot); len(ids) > 0 {
			fmt.Fprintf(os.Stderr, "cgroups left under %s: %v\n", cgroupRoot, ids)
			code = 1
		}
		limits.RemoveRoot(cgroupRoot)
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runner creates namespaces and mounts")
	}
}

// sandboxCmd is the sandbox command line args, with a run directory of the
// test's own that must be empty at the end.
func sandboxCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1", "SANDBOX_CGROUP_ROOT="+cgroupRoot, "SANDBOX_RUN_DIR="+runDir(t))
	return cmd
}

func runDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "run")
	t.Cleanup(func() {
		if left := runsLeft(dir); len(left) > 0 {
			t.Errorf("run directory not empty after the test: %v", left)
		}
	})
	return dir
}

// runsLeft lists what is in a run directory but the build part its
// exec's keep there for the next (TestBuildKept).
func runsLeft(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		if e.Name() != ".build" {
			left = append(left, e.Name())
		}
	}
	return left
}

type outcome struct {
	Stdout, Stderr string
	Exit           int
}

func runSandbox(t *testing.T, stdin string, args ...string) outcome {
	t.Helper()
	cmd := sandboxCmd(t, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running sandbox %q: %v", args, err)
	}
	return outcome{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestHelpAndErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"top-help", []string{"--help"}, 0},
		{"help-command", []string{"help"}, 0},
		{"no-args", nil, 125},
		{"unknown-command", []string{"frobnicate"}, 125},
		{"exec-help", []string{"exec", "--help"}, 0},
		{"exec-help-short", []string{"exec", "-h"}, 0},
		{"help-exec", []string{"help", "exec"}, 0},
		{"gc-help", []string{"gc", "--help"}, 0},
		{"check-help", []string{"check", "--help"}, 0},
		{"check-bad-arg", []string{"check", "extra"}, 125},
		{"exec-bad-flag", []string{"exec", "--frobnicate", "--", "true"}, 125},
		{"exec-no-command", []string{"exec"}, 125},
		{"exec-bad-bind", []string{"exec", "--bind", "/no/such/dir:/x", "--", "true"}, 125},
		{"exec-bad-bind-form", []string{"exec", "-v", "onlyone", "--", "true"}, 125},
		{"exec-bad-bind-option", []string{"exec", "-v", "/tmp:/x:ro,follow", "--", "true"}, 125},
		{"exec-bad-tmpfs-size", []string{"exec", "--tmpfs", "/x:banana", "--", "true"}, 125},
		{"exec-bad-network", []string{"exec", "--network", "bridge", "--", "true"}, 125},
		{"exec-bad-workdir", []string{"exec", "-w", "relative", "--", "true"}, 125},
		{"exec-bad-user", []string{"exec", "--user", "no-such-user-here", "--", "true"}, 125},
		{"exec-bad-cap", []string{"exec", "--cap-add", "CAP_FLY", "--", "true"}, 125},
		{"exec-bad-root", []string{"exec", "--root", "/no/such/root", "--", "true"}, 125},
		{"exec-bad-memory", []string{"exec", "--memory", "banana", "--", "true"}, 125},
		{"exec-negative-memory", []string{"exec", "--memory", "-1", "--", "true"}, 125},
		{"exec-zero-pids", []string{"exec", "--pids", "0", "--", "true"}, 125},
		{"exec-bad-cpus", []string{"exec", "--cpus", "0", "--", "true"}, 125},
		{"exec-missing-cpuset", []string{"exec", "--cpuset", "999", "--", "true"}, 125},
		{"exec-bad-time", []string{"exec", "--time", "-2s", "--", "true"}, 125},
		{"exec-bad-rlimit", []string{"exec", "--nofile", "10:5", "--", "true"}, 125},
		{"exec-nproc-root", []string{"exec", "--user", "0", "--nproc", "32", "--", "true"}, 125},
		{"exec-nproc-cap", []string{"exec", "--user", "65534", "--cap-add", "SYS_ADMIN", "--nproc", "32", "--", "true"}, 125},
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

func TestReportFlags(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.json")
	got := runSandbox(t, "", "exec", "--json", "--report", file, "--memory", "64M", "--", "sh", "-c", "exit 4")
	if got.Exit != 4 {
		t.Fatalf("exit %d, want CMD's 4 (stderr %q)", got.Exit, got.Stderr)
	}
	var fromFile, fromStderr map[string]any
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fromFile); err != nil {
		t.Fatalf("report file: %v\n%s", err, b)
	}
	if err := json.Unmarshal([]byte(got.Stderr), &fromStderr); err != nil {
		t.Fatalf("--json on stderr: %v\n%s", err, got.Stderr)
	}
	if diff := cmp.Diff(fromFile, fromStderr); diff != "" {
		t.Errorf("file and stderr reports differ (-file +stderr):\n%s", diff)
	}
	for k, v := range map[string]any{"status": "RE", "exit_code": 4.0, "version": 1.0} {
		if fromFile[k] != v {
			t.Errorf("report[%q] = %v, want %v", k, fromFile[k], v)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("report directory holds %v: a temporary file was left", ents)
	}
	t.Run("runner failure still reports", func(t *testing.T) {
		got := runSandbox(t, "", "exec", "--json", "--root", "/no/such", "--", "true")
		var rep map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(got.Stderr, "\n", 2)[1]), &rep); err != nil || rep["status"] != "XX" || got.Exit != 125 {
			t.Errorf("exit %d, report %v (%v), stderr %q", got.Exit, rep, err, got.Stderr)
		}
	})
}

func TestVersion(t *testing.T) {
	got := runSandbox(t, "", "version")
	if got.Exit != 0 || !strings.HasPrefix(got.Stdout, "sandbox ") {
		t.Errorf("sandbox version: %+v", got)
	}
}

func TestExecExitStatus(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		args   []string
		exit   int
		stderr string
	}{
		{"zero", []string{"true"}, 0, ""},
		{"three", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"sigkill", []string{"sh", "-c", "kill -9 $$"}, 137, ""},
		{"not executable", []string{"/etc/passwd"}, 126, "sandbox: exec /etc/passwd: permission denied\n"},
		{"not found", []string{"no-such-command-here"}, 127, "sandbox: exec no-such-command-here: command not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", append([]string{"exec", "--"}, tt.args...)...)
			if diff := cmp.Diff(outcome{Exit: tt.exit, Stderr: tt.stderr}, got); diff != "" {
				t.Errorf("sandbox exec %q (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestExecStreams(t *testing.T) {
	needRoot(t)
	got := runSandbox(t, "line one\nline two\n", "exec", "-e", "GREETING=hi", "--", "sh", "-c", `cat; echo "$GREETING" >&2`)
	if diff := cmp.Diff(outcome{Stdout: "line one\nline two\n", Stderr: "hi\n"}, got); diff != "" {
		t.Errorf("streams (-want +got):\n%s", diff)
	}
}

func TestExecFlagsReachTheSandbox(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("content\n"), 0o644)
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# comment\nFROM_FILE=yes\n\nOVERRIDDEN=file\n"), 0o644)
	t.Setenv("CALLER_VAR", "from-caller")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"hostname", []string{"--hostname", "box", "--", "hostname"}, "box\n"},
		{"workdir", []string{"-w", "/work/here", "--", "pwd"}, "/work/here\n"},
		{"bind read-only", []string{"-v", dir + ":/data:ro", "--", "sh", "-c", "cat /data/f; touch /data/x 2>/dev/null || echo ro"}, "content\nro\n"},
		{"tmpfs", []string{"--tmpfs", "/scratch:1M", "--", "sh", "-c", "df -k /scratch | tail -1 | awk '{print $2}'"}, "1024\n"},
		{"env file and flags", []string{"--env-file", envFile, "-e", "OVERRIDDEN=flag", "-e", "CALLER_VAR", "--", "sh", "-c", "echo $FROM_FILE $OVERRIDDEN $CALLER_VAR"}, "yes flag from-caller\n"},
		{"keep-env", []string{"--keep-env", "--", "sh", "-c", "echo $CALLER_VAR"}, "from-caller\n"},
		{"user", []string{"--user", "65534:65534", "--", "id", "-u"}, "65534\n"},
		{"network host", []string{"--network", "host", "--", "sh", "-c", "ls /sys/class/net | grep -c . | awk '$1>0{print \"some\"}'"}, "some\n"},
		{"preserve-fds", []string{"--preserve-fds", "1", "--", "sh", "-c", "readlink /proc/self/fd/3"}, "/dev/null\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := sandboxCmd(t, append([]string{"exec"}, tt.args...)...)
			if tt.name == "preserve-fds" {
				null, _ := os.Open(os.DevNull)
				defer null.Close()
				cmd.ExtraFiles = []*os.File{null}
			}
			out, err := cmd.Output()
			if err != nil || string(out) != tt.want {
				t.Errorf("sandbox exec %q: %q, %v; want %q", tt.args, out, err, tt.want)
			}
		})
	}
}

// startReady starts a sandbox running script, which prints "ready" once it
// has set itself up.
func startReady(t *testing.T, script string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := sandboxCmd(t, "exec", "--", "sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("waiting for ready: %q %v", line, err)
	}
	return cmd, r
}

func TestSignalReachesCommand(t *testing.T) {
	needRoot(t)
	for _, s := range earlysig.Forwarded {
		sig := s.(syscall.Signal)
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
			cmd, _ := startReady(t, fmt.Sprintf(`trap 'exit 42' %s; echo ready; while :; do sleep 0.05; done`, name))
			cmd.Process.Signal(sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 42 {
				t.Errorf("after %s: exit %d, want 42 (CMD's trap)", name, code)
			}
		})
	}
}

func TestRunnerKilled(t *testing.T) {
	needRoot(t)
	marker := fmt.Sprintf("%d.25", 3000+os.Getpid()%1000)
	cmd, _ := startReady(t, "sleep "+marker+" & echo ready; sleep "+marker)
	runDir := strings.TrimPrefix(cmd.Env[len(cmd.Env)-1], "SANDBOX_RUN_DIR=")
	cmd.Process.Kill()
	cmd.Wait()
	// The parent-death signal takes PID 1, and with it the whole sandbox.
	deadline := time.Now().Add(5 * time.Second)
	for len(processes("sleep "+marker)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := processes("sleep " + marker); len(pids) > 0 {
		t.Errorf("sandboxed processes outlived the killed runner: %v", pids)
	}
	ents, _ := os.ReadDir(runDir)
	if len(ents) != 1 {
		t.Fatalf("run directory after SIGKILL: %v, want the dead run's", ents)
	}
	gc := sandboxCmd(t, "gc", "--run-dir", runDir)
	out, err := gc.CombinedOutput()
	if want := "removed run " + ents[0].Name() + "\n"; err != nil || string(out) != want {
		t.Errorf("sandbox gc: %q %v, want %q", out, err, want)
	}
	if left := runsLeft(runDir); len(left) != 0 {
		t.Errorf("left after gc: %v", left)
	}
}

// processes lists host pids whose command line contains s.
// cgroupProcs lists the processes in the run cgroups under root, in
// every hierarchy (v1's and the unified one).
func cgroupProcs(root string) []string {
	var pids []string
	for _, pattern := range []string{"/sys/fs/cgroup/*" + root + "/*/cgroup.procs", "/sys/fs/cgroup" + root + "/*/cgroup.procs"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			pids = append(pids, strings.Fields(string(b))...)
		}
	}
	return pids
}

func processes(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestTTY(t *testing.T) {
	needRoot(t)
	// The test plays the terminal: a pty whose slave is sandbox's stdio.
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("needs a pty: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"automatic", []string{"sh", "-c", "tty; stty size"}, "/dev/pts/0\r\n33 101\r\n"},
		{"refused", []string{"-t=false", "--", "sh", "-c", "tty || true"}, "not a tty\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			cmd := sandboxCmd(t, append([]string{"exec"}, tt.args...)...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close()
			done := make(chan []byte)
			go func() {
				var out bytes.Buffer
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					out.Write(buf[:n])
					if err != nil || strings.Count(out.String(), "\n") >= strings.Count(tt.want, "\n") {
						break
					}
				}
				done <- out.Bytes()
			}()
			var got []byte
			select {
			case got = <-done:
			case <-time.After(10 * time.Second):
				t.Error("no output from the sandbox's terminal")
			}
			cmd.Wait()
			if string(got) != tt.want {
				t.Errorf("through the terminal: %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWithoutCgo keeps a build without cgo honest: the init and exec
// stages are C, so such a binary has no sandbox to offer, and says so on
// its first run instead of failing in some stranger way.
func TestWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command again: skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build without cgo")
	}
	bin := filepath.Join(t.TempDir(), "sandbox-nocgo")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building without cgo: %v\n%s", err, out)
	}
	dir := runDir(t)
	var errb bytes.Buffer
	cmd := exec.Command(bin, "exec", "--run-dir", dir, "--", "true")
	cmd.Stderr = &errb
	cmd.Run()
	oneLine(t, outcome{Stderr: errb.String(), Exit: cmd.ProcessState.ExitCode()}, "built without cgo")
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("the refused run left %v in its run directory", ents)
	}
}

// TestRunnerKilledAtEveryStage SIGKILLs the runner at delays that land it
// in every stage of a run (making the run directory and cgroup, starting
// PID 1, building the container, running CMD, tearing down), then checks
// that no process survives and that gc removes every run directory and
// cgroup the dead runners left.
func TestRunnerKilledAtEveryStage(t *testing.T) {
	needRoot(t)
	dir := runDir(t)
	marker := fmt.Sprintf("%d.75", 4000+os.Getpid()%1000)
	for _, script := range []string{"sleep " + marker, "exit 0"} { // a long CMD, and one already tearing down
		for _, delay := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
			3 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond, 12 * time.Millisecond,
			16 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond, 30 * time.Millisecond} {
			cmd := exec.Command(os.Args[0], "exec", "--", "sh", "-c", script)
			cmd.Env = append(os.Environ(), mainEnv+"=1", "SANDBOX_CGROUP_ROOT="+cgroupRoot, "SANDBOX_RUN_DIR="+dir)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(processes("sleep "+marker)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := processes("sleep " + marker); len(pids) > 0 {
		t.Errorf("CMD outlived its killed runner: %v", pids)
	}
	// Nor did any other process of the runs (PID 1 above all): the runs'
	// cgroups, which gc below removes, must be empty before it does.
	for len(cgroupProcs(cgroupRoot)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := cgroupProcs(cgroupRoot); len(pids) > 0 {
		t.Errorf("processes of killed runners' sandboxes still alive: %v", pids)
	}
	// A runner killed between making its run directory and its lock file
	// leaves one gc cannot tell from a live runner's for a second.
	time.Sleep(1100 * time.Millisecond)
	gc := exec.Command(os.Args[0], "gc", "--run-dir", dir, "--store", filepath.Join(t.TempDir(), "nostore"))
	gc.Env = append(os.Environ(), mainEnv+"=1")
	if out, err := gc.CombinedOutput(); err != nil {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	if left := runsLeft(dir); len(left) != 0 {
		t.Errorf("run directories left after gc: %v", left)
	}
	if ids, _ := limits.List(cgroupRoot); len(ids) != 0 {
		t.Errorf("cgroups left after gc: %v", ids)
	}
	// Every mount a run makes lies on or names its run directory.
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), dir) {
		t.Errorf("mounts of the killed runs left on the host:\n%s", b)
	}
}

// FuzzExecFlags feeds exec's flag parser and resolver arbitrary command
// lines: they must return a Spec or an error, never panic, and a Spec they
// return must be one the sandbox accepts or refuses with ErrInvalidSpec.
func FuzzExecFlags(f *testing.F) {
	for _, seed := range [][]string{
		{"--", "true"}, {"-v", "/tmp:/data:ro", "--", "ls"}, {"--memory", "64M", "--pids", "8", "--", "x"},
		{"--tmpfs", "/x:1M", "-e", "A=B", "--network", "host", "--", "y"}, {"--user", "1000:1000", "-w", "/w", "z"},
		{"--time", "1.5", "--nofile", "10:20", "--cpus", "0.5", "--", "a"}, {"--profile", "grade", "--", "b"},
		{"--seccomp", "unconfined", "--cap-add", "NET_RAW", "--", "c"}, {"--bind", ":", "--tmpfs", "relative"},
	} {
		f.Add(strings.Join(seed, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		var fl execFlags
		fs := newFlagSet("exec", stdio{})
		fl.register(fs)
		if err := fs.Parse(args); err != nil {
			return
		}
		s, err := fl.resolve(fs, []string{"PATH=/bin", "HOME=/"})
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil && !errors.Is(err, sandbox.ErrInvalidSpec) {
			t.Errorf("Validate: %v, want nil or ErrInvalidSpec", err)
		}
	})
}

// TestRunnerResourceFailures starves the runner of what it needs; each
// failure is exit status 125 with one line naming the cause, and leaves
// nothing behind (the run directory is checked by sandboxCmd, cgroups by
// TestMain).
func TestRunnerResourceFailures(t *testing.T) {
	needRoot(t)
	t.Run("descriptors", func(t *testing.T) {
		// Every limit from one the loader survives up: each runs out at
		// another step, or works.
		worked := 0
		for n := 4; n <= 40; n++ {
			cmd := sandboxCmd(t, "exec", "--", "true")
			cmd.Args = append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, n), "sh", cmd.Path}, cmd.Args[1:]...)
			cmd.Path = "/bin/sh"
			var errb bytes.Buffer
			cmd.Stderr = &errb
			timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			cmd.Run()
			timer.Stop()
			o := outcome{Stderr: errb.String(), Exit: cmd.ProcessState.ExitCode()}
			if o.Exit == 0 {
				worked++
				continue
			}
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				oneLine(t, o, "too few file descriptors", "too many open files")
			})
		}
		if worked == 0 {
			t.Errorf("no run worked with up to 40 descriptors")
		}
	})
	t.Run("run directory full", func(t *testing.T) {
		dir := t.TempDir()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "nr_inodes=1,size=64k"); err != nil {
			t.Skipf("mounting a tiny tmpfs: %v", err)
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		cmd := sandboxCmd(t, "exec", "--", "true")
		cmd.Env = append(cmd.Env, "SANDBOX_RUN_DIR="+dir)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Run()
		oneLine(t, outcome{Stderr: errb.String(), Exit: cmd.ProcessState.ExitCode()}, "no space left on device")
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("left in the run directory: %v", ents)
		}
	})
	t.Run("cgroup refused", func(t *testing.T) {
		// The cgroup root may use CPU 1 only; the run asks for CPU 0.
		root := cgroupRoot + "-cpuset"
		dir := filepath.Join("/sys/fs/cgroup/cpuset", root)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("needs the v1 cpuset hierarchy: %v", err)
		}
		defer limits.RemoveRoot(root)
		os.WriteFile(filepath.Join(dir, "cpuset.mems"), []byte("0"), 0o644)
		if err := os.WriteFile(filepath.Join(dir, "cpuset.cpus"), []byte("1"), 0o644); err != nil {
			t.Skipf("restricting the cgroup root's cpuset (needs two CPUs): %v", err)
		}
		cmd := sandboxCmd(t, "exec", "--cpuset", "0", "--", "true")
		cmd.Env = append(cmd.Env, "SANDBOX_CGROUP_ROOT="+root)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Run()
		oneLine(t, outcome{Stderr: errb.String(), Exit: cmd.ProcessState.ExitCode()}, "cgroup")
		if ids, _ := limits.List(root); len(ids) > 0 {
			t.Errorf("half-made cgroups left: %v", ids)
		}
	})
}

// oneLine checks a runner failure: exit status 125 and one line naming
// one of want.
func oneLine(t *testing.T, o outcome, want ...string) {
	t.Helper()
	if o.Exit != 125 || strings.Count(o.Stderr, "\n") != 1 || !strings.HasPrefix(o.Stderr, "sandbox: ") {
		t.Fatalf("exit %d, stderr %q: want 125 and one line", o.Exit, o.Stderr)
	}
	for _, w := range want {
		if strings.Contains(o.Stderr, w) {
			return
		}
	}
	t.Errorf("stderr %q names none of %q", o.Stderr, want)
}

// A relative --run-dir is the caller's: PID 1, which mounts the scratch
// tmpfs there, works from a directory of its own.
func TestRelativeRunDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the runner creates namespaces and mounts")
	}
	// Not named "run": PID 1's own directory is /, where /run exists.
	dir := filepath.Join(t.TempDir(), "state")
	cmd := sandboxCmd(t, "exec", "--run-dir", filepath.Base(dir), "--", "true")
	cmd.Dir = filepath.Dir(dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sandbox exec --run-dir %s in %s: %v: %s", filepath.Base(dir), cmd.Dir, err, out)
	}
	if left := runsLeft(dir); len(left) > 0 {
		t.Errorf("run directory not empty after the run: %v", left)
	}
}
