package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
)

// asTestUser is the unprivileged user (make test-user), the test binary
// copied where it can run it, and a work directory of its own, for a CLI
// test run as that user: skipped without root (to become it), with -short,
// or without the user.
func asTestUser(t *testing.T) (u *fixtures.User, bin, wd string) {
	t.Helper()
	needRoot(t)
	if testing.Short() {
		t.Skip("runs as another user: skipped with -short")
	}
	u, bin = fixtures.TestUser(t)
	return u, bin, u.TestWorkDir(t)
}

// TestRootlessCLI runs `sandbox exec` as an unprivileged user (make
// test-user): the default sandbox works, the ids are the caller's (or
// root's inside with --user 0), and each limit a rootless run cannot have
// here is refused with exit status 125, naming it; where the user's
// delegated cgroup gives the controller, the cgroup enforces it instead
// (TestRootlessCLIDelegated).
func TestRootlessCLI(t *testing.T) {
	r := newRootlessCLI(t)
	u, wd, runDir, sandbox, exec := r.u, r.wd, r.runDir, r.sandbox, r.exec
	uid := strconv.Itoa(int(u.UID))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"caller", []string{"--", "id", "-u"}, uid + "\n"},
		{"root inside", []string{"--user", "0", "--", "id", "-u"}, "0\n"},
		{"other user", []string{"--user", "65534:65534", "--", "id", "-u"}, "65534\n"}, // the user's subordinate ids
		{"isolated", []string{"--", "sh", "-c", "echo $$ $(hostname) $(ls /sys/class/net)"}, "2 sandbox lo\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if o := exec(t, tt.args...); o.Exit != 0 || o.Stdout != tt.want {
				t.Errorf("sandbox exec %q as %s: exit %d, %q (stderr %q), want %q", tt.args, u.Name, o.Exit, o.Stdout, o.Stderr, tt.want)
			}
		})
	}
	for _, tt := range []struct{ flag, value, key string }{
		{"memory", "64M", "memory_bytes"},
		{"pids", "16", "pids"},
		{"cpus", "0.5", "cpus"},
		{"cpuset", "0", "cpuset"},
		{"io-weight", "100", "io_weight"},
	} {
		t.Run("--"+tt.flag, func(t *testing.T) {
			o := exec(t, "--json", "--"+tt.flag, tt.value, "--", "true")
			if o.Exit == 0 {
				// Allowed: the user's delegated cgroup gives the controller.
				var rep struct {
					EnforcedBy map[string]string `json:"enforced_by"`
				}
				if err := json.Unmarshal([]byte(o.Stderr), &rep); err != nil || rep.EnforcedBy[tt.key] != "cgroup" {
					t.Errorf("--%s ran (%q, %v), but not enforced by the cgroup", tt.flag, o.Stderr, err)
				}
				return
			}
			if o.Exit != 125 || !strings.HasPrefix(o.Stderr, "sandbox: ") || !strings.Contains(o.Stderr, "--"+tt.flag+": needs the cgroup") ||
				!strings.Contains(o.Stderr, "or run as root") || o.Stdout != "" {
				t.Errorf("--%s rootless: exit %d, stderr %q, want 125 and a refusal naming it, why and the fix", tt.flag, o.Exit, o.Stderr)
			}
		})
	}
	t.Run("grade profile", func(t *testing.T) {
		// The submission runs as an id of its own: nobody inside, one of
		// the user's subordinate ids outside. Its memory and pids limits
		// need a delegated cgroup; without one the run is refused.
		o := exec(t, "--profile", "grade", "--", "sh", "-c", "id -u; cat /proc/self/uid_map")
		if o.Exit == 125 {
			if !strings.Contains(o.Stderr, "--pids: needs the cgroup") && !strings.Contains(o.Stderr, "--memory: needs the cgroup") {
				t.Errorf("grade refused, but not for its limits: %q", o.Stderr)
			}
			return
		}
		if o.Exit != 0 || !strings.HasPrefix(o.Stdout, "65534\n") || strings.Contains(o.Stdout, " "+uid+" ") && !strings.Contains(o.Stdout, "65534") {
			t.Errorf("grade: exit %d, %q (stderr %q)", o.Exit, o.Stdout, o.Stderr)
		}
	})
	t.Run("report", func(t *testing.T) {
		o := exec(t, "--json", "--cpu-time", "5s", "--", "true")
		var rep struct {
			Status        string            `json:"status"`
			UserNamespace string            `json:"user_namespace"`
			EnforcedBy    map[string]string `json:"enforced_by"`
		}
		if err := json.Unmarshal([]byte(o.Stderr), &rep); err != nil {
			t.Fatalf("report %q: %v", o.Stderr, err)
		}
		if rep.Status != "OK" || rep.UserNamespace != "single" || rep.EnforcedBy["cpu_time_ms"] != "supervisor" || rep.EnforcedBy["memory_bytes"] != "none" {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("snapshots", func(t *testing.T) {
		// The store is the user's; owners collapse to the user's on import.
		root := filepath.Join(wd, "bb")
		if err := fixtures.BusyboxRoot(root); err != nil {
			t.Skip(err)
		}
		store := filepath.Join(wd, "store")
		for _, step := range []struct {
			args []string
			want string
		}{
			{[]string{"snapshot", "import", "bb", root}, ""},
			{[]string{"exec", "--run-dir", runDir, "--store", store, "--root", "bb", "--commit", "bb2", "--", "sh", "-c", "echo hi > /x; rm /etc/passwd"}, ""},
			{[]string{"exec", "--run-dir", runDir, "--store", store, "--root", "bb2", "--", "sh", "-c", "cat /x; ls /etc/passwd 2>/dev/null; id -u"}, "hi\n" + uid + "\n"},
			{[]string{"snapshot", "rm", "bb2"}, ""},
			{[]string{"snapshot", "rm", "bb"}, ""},
		} {
			args := step.args
			if args[0] == "snapshot" {
				args = append([]string{"snapshot", "--store", store}, args[1:]...)
			}
			o := sandbox(t, args...)
			if o.Exit != 0 || step.want != "" && o.Stdout != step.want {
				t.Fatalf("sandbox %q as %s: exit %d, %q (stderr %q), want %q", args, u.Name, o.Exit, o.Stdout, o.Stderr, step.want)
			}
		}
		for _, d := range []string{"snapshots", "tmp"} {
			if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) > 0 {
				t.Errorf("store %s not empty after rm: %v", d, ents)
			}
		}
	})
	t.Run("gc", func(t *testing.T) {
		if o := sandbox(t, "gc", "--run-dir", runDir); o.Exit != 0 {
			t.Errorf("sandbox gc as %s: exit %d, %q", u.Name, o.Exit, o.Stderr)
		}
		// The last run's build part is kept (TestRootlessBuildKept).
		if ents, _ := os.ReadDir(runDir); len(slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == ".build" })) > 0 {
			t.Errorf("run directory not empty: %v", ents)
		}
	})
}

// TestRootlessBuildKept: without root too, exec keeps its plan's build
// part in the run directory, the user's file, and the next exec's first
// spare builds that container while the runner starts: its PID 1 maps
// the caller's ids itself, which is what lets a rootless spare build
// before the runner knows its pid. The same command line again finds it
// built (its runner does not rewrite the file); the ids are still the
// caller's, mapped alone. A run whose ids the setuid helpers map (the
// user's subordinate ranges) cannot build ahead, and keeps none.
func TestRootlessBuildKept(t *testing.T) {
	r := newRootlessCLI(t)
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && !strings.Contains(string(b), " - cgroup ") {
		t.Skip("no cgroup v1 hierarchy: runs get no spare to build ahead")
	}
	uid := strconv.Itoa(int(r.u.UID))
	cache := filepath.Join(r.runDir, ".build")
	run := func(args ...string) {
		t.Helper()
		o := r.exec(t, append(args, "--", "sh", "-c", "echo arg-marker; id -u; cat /proc/self/uid_map")...)
		f := strings.Fields(o.Stdout)
		if o.Exit != 0 || len(f) < 3 || f[0] != "arg-marker" {
			t.Fatalf("sandbox exec %q: exit %d, %q (stderr %q)", args, o.Exit, o.Stdout, o.Stderr)
		}
		if len(args) == 0 && (f[1] != uid || len(f) != 5 || f[2] != uid || f[3] != uid || f[4] != "1") {
			t.Errorf("sandbox exec as %s: ids %q, want uid %s, mapped to itself alone", r.u.Name, f[1:], uid)
		}
	}
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	mtime := func() time.Time {
		t.Helper()
		fi, err := os.Stat(cache)
		if err != nil {
			t.Fatalf("no build part kept: %v", err)
		}
		return fi.ModTime()
	}
	run()
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatalf("no build part kept: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode() != 0o600 || st.Uid != r.u.UID {
		t.Errorf("kept as %v, uid %d; want -rw------- and %s's", fi.Mode(), st.Uid, r.u.Name)
	}
	if b, _ := os.ReadFile(cache); bytes.Contains(b, []byte("arg-marker")) {
		t.Error("the kept build part holds the run's arguments")
	}
	os.Chtimes(cache, past, past)
	run()
	if got := mtime(); !got.Equal(past) {
		t.Errorf("the same command line again rewrote it (at %v): its PID 1 did not build ahead", got)
	}
	run("--user", "0")
	if !mtime().Equal(past) {
		t.Error("a run whose ids newuidmap maps kept its build part")
	}
	run("--hostname", "other")
	if mtime().Equal(past) {
		t.Error("another command line's plan is not kept in its place")
	}
}

// rootlessCLI runs this test binary's `sandbox` as the unprivileged test
// user (make test-user), in a work directory of its own; cgroupFD, when
// not -1, is the cgroup its runner starts in (CLONE_INTO_CGROUP).
type rootlessCLI struct {
	u               *fixtures.User
	bin, wd, runDir string
	cgroupFD        int
}

func newRootlessCLI(t *testing.T) *rootlessCLI {
	t.Helper()
	u, bin, wd := asTestUser(t)
	return &rootlessCLI{u: u, bin: bin, wd: wd, runDir: filepath.Join(wd, "run"), cgroupFD: -1}
}

func (r *rootlessCLI) sandbox(t *testing.T, args ...string) outcome {
	t.Helper()
	cmd := r.u.Command([]string{mainEnv + "=1", "TMPDIR=" + r.wd}, r.bin, args...)
	cmd.Dir = r.wd
	if r.cgroupFD >= 0 {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, r.cgroupFD
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running sandbox %q: %v", args, err)
	}
	return outcome{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

func (r *rootlessCLI) exec(t *testing.T, args ...string) outcome {
	t.Helper()
	return r.sandbox(t, append([]string{"exec", "--run-dir", r.runDir}, args...)...)
}

// TestRootlessCLIDelegated runs `sandbox exec` as the unprivileged user
// in a cgroup v2 subtree delegated to it (as systemd's user@.service
// delegates one): each limit whose controller the subtree gives runs,
// enforced by the cgroup, and so do the profiles, whose memory and pids
// limits a rootless run without delegation is refused; a limit whose
// controller it lacks is still refused, naming it. On a host whose
// controllers are all on v1 the subtree gives none and every such limit
// is refused; make vmtest's cgroup v2 guests give them all.
func TestRootlessCLIDelegated(t *testing.T) {
	r := newRootlessCLI(t)
	top, fd := r.u.DelegateCgroup(t)
	r.cgroupFD = fd
	have := fixtures.DelegatedControllers(top)
	t.Logf("delegated %s, giving %v", top, have)
	type report struct {
		Status     string            `json:"status"`
		PidsPeak   *int64            `json:"pids_peak"`
		Cgroup     int               `json:"cgroup_version"`
		EnforcedBy map[string]string `json:"enforced_by"`
	}
	// ran checks a run the delegation should allow: exit 0, its report
	// saying the cgroup enforced each of keys.
	ran := func(t *testing.T, o outcome, keys ...string) report {
		t.Helper()
		var rep report
		if o.Exit != 0 {
			t.Fatalf("exit %d, stderr %q: refused with the controllers delegated (%v)", o.Exit, o.Stderr, have)
		}
		if err := json.Unmarshal([]byte(o.Stderr), &rep); err != nil {
			t.Fatalf("report %q: %v", o.Stderr, err)
		}
		for _, k := range keys {
			if rep.EnforcedBy[k] != "cgroup" || rep.Cgroup != 2 {
				t.Errorf("%s enforced by %q (cgroup v%d), want the cgroup v2 group", k, rep.EnforcedBy[k], rep.Cgroup)
			}
		}
		return rep
	}
	refused := func(t *testing.T, o outcome, flags ...string) {
		t.Helper()
		if o.Exit != 125 || !strings.Contains(o.Stderr, "or run as root") {
			t.Fatalf("exit %d, stderr %q: want 125 and a refusal saying why and the fix", o.Exit, o.Stderr)
		}
		for _, f := range flags {
			if strings.Contains(o.Stderr, "--"+f+": needs the cgroup") {
				return
			}
		}
		t.Errorf("refusal %q names none of %q", o.Stderr, flags)
	}
	delegated := func(ctrls ...string) bool {
		for _, c := range ctrls {
			if !slices.Contains(have, c) {
				return false
			}
		}
		return true
	}
	for _, tt := range []struct{ flag, value, controller, key string }{
		{"memory", "64M", "memory", "memory_bytes"},
		{"pids", "16", "pids", "pids"},
		{"cpus", "0.5", "cpu", "cpus"},
		{"cpuset", "0", "cpuset", "cpuset"},
		{"io-weight", "100", "io", "io_weight"},
	} {
		t.Run("--"+tt.flag, func(t *testing.T) {
			o := r.exec(t, "--json", "--"+tt.flag, tt.value, "--", "true")
			if delegated(tt.controller) {
				ran(t, o, tt.key)
			} else {
				refused(t, o, tt.flag)
			}
		})
	}
	t.Run("pids enforced", func(t *testing.T) {
		if !delegated("pids") {
			t.Skipf("the delegation gives no pids controller (%v): --pids is refused, as checked above", have)
		}
		// Twenty background sleeps under --pids 8: the forks past the
		// bound fail, in the user's own group.
		o := r.exec(t, "--json", "--pids", "8", "--", "sh", "-c", "i=0; while [ $i -lt 20 ]; do sleep 2 & i=$((i+1)); done 2>/dev/null; wait; echo done")
		// The report starts on a line of its own, after whatever the
		// run wrote to stderr.
		js := o.Stderr
		if i := strings.Index(js, "\n{"); i >= 0 && !strings.HasPrefix(js, "{") {
			js = js[i+1:]
		}
		var rep report
		json.Unmarshal([]byte(js), &rep)
		if rep.PidsPeak == nil || *rep.PidsPeak > 8 || *rep.PidsPeak < 2 || rep.EnforcedBy["pids"] != "cgroup" {
			t.Errorf("--pids 8: exit %d, report %+v (stderr %q), want a peak of at most 8, enforced by the cgroup", o.Exit, rep, o.Stderr)
		}
	})
	for _, tt := range []struct {
		profile string
		ctrls   []string // its limits' controllers
		flags   []string // the flags a refusal names
		stdout  string
	}{
		{"grade", []string{"memory", "pids"}, []string{"memory", "pids"}, "65534\n"}, // an id of its own: nobody inside
		{"build", []string{"memory", "pids"}, []string{"memory", "pids"}, ""},
		{"test", []string{"pids"}, []string{"pids"}, ""},
	} {
		t.Run("profile "+tt.profile, func(t *testing.T) {
			o := r.exec(t, "--profile", tt.profile, "--json", "--", "id", "-u")
			if !delegated(tt.ctrls...) {
				refused(t, o, tt.flags...)
				return
			}
			var keys []string
			for _, c := range tt.ctrls {
				keys = append(keys, map[string]string{"memory": "memory_bytes", "pids": "pids"}[c])
			}
			ran(t, o, keys...)
			if tt.stdout != "" && o.Stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", o.Stdout, tt.stdout)
			}
		})
	}
	t.Run("gc", func(t *testing.T) {
		if o := r.sandbox(t, "gc", "--run-dir", r.runDir); o.Exit != 0 {
			t.Errorf("sandbox gc: exit %d, %q", o.Exit, o.Stderr)
		}
	})
}
