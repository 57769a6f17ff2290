package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

const zygoteThreadEnv = "SANDBOX_TEST_ZYGOTE_THREAD"

// zygoteThreadMain is a fresh process whose first Start (which execs its
// zygote) runs on a locked thread that then ends, as a caller's
// LockOSThread'ed goroutine would: the sandbox must live on.
func zygoteThreadMain() int {
	spec := &Spec{Args: []string{"sh", "-c", "sleep 0.3; echo alive"}, RunDir: os.Getenv(zygoteThreadEnv),
		CgroupRoot: testCgroupRoot}
	var out strings.Builder
	spec.IO.Stdout = &out
	started := make(chan *Container)
	var try func(hold chan struct{})
	try = func(hold chan struct{}) {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if unix.Gettid() == unix.Getpid() {
			// Go never ends the main thread: hold it, try on another.
			go try(hold)
			<-hold
			return
		}
		c, err := Start(context.Background(), spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(125)
		}
		close(hold)
		started <- c
	}
	go try(make(chan struct{}))
	c := <-started
	time.Sleep(50 * time.Millisecond) // the locked thread is gone by now
	res, err := c.Wait()
	if err != nil || res.Status != StatusOK || out.String() != "alive\n" {
		fmt.Fprintf(os.Stderr, "after the starting thread ended: %v %s %s %q\n", err, res.Status, res.Message, out.String())
		return 1
	}
	return 0
}

// TestZygoteOutlivesStartingThread: the zygote a process execs on its
// first Start is the parent (for the parent-death signal) of every PID 1 it
// clones, through the thread that started it; that thread must not be one
// Go may end.
func TestZygoteOutlivesStartingThread(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), zygoteThreadEnv+"="+testRunDir(t))
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%v: %s", err, out)
	}
	// Its cgroup root went with it.
	for _, h := range []string{"memory", "pids"} {
		if _, err := os.Stat(fmt.Sprintf("/sys/fs/cgroup/%s/sandbox-test-%d", h, cmd.Process.Pid)); err == nil {
			t.Errorf("the child's cgroup root is left in the %s hierarchy", h)
		}
	}
}

// TestZygoteSpare: once a runner has asked twice, the zygote keeps the next
// PID 1 made ahead (a spare, our child in namespaces of its own), holding
// nothing but its socket; a spare whose copy of the mount table is out of
// date is not used, and one that does not fit is dropped and reaped.
func TestZygoteSpare(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	run := func(s *Spec) *Result {
		t.Helper()
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		var out strings.Builder
		s.IO.Stdout = &out
		res, err := Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		res.Message += out.String()
		return res
	}
	ownNS, _ := os.Readlink("/proc/self/ns/pid")
	spare := func() int {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, c := range fixtures.ChildrenOf(os.Getpid()) {
				ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.Pid))
				if c.Comm == "sandbox-zygote" && ns != ownNS && c.State != "Z" {
					return c.Pid
				}
			}
		}
		return 0
	}
	run(&Spec{Args: []string{"true"}})
	run(&Spec{Args: []string{"true"}})
	pid := spare()
	if pid == 0 {
		t.Fatalf("no spare after two runs; our children: %v", fixtures.ChildrenOf(os.Getpid()))
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	fdsOf := func(proc string) string {
		fds, _ := os.ReadDir(proc + "fd")
		var names []string
		for _, fd := range fds {
			target, _ := os.Readlink(proc + "fd/" + fd.Name())
			names = append(names, fd.Name()+" "+strings.SplitN(target, ":", 2)[0])
		}
		return strings.Join(names, ",")
	}
	// A spare found just cloned still has the zygote's descriptors, until
	// its first steps close them: what counts is what it keeps. The runs
	// were alike, so this one builds its container ahead, and then forks
	// its exec stage: it keeps that one's socket too, and the exec stage
	// holds its own alone.
	const builtAhead = "0 socket,1 socket"
	var fds string
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		if fds = fdsOf(proc); fds == builtAhead || time.Now().After(deadline) {
			break
		}
	}
	if fds != builtAhead {
		t.Errorf("the spare's descriptors: %q, want %q: its socket, and its exec stage's", fds, builtAhead)
	}
	kids, _ := os.ReadFile(fmt.Sprintf("%stask/%d/children", proc, pid))
	if f := strings.Fields(string(kids)); len(f) != 1 {
		t.Errorf("the spare's children: %q, want its exec stage alone", kids)
	} else if got := fdsOf("/proc/" + f[0] + "/"); !strings.HasSuffix(got, " socket") || strings.Contains(got, ",") {
		t.Errorf("the exec stage forked ahead holds %q, want its socket alone", got)
	}
	// Cloned with idle CPU time, but of the runner's class once made: an
	// idle-class spare starts its sandbox only when a CPU goes idle. (The
	// runs were alike, so this one builds its container ahead, and keeps
	// the idle class until it has: give it the time.)
	// Cloned away from the CPU of the runner that hinted, but free to run
	// anywhere once made, as the zygote is again: a PID 1 so bound would
	// run its sandbox on fewer CPUs than its caller gave it.
	own := cpusAllowed(t, "/proc/self/")
	policy := func() string {
		b, err := os.ReadFile(proc + "stat")
		if err != nil {
			return "(" + err.Error() + ")"
		}
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 38 {
			return f[38]
		}
		return "(no policy in stat)"
	}
	for deadline := time.Now().Add(time.Second); (policy() != "0" || cpusAllowed(t, proc) != own) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := policy(); got != "0" {
		t.Errorf("the spare's scheduling policy is %s, want 0 (SCHED_OTHER, the runner's)", got)
	}
	if got := cpusAllowed(t, proc); got != own {
		t.Errorf("the spare may run on CPUs %s, want %s (the runner's)", got, own)
	}
	for _, c := range fixtures.ChildrenOf(os.Getpid()) {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.Pid))
		if got := cpusAllowed(t, fmt.Sprintf("/proc/%d/", c.Pid)); c.Comm == "sandbox-zygote" && ns == ownNS && got != own {
			t.Errorf("the zygote may run on CPUs %s, want %s (the runner's)", got, own)
		}
	}
	if b, _ := os.ReadFile(proc + "cmdline"); strings.Contains(string(b), "test") {
		t.Errorf("the spare's command line holds the runner's: %q", b)
	}

	// A mount made after the spare: the next run sees it all the same.
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.WriteFile(dir+"/seen", []byte("mounted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := sh("cat /d/seen")
	s.Mounts = []Mount{{Type: MountBind, Source: dir, Destination: "/d"}}
	if res := run(s); res.Status != StatusOK || !strings.HasSuffix(res.Message, "mounted\n") {
		t.Errorf("a bind of a mount made after the spare: %s %q", res.Status, res.Message)
	}

	// One that does not fit (no network namespace) is dropped, and reaped.
	if spare() == 0 {
		t.Fatal("no spare after a third run")
	}
	if res := run(&Spec{Args: []string{"true"}, Network: NetworkHost}); res.Status != StatusOK {
		t.Errorf("a run with the host's network: %s %q", res.Status, res.Message)
	}
	for _, c := range fixtures.ChildrenOf(os.Getpid()) {
		if c.State == "Z" {
			t.Errorf("a zombie left: %+v", c)
		}
	}
}

// needSpares skips a test of spare PID 1s where there are none: without
// root, or where runs get v2 groups (a v2 PID 1 is born in its group,
// which a spare made before it cannot be).
func needSpares(t *testing.T) {
	t.Helper()
	needRoot(t)
	if v, err := limits.Version(limits.Limits{}); err != nil || v != 1 {
		t.Skipf("runs get cgroup v%d groups here (%v): a v2 PID 1 is born in its group, which a spare made before it cannot be, so there are none", v, err)
	}
}

// cpusAllowed is the Cpus_allowed_list of the process at proc ("/proc/PID/").
func cpusAllowed(t *testing.T, proc string) string {
	t.Helper()
	b, err := os.ReadFile(proc + "status")
	if err != nil {
		return "(" + err.Error() + ")"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "(none)"
}
