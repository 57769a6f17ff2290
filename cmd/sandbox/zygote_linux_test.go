package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// childrenNamed lists the pids of ppid's children whose comm is name.
func childrenNamed(ppid int, name string) []int {
	var pids []int
	for _, p := range fixtures.ChildrenOf(ppid) {
		if p.Comm == name {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// TestZygote checks what the CLI's zygote (forked before the Go runtime
// started) and the PID 1 it clones keep of the runner: nothing of its
// arguments or environment (a token there would be in every sandbox's
// memory), no descriptor but the zygote's socket, no working directory of
// the caller's; and that both go when the runner is killed.
func TestZygote(t *testing.T) {
	needRoot(t)
	token := fmt.Sprintf("zygote-token-%d", os.Getpid())
	dir := t.TempDir()
	cmd := sandboxCmd(t, "exec", "--", "sh", "-c", "echo ready; sleep 30 # "+token)
	cmd.Env = append(cmd.Env, "SECRET_TOKEN="+token)
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{os.Stdin} // a caller's descriptor left open
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line := make([]byte, 6)
	if _, err := out.Read(line); err != nil || string(line) != "ready\n" {
		t.Fatalf("waiting for ready: %q %v", line, err)
	}

	runner := cmd.Process.Pid
	zygotes := childrenNamed(runner, "sandbox-zygote")
	inits := childrenNamed(runner, "sandbox-init")
	if len(zygotes) != 1 || len(inits) != 1 {
		t.Fatalf("runner's children: zygotes %v, inits %v; want one of each", zygotes, inits)
	}
	for _, p := range []struct {
		name string
		pid  int
	}{{"zygote", zygotes[0]}, {"PID 1", inits[0]}} {
		proc := fmt.Sprintf("/proc/%d/", p.pid)
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(proc + f)
			if err != nil {
				t.Errorf("%s: reading %s: %v", p.name, f, err)
			}
			if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte("SANDBOX_RUN_DIR")) {
				t.Errorf("%s's %s holds the runner's: %q", p.name, f, b)
			}
		}
	}
	zproc := fmt.Sprintf("/proc/%d/", zygotes[0])
	if cwd, _ := os.Readlink(zproc + "cwd"); cwd != "/" {
		t.Errorf("zygote's working directory: %q, want /", cwd)
	}
	// Its socket, and, once it has made a spare (root on cgroup v1), its
	// own mount table, which it polls for changes: a spare made before one
	// is not used.
	fds, _ := os.ReadDir(zproc + "fd")
	var names []string
	for _, fd := range fds {
		target, _ := os.Readlink(zproc + "fd/" + fd.Name())
		if target != zproc+"mounts" {
			names = append(names, fd.Name()+" "+strings.SplitN(target, ":", 2)[0])
		}
	}
	if diff := cmp.Diff([]string{"3 socket"}, names); diff != "" {
		t.Errorf("zygote's descriptors (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", inits[0])); string(bytes.TrimRight(b, "\x00")) != "sandbox-init" {
		t.Errorf("PID 1's command line: %q, want sandbox-init", b)
	}

	// The runner's death takes the zygote (its parent-death signal) and
	// PID 1 (its own) with it.
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	gone := func(pid int) bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
		return err != nil
	}
	for !(gone(zygotes[0]) && gone(inits[0])) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !gone(zygotes[0]) || !gone(inits[0]) {
		t.Errorf("outlived the killed runner: zygote %d gone %v, PID 1 %d gone %v", zygotes[0], gone(zygotes[0]), inits[0], gone(inits[0]))
	}
	// What the dead run left, gc removes (TestRunnerKilled checks it).
	runDir := strings.TrimPrefix(cmd.Env[len(cmd.Env)-2], "SANDBOX_RUN_DIR=")
	if out, err := sandboxCmd(t, "gc", "--run-dir", runDir).CombinedOutput(); err != nil {
		t.Errorf("sandbox gc: %q %v", out, err)
	}
}

// The CLI's zygote clones a spare PID 1 as it starts, with the usual
// namespaces, before the runner has read its flags. A run that wants
// others (the host's network) has that spare dropped at its hint and
// one of its own made; the dropped one is killed and reaped by the
// runner, not left a zombie beside CMD, and no spare outlives its use.
// Without root the same, with a user namespace among them.
func TestEarlySpare(t *testing.T) {
	needRoot(t)
	runs := [][]string{nil, {"--network", "host"}, {"--network", "host", "--hostname", "other"}}
	for _, flags := range runs {
		t.Run(strings.Join(append([]string{"exec"}, flags...), " "), func(t *testing.T) {
			args := append(append([]string{"exec"}, flags...), "--", "sh", "-c", "echo ready; sleep 30")
			checkRunnerChildren(t, sandboxCmd(t, args...))
		})
	}
	t.Run("rootless", func(t *testing.T) {
		r := newRootlessCLI(t)
		for _, flags := range runs {
			t.Run(strings.Join(append([]string{"exec"}, flags...), " "), func(t *testing.T) {
				args := append(append([]string{"exec", "--run-dir", r.runDir}, flags...), "--", "sh", "-c", "echo ready; sleep 30")
				cmd := r.u.Command([]string{mainEnv + "=1", "TMPDIR=" + r.wd}, r.bin, args...)
				cmd.Dir = r.wd
				checkRunnerChildren(t, cmd)
			})
		}
	})
}

// checkRunnerChildren starts cmd, a sandbox exec whose CMD prints ready
// and sleeps, and checks that the runner's children are then its zygote
// and PID 1 alone, neither a zombie.
func checkRunnerChildren(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Ended as a caller would, which leaves nothing behind.
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	line := make([]byte, 6)
	if _, err := out.Read(line); err != nil || string(line) != "ready\n" {
		t.Fatalf("waiting for ready: %q %v", line, err)
	}
	var got []string
	for _, p := range fixtures.ChildrenOf(cmd.Process.Pid) {
		if p.State == "Z" {
			p.Comm += " (zombie)"
		}
		got = append(got, p.Comm)
	}
	slices.Sort(got)
	if want := []string{"sandbox-init", "sandbox-zygote"}; !slices.Equal(got, want) {
		t.Errorf("the runner's children while CMD runs: %q, want %q", got, want)
	}
}

// TestBuildKept: root's exec with the default run directory keeps its
// plan's build part for the next exec's first spare, which builds that
// container while the runner's Go runtime starts. The same command line
// again finds it built (and so keeps the file as it was: a run whose PID
// 1 did not build ahead rewrites it); another is kept in its place; a run
// whose spare has other namespaces keeps none. No argument or variable of
// the run is in it, it is root's alone, and gc leaves it (a half-written
// one it removes).
func TestBuildKept(t *testing.T) {
	needRoot(t)
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && !strings.Contains(string(b), " - cgroup ") {
		t.Skip("no cgroup v1 hierarchy: runs get a v2 group, which PID 1 is born in, and so have no spares to build ahead")
	}
	// In the default run directory, as a user's run keeps it (the suite's
	// other runs keep theirs in their own: see runDir).
	cache := filepath.Join(sandbox.DefaultRunDir, ".build")
	if old, err := os.ReadFile(cache); err == nil {
		t.Cleanup(func() { os.WriteFile(cache, old, 0o600) })
	} else {
		t.Cleanup(func() { os.Remove(cache) })
	}
	os.Remove(cache)
	run := func(args ...string) {
		t.Helper()
		cmd := sandboxCmd(t, append([]string{"exec"}, args...)...)
		cmd.Env = append(slices.DeleteFunc(cmd.Env, func(e string) bool { return strings.HasPrefix(e, "SANDBOX_RUN_DIR=") }),
			"KEPT_MARKER_VAR=env-marker")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sandbox exec %q: %v %s", args, err, out)
		}
	}
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	mtime := func() time.Time {
		t.Helper()
		fi, err := os.Stat(cache)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	same := []string{"--", "sh", "-c", "echo arg-marker"}
	run(same...)
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatalf("no build part kept: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o600 || st.Uid != 0 {
		t.Errorf("kept as %v, uid %d; want -rw------- and root's", fi.Mode(), st.Uid)
	}
	first, _ := os.ReadFile(cache)
	for _, m := range []string{"arg-marker", "env-marker", "KEPT_MARKER_VAR"} {
		if bytes.Contains(first, []byte(m)) {
			t.Errorf("the kept build part holds the run's %q", m)
		}
	}
	os.Chtimes(cache, past, past)
	run(same...)
	if got := mtime(); !got.Equal(past) {
		t.Errorf("the same command line again rewrote it (at %v): its PID 1 did not build ahead", got)
	}
	dir := t.TempDir()
	run(append([]string{"-v", dir + ":/x"}, same...)...)
	if got, _ := os.ReadFile(cache); mtime().Equal(past) || bytes.Equal(got, first) {
		t.Error("another command line's plan is not kept in its place")
	}
	os.Chtimes(cache, past, past)
	run(append([]string{"--network", "host"}, same...)...)
	if !mtime().Equal(past) {
		t.Error("a run with other namespaces than the first spare's kept its build part")
	}
	half := filepath.Join(sandbox.DefaultRunDir, ".build.half")
	if err := os.WriteFile(half, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(half, past, past)
	t.Cleanup(func() { os.Remove(half) })
	if out, err := sandboxCmd(t, "gc", "--run-dir", sandbox.DefaultRunDir).CombinedOutput(); err != nil || strings.Contains(string(out), ".build") {
		t.Errorf("sandbox gc: %q %v", out, err)
	}
	if _, err := os.Stat(cache); err != nil {
		t.Errorf("gc removed the kept build part: %v", err)
	}
	if _, err := os.Stat(half); err == nil {
		t.Error("gc left a half-written one")
	}
}
