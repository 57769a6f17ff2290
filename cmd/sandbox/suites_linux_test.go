package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test suites under testdata/suites (a Go module, a Cargo crate, a
// pytest suite) write files in their directory and in /tmp, start
// processes, dial a listener of the host's and list their environment,
// printing what they saw as "FACT key=value" lines. Each runs natively and
// through its tool's runner hook, from a copy under the test's temporary
// directory (under /tmp, which the sandbox keeps private): what the sandbox
// changes (network, writes, environment) is asserted, and pass, fail and
// exit statuses must be what they are natively.

// toolSuite is how one tool runs a suite: natively, or with the sandbox as
// its runner (runner is the command line of `sandbox exec`, flags included).
type toolSuite struct {
	name, fixture string
	pkg           string        // the directory below the fixture's where the tests run
	missing       func() string // why the tool cannot run here, "" if it can
	cmd           func(dir string, runner []string, sel string) *exec.Cmd
	// The selections: the tests that print facts, one that fails, one that
	// exits 3 in the middle of the run.
	facts, fails, exits string
}

func toolSuites(t *testing.T) []toolSuite {
	return []toolSuite{
		{
			name: "go", fixture: "gomod", pkg: "hermetic",
			missing: func() string { return lookTool("go") },
			cmd: func(dir string, runner []string, sel string) *exec.Cmd {
				args := []string{"test", "-count=1", "-v", "-run", sel}
				if runner != nil {
					args = append(args, "-exec", strings.Join(runner, " "))
				}
				cmd := exec.Command("go", append(args, "./...")...)
				cmd.Dir = dir
				return cmd
			},
			facts: "^TestHermetic", fails: "^TestFails$", exits: "^TestExits$",
		},
		{
			name: "cargo", fixture: "crate",
			missing: func() string { return lookTool("cargo", "rustc") },
			cmd: func(dir string, runner []string, sel string) *exec.Cmd {
				cmd := exec.Command("cargo", "test", "--offline", "-q", "--test", "hermetic", "--", "--nocapture", "--test-threads=1", sel)
				cmd.Dir = dir
				if runner != nil {
					cmd.Env = append(cmd.Environ(), "CARGO_TARGET_"+cargoTriple(t)+"_RUNNER="+strings.Join(runner, " "))
				}
				return cmd
			},
			facts: "hermetic_", fails: "fails", exits: "exits",
		},
		{
			name: "pytest", fixture: "pytest",
			missing: func() string {
				if pytestPython() == "" {
					return "python3 -m pytest: not installed (Debian's python3-pytest; make deps installs it)"
				}
				return ""
			},
			cmd: func(dir string, runner []string, sel string) *exec.Cmd {
				args := []string{pytestPython(), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-k", sel}
				cmd := exec.Command(args[0], args[1:]...)
				if runner != nil {
					cmd = exec.Command(runner[0], append(runner[1:], args...)...)
				} else {
					// tmp_path's base natively: pytest's own under /tmp
					// (pytest-of-USER) would outlive the test. Sandboxed,
					// it is in the private /tmp, gone with the run.
					cmd.Env = append(cmd.Environ(), "TMPDIR="+t.TempDir())
				}
				cmd.Dir = dir
				return cmd
			},
			facts: "hermetic_", fails: "test_fails", exits: "test_exits",
		},
	}
}

// pytestPython is the python3 that has pytest: the one on PATH, or
// Debian's, where make deps installs python3-pytest (a PATH may put
// another python3 first, pyenv's say).
func pytestPython() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import pytest").Run() == nil {
			return py
		}
	}
	return ""
}

func lookTool(names ...string) string {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return n + ": not installed"
		}
	}
	return ""
}

func cargoTriple(t *testing.T) string {
	out, err := exec.Command("rustc", "-vV").Output()
	if err != nil {
		t.Fatalf("rustc -vV: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(l, "host: "); ok {
			return strings.ToUpper(strings.ReplaceAll(h, "-", "_"))
		}
	}
	t.Fatalf("rustc -vV: no host line in %q", out)
	return ""
}

// hostListener accepts and closes connections on the host's loopback, for
// the suites to try to reach.
func hostListener(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// copyTree copies the fixture at src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

type suiteRun struct {
	out   string
	exit  int
	facts map[string]string
}

// runSuite runs cmd with the environment a developer's shell would have
// (a secret included) and the CLI test's sandbox settings.
func runSuite(t *testing.T, cmd *exec.Cmd) suiteRun {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, mainEnv+"=1", "SANDBOX_CGROUP_ROOT="+cgroupRoot, "SANDBOX_RUN_DIR="+runDir(t), "SUITE_SECRET=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", cmd, err)
	}
	r := suiteRun{out: out.String(), exit: cmd.ProcessState.ExitCode(), facts: map[string]string{}}
	for _, l := range strings.Split(r.out, "\n") {
		// Anywhere in a line: cargo's and pytest's progress dots come first.
		if _, kv, ok := strings.Cut(l, "FACT "); ok {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			r.facts[k] = v
		}
	}
	return r
}

func TestSuites(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds and runs three test suites: skipped with -short")
	}
	port := hostListener(t)
	runner := []string{os.Args[0], "exec", "--"}
	for _, s := range toolSuites(t) {
		t.Run(s.name, func(t *testing.T) {
			if why := s.missing(); why != "" {
				t.Skip(why)
			}
			dir := filepath.Join(t.TempDir(), s.fixture)
			copyTree(t, filepath.Join(testdata, "suites", s.fixture), dir)
			setTag := func(tag string) {
				os.WriteFile(filepath.Join(dir, s.pkg, "suite.conf"), []byte(fmt.Sprintf("port=%d\ntag=%s\n", port, tag)), 0o644)
			}
			written := func(tag string) []string {
				lang := map[string]string{"go": "go", "cargo": "rust", "pytest": "python"}[s.name]
				paths := []string{"/tmp/suite-" + tag + "-" + lang, filepath.Join(dir, s.pkg, "written-by-"+lang+"-"+tag)}
				if lang == "rust" { // std::env::temp_dir's, beside the rest
					paths = append(paths, filepath.Join(os.TempDir(), "suite-"+tag+"-rust-tmpdir"))
				}
				return paths
			}
			nativeTag, sandboxTag := fmt.Sprintf("native-%d", os.Getpid()), fmt.Sprintf("sandboxed-%d", os.Getpid())
			t.Cleanup(func() {
				for _, p := range append(written(nativeTag), written(sandboxTag)...) {
					os.Remove(p)
				}
			})

			// pytest's own temp directory, pytest-of-USER, is what a
			// native run would leave in /tmp besides the tagged files.
			pytestTmps := func() map[string]bool {
				m := map[string]bool{}
				names, _ := filepath.Glob("/tmp/pytest-of-*")
				for _, n := range names {
					m[n] = true
				}
				return m
			}
			hadPytestTmps := pytestTmps()
			t.Cleanup(func() {
				for n := range pytestTmps() {
					if !hadPytestTmps[n] {
						os.RemoveAll(n)
						t.Errorf("%s left behind", n)
					}
				}
			})

			setTag(nativeTag)
			native := runSuite(t, s.cmd(dir, nil, s.facts))
			setTag(sandboxTag)
			boxed := runSuite(t, s.cmd(dir, runner, s.facts))
			if native.exit != 0 || boxed.exit != 0 {
				t.Fatalf("the suite's passing tests: exit %d natively, %d sandboxed\nnative:\n%s\nsandboxed:\n%s", native.exit, boxed.exit, native.out, boxed.out)
			}
			for _, c := range []struct {
				run      suiteRun
				listener string
			}{{native, "reached"}, {boxed, "refused"}} {
				for k, want := range map[string]string{"wrote": "ok", "child": "child", "loopback": "ok", "host-listener": c.listener} {
					if got := c.run.facts[k]; got != want {
						t.Errorf("fact %s: %q, want %q; output:\n%s", k, got, want, c.run.out)
					}
				}
			}
			for _, p := range written(nativeTag) {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("the native run did not write %s: the fixture is broken", p)
				}
			}
			for _, p := range written(sandboxTag) {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("the sandboxed run's write reached the host: %s", p)
				}
			}
			if !strings.Contains(","+native.facts["env"]+",", ",SUITE_SECRET,") {
				t.Errorf("native environment %q lacks SUITE_SECRET: the fixture is broken", native.facts["env"])
			}
			allowed := map[string]bool{"PATH": true, "HOME": true, "TERM": true, "LANG": true, "TZ": true, "PYTEST_CURRENT_TEST": true}
			for _, k := range strings.Split(boxed.facts["env"], ",") {
				if !allowed[k] {
					t.Errorf("sandboxed environment has %s (all: %s)", k, boxed.facts["env"])
				}
			}
			if pid, _ := strconv.Atoi(boxed.facts["pid"]); pid < 1 || pid > 16 {
				t.Errorf("sandboxed pid %q: not in a pid namespace of its own", boxed.facts["pid"])
			}

			// Failures and exits in the middle of a run come out as they
			// would natively.
			for _, sel := range []string{s.fails, s.exits} {
				n, b := runSuite(t, s.cmd(dir, nil, sel)), runSuite(t, s.cmd(dir, runner, sel))
				if n.exit == 0 || b.exit != n.exit {
					t.Errorf("%s: exit %d natively, %d sandboxed\nsandboxed:\n%s", sel, n.exit, b.exit, b.out)
				}
			}
		})
	}
}

// TestGoTestExec is what `go test -exec 'sandbox exec ...'` adds to the
// above: the test profile, a report per package, runner failures told
// apart from test failures, and a wedged test binary that go kills.
func TestGoTestExec(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds a test suite: skipped with -short")
	}
	if why := lookTool("go"); why != "" {
		t.Skip(why)
	}
	port := hostListener(t)
	dir := filepath.Join(t.TempDir(), "gomod")
	copyTree(t, filepath.Join(testdata, "suites", "gomod"), dir)
	os.WriteFile(filepath.Join(dir, "hermetic", "suite.conf"), []byte(fmt.Sprintf("port=%d\ntag=exec-%d\n", port, os.Getpid())), 0o644)
	goTest := func(exec_ string, args ...string) suiteRun {
		cmd := exec.Command("go", append([]string{"test", "-count=1", "-exec", exec_}, args...)...)
		cmd.Dir = dir
		return runSuite(t, cmd)
	}

	t.Run("test profile and a report per package", func(t *testing.T) {
		reports := filepath.Join(t.TempDir(), "reports")
		ok := goTest(os.Args[0]+" exec --profile test --report-dir "+reports+" --", "-run", "^TestHermetic", "./...")
		fail := goTest(os.Args[0]+" exec --profile test --report-dir rel --", "-run", "^TestFails$", "./...")
		if ok.exit != 0 || fail.exit != 1 {
			t.Fatalf("exit %d and %d, want 0 and 1:\n%s\n%s", ok.exit, fail.exit, ok.out, fail.out)
		}
		for file, status := range map[string]string{
			filepath.Join(reports, "example.com/suite/hermetic.json"): "OK",
			// Relative: from the module's root, not the package's directory.
			filepath.Join(dir, "rel/example.com/suite/hermetic.json"): "RE",
		} {
			var rep struct {
				Status string  `json:"status"`
				CPUMs  float64 `json:"cpu_ms"`
			}
			b, err := os.ReadFile(file)
			if err == nil {
				err = json.Unmarshal(b, &rep)
			}
			if err != nil || rep.Status != status || rep.CPUMs <= 0 {
				t.Errorf("report %s: %+v, %v; want status %s", file, rep, err, status)
			}
		}
		table := runSandbox(t, "", "report", reports, filepath.Join(dir, "rel"))
		if table.Exit != 0 || strings.Count(table.Stdout, "example.com/suite/hermetic ") != 2 {
			t.Errorf("sandbox report: exit %d\n%s%s", table.Exit, table.Stdout, table.Stderr)
		}
	})

	t.Run("coverage and profiles reach the go command", func(t *testing.T) {
		out := t.TempDir()
		r := goTest(os.Args[0]+" exec --", "-run", "^TestHermeticEnv$", "-cover", "-coverprofile", filepath.Join(out, "c.out"),
			"-cpuprofile", filepath.Join(out, "cpu.out"), "./...")
		if r.exit != 0 || !strings.Contains(r.out, "coverage: ") || strings.Contains(r.out, "no coverage data") {
			t.Errorf("go test -cover: exit %d\n%s", r.exit, r.out)
		}
		for _, f := range []string{"c.out", "cpu.out"} {
			if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
		// Nothing else: the writes of the tests stay in the sandbox.
		if ents, _ := filepath.Glob(filepath.Join(dir, "hermetic", "written-by-go-*")); len(ents) > 0 {
			t.Errorf("writes reached the host: %v", ents)
		}
	})

	t.Run("runner failures are told apart", func(t *testing.T) {
		r := goTest(os.Args[0]+" exec --memory banana --report-dir "+t.TempDir()+" --", "-run", "^TestHermetic", "./...")
		if r.exit == 0 || !strings.Contains(r.out, `sandbox: invalid --memory "banana"`) {
			t.Errorf("go test with a bad runner flag: exit %d\n%s", r.exit, r.out)
		}
		bin := filepath.Join(t.TempDir(), "hermetic.test")
		if out, err := goTestC(dir, bin); err != nil {
			t.Fatalf("go test -c: %v\n%s", err, out)
		}
		for args, want := range map[string]int{
			"--memory banana -- " + bin:                           125,
			"-- " + bin + " -test.run ^TestFails$":                1,
			"-- " + bin + " -test.run ^TestExits$":                3,
			"-- " + bin + " -test.run ^TestNothing$":              0,
			"-- " + bin + ".missing":                              127,
			"--wall-time 1s -- " + bin + " -test.run ^TestHangs$": 128 + int(syscall.SIGKILL),
		} {
			cmd := sandboxCmd(t, append([]string{"exec"}, strings.Fields(args)...)...)
			cmd.Dir = filepath.Join(dir, "hermetic")
			out, _ := cmd.CombinedOutput()
			if got := cmd.ProcessState.ExitCode(); got != want {
				t.Errorf("sandbox exec %s: exit %d, want %d\n%s", args, got, want, out)
			}
		}
	})

	t.Run("killed by go at its timeout", func(t *testing.T) {
		// go test ends an -exec program that outlives its timeout with
		// SIGQUIT, then SIGKILL: the sandbox forwards the first (ignored
		// here) and goes, whole, with the second.
		bin := filepath.Join(t.TempDir(), "hermetic.test")
		if out, err := goTestC(dir, bin); err != nil {
			t.Fatalf("go test -c: %v\n%s", err, out)
		}
		cmd := sandboxCmd(t, "exec", "--", bin, "-test.run", "^TestHangs$", "-test.v")
		cmd.Dir = filepath.Join(dir, "hermetic")
		runDir := strings.TrimPrefix(cmd.Env[len(cmd.Env)-1], "SANDBOX_RUN_DIR=")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "FACT hanging=") {
		}
		go io.Copy(io.Discard, out)
		cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(200 * time.Millisecond)
		if len(processesRunning(bin)) == 0 {
			t.Fatalf("the test binary did not ignore SIGQUIT: the fixture is broken")
		}
		cmd.Process.Kill()
		cmd.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for len(processesRunning(bin)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if pids := processesRunning(bin); len(pids) > 0 {
			t.Errorf("the test binary outlived its killed runner: %v", pids)
		}
		// The cgroup and run directory the killed runner left.
		if out, err := sandboxCmd(t, "gc", "--run-dir", runDir, "--store", filepath.Join(t.TempDir(), "nostore")).CombinedOutput(); err != nil {
			t.Errorf("sandbox gc: %v\n%s", err, out)
		}
	})
}

func goTestC(dir, bin string) ([]byte, error) {
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./hermetic")
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// processesRunning lists the pids whose command line starts with path.
func processesRunning(path string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if arg0, _, _ := bytes.Cut(b, []byte{0}); string(arg0) == path {
			pids = append(pids, pid)
		}
	}
	return pids
}
