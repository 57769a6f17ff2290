package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/fixtures"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary be a container's monitor, as the
// sandbox binary is when create re-executes it.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == MonitorArg0 {
		os.Exit(Monitor(os.Args))
	}
	os.Exit(m.Run())
}

// bundle writes a bundle over a busybox root whose process touches
// out/ran and then runs script; it returns the bundle and out.
func bundle(t *testing.T, cgroupsPath, script string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	c := podmanConfig(t)
	c.Root = &specs.Root{Path: fixtures.Busybox(t)}
	c.Process.Args = []string{"sh", "-c", "touch /out/ran; " + script}
	c.Mounts = []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind"}}}
	c.Linux.CgroupsPath = cgroupsPath
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, out
}

func waitStatus(t *testing.T, root, id string, want specs.ContainerState) *Record {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r, err := Load(root, id)
		if err == nil && r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: %+v, %v; want status %s", id, r, err, want)
		}
	}
}

// TestLifecycle: create holds the process, start lets it go, kill and
// delete as the runtime-spec says, and nothing is left behind, a killed
// monitor included.
func TestLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: containers are made with namespaces, mounts and cgroups")
	}
	root := t.TempDir()
	cg := fmt.Sprintf("/sandbox-test-oci-%d", os.Getpid())
	t.Cleanup(func() {
		for _, h := range cgroupMounts() {
			os.Remove(filepath.Join(h, cg))
		}
	})
	left := func(t *testing.T, id string) {
		t.Helper()
		if _, err := os.Stat(Dir(root, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("container directory left: %v", err)
		}
		for _, h := range cgroupMounts() {
			if _, err := os.Stat(filepath.Join(h, cg, id)); err == nil {
				t.Errorf("cgroup left: %s", filepath.Join(h, cg, id))
			}
		}
		if _, err := Load(root, id); !errors.Is(err, ErrNotExist) {
			t.Errorf("state after delete: %v, want ErrNotExist", err)
		}
	}

	t.Run("create start kill delete", func(t *testing.T) {
		id := "life"
		b, out := bundle(t, cg+"/"+id, "exec sleep 100")
		pidFile := filepath.Join(t.TempDir(), "pid")
		if err := Create(CreateOptions{Root: root, ID: id, Bundle: b, PidFile: pidFile}); err != nil {
			t.Fatal(err)
		}
		r := waitStatus(t, root, id, specs.StateCreated)
		// The pid file names the container's process, the sandbox's PID 1,
		// and it is create's child (here, ours), as runc's is: the engine's
		// subreaper inherits it when create exits, and waits for it.
		if pb, _ := os.ReadFile(pidFile); string(pb) != fmt.Sprint(r.InitPid) || r.InitPid == 0 {
			t.Errorf("pid file %q, PID 1 %d", pb, r.InitPid)
		}
		if ppid := fixtures.ParentOf(r.InitPid); ppid != os.Getpid() {
			t.Errorf("PID 1's parent is %d, want create (%d); the monitor is %d", ppid, os.Getpid(), r.Pid)
		}
		if err := Create(CreateOptions{Root: root, ID: id, Bundle: b}); !errors.Is(err, ErrExists) {
			t.Errorf("a second create: %v, want ErrExists", err)
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
			t.Fatal("the process ran before start")
		}
		if err := Start(root, id); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, root, id, specs.StateRunning)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the process did not run after start")
			}
		}
		if err := Start(root, id); !errors.Is(err, ErrState) {
			t.Errorf("start of a running container: %v, want ErrState", err)
		}
		// state's pid is the container's process, the sandbox's PID 1 (in
		// its namespaces), and ps lists what runs from it down.
		r = waitStatus(t, root, id, specs.StateRunning)
		sj, _ := json.Marshal(r.State())
		var st specs.State
		json.Unmarshal(sj, &st)
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.Pid)); st.Pid != r.InitPid || string(comm) != "sandbox-init\n" {
			t.Errorf("state pid %d (%q), want the sandbox's PID 1 %d", st.Pid, comm, r.InitPid)
		}
		// (touch, which made /out/ran, may not have exited yet.)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			pids, err := Pids(root, id)
			if err == nil && len(pids) == 2 && pids[0] == r.InitPid {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("ps: %v %v, want PID 1 %d and the process", pids, err, r.InitPid)
				break
			}
		}
		// exec: in the container (its /out, its root), with its own
		// process, in the foreground and detached.
		proc, err := ContainerProcess(root, id)
		if err != nil {
			t.Fatal(err)
		}
		proc.Args = []string{"sh", "-c", "test -f /out/ran && echo $X > /out/exec; exit 4"}
		proc.Env = append(proc.Env, "X=seen")
		if code, err := Exec(ExecOptions{Root: root, ID: id, Process: proc}); err != nil || code != 4 {
			t.Errorf("exec: exit status %d, %v; want 4", code, err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "exec")); string(b) != "seen\n" {
			t.Errorf("what the exec wrote: %q", b)
		}
		proc.Args = []string{"sh", "-c", "kill -TERM $$"}
		execPid := filepath.Join(t.TempDir(), "exec.pid")
		if code, err := Exec(ExecOptions{Root: root, ID: id, Process: proc, Detach: true, PidFile: execPid}); err != nil || code != 0 {
			t.Fatalf("exec --detach: %d, %v", code, err)
		}
		pb, _ := os.ReadFile(execPid)
		var xpid int
		fmt.Sscan(string(pb), &xpid)
		if p, err := os.FindProcess(xpid); err != nil || xpid == 0 {
			t.Errorf("exec's pid file %q: %v", pb, err)
		} else if ps, err := p.Wait(); err != nil || ps.ExitCode() != 128+int(unix.SIGTERM) {
			// A subreaper (conmon) reads CMD's status from the pid's.
			t.Errorf("detached exec's status: %v %v, want exit %d", ps, err, 128+int(unix.SIGTERM))
		}
		if err := Delete(root, id, false); !errors.Is(err, ErrState) {
			t.Errorf("delete of a running container: %v, want ErrState", err)
		}
		if err := Pause(root, id); err != nil {
			t.Fatal(err)
		}
		r = waitStatus(t, root, id, StatePaused)
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", r.Cgroup, "freezer.state")); err == nil && string(b) != "FROZEN\n" {
			t.Errorf("freezer state after pause: %q", b)
		}
		if err := Pause(root, id); !errors.Is(err, ErrState) {
			t.Errorf("pause of a paused container: %v, want ErrState", err)
		}
		if err := Resume(root, id); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, root, id, specs.StateRunning)
		if err := Kill(root, id, unix.SIGTERM, false); err != nil {
			t.Fatal(err)
		}
		initPid := r.InitPid
		r = waitStatus(t, root, id, specs.StateStopped)
		if r.ExitStatus == nil || *r.ExitStatus != 143 {
			t.Errorf("exit status after SIGTERM: %v, want 143 (%+v)", r.ExitStatus, r)
		}
		// What the engine's subreaper reads: the container's status.
		if ws, err := reap(initPid); err != nil || ws.ExitStatus() != 143 {
			t.Errorf("PID 1's status after SIGTERM: %v %v, want exit 143", ws, err)
		}
		if err := Kill(root, id, unix.SIGTERM, false); !errors.Is(err, ErrState) {
			t.Errorf("kill of a stopped container: %v, want ErrState", err)
		}
		if err := Delete(root, id, false); err != nil {
			t.Fatal(err)
		}
		left(t, id)
	})

	t.Run("delete of a created container", func(t *testing.T) {
		id := "created"
		b, out := bundle(t, cg+"/"+id, "true")
		if err := Create(CreateOptions{Root: root, ID: id, Bundle: b}); err != nil {
			t.Fatal(err)
		}
		r, err := Load(root, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := Delete(root, id, true); err != nil {
			t.Fatal(err)
		}
		if _, err := reap(r.InitPid); err != nil {
			t.Errorf("reaping PID 1: %v", err)
		}
		if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
			t.Error("the process ran though never started")
		}
		left(t, id)
	})

	t.Run("monitor killed", func(t *testing.T) {
		id := "killed"
		b, _ := bundle(t, cg+"/"+id, "exec sleep 100")
		if err := Create(CreateOptions{Root: root, ID: id, Bundle: b}); err != nil {
			t.Fatal(err)
		}
		if err := Start(root, id); err != nil {
			t.Fatal(err)
		}
		r := waitStatus(t, root, id, specs.StateRunning)
		unix.Kill(r.Pid, unix.SIGKILL)
		// The sandbox goes with its monitor, though PID 1 is not its child.
		if ws, err := reap(r.InitPid); err != nil || ws.ExitStatus() != 125 {
			t.Errorf("PID 1's status once its monitor is killed: %v %v, want exit 125", ws, err)
		}
		waitStatus(t, root, id, specs.StateStopped)
		if err := Delete(root, id, false); err != nil {
			t.Fatal(err)
		}
		left(t, id)
	})

	t.Run("run with a report and a wall-time limit", func(t *testing.T) {
		id := "run"
		b, _ := bundle(t, cg+"/"+id, "exit 7")
		report := filepath.Join(t.TempDir(), "report.json")
		annotate(t, b, map[string]string{AnnotationReport: report})
		code, err := Run(CreateOptions{Root: root, ID: id, Bundle: b}, false)
		if err != nil || code != 7 {
			t.Errorf("Run: %d, %v; want 7", code, err)
		}
		var rep map[string]any
		if bs, err := os.ReadFile(report); err != nil || json.Unmarshal(bs, &rep) != nil || rep["status"] != "RE" || rep["exit_code"] != 7.0 {
			t.Errorf("report: %v %v", rep, err)
		}
		// PID 1 is the engine's child, not the monitor's: its context
		// switches are the ones it reported of itself and what it reaped.
		if n, _ := rep["csw_voluntary"].(float64); n <= 0 {
			t.Errorf("report: csw_voluntary %v; want PID 1's and CMD's", rep["csw_voluntary"])
		}
		left(t, id)

		id = "walltime"
		b, _ = bundle(t, cg+"/"+id, "exec sleep 100")
		annotate(t, b, map[string]string{AnnotationReport: report, AnnotationWallTime: "300ms"})
		code, err = Run(CreateOptions{Root: root, ID: id, Bundle: b}, false)
		if err != nil || code != 137 {
			t.Errorf("Run past its wall time: %d, %v; want 137", code, err)
		}
		if bs, err := os.ReadFile(report); err != nil || json.Unmarshal(bs, &rep) != nil || rep["status"] != "TO" {
			t.Errorf("report: %v %v", rep, err)
		}
		left(t, id)
	})
}

// annotate adds annotations to the bundle's config.json.
func annotate(t *testing.T, bundle string, a map[string]string) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	b, _ := os.ReadFile(p)
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for k, v := range a {
		c.Annotations[k] = v
	}
	b, _ = json.Marshal(&c)
	os.WriteFile(p, b, 0o644)
}
