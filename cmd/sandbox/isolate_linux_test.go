package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The tests here run the command lines CMS (cms/grading/Sandbox.py,
// IsolateSandbox) and Judge0 (app/jobs/isolate_job.rb) build, as they
// build them, through a shell, against this binary invoked as "isolate";
// and read the meta files as those callers read them.

// isolateEnv is a world for isolate: the test binary on PATH under the
// name "isolate", a box root of the test's own, and the test's cgroup root
// and run directory.
type isolateEnv struct {
	t            *testing.T
	bin, boxRoot string
	env          []string
}

func newIsolateEnv(t *testing.T) *isolateEnv {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "isolate")); err != nil {
		t.Fatal(err)
	}
	e := &isolateEnv{t: t, bin: bin, boxRoot: filepath.Join(dir, "boxes")}
	e.env = append(os.Environ(), mainEnv+"=1", "SANDBOX_CGROUP_ROOT="+cgroupRoot, "SANDBOX_RUN_DIR="+runDir(t),
		"SANDBOX_ISOLATE_ROOT="+e.boxRoot, "PATH="+bin+":/usr/sbin:/usr/bin:/sbin:/bin")
	t.Cleanup(func() {
		// The staged binds live in a private mount namespace: none may
		// show on the host.
		if b, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(b), dir) || strings.Contains(string(b), "isolate-stage") {
			t.Errorf("mounts left on the host under %s (%v)", dir, err)
		}
		if ents, _ := os.ReadDir(e.boxRoot); len(ents) > 0 {
			var names []string
			for _, d := range ents {
				names = append(names, d.Name())
			}
			t.Errorf("box root not empty after the test's cleanups: %v", names)
		}
	})
	return e
}

// sh runs a command line as Judge0 does (Ruby backticks: /bin/sh -c),
// returning stdout, stderr and the exit status.
func (e *isolateEnv) sh(line string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = e.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatalf("running %s: %v", line, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// argv runs isolate with an argument vector, as CMS does (subprocess with
// a list).
func (e *isolateEnv) argv(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "isolate"), args...)
	cmd.Env = e.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatalf("running isolate %q: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// cmsMeta reads a meta file as CMS's Sandbox.get_meta does: each line
// stripped and split at its first colon, a line without one an error,
// values collected in lists.
func cmsMeta(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CMS: Error while reading execution meta file %s: %v", path, err)
	}
	meta := map[string][]string{}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue // Python's iteration over a file yields no empty last line
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			t.Fatalf("CMS: meta line %q has no colon: ValueError", line)
		}
		meta[k] = append(meta[k], v)
	}
	return meta
}

func first(meta map[string][]string, k string) string {
	if len(meta[k]) == 0 {
		return ""
	}
	return meta[k][0]
}

// cmsExitStatus is Sandbox.get_exit_status, with translate_box_exitcode
// for isolate's own status.
func cmsExitStatus(t *testing.T, meta map[string][]string, boxExit int) string {
	t.Helper()
	switch boxExit {
	case 0, 1:
	case 2:
		return "sandbox error"
	default:
		t.Fatalf("CMS: SandboxInterfaceException: Sandbox exit status (%d) unknown", boxExit)
	}
	has := func(s string) bool {
		for _, v := range meta["status"] {
			if v == s {
				return true
			}
		}
		return false
	}
	switch {
	case has("XX"):
		return "sandbox error"
	case has("TO"):
		if m := meta["message"]; len(m) > 0 && strings.Contains(m[0], "wall") {
			return "wall timeout"
		}
		return "timeout"
	case has("SG"):
		if _, ok := meta["cg-oom-killed"]; ok {
			return "memory limit exceeded"
		}
		return "signal"
	case has("RE"):
		return "nonzero return"
	}
	return "ok"
}

// TestIsolateCMS runs what CMS's IsolateSandbox runs for one sandbox: an
// idempotent --cleanup, --init, one --run per case built by
// build_box_options (its home directory bound at /tmp, a private
// /dev/shm, HOME=/tmp, the meta file in its outer directory), then the
// chmod run and --cleanup of cleanup(delete=True).
func TestIsolateCMS(t *testing.T) {
	e := newIsolateEnv(t)
	outer := t.TempDir() // tempfile.mkdtemp(prefix="cms-...")
	home := filepath.Join(outer, "home")
	if err := os.Mkdir(home, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o777) // allow_writing_all
	const box = 1042      // (1 + shard) * 1000 + index
	if _, _, code := e.argv("--box-id=1042", "--cg", "--cleanup"); code != 0 {
		t.Fatalf("CMS's first --cleanup: exit %d", code)
	}
	if _, errs, code := e.argv("--box-id=1042", "--cg", "--init"); code != 0 {
		t.Fatalf("CMS: Failed to initialize sandbox: exit %d: %s", code, errs)
	}
	t.Cleanup(func() { e.argv("--box-id=1042", "--cg", "--cleanup") })
	if err := os.WriteFile(filepath.Join(home, "input.txt"), []byte("21\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// dirs is CMS's directory rules in its order; "maybe" ones only where
	// the host has them, as CMS checks before adding.
	dirs := []string{"--dir=/tmp=" + home + ":rw", "--dir=/dev/shm:tmp"}
	for _, d := range []struct{ path, opt string }{{"/etc/alternatives", ""}, {"/opt/pypy3", ""}, {"/etc/mono", ":noexec"}} {
		if _, err := os.Stat(d.path); err == nil {
			dirs = append(dirs, "--dir="+d.path+d.opt)
		}
	}
	execNum := -1
	build := func(procs int, limits []string, cmd ...string) ([]string, string) {
		execNum++
		meta := fmt.Sprintf("%s/run.meta.%d", outer, execNum)
		args := []string{"--cg", "--box-id=1042", "--chdir=/tmp"}
		args = append(args, dirs...)
		args = append(args, "--env=HOME=/tmp", "--stdin=/tmp/input.txt")
		args = append(args, limits[0:1]...) // --cg-mem
		args = append(args, "--stdout=/tmp/output.txt", "--processes="+strconv.Itoa(procs), "--stderr=/tmp/error.txt")
		args = append(args, limits[1:]...) // --time, --wall-time, --extra-time
		args = append(args, "--meta="+meta, "--run", "--")
		return append(args, cmd...), meta
	}
	limits := func(memKiB int, tm, wall, extra float64) []string {
		return []string{fmt.Sprintf("--cg-mem=%d", memKiB), "--time=" + strconv.FormatFloat(tm, 'g', -1, 64),
			"--wall-time=" + strconv.FormatFloat(wall, 'g', -1, 64), "--extra-time=" + strconv.FormatFloat(extra, 'g', -1, 64)}
	}
	std := limits(262144, 1, 10, 0.5)

	tests := []struct {
		name   string
		procs  int
		limits []string
		cmd    []string
		status string // get_exit_status
		exit   int    // isolate's
		check  func(t *testing.T, meta map[string][]string)
	}{
		{"ok", 1, std, []string{"/bin/sh", "-c", `read x; echo $((x * 2)); echo note >&2; echo $HOME`}, "ok", 0,
			func(t *testing.T, meta map[string][]string) {
				out, _ := os.ReadFile(filepath.Join(home, "output.txt"))
				errOut, _ := os.ReadFile(filepath.Join(home, "error.txt"))
				if string(out) != "42\n/tmp\n" || string(errOut) != "note\n" {
					t.Errorf("output.txt %q, error.txt %q: want \"42\\n/tmp\\n\" and \"note\\n\"", out, errOut)
				}
				for _, k := range []string{"time", "time-wall", "cg-mem", "max-rss", "csw-voluntary", "csw-forced"} {
					if len(meta[k]) != 1 {
						t.Errorf("meta key %s: %q, want one value", k, meta[k])
					}
				}
				if mem, _ := strconv.Atoi(first(meta, "cg-mem")); mem <= 0 {
					t.Errorf("cg-mem %q: want KiB > 0 (CMS multiplies by 1024)", first(meta, "cg-mem"))
				}
				if diff := cmp.Diff([]string{"0"}, meta["exitcode"]); diff != "" {
					t.Errorf("exitcode (-want +got):\n%s", diff)
				}
			}},
		{"nonzero-return", 1, std, []string{"/bin/sh", "-c", "exit 3"}, "nonzero return", 1,
			func(t *testing.T, meta map[string][]string) {
				if diff := cmp.Diff([]string{"3"}, meta["exitcode"]); diff != "" {
					t.Errorf("exitcode (-want +got):\n%s", diff)
				}
			}},
		{"timeout", 1, limits(262144, 0.3, 10, 0), []string{"/bin/sh", "-c", "while :; do :; done"}, "timeout", 1,
			func(t *testing.T, meta map[string][]string) {
				if tm, _ := strconv.ParseFloat(first(meta, "time"), 64); tm < 0.3 || tm > 1.5 {
					t.Errorf("time %s: want just over the 0.3 s limit", first(meta, "time"))
				}
				if _, ok := meta["killed"]; !ok {
					t.Error("no killed:1 after a kill for time")
				}
			}},
		{"wall-timeout", 1, limits(262144, 1, 0.3, 0), []string{"/bin/sleep", "5"}, "wall timeout", 1, nil},
		{"signal", 1, std, []string{"/bin/sh", "-c", "kill -SEGV $$"}, "signal", 1,
			func(t *testing.T, meta map[string][]string) {
				if diff := cmp.Diff([]string{"11"}, meta["exitsig"]); diff != "" {
					t.Errorf("exitsig (-want +got):\n%s", diff)
				}
			}},
		// tail keeps its whole input, which has no newline: the box's
		// memory grows until the OOM killer ends it, which CMS infers from
		// SG with cg-oom-killed.
		{"memory-limit", 1, limits(32768, 5, 10, 0), []string{"/usr/bin/tail", "/dev/zero"}, "memory limit exceeded", 1,
			func(t *testing.T, meta map[string][]string) {
				if mem, _ := strconv.Atoi(first(meta, "cg-mem")); mem < 30000 || mem > 32768 {
					t.Errorf("cg-mem %s KiB: want near the 32768 limit", first(meta, "cg-mem"))
				}
			}},
		{"one-process", 1, std, []string{"/bin/sh", "-c", "/bin/true; /bin/true"}, "nonzero return", 1, nil},
		// set_multiprocess(True), as for compilations.
		{"multiprocess", 1000, std, []string{"/bin/sh", "-c", "/bin/cat input.txt | /usr/bin/wc -c"}, "ok", 0,
			func(t *testing.T, meta map[string][]string) {
				out, _ := os.ReadFile(filepath.Join(home, "output.txt"))
				if strings.TrimSpace(string(out)) != "3" {
					t.Errorf("output.txt %q: want 3", out)
				}
			}},
		{"sandbox-error", 1, std, []string{"/no/such/compiler"}, "sandbox error", 2,
			func(t *testing.T, meta map[string][]string) {
				if diff := cmp.Diff([]string{`execve("/no/such/compiler"): No such file or directory`}, meta["message"]); diff != "" {
					t.Errorf("message (-want +got):\n%s", diff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, metaPath := build(tt.procs, tt.limits, tt.cmd...)
			_, errs, code := e.argv(args...)
			meta := cmsMeta(t, metaPath)
			if got := cmsExitStatus(t, meta, code); got != tt.status || code != tt.exit {
				t.Errorf("CMS sees %q with isolate exit %d; want %q, %d (stderr %q, meta %v)", got, code, tt.status, tt.exit, errs, meta)
			}
			if tt.check != nil {
				tt.check(t, meta)
			}
		})
	}

	// cleanup(delete=True): a chmod inside the box, so CMS's user can
	// remove what the box user made, then --cleanup.
	if err := os.WriteFile(filepath.Join(home, "made"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(home, "made"), 60000+box, 60000+box)
	// CMS ignores the exit status: files of its own user (input.txt, the
	// directory itself) cannot be chmod'ed by the box user.
	_, errs, code := e.argv("--box-id=1042", "--cg", "--dir=/tmp="+home+":rw", "--run", "--", "/bin/chmod", "777", "-R", "/tmp")
	if fi, err := os.Stat(filepath.Join(home, "made")); code > 1 || err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("chmod run: exit %d (%s), file %v %v", code, errs, fi, err)
	}
	if _, _, code := e.argv("--box-id=1042", "--cg", "--cleanup"); code != 0 {
		t.Errorf("--cleanup: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(e.boxRoot, "1042")); !os.IsNotExist(err) {
		t.Errorf("box directory still there after --cleanup: %v", err)
	}
}

// judge0Meta reads a meta file as IsolateJob#get_metadata does: split on
// newlines, each line split on every colon, the key the first part and the
// value the rest joined again.
func judge0Meta(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("Judge0: reading %s: %v", path, err)
	}
	meta := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		parts := strings.Split(line, ":")
		meta[parts[0]] = strings.Join(parts[1:], ":")
	}
	return meta
}

// judge0Status is IsolateJob#determine_status (Judge0's status names),
// with the exec-format rewrite of verify.
func judge0Status(meta map[string]string, expected, stdout string) string {
	strip := func(s string) string {
		lines := strings.Split(s, "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " \t\r")
		}
		return strings.TrimRight(strings.Join(lines, "\n"), " \t\r\n")
	}
	switch meta["status"] {
	case "TO":
		return "Time Limit Exceeded"
	case "SG":
		names := map[string]string{"11": "SIGSEGV", "25": "SIGXFSZ", "8": "SIGFPE", "6": "SIGABRT"}
		if n, ok := names[meta["exitsig"]]; ok {
			return "Runtime Error (" + n + ")"
		}
		return "Runtime Error (Other)"
	case "RE":
		return "Runtime Error (NZEC)"
	case "XX":
		if strings.HasPrefix(meta["message"], "execve(") {
			return "Exec Format Error"
		}
		return "Internal Error"
	}
	if strip(expected) == strip(stdout) {
		return "Accepted"
	}
	return "Wrong Answer"
}

const judge0Env = `-E HOME=/tmp -E PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ` +
	`-E LANG -E LANGUAGE -E LC_ALL -E JUDGE0_HOMEPAGE -E JUDGE0_SOURCE_CODE -E JUDGE0_MAINTAINER -E JUDGE0_VERSION ` +
	`-d /etc:noexec`

// TestIsolateJudge0 runs IsolateJob's life of a submission (Judge0 1.13):
// --init with the workdir read from stdout, files in workdir and
// workdir/box, a compile run and a test run through /bin/bash scripts with
// the shell redirecting isolate's own stdio, the meta file in the workdir,
// and --cleanup; for each verdict Judge0 tells.
func TestIsolateJudge0(t *testing.T) {
	e := newIsolateEnv(t)
	tests := []struct {
		name, compile, run, stdin, expected string
		cpu, wall                           string
		memKiB                              int
		want                                string
		wantExit                            int
		stdoutSize                          int64
	}{
		{name: "accepted", compile: "cp main.sh prog.sh", run: `read a b; echo $((a + b))`, stdin: "2 3\n", expected: "5\n", want: "Accepted"},
		{name: "wrong-answer", run: `read a b; echo $((a - b))`, stdin: "2 3\n", expected: "5\n", want: "Wrong Answer", wantExit: 0},
		{name: "compilation-error", compile: `echo "main.c:1: error: expected ';'" >&2; exit 1`, want: "Compilation Error", wantExit: 1},
		{name: "time-limit", run: `while :; do :; done`, cpu: "0.3", want: "Time Limit Exceeded", wantExit: 1},
		{name: "time-limit-sleeping", run: `/bin/sleep 5`, wall: "0.5", want: "Time Limit Exceeded", wantExit: 1},
		// run.sh is bash running the language's command: bash sees its
		// child's signal and exits 128+11, so isolate says RE, as for Judge0
		// with isolate itself.
		{name: "sigsegv-under-bash", run: `kill -SEGV $$`, want: "Runtime Error (NZEC)", wantExit: 1},
		{name: "nzec", run: `exit 1`, want: "Runtime Error (NZEC)", wantExit: 1},
		// Judge0 has no memory verdict: bash sees its child killed (137).
		{name: "memory", run: `/usr/bin/tail /dev/zero`, memKiB: 32768, want: "Runtime Error (NZEC)", wantExit: 1},
		// -f is max_file_size: the writer gets SIGXFSZ at 1 MiB of
		// stdout.txt, bash exits 128+25.
		{name: "output-over-max-file-size", run: `/usr/bin/head -c 2000000 /dev/zero`, want: "Runtime Error (NZEC)", wantExit: 1, stdoutSize: 1 << 20},
		{name: "etc-is-noexec", run: `/usr/bin/head -c1 /etc/passwd >/dev/null || exit 8; /bin/grep " /etc " /proc/self/mountinfo | /bin/grep -q "ro,.*noexec" || exit 9`, want: "Accepted"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := 2000000000 + i // submission.id % 2147483647
			workdir, errs, code := e.sh(fmt.Sprintf("isolate --cg -b %d --init", id))
			workdir = strings.TrimSpace(workdir)
			if code != 0 || filepath.Dir(workdir) != e.boxRoot {
				t.Fatalf("--init: exit %d, stdout %q, stderr %q", code, workdir, errs)
			}
			defer func() {
				// cleanup: Judge0 empties box and tmp and removes its files
				// itself, then --cleanup, then raises if the workdir is left.
				e.sh(fmt.Sprintf("rm -rf %s/box/* %s/tmp/* %s/*.txt; isolate --cg -b %d --cleanup", workdir, workdir, workdir, id))
				if _, err := os.Stat(workdir); !os.IsNotExist(err) {
					t.Errorf("Cleanup of sandbox %d failed: %v", id, err)
				}
			}()
			boxdir := workdir + "/box"
			files := map[string]string{boxdir + "/main.sh": tt.run, workdir + "/stdin.txt": tt.stdin,
				workdir + "/stdout.txt": "", workdir + "/stderr.txt": "", workdir + "/metadata.txt": ""}
			for p, s := range files {
				if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			runScript := "main.sh"
			if tt.compile != "" {
				os.WriteFile(boxdir+"/compile.sh", []byte(tt.compile), 0o644)
				line := fmt.Sprintf("isolate --cg -s -b %d -M %s/metadata.txt --stderr-to-stdout -i /dev/null -t 15 -x 0 -w 20 "+
					"-k 128000 -p120 --cg-timing --cg-mem=512000 -f 4096 %s --run -- /bin/bash $(basename %s/compile.sh) > %s/compile_output.txt",
					id, workdir, judge0Env, boxdir, workdir)
				_, _, code := e.sh(line)
				if code != 0 {
					out, _ := os.ReadFile(workdir + "/compile_output.txt")
					if tt.want != "Compilation Error" || !strings.Contains(string(out), "error: expected ';'") {
						t.Fatalf("compile: exit %d, output %q", code, out)
					}
					return
				}
				runScript = "prog.sh"
			}
			cpu, wall, mem := "1", "10", 128000
			if tt.cpu != "" {
				cpu = tt.cpu
			}
			if tt.wall != "" {
				wall = tt.wall
			}
			if tt.memKiB != 0 {
				mem = tt.memKiB
			}
			os.WriteFile(boxdir+"/run.sh", []byte("/bin/bash "+runScript+" "), 0o644)
			line := fmt.Sprintf("isolate --cg -s -b %d -M %s/metadata.txt   -t %s -x 0.2 -w %s -k 64000 -p60 --cg-timing "+
				"--cg-mem=%d -f 1024 %s --run -- /bin/bash $(basename %s/run.sh) < %s/stdin.txt > %s/stdout.txt 2> %s/stderr.txt",
				id, workdir, cpu, wall, mem, judge0Env, boxdir, workdir, workdir, workdir)
			_, _, code = e.sh(line)
			meta := judge0Meta(t, workdir+"/metadata.txt")
			stdout, _ := os.ReadFile(workdir + "/stdout.txt")
			stderr, _ := os.ReadFile(workdir + "/stderr.txt")
			if got := judge0Status(meta, tt.expected, string(stdout)); got != tt.want || code != tt.wantExit {
				t.Errorf("Judge0 sees %q, isolate exit %d; want %q, %d (meta %v, stdout %q, stderr %q)", got, code, tt.want, tt.wantExit, meta, stdout, stderr)
			}
			if tt.stdoutSize != 0 && int64(len(stdout)) != tt.stdoutSize {
				t.Errorf("stdout.txt has %d bytes, want %d (-f)", len(stdout), tt.stdoutSize)
			}
			if _, err := strconv.ParseFloat(meta["time"], 64); err != nil {
				t.Errorf("meta time %q: submission.time would not be a number", meta["time"])
			}
			if _, err := strconv.Atoi(meta["cg-mem"]); err != nil {
				t.Errorf("meta cg-mem %q: submission.memory would not be a number", meta["cg-mem"])
			}
			if len(stderr) != 0 && tt.want == "Accepted" {
				t.Errorf("-s: isolate wrote %q to the program's stderr", stderr)
			}
		})
	}
}

// TestIsolateJudge0Legacy is the 2019 IsolateJob: stdio as paths inside the
// box (-i, -o, -r relative to /box), the meta file inside the box
// directory, -d '/etc':'noexec', and the program run directly.
func TestIsolateJudge0Legacy(t *testing.T) {
	e := newIsolateEnv(t)
	workdir, errs, code := e.sh("isolate --cg -b 7 --init")
	workdir = strings.TrimSpace(workdir)
	if code != 0 {
		t.Fatalf("--init: exit %d: %s", code, errs)
	}
	defer e.sh("isolate --cg -b 7 --cleanup")
	box := workdir + "/box/"
	os.WriteFile(box+"stdin.txt", []byte("hello\n"), 0o644)
	for _, tt := range []struct {
		name, cmd, want string
		exit            int
	}{
		{"accepted", "/bin/cat", "Accepted", 0},
		{"exec-format-error", "./nonexistent", "Exec Format Error", 2},
		{"sigsegv", `/bin/sh -c 'kill -SEGV $$'`, "Runtime Error (SIGSEGV)", 1},
		{"sigxfsz", `/bin/sh -c 'exec /usr/bin/head -c 2000000 /dev/zero'`, "Runtime Error (SIGXFSZ)", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			line := fmt.Sprintf("isolate --cg -b 7 -i stdin.txt -o stdout.txt -r stderr.txt -M %smeta.txt -t 1 -x 0.5 -w 3 -k 64000 -p60 "+
				"--cg-mem=128000 -f 1024 -E HOME=%s -d '/etc':'noexec' --run -- %s", box, workdir, tt.cmd)
			_, errs, code := e.sh(line)
			meta := judge0Meta(t, box+"meta.txt")
			stdout, _ := os.ReadFile(box + "stdout.txt")
			if got := judge0Status(meta, "hello\n", string(stdout)); got != tt.want || code != tt.exit {
				t.Errorf("Judge0 sees %q, exit %d; want %q, %d (meta %v, stderr %q)", got, code, tt.want, tt.exit, meta, errs)
			}
			// Between runs the box is the caller's again (Judge0 then reads
			// it without sudo).
			fi, err := os.Stat(box + "meta.txt")
			if err == nil {
				if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
					t.Errorf("meta.txt owned by %d after the run, want the caller", st.Uid)
				}
			}
		})
	}
}

// TestIsolateLifecycle covers what the callers above take for granted:
// --init prints the box directory with box/ in it and resets a box that
// exists; a busy box is refused (exit 2) unless --wait; concurrent boxes
// run as different users; --cleanup leaves nothing and may be repeated.
func TestIsolateLifecycle(t *testing.T) {
	e := newIsolateEnv(t)
	dir, _, code := e.argv("-b", "5", "--init")
	dir = strings.TrimSpace(dir)
	if want := filepath.Join(e.boxRoot, "5"); code != 0 || dir != want {
		t.Fatalf("--init: exit %d, printed %q; want %q", code, dir, want)
	}
	if fi, err := os.Stat(dir + "/box"); err != nil || !fi.IsDir() {
		t.Fatalf("no box/ in %s: %v", dir, err)
	}
	os.WriteFile(dir+"/box/old", nil, 0o644)
	if _, _, code := e.argv("-b", "5", "--init"); code != 0 {
		t.Fatalf("second --init: exit %d", code)
	}
	if _, err := os.Stat(dir + "/box/old"); !os.IsNotExist(err) {
		t.Errorf("--init of an existing box kept its files: %v", err)
	}
	e.argv("-b", "6", "--init")

	t.Run("busy", func(t *testing.T) {
		f, err := os.OpenFile(filepath.Join(e.boxRoot, "5.lock"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		unix.Flock(int(f.Fd()), unix.LOCK_EX)
		_, errs, code := e.argv("-b", "5", "--run", "--", "/bin/true")
		if code != 2 || !strings.Contains(errs, "another instance") {
			t.Errorf("run of a busy box: exit %d, stderr %q; want 2 naming the other instance", code, errs)
		}
		go func() { time.Sleep(300 * time.Millisecond); f.Close() }()
		start := time.Now()
		_, errs, code = e.argv("-b", "5", "--wait", "-s", "--run", "--", "/bin/true")
		if code != 0 || time.Since(start) < 250*time.Millisecond {
			t.Errorf("--wait: exit %d after %v (%s); want 0 once the lock is let go", code, time.Since(start), errs)
		}
	})

	t.Run("uids", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([]string, 2)
		for i, id := range []string{"5", "6"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.argv("-b", id, "-s", "-p10", "--run", "--", "/bin/sh", "-c", "echo $(/usr/bin/id -u):$(/usr/bin/id -g) >/box/id")
				b, _ := os.ReadFile(filepath.Join(e.boxRoot, id, "box", "id"))
				got[i] = strings.TrimSpace(string(b))
			}()
		}
		wg.Wait()
		if diff := cmp.Diff([]string{"60005:60005", "60006:60006"}, got); diff != "" {
			t.Errorf("box users (-want +got):\n%s", diff)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		meta := filepath.Join(t.TempDir(), "meta")
		for _, rule := range []string{"-d/etc", "-d/etc:noexec"} { // in place, and staged
			cmd := exec.Command(filepath.Join(e.bin, "isolate"), "-b", "5", "-s", rule, "-M", meta, "--run", "--", "/bin/sleep", "10")
			cmd.Env = e.env
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
			start := time.Now()
			cmd.Wait()
			got := cmsMeta(t, meta)
			if code := cmd.ProcessState.ExitCode(); code != 1 || first(got, "status") != "SG" || first(got, "exitsig") != "15" ||
				first(got, "message") != "Interrupted" || time.Since(start) > 5*time.Second {
				t.Errorf("%s: SIGTERM to isolate: exit %d after %v, meta %v; want 1, SG, exitsig 15, Interrupted", rule, code, time.Since(start), got)
			}
		}
	})

	t.Run("as-uid", func(t *testing.T) {
		if _, errs, code := e.argv("-b", "6", "--as-uid=1234", "--as-gid=1235", "--init"); code != 0 {
			t.Fatalf("--init --as-uid: exit %d: %s", code, errs)
		}
		e.argv("-b", "6", "-s", "--run", "--", "/bin/sh", "-c", "echo x >/box/made")
		for _, p := range []string{"box", "box/made"} {
			fi, err := os.Stat(filepath.Join(e.boxRoot, "6", p))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1234 || st.Gid != 1235 {
				t.Errorf("%s owned by %d:%d after the run, want 1234:1235 (--as-uid at --init)", p, st.Uid, st.Gid)
			}
		}
	})

	for _, id := range []string{"5", "6"} {
		for range 2 {
			if _, errs, code := e.argv("-b", id, "--cleanup"); code != 0 {
				t.Errorf("--cleanup of box %s: exit %d: %s", id, code, errs)
			}
		}
	}
	if _, _, code := e.argv("-b", "5", "--run", "--", "/bin/true"); code != 2 {
		t.Errorf("--run after --cleanup: exit %d, want 2", code)
	}
}

// TestIsolateHostile: what a box's program leaves behind cannot turn the
// next call against the host: a symlink at the next run's --stdout stays
// inside the box's directory, and fifos and symlinks are gone after a run.
func TestIsolateHostile(t *testing.T) {
	e := newIsolateEnv(t)
	dir, _, _ := e.argv("-b", "9", "--init")
	dir = strings.TrimSpace(dir)
	defer e.argv("-b", "9", "--cleanup")
	// The victim is one the box user could write, were it reachable: only
	// resolving inside the box keeps it out of reach.
	vdir, err := os.MkdirTemp("", "isolate-victim-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(vdir)
	os.Chmod(vdir, 0o755)
	victim := filepath.Join(vdir, "victim")
	os.WriteFile(victim, []byte("host data\n"), 0o666)
	os.Chmod(victim, 0o666)
	if _, errs, code := e.argv("-b", "9", "-p10", "--special-files", "--run", "--", "/bin/sh", "-c",
		"ln -s "+victim+" /box/out.txt; ln -s /etc/passwd /box/in.txt; mkfifo /box/fifo"); code != 0 {
		t.Fatalf("planting: exit %d: %s", code, errs)
	}
	_, errs, code := e.argv("-b", "9", "-s", "--stdout=out.txt", "--run", "--", "/bin/echo", "clobbered")
	if b, _ := os.ReadFile(victim); string(b) != "host data\n" {
		t.Errorf("--stdout through a planted symlink wrote to the host: %q", b)
	}
	if code != 2 {
		t.Errorf("--stdout through a symlink out of the box: exit %d (%s), want 2", code, errs)
	}
	_, errs, code = e.argv("-b", "9", "-s", "--stdin=in.txt", "--stdout=copy.txt", "--run", "--", "/bin/cat")
	if b, _ := os.ReadFile(dir + "/box/copy.txt"); strings.Contains(string(b), "root:") {
		t.Errorf("--stdin through a planted symlink read the host's /etc/passwd (exit %d, %s)", code, errs)
	}
	// A hard link in box/ to a file of someone else's is not handed to
	// the box user with the rest of box/.
	private := filepath.Join(vdir, "private")
	os.WriteFile(private, []byte("host data\n"), 0o644)
	if err := os.Link(private, dir+"/box/link"); err != nil {
		t.Fatal(err)
	}
	_, errs, code = e.argv("-b", "9", "-s", "-p10", "--run", "--", "/bin/sh", "-c", "echo pwned >/box/link")
	if b, _ := os.ReadFile(private); string(b) != "host data\n" || code == 0 {
		t.Errorf("the box wrote through a hard link to a host file: %q (exit %d, %s)", b, code, errs)
	}
	os.Remove(dir + "/box/link")
	e.argv("-b", "9", "-s", "--run", "--", "/bin/true")
	for _, name := range []string{"out.txt", "in.txt", "fifo"} {
		if _, err := os.Lstat(dir + "/box/" + name); !os.IsNotExist(err) {
			t.Errorf("%s still in the box after a run without --special-files: %v", name, err)
		}
	}
}

func TestIsolateUsage(t *testing.T) {
	e := newIsolateEnv(t)
	tests := []struct {
		name string
		args []string
	}{
		{"isolate-no-action", nil},
		{"isolate-bad-option", []string{"--frobnicate", "--init"}},
		{"isolate-bad-time", []string{"-t", "soon", "--run", "--", "/bin/true"}},
		{"isolate-bad-dir-option", []string{"-d", "/etc:noread", "--run", "--", "/bin/true"}},
		{"isolate-cg-mem-without-cg", []string{"--cg-mem=1000", "--run", "--", "/bin/true"}},
		{"isolate-quota", []string{"-q", "100,10", "--init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := e.argv(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			golden(t, tt.name, "stdout:\n"+out+"stderr:\n"+errs)
		})
	}
	out, _, code := e.argv("--help")
	if code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	golden(t, "isolate-help", out)
	if out2, _, _ := e.argv(); out2 != "" {
		t.Errorf("no action printed %q on stdout", out2)
	}
	sub := sandboxCmd(t, "isolate", "--help")
	b, err := sub.Output()
	if err != nil || string(b) != out {
		t.Errorf("sandbox isolate --help differs from isolate --help (%v)", err)
	}
}

// hostNet is what the share-net case prints: 1 when the host has an
// interface other than loopback.
func hostNet() string {
	b, _ := os.ReadFile("/proc/net/dev")
	for _, l := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(name) != "lo" {
			return "1\n"
		}
	}
	return "0\n"
}

// TestIsolateOptions: each option does to the box what isolate(1) says,
// seen from inside (shell builtins only, so one process is enough).
func TestIsolateOptions(t *testing.T) {
	e := newIsolateEnv(t)
	dir, _, code := e.argv("-b", "11", "--init")
	dir = strings.TrimSpace(dir)
	if code != 0 {
		t.Fatal("--init failed")
	}
	defer e.argv("-b", "11", "--cleanup")
	os.Mkdir(dir+"/box/sub", 0o755)
	e.env = append(e.env, "J0_TEST=from-caller")
	tests := []struct {
		name   string
		args   []string
		script string
		want   string
	}{
		{"defaults", nil, `pwd; ulimit -n; ulimit -s; ulimit -c; echo "$HOME|$PATH|$LIBC_FATAL_STDERR_"`,
			"/box\n64\nunlimited\n0\n|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|1\n"},
		{"chdir-relative", []string{"-c", "sub"}, `pwd`, "/box/sub\n"},
		{"chdir-absolute", []string{"--chdir=/tmp"}, `pwd`, "/tmp\n"},
		{"env-rules", []string{"-E", "J0_TEST", "-E", "X=1", "-E", "X=2", "-E", "LIBC_FATAL_STDERR_="},
			`echo "$J0_TEST $X ${LIBC_FATAL_STDERR_-unset}"`, "from-caller 2 unset\n"},
		{"full-env", []string{"-e"}, `echo "$J0_TEST"`, "from-caller\n"},
		{"limits", []string{"-n", "10", "-k", "8192", "-f", "100", "--core=64", "-m", "1000000"},
			`ulimit -n; ulimit -s; ulimit -f; ulimit -c; ulimit -v`, "10\n8192\n200\n128\n1000000\n"},
		{"no-network", nil, `while read l; do case "$l" in *lo:*) echo lo;; *:*) echo other;; esac; done </proc/net/dev`, "lo\n"},
		{"share-net", []string{"--share-net"}, `n=0; while read l; do case "$l" in *lo:*) ;; *:*) n=1;; esac; done </proc/net/dev; echo $n`, hostNet()},
		{"stderr-to-stdout", []string{"--stderr-to-stdout", "-o", "both.txt"}, `echo out; echo err >&2; echo out2`, ""},
		{"sys-hidden", nil, `for f in /sys/*; do echo "$f"; done`, "/sys/*\n"},
		{"sys-asked-for", []string{"-d", "/sys=sysfs:fs"}, `[ -d /sys/kernel ] && echo yes`, "yes\n"},
		{"dir-rule-box-relative", []string{"-d", "/data=./box/sub"}, `[ -d /data ] && echo yes; echo x >/data/f 2>/dev/null || echo ro`, "yes\nro\n"},
		{"no-default-dirs", []string{"-D", "-d", "/box=./box:rw", "-d", "/usr", "-d", "/lib", "-d", "/lib64:maybe", "-d", "/bin"},
			`for f in /*; do echo "$f"; done`, "/bin\n/box\n/dev\n/lib\n/lib64\n/proc\n/run\n/sys\n/tmp\n/usr\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"-b", "11", "-s"}, tt.args...), "--run", "--", "/bin/sh", "-c", tt.script)
			out, errs, code := e.argv(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if tt.name == "stderr-to-stdout" {
				b, _ := os.ReadFile(dir + "/box/both.txt")
				out = string(b)
				tt.want = "out\nerr\nout2\n"
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// --inherit-fds passes descriptor 3 on; without it the box has none.
	// Descriptors this test process inherited from whoever started it
	// would follow a gap; keep them to ourselves.
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, d := range ents {
			if fd, err := strconv.Atoi(d.Name()); err == nil && fd > 2 {
				unix.CloseOnExec(fd)
			}
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	for _, inherit := range []bool{true, false} {
		args := []string{"-b", "11", "-s", "--run", "--", "/bin/sh", "-c", "echo through-fd3 >&3"}
		if inherit {
			args = append([]string{"--inherit-fds"}, args...)
		}
		cmd := exec.Command(filepath.Join(e.bin, "isolate"), args...)
		cmd.Env, cmd.ExtraFiles = e.env, []*os.File{w}
		err := cmd.Run()
		if inherit != (err == nil) {
			t.Errorf("--inherit-fds %v: %v", inherit, err)
		}
	}
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if string(b[:n]) != "through-fd3\n" {
		t.Errorf("read %q from the inherited pipe", b[:n])
	}
	r.Close()
}

// TestIsolateCMSCommandsLog replays command lines as CMS's commands.log
// records them (pretty_print_cmdline of the argv), for a C submission:
// the compilation with CMS's gcc command for C11, then an evaluation.
func TestIsolateCMSCommandsLog(t *testing.T) {
	e := newIsolateEnv(t)
	if _, err := os.Stat("/usr/bin/gcc"); err != nil {
		t.Skip("needs /usr/bin/gcc, as CMS's C11 language does")
	}
	outer := t.TempDir()
	home := outer + "/home"
	os.Mkdir(home, 0o777)
	os.Chmod(home, 0o777)
	os.WriteFile(home+"/sum.c", []byte("#include <stdio.h>\nint main(void){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;printf(\"%ld\\n\",a+b);return 0;}\n"), 0o644)
	os.WriteFile(home+"/input.txt", []byte("40 2\n"), 0o644)
	r := strings.NewReplacer("{HOME}", home, "{OUTER}", outer)
	for _, line := range []string{
		"isolate --box-id=1042 --cg --cleanup",
		"isolate --box-id=1042 --cg --init",
	} {
		if _, errs, code := e.sh(line); code != 0 {
			t.Fatalf("%s: exit %d: %s", line, code, errs)
		}
	}
	defer e.sh("isolate --box-id=1042 --cg --cleanup")
	steps := []struct {
		line, status, file, want string
	}{
		{"isolate --cg --box-id=1042 --chdir=/tmp --dir=/tmp={HOME}:rw --dir=/dev/shm:tmp --env=HOME=/tmp " +
			"--env=PATH=/usr/local/bin:/usr/bin:/bin --fsize=1048576 --cg-mem=524288 --stdout=/tmp/compiler_stdout.txt " +
			"--processes=1000 --stderr=/tmp/compiler_stderr.txt --time=10 --wall-time=60 --meta={OUTER}/run.meta.0 --run " +
			"-- /usr/bin/gcc -DEVAL -std=gnu11 -O2 -pipe -static -s -o sum sum.c -lm", "ok", "", ""},
		{"isolate --cg --box-id=1042 --chdir=/tmp --dir=/tmp={HOME}:rw --dir=/dev/shm:tmp --env=HOME=/tmp " +
			"--stdin=/tmp/input.txt --stack=262144 --cg-mem=262144 --stdout=/tmp/output.txt --processes=1 --time=1 " +
			"--wall-time=10 --extra-time=0.5 --meta={OUTER}/run.meta.1 --run -- ./sum", "ok", "output.txt", "42\n"},
	}
	for i, st := range steps {
		_, errs, code := e.sh(r.Replace(st.line))
		meta := cmsMeta(t, fmt.Sprintf("%s/run.meta.%d", outer, i))
		if got := cmsExitStatus(t, meta, code); got != st.status {
			cerr, _ := os.ReadFile(home + "/compiler_stderr.txt")
			t.Fatalf("step %d: CMS sees %q, want %q (exit %d, %s, meta %v, compiler: %s)", i, got, st.status, code, errs, meta, cerr)
		}
		if st.file != "" {
			if b, _ := os.ReadFile(home + "/" + st.file); string(b) != st.want {
				t.Errorf("step %d: %s is %q, want %q", i, st.file, b, st.want)
			}
		}
	}
}

// TestIsolateRootless runs a box's life as an unprivileged user (make
// test-user) with no delegated cgroup: Judge0's command line for
// per-process limits (no --cg: -m for memory, -p by RLIMIT_NPROC), its
// meta files parsed as Judge0 parses them; what it cannot have is refused
// with the reason (--cg without a delegated subtree, a box user outside the
// caller's subordinate range, a noexec bind); --cleanup removes what a box
// user left, and the box root is the caller's own by default.
func TestIsolateRootless(t *testing.T) {
	u, self, wd := asTestUser(t)
	bin := filepath.Join(wd, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "isolate")); err != nil {
		t.Fatal(err)
	}
	os.Chown(bin, int(u.UID), int(u.GID))
	cgroupFD := -1 // a delegated subtree's leaf to start in, from the "delegated" subtests on
	sh := func(t *testing.T, line string) (string, string, int) {
		t.Helper()
		cmd := u.Command([]string{mainEnv + "=1", "TMPDIR=" + wd, "SANDBOX_RUN_DIR=" + filepath.Join(wd, "run"),
			"PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin"}, "/bin/sh", "-c", line)
		cmd.Dir = wd
		if cgroupFD >= 0 {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cgroupFD
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatalf("running %s: %v", line, err)
		}
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	const id = 42
	workdir, errs, code := sh(t, fmt.Sprintf("isolate -b %d --init", id))
	workdir = strings.TrimSpace(workdir)
	if want := filepath.Join(wd, fmt.Sprintf("sandbox-isolate-%d", u.UID), strconv.Itoa(id)); code != 0 || workdir != want {
		t.Fatalf("--init: exit %d, stdout %q (want %s), stderr %q", code, workdir, want, errs)
	}
	boxdir := workdir + "/box"
	judge0 := func(t *testing.T, run, stdin string, extra string) (map[string]string, string, int) {
		t.Helper()
		for p, s := range map[string]string{boxdir + "/main.sh": run, workdir + "/stdin.txt": stdin, workdir + "/stdout.txt": "",
			workdir + "/stderr.txt": "", workdir + "/metadata.txt": "", boxdir + "/run.sh": "/bin/bash main.sh "} {
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chown(p, int(u.UID), int(u.GID))
		}
		// IsolateJob with enable_per_process_and_thread_time_limit and
		// _memory_limit: no --cg, -m for the memory limit; the -d
		// /etc:noexec of judge0Env needs a staged bind, which needs root.
		line := fmt.Sprintf("isolate -s -b %d -M %s/metadata.txt   -t 1 -x 0.2 -w 10 -k 64000 -p60 -m 256000 -f 1024 "+
			"-E HOME=/tmp -E PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" %s --run -- /bin/bash $(basename %s/run.sh) "+
			"< %s/stdin.txt > %s/stdout.txt 2> %s/stderr.txt", id, workdir, extra, boxdir, workdir, workdir, workdir)
		_, _, code := sh(t, line)
		stdout, _ := os.ReadFile(workdir + "/stdout.txt")
		return judge0Meta(t, workdir+"/metadata.txt"), string(stdout), code
	}
	for _, tt := range []struct {
		name, run, stdin, expected, want string
		exit                             int
	}{
		{"accepted", `read a b; echo $((a + b)); id -u; touch made; mkdir -p /tmp/d && touch /tmp/d/f && chmod 700 /tmp/d`, "2 3\n",
			fmt.Sprintf("5\n%d\n", isolateFirstUID+id), "Accepted", 0},
		{"wrong-answer", `read a b; echo $((a - b))`, "2 3\n", "5\n", "Wrong Answer", 0},
		{"time-limit", `while :; do :; done`, "", "", "Time Limit Exceeded", 1},
		{"nzec", `exit 3`, "", "", "Runtime Error (NZEC)", 1},
		// -p60 is the box user's RLIMIT_NPROC: the 61st process cannot be
		// forked, which dash (not retrying, as bash does) ends on with
		// status 2.
		{"processes", `exec /bin/sh -c 'i=0; while [ $i -lt 100 ]; do /bin/sleep 5 & i=$((i+1)); done; echo all 100'`, "", "", "Runtime Error (NZEC)", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat("/bin/bash"); err != nil {
				// As vmtest's guests, whose /bin is busybox's.
				t.Skip("Judge0's command line runs /bin/bash, which this host lacks")
			}
			meta, stdout, code := judge0(t, tt.run, tt.stdin, "")
			if got := judge0Status(meta, tt.expected, stdout); got != tt.want || code != tt.exit {
				t.Errorf("Judge0 sees %q, isolate exit %d; want %q, %d (meta %v, stdout %q)", got, code, tt.want, tt.exit, meta, stdout)
			}
			if tt.name == "processes" && (meta["exitcode"] != "2" || stdout != "") {
				t.Errorf("100 processes under -p60: exitcode %q, stdout %q; want dash's 2 at the first fork refused", meta["exitcode"], stdout)
			}
			if _, err := strconv.ParseFloat(meta["time"], 64); err != nil {
				t.Errorf("meta time %q: not a number", meta["time"])
			}
			// Between runs the box is the caller's again.
			filepath.Walk(workdir, func(p string, fi os.FileInfo, err error) error {
				if st, ok := fi.Sys().(*syscall.Stat_t); err == nil && ok && st.Uid != u.UID {
					t.Errorf("%s is uid %d's after the run, not the caller's (%d)", p, st.Uid, u.UID)
				}
				return nil
			})
		})
	}
	for _, tt := range []struct{ name, line, says string }{
		{"--cg", fmt.Sprintf("isolate --cg -b %d --run -- /bin/true", id), "--cg: without root, control groups need a delegated cgroup v2 subtree"},
		{"beyond the subordinate range", "isolate -b 2000000000 --run -- /bin/true", "box 2000000000's user 2000060000:2000060000"},
		{"noexec bind", fmt.Sprintf("isolate -b %d -d /etc:noexec --run -- /bin/true", id), "noexec or norec"},
	} {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, errs, code := sh(t, tt.line)
			if code != 2 || !strings.Contains(errs, tt.says) {
				t.Errorf("%s: exit %d, stderr %q; want 2 saying %q", tt.line, code, errs, tt.says)
			}
		})
	}
	// With a delegated cgroup v2 subtree (made here as root would: the
	// project's host gives it no controllers, a cgroup v2 VM all it has),
	// --cg is had: the box's group is in the subtree.
	t.Run("delegated", func(t *testing.T) {
		top, fd := u.DelegateCgroup(t) // the descriptor is closed when t ends
		cgroupFD = fd
		defer func() { cgroupFD = -1 }()
		meta := workdir + "/cg.meta"
		if _, errs, code := sh(t, fmt.Sprintf("isolate --cg -s -b %d -p10 -M %s --run -- /bin/sh -c 'echo hi'", id, meta)); code != 0 {
			t.Fatalf("--cg in %s: exit %d: %s", top, code, errs)
		}
		if m := judge0Meta(t, meta); m["exitcode"] != "0" || m["cg-mem"] == "" {
			t.Errorf("--cg meta: %v, want exitcode 0 and a cg-mem", m)
		}
		ctl, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
		if v2, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); len(v2) > 0 {
			ctl = v2
		}
		_, errs, code := sh(t, fmt.Sprintf("isolate --cg -s -b %d --cg-mem=65536 --run -- /bin/true", id))
		if strings.Contains(string(ctl), "memory") {
			if code != 0 {
				t.Errorf("--cg-mem with the memory controller delegated: exit %d: %s", code, errs)
			}
		} else if code != 2 || !strings.Contains(errs, "needs the cgroup memory controller, which the delegated group") {
			t.Errorf("--cg-mem without the memory controller: exit %d, stderr %q; want 2, saying so", code, errs)
		}
	})
	// A box user's files left as a run that died leaves them: --cleanup
	// takes them back in the box's namespace and removes the box.
	if _, errs, code := sh(t, fmt.Sprintf("isolate -b %d -p10 --run -- /bin/sh -c 'mkdir d && touch d/f && chmod 500 d'", id)); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", rootlessSubordinate(t, u.Name)+isolateFirstUID+id-1, u.GID), boxdir).CombinedOutput(); err != nil {
		t.Fatalf("leaving box/ the box user's: %v: %s", err, out)
	}
	if _, errs, code := sh(t, fmt.Sprintf("isolate -b %d --cleanup", id)); code != 0 {
		t.Errorf("--cleanup: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(workdir); !os.IsNotExist(err) {
		t.Errorf("box directory still there after --cleanup: %v", err)
	}
}

// isolateFirstUID is isolate's first box uid, the default.
const isolateFirstUID = 60000

// rootlessSubordinate is the first of the user's subordinate uids.
func rootlessSubordinate(t *testing.T, name string) int {
	t.Helper()
	b, _ := os.ReadFile("/etc/subuid")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == name {
			n, err := strconv.Atoi(f[1])
			if err == nil {
				return n
			}
		}
	}
	t.Skipf("%s has no subordinate uids", name)
	return 0
}
