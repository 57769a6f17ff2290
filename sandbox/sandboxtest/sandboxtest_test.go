package sandboxtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox"
)

func TestRun(t *testing.T) {
	res := Run(t, &sandbox.Spec{Args: []string{"sh", "-c", "echo out; echo err >&2; hostname; exit 3"}})
	if res.Stdout != "out\nsandbox\n" || res.Stderr != "err\n" || res.ExitCode != 3 || res.Status != sandbox.StatusRuntime {
		t.Errorf("Run: stdout %q stderr %q exit %d status %s", res.Stdout, res.Stderr, res.ExitCode, res.Status)
	}
}

// A sandbox the test leaves running is killed and waited for by Cleanup:
// no process of it outlives the test.
func TestStartTornDown(t *testing.T) {
	var pid int
	t.Run("leaves it running", func(t *testing.T) {
		sb := Start(t, &sandbox.Spec{Args: []string{"sleep", "1000"}})
		pid = sb.Pid()
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("the sandbox's PID 1 is not running: %v", err)
		}
	})
	if pid == 0 {
		t.Skip("no sandbox was started")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("PID 1 (%d) of a sandbox outlived the test that started it", pid)
	}
	t.Run("stopped", func(t *testing.T) {
		sb := Start(t, &sandbox.Spec{Args: []string{"sleep", "1000"}})
		if res := sb.Stop(); res.Status != sandbox.StatusSignal {
			t.Errorf("Stop: status %s, want %s", res.Status, sandbox.StatusSignal)
		}
		if res := sb.Wait(); res.Status != sandbox.StatusSignal {
			t.Errorf("Wait after Stop: status %s", res.Status)
		}
	})
}

// buildFixture builds the test binary of testdata/hermeticmain where any
// user may run it.
func buildFixture(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a test binary: skipped with -short")
	}
	dir, err := os.MkdirTemp("", "sandboxtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "hermeticmain.test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, "./testdata/hermeticmain").CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	return bin
}

type fixtureRun struct {
	out   string
	exit  int
	facts map[string]string
}

func runFixture(t *testing.T, cmd *exec.Cmd) fixtureRun {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "SANDBOXTEST_SECRET=leak")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	r := fixtureRun{out: out.String(), exit: cmd.ProcessState.ExitCode(), facts: map[string]string{}}
	for _, l := range strings.Split(r.out, "\n") {
		if kv, ok := strings.CutPrefix(l, "FACT "); ok {
			k, v, _ := strings.Cut(kv, "=")
			r.facts[k] = v
		}
	}
	return r
}

func TestMainHelper(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("no sandbox can be made here: %v", err)
	}
	bin := buildFixture(t)
	written := fmt.Sprintf("/tmp/sandboxtest-written-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(written) })

	r := runFixture(t, exec.Command(bin, "-test.v", "-write", written))
	want := map[string]string{"hostname": "sandbox", "sandboxed": "true", "secret": "", "required": "ran"}
	for k, v := range want {
		if r.facts[k] != v {
			t.Errorf("fact %s: %q, want %q\n%s", k, r.facts[k], v, r.out)
		}
	}
	if r.exit != 0 {
		t.Errorf("exit %d, want 0\n%s", r.exit, r.out)
	}
	if _, err := os.Stat(written); err == nil {
		t.Errorf("a write to /tmp inside reached the host: %s", written)
	}
	if r := runFixture(t, exec.Command(bin, "-test.run", "^TestFails$", "-fail")); r.exit != 1 || !strings.Contains(r.out, "asked to fail") {
		t.Errorf("a failing test: exit %d, want 1\n%s", r.exit, r.out)
	}

	t.Run("profiles reach the host", func(t *testing.T) {
		out := t.TempDir()
		r := runFixture(t, exec.Command(bin, "-test.run", "^TestFacts$", "-test.outputdir="+out, "-test.cpuprofile=cpu.out"))
		if fi, err := os.Stat(filepath.Join(out, "cpu.out")); err != nil || fi.Size() == 0 || r.exit != 0 {
			t.Errorf("cpu profile: %v (exit %d)\n%s", err, r.exit, r.out)
		}
	})

	t.Run("timeout's SIGQUIT reaches the tests", func(t *testing.T) {
		// Stand in for go test past its timeout: SIGQUIT the outer binary
		// once the inner one hangs. The inner one dumps its goroutines and
		// exits 2, as it would unsandboxed.
		cmd := exec.Command(bin, "-test.run", "^TestHangs$", "-hang")
		out, _ := cmd.StdoutPipe()
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && sc.Text() != "FACT hanging=yes" {
		}
		cmd.Process.Signal(syscall.SIGQUIT)
		io.Copy(io.Discard, out)
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(errb.String(), "main_test.go") {
			t.Errorf("after SIGQUIT: exit %d, want 2 with the inner binary's goroutines\n%s", code, errb.String())
		}
	})

	t.Run("unsandboxed where no sandbox can be made", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root: it runs the test binary as nobody")
		}
		cmd := exec.Command(bin, "-test.v")
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		// Nobody's default run directory is sandbox-65534 in the temp
		// directory, which would outlive the test: a temp directory of
		// nobody's own instead (t.TempDir's parent is root's, 0700).
		tmp, err := os.MkdirTemp("", "sandboxtest-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(tmp) })
		if err := os.Chown(tmp, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		left := filepath.Join(os.TempDir(), "sandbox-65534")
		_, hadLeft := os.Lstat(left)
		r := runFixture(t, cmd)
		if _, err := os.Lstat(left); err == nil && hadLeft != nil {
			os.RemoveAll(left)
			t.Errorf("%s left behind: nobody's run directory, in the host's temp directory", left)
		}
		if r.exit == 0 && r.facts["sandboxed"] == "true" && r.facts["secret"] == "" {
			t.Skip("nobody gets a rootless sandbox on this host (unprivileged user namespaces): no case without a sandbox to see")
		}
		if r.exit != 0 || r.facts["sandboxed"] != "false" || r.facts["secret"] != "leak" ||
			!strings.Contains(r.out, "sandboxtest: running the tests unsandboxed: ") || !strings.Contains(r.out, "--- SKIP: TestNeedsSandbox") {
			t.Errorf("as nobody: exit %d\n%s", r.exit, r.out)
		}
	})
}
