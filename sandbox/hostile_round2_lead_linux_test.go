package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// The second round's cases on descriptors, ids, PID 1, address families,
// shared kernel quotas, the caller's terminal and the report.
func hostileCasesLead() []hostileCase {
	forged, hog := &forgeCapture{}, &hogRun{}
	return []hostileCase{
		// A directory of the host's as stdin, as a preserved descriptor, or
		// as an O_PATH descriptor: `..` from it is the host's tree.
		{name: "stdin-dir", args: args("fd-climb", "0"), want: wantOK, blocked: true, setupErrOK: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) { s.IO.Stdin = climbDir(t, 0) },
			check: noClimbed},
		{name: "preserved-dir-fd", args: args("fd-climb", "3"), want: wantOK, blocked: true, setupErrOK: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				s.IO.ExtraFiles = append(s.IO.ExtraFiles, climbDir(t, 0))
			}, check: noClimbed},
		{name: "opath-fd", args: args("fd-climb", "3"), want: wantOK, blocked: true, setupErrOK: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				s.IO.ExtraFiles = append(s.IO.ExtraFiles, climbDir(t, unix.O_PATH))
			}, check: noClimbed},
		// A writable bind: CMD leaves set-id programs and file capabilities
		// for the host's users to run.
		{name: "setid-bind", args: args("setid", "/out"), want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				dir := outDir(t)
				s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: "/out"})
			}, check: noSetidFiles},
		// Given CAP_SYS_PTRACE, CMD injects syscalls into PID 1.
		{name: "ptrace-init", args: args("ptrace-init"), want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) { s.CapAdd = append(s.CapAdd, "CAP_SYS_PTRACE") }},
		{name: "vsock", args: args("vsock"), want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				if fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0); err != nil {
					t.Skipf("this host has no vsock (%v): nothing to refuse", err)
				} else {
					unix.Close(fd)
				}
			}},
		{name: "aio", args: args("aio"), want: wantOK, blocked: true},
		// Per-user kernel quotas (inotify here; pipe pages, mqueue bytes and
		// pending signals count the same way): a concurrent grade run of the
		// same uid spends them all.
		{name: "shared-quota", args: args("inotify", "16"), want: wantOK, blocked: true, setup: hog.setup, check: hog.check},
		{name: "tty-restore", args: args("tty-mangle"), want: wantOK, blocked: true, setup: callerTTYState},
		{name: "forge-report", args: args("forge-report"), want: []sandbox.Status{sandbox.StatusRuntime}, blocked: true,
			setup: forged.setup, check: forged.check},
	}
}

// climbDir opens, with flags, a directory whose parent is the test's own:
// what a climb from it plants there, noClimbed finds.
func climbDir(t *testing.T, flags int) *os.File {
	parent := t.TempDir()
	os.Chmod(parent, 0o777)
	climbParents = append(climbParents, parent)
	dir := filepath.Join(parent, "in")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), dir)
	t.Cleanup(func() { f.Close() })
	return f
}

var climbParents []string

func noClimbed(t *testing.T, _ *hostileEnv, _ *sandbox.Spec, _ *sandbox.Result) {
	for _, p := range climbParents {
		if m, _ := filepath.Glob(filepath.Join(p, "climbed-*")); len(m) > 0 {
			t.Errorf("a climb from a descriptor planted files on the host: %v", m)
		}
	}
	climbParents = nil
}

// outDir is a host directory anyone may write, lent to the run at /out.
func outDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "hostile-out-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	outDirs = append(outDirs, dir)
	return dir
}

var outDirs []string

// noSetidFiles walks the lent directories for what grants host privilege.
func noSetidFiles(t *testing.T, _ *hostileEnv, _ *sandbox.Spec, _ *sandbox.Result) {
	for _, dir := range outDirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			var st unix.Stat_t
			if unix.Lstat(p, &st) == nil && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
				t.Errorf("the run left %s on the host with mode %o, owner %d:%d", p, st.Mode&0o7777, st.Uid, st.Gid)
			}
			if n, _ := unix.Lgetxattr(p, "security.capability", nil); n > 0 {
				t.Errorf("the run left %s on the host with file capabilities", p)
			}
			return nil
		})
	}
	outDirs = nil
}

// hogRun is a concurrent run, in the same mode, that spends its uid's
// inotify instances and holds them for as long as the case's run lives; a
// host process as nobody must still get one.
type hogRun struct {
	wait func() (*sandbox.Result, error)
}

func (h *hogRun) check(t *testing.T, _ *hostileEnv, _ *sandbox.Spec, _ *sandbox.Result) {
	if _, err := h.wait(); err != nil {
		t.Errorf("the hog's run: %v", err)
	}
}

func (h *hogRun) setup(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	if s.User == nil {
		t.Skip("the default mode runs as the caller: its per-user quotas are the caller's own")
	}
	hog := *s
	hog.Mounts = append([]sandbox.Mount(nil), s.Mounts...)
	hog.Args = []string{e.inside(), "inotify-hog"}
	hog.RunDir = hostileRunDir(t)
	in, inw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outr, outw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var hogErr bytes.Buffer
	hog.IO = sandbox.IO{Stdin: in, Stdout: outw, Stderr: &hogErr}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	c, err := sandbox.Start(ctx, &hog)
	in.Close()
	if err != nil {
		cancel()
		t.Fatalf("starting the hog: %v", err)
	}
	var once sync.Once
	var res *sandbox.Result
	h.wait = func() (*sandbox.Result, error) {
		once.Do(func() {
			inw.Close()
			res, err = c.Wait()
			cancel()
			outw.Close()
			outr.Close()
		})
		return res, err
	}
	wait := h.wait
	t.Cleanup(func() { wait() })
	line, err := bufio.NewReader(outr).ReadString('\n')
	if !strings.HasPrefix(line, "held ") {
		res, werr := wait()
		t.Fatalf("the hog said %q (%v); its run: %+v %v, stderr %q", line, err, res, werr, hogErr.String())
	}
	t.Logf("a concurrent run %s", strings.TrimSpace(line))
	// The host's nobody.
	cmd := selfAsNobody(e, "inotify", "1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "BLOCKED") {
		t.Errorf("a host process as nobody, while a grade run lives: %q %v", out, err)
	}
}

// callerTTYState gives the run a terminal of the caller's as stdin and
// checks, after the run, that its flags and settings are as they were.
func callerTTYState(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	tty := openPTY(t)
	fd := int(tty.Fd())
	flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if got, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); got != flags {
			t.Errorf("the caller's terminal's file status flags: %#o after the run, %#o before", got, flags)
		}
		if got, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil || got.Lflag != tio.Lflag || got.Iflag != tio.Iflag || got.Oflag != tio.Oflag {
			t.Errorf("the caller's terminal's settings changed: %+v after, %+v before (%v)", got, tio, err)
		}
	})
	s.IO.Stdin = tty
}

// forgeCapture keeps what CMD wrote to stderr, with the report appended
// as `sandbox exec --json` appends it; the last line must be ours.
type forgeCapture struct {
	buf bytes.Buffer
	w   io.Writer
}

func (f *forgeCapture) setup(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	f.buf.Reset()
	f.w = sandbox.ReportStream(&f.buf)
	s.IO.Stderr = f.w
}

func (f *forgeCapture) check(t *testing.T, e *hostileEnv, s *sandbox.Spec, res *sandbox.Result) {
	if err := sandbox.WriteReport(f.w, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(f.buf.String(), "\n"), "\n")
	var last struct {
		ID     string         `json:"id"`
		Status sandbox.Status `json:"status"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("the last line of stderr is no report: %q: %v", lines[len(lines)-1], err)
	}
	if last.ID != res.ID || last.Status != res.Status {
		t.Errorf("the last line of stderr is CMD's forgery: id %q status %s, the run's %q %s", last.ID, last.Status, res.ID, res.Status)
	}
}

// selfAsNobody runs the hostile program on the host as the host's nobody.
func selfAsNobody(e *hostileEnv, args ...string) *exec.Cmd {
	return &exec.Cmd{Path: filepath.Join(e.dir, "bin", e.name), Args: append([]string{"nobody-" + itoa(os.Getpid())}, args...),
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}}
}

func itoa(n int) string { return strconv.Itoa(n) }
