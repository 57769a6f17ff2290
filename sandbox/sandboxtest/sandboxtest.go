// Package sandboxtest runs commands in throwaway sandboxes from Go tests,
// and makes a package's whole test binary hermetic with one line.
//
// # From a test
//
//	res := sandboxtest.Run(t, &sandbox.Spec{Args: []string{"make", "check"}})
//	if res.Status != sandbox.StatusOK { t.Errorf("make check: %s\n%s", res.Message, res.Stderr) }
//
// Run runs a Spec to its end and returns how it ended with what CMD wrote
// (Stdout, Stderr), where the Spec leaves IO empty. Start returns the
// running sandbox instead, for a server the test talks to; Wait ends it.
// Either way the sandbox is torn down by t.Cleanup: killed if still
// running, and waited for, so nothing of it outlives the test (processes,
// mounts, cgroup, run directory). A runner failure fails the test.
//
// # Where no sandbox can be made
//
// Available probes, once per process, whether a sandbox can be made here
// (root, or a user namespace the runner can use; the kernel features): it
// starts one. Where it cannot, Run and Start skip the test with the reason
// (t.Skip), so a suite that uses them still passes, honestly marked, on a
// machine without the privileges.
//
// # The whole test binary
//
//	func TestMain(m *testing.M) { sandboxtest.Main(m) }
//
// Main re-runs the test binary itself, with its arguments, inside a
// sandbox (sandbox exec's defaults: own network with loopback only, the
// host's root copy-on-write, private /tmp, a clean environment; MainSpec
// takes a Spec of your own for limits and mounts) and exits with its exit
// status; inside, it runs the tests. The run is the probe: one sandbox per
// test binary, no more. Profiles and coverage data the go
// command asks for (-test.outputdir, -test.gocoverdir) are bound read-write,
// so go test still finds them. Where no sandbox can be made, Main says why
// on stderr and runs the tests in place; a test that must not run outside
// one calls RequireSandboxed. There is no daemon: each sandbox belongs to
// the process that made it and dies with it (unlike testcontainers, whose
// reaper container needs a container engine, which fails rootless and on
// podman).
package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Result is how a run ended, with what CMD wrote to stdout and stderr
// (empty when the Spec's IO took them).
type Result struct {
	*sandbox.Result
	Stdout, Stderr string
}

// Run runs spec to its end in a throwaway sandbox: see the package doc.
func Run(t testing.TB, spec *sandbox.Spec) *Result {
	t.Helper()
	return Start(t, spec).Wait()
}

// Sandbox is a started run, torn down by t.Cleanup if Wait was not called.
type Sandbox struct {
	*sandbox.Container
	t              testing.TB
	cancel         context.CancelFunc
	stdout, stderr *lockedBuffer
	once           sync.Once
	res            *Result
}

// Start starts spec in a throwaway sandbox and returns it running; see the
// package doc. spec is not changed.
func Start(t testing.TB, spec *sandbox.Spec) *Sandbox {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no sandbox can be made here: %v", err)
	}
	s := *spec
	sb := &Sandbox{t: t, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	if s.IO.Stdout == nil {
		s.IO.Stdout = sb.stdout
	}
	if s.IO.Stderr == nil {
		s.IO.Stderr = sb.stderr
	}
	// Cancelling the context kills the whole sandbox; Cleanup does both.
	ctx, cancel := context.WithCancel(context.Background())
	c, err := sandbox.Start(ctx, &s)
	if err != nil {
		cancel()
		t.Fatalf("starting sandbox for %q: %v", spec.Args, err)
	}
	sb.Container, sb.cancel = c, cancel
	t.Cleanup(func() {
		cancel()
		sb.wait()
	})
	return sb
}

// Wait waits for the sandbox's end and returns how it ended; a runner
// failure fails the test. It may be called more than once.
func (sb *Sandbox) Wait() *Result {
	sb.t.Helper()
	if err := sb.wait(); err != nil {
		sb.t.Fatalf("sandbox %s: %v", sb.ID, err)
	}
	return sb.res
}

// Stop kills the sandbox and waits for it; its Result says how it ended.
func (sb *Sandbox) Stop() *Result {
	sb.cancel()
	sb.wait()
	return sb.res
}

func (sb *Sandbox) wait() error {
	var err error
	sb.once.Do(func() {
		var res *sandbox.Result
		res, err = sb.Container.Wait()
		sb.cancel()
		if res == nil {
			res = &sandbox.Result{Status: sandbox.StatusFailed, ExitCode: sandbox.ExitRunnerFailed}
		}
		sb.res = &Result{Result: res, Stdout: sb.stdout.String(), Stderr: sb.stderr.String()}
	})
	// A cancelled run (Stop, Cleanup) is not the runner's failure.
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

var available = sync.OnceValue(func() error {
	// The probe is the real thing: whatever stands in the way (no root, no
	// user namespaces, a sandbox around this process already, a kernel
	// without overlayfs) makes it fail, with the reason.
	var out bytes.Buffer
	res, err := sandbox.Run(context.Background(), &sandbox.Spec{Args: []string{"/proc/self/exe"},
		Env: []string{probeEnv + "=1"}, IO: sandbox.IO{Stderr: &out}})
	if err != nil {
		return notRoot(err)
	}
	if res.ExitCode != probeExit {
		return fmt.Errorf("a probe run ended with %s (exit %d): %s", res.Status, res.ExitCode, strings.TrimSpace(out.String()))
	}
	return nil
})

// Available reports why no sandbox can be made here, or nil when one can.
func Available() error { return available() }

// RequireSandboxed skips t unless this test binary runs inside the
// sandbox Main made.
func RequireSandboxed(t testing.TB) {
	t.Helper()
	if os.Getenv(innerEnv) != "1" {
		t.Skipf("not sandboxed: %v", mainReason)
	}
}

// Sandboxed reports whether this test binary runs inside the sandbox Main
// made.
func Sandboxed() bool { return os.Getenv(innerEnv) == "1" }

const (
	// innerEnv marks the test binary Main re-ran inside a sandbox.
	innerEnv = "SANDBOXTEST_INNER"
	// probeEnv makes the probe run of this binary exit at once (init).
	probeEnv  = "SANDBOXTEST_PROBE"
	probeExit = 42
)

func init() {
	if os.Getenv(probeEnv) == "1" {
		os.Exit(probeExit)
	}
}

// mainReason is why Main ran the tests in place ("Main was not used" if it
// was not).
var mainReason error = errors.New("the test binary's TestMain does not call sandboxtest.Main")

// Main runs the test binary inside a sandbox with the defaults of sandbox
// exec: see the package doc. It does not return.
func Main(m *testing.M) { MainSpec(m, &sandbox.Spec{}) }

// MainSpec is Main with spec's settings (limits, mounts, network, ...);
// its Args, IO and, unless set, Env are Main's.
func MainSpec(m *testing.M, spec *sandbox.Spec) {
	if Sandboxed() {
		os.Exit(m.Run())
	}
	// No probe first (Available): the run itself is one. A sandbox that
	// cannot be started means none can be made here; a bad Spec is the
	// caller's mistake, and a failure once started is the runner's.
	code, err := runInside(spec, os.Args, os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, sandbox.ErrInvalidSpec) {
		mainReason = notRoot(err)
		fmt.Fprintf(os.Stderr, "sandboxtest: running the tests unsandboxed: %v\n", mainReason)
		os.Exit(m.Run())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandboxtest: %v\n", err)
	}
	os.Exit(code)
}

// notRoot says, for a failure to start a sandbox as another user than
// root, why: the runner's own words name only the step that failed.
func notRoot(err error) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("running as uid %d, not root: %w", os.Geteuid(), err)
	}
	return err
}

// runInside re-runs args (the test binary's own command line) in a
// sandbox and returns the exit status for it, or the error that kept the
// sandbox from starting.
func runInside(spec *sandbox.Spec, args []string, in io.Reader, out, errw io.Writer) (int, error) {
	s := *spec
	exe, err := os.Executable()
	if err != nil {
		return sandbox.ExitRunnerFailed, fmt.Errorf("%w: finding the test binary: %w", sandbox.ErrInvalidSpec, err)
	}
	s.Args = append([]string{exe}, args[1:]...)
	if s.Env == nil {
		s.Env = sandbox.HermeticEnv(os.Environ())
	}
	s.Env = sandbox.SetEnv(s.Env, innerEnv, "1")
	// What the go command reads back after the run must reach the host.
	for _, a := range args[1:] {
		for _, flag := range []string{"-test.outputdir=", "-test.gocoverdir="} {
			if dir, ok := strings.CutPrefix(a, flag); ok && filepath.IsAbs(dir) {
				s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: dir})
			}
		}
	}
	s.IO = sandbox.IO{Stdin: in, Stdout: out, Stderr: errw}
	// Caught before the start, forwarded after: go test ends a test binary
	// past its timeout with SIGQUIT, and the goroutine dump it wants is
	// the inner binary's.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	c, err := sandbox.Start(context.Background(), &s)
	if err != nil {
		return sandbox.ExitRunnerFailed, err
	}
	go func() {
		for sig := range sigs {
			c.Signal(sig)
		}
	}()
	res, err := c.Wait()
	if err != nil {
		fmt.Fprintf(errw, "sandboxtest: %v\n", err)
		return sandbox.ExitRunnerFailed, nil
	}
	if res.ExitCode == sandbox.ExitNotFound || res.ExitCode == sandbox.ExitNotExecutable {
		fmt.Fprintf(errw, "sandboxtest: %s\n", res.Message)
	}
	return res.ExitStatus(), nil
}

// lockedBuffer is a bytes.Buffer the sandbox's output copier writes while
// the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
