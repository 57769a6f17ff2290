package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
// delegated cgroup gives the controller, the cgroup enforces it instead.
func TestRootlessCLI(t *testing.T) {
	u, bin, wd := asTestUser(t)
	runDir := filepath.Join(wd, "run")
	sandbox := func(t *testing.T, args ...string) outcome {
		t.Helper()
		cmd := u.Command([]string{mainEnv + "=1", "TMPDIR=" + wd}, bin, args...)
		cmd.Dir = wd
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("running sandbox %q: %v", args, err)
		}
		return outcome{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	exec := func(t *testing.T, args ...string) outcome {
		return sandbox(t, append([]string{"exec", "--run-dir", runDir}, args...)...)
	}
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
		if ents, _ := os.ReadDir(runDir); len(ents) > 0 {
			t.Errorf("run directory not empty: %v", ents)
		}
	})
}
