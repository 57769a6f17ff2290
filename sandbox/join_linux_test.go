package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// startSleeper starts a sandbox whose CMD writes /tmp/mark, says ready and
// sleeps: the running sandbox an exec joins.
func startSleeper(t *testing.T, spec *Spec) *Container {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spec.Args = []string{"sh", "-c", "echo inside > /tmp/mark; echo ready; exec sleep 60"}
	spec.RunDir, spec.CgroupRoot = testRunDir(t), testCgroupRoot
	spec.IO = IO{Stdout: pw}
	c, err := Start(context.Background(), spec)
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Signal(unix.SIGKILL)
		c.Wait()
		pr.Close()
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("waiting for the sandbox: %q %v", line, err)
	}
	return c
}

// TestExec runs processes in a running sandbox, as an OCI runtime's exec
// does: they see its root, its /tmp, its hostname, its pid namespace (its
// PID 1 is theirs) and its cgroup; they get their own identity, workdir
// and environment; the exit status comes back.
func TestExec(t *testing.T) {
	needRoot(t)
	t.Chdir("/")
	c := startSleeper(t, &Spec{Hostname: "joined-host"})
	cgroup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Pid()))

	exec := func(t *testing.T, s *Spec) (string, *Result) {
		t.Helper()
		var out bytes.Buffer
		s.IO = IO{Stdout: &out, Stderr: &out}
		x, err := Exec(context.Background(), c.Pid(), s, false)
		if err != nil {
			t.Fatal(err)
		}
		res, err := x.Wait()
		if err != nil {
			t.Fatalf("Wait: %v (output %q)", err, out.String())
		}
		return out.String(), res
	}
	t.Run("sees the sandbox", func(t *testing.T) {
		out, res := exec(t, &Spec{Args: []string{"sh", "-c", "cat /tmp/mark; hostname; cat /proc/1/comm; pwd; echo $FOO; id -u"},
			Env: []string{"FOO=bar", "PATH=/usr/bin:/bin"}, Dir: "/tmp", User: &User{UID: 1000, GID: 1000}})
		if res.Status != StatusOK {
			t.Fatalf("status %s: %s (%q)", res.Status, res.Message, out)
		}
		want := "inside\njoined-host\nsandbox-init\n/tmp\nbar\n1000\n"
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("in its cgroup", func(t *testing.T) {
		out, _ := exec(t, &Spec{Args: []string{"sh", "-c", "sleep 0.01 & echo $!; wait"}})
		pidInside := strings.TrimSpace(out)
		if pidInside == "" || pidInside == "1" {
			t.Fatalf("pid inside: %q", out)
		}
		// PID 1 of the sandbox and the exec share every v1 group or the v2
		// one: the host view of its cgroup was read before the exec.
		if !bytes.Contains(cgroup, []byte(testCgroupRoot)) {
			t.Errorf("the sandbox's cgroup %q is not under %s", cgroup, testCgroupRoot)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		_, res := exec(t, &Spec{Args: []string{"sh", "-c", "exit 7"}})
		if res.Status != StatusRuntime || res.ExitCode != 7 {
			t.Errorf("got %s %d, want RE 7", res.Status, res.ExitCode)
		}
		_, res = exec(t, &Spec{Args: []string{"sh", "-c", "kill -TERM $$"}})
		if res.Status != StatusSignal || res.Signal != int(unix.SIGTERM) {
			t.Errorf("got %s signal %d, want SG %d", res.Status, res.Signal, unix.SIGTERM)
		}
		out, res := exec(t, &Spec{Args: []string{"no-such-command"}})
		if res.ExitCode != 127 {
			t.Errorf("missing command: exit %d (%q), want 127", res.ExitCode, out)
		}
	})
	t.Run("the runner's cgroup is untouched", func(t *testing.T) {
		x, err := Exec(context.Background(), c.Pid(), &Spec{Args: []string{"sleep", "5"}}, false)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { x.Signal(unix.SIGKILL); x.Wait() }()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", x.Pid()))
			if bytes.Equal(b, cgroup) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", x.Pid()))
		t.Errorf("the exec's cgroup:\n%s\nwant the sandbox's:\n%s", b, cgroup)
	})
	t.Run("its init is out of reach", func(t *testing.T) {
		// The exec's init holds the runner's descriptors: CMD, root in the
		// sandbox as that init is, cannot look into it.
		out, _ := exec(t, &Spec{Args: []string{"sh", "-c", "readlink /proc/$PPID/exe /proc/$PPID/root /proc/$PPID/cwd /proc/$PPID/fd/0; ls /proc/$PPID/root/ 2>/dev/null | wc -l"}})
		if out != "0\n" {
			t.Errorf("CMD sees into its init: %q", out)
		}
	})
	t.Run("not a sandbox", func(t *testing.T) {
		_, err := Exec(context.Background(), os.Getpid(), &Spec{Args: []string{"true"}}, false)
		if err == nil {
			t.Fatal("an exec into the runner itself was not refused")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		var out bytes.Buffer
		x, err := Exec(context.Background(), c.Pid(), &Spec{Args: []string{"cat"},
			IO: IO{Stdin: io.NopCloser(strings.NewReader("through\n")), Stdout: &out}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := x.Wait(); err != nil || res.Status != StatusOK || out.String() != "through\n" {
			t.Errorf("got %q %v %+v", out.String(), err, res)
		}
	})
}
