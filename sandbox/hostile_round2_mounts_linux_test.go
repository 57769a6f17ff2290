package sandbox_test

// Hardening round two, what a run is given of the host's tree: bind
// sources that a hostile earlier stage turned into symlinks, a runner that
// lives in a container (files bound below its root), and the grade
// profile's root of its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

func round2MountCases() []hostileCase {
	return []hostileCase{
		// A pipeline's first stage, as hostile as the second, replaces
		// the directory the second binds with a symlink to a host
		// directory (the sentinel's): the second binds with no symlinks
		// followed, explicitly in the default mode, by the grade profile's
		// default under grade.
		{name: "bind-source-symlink", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			return []string{"read", "/box2/" + filepath.Base(e.sentinel)}
		}, want: wantOK, blocked: true, setupErrOK: true, setup: swappedBindSource},
		// The runner in a container: its /etc/hosts, /etc/resolv.conf and
		// /etc/hostname are files bound below a read-only root. The run
		// must start, and CMD, root by default, must not write them.
		{name: "container-file-binds", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			if graded(e, s) { // a root of its own has the container's /etc/hosts alone
				return []string{"write-files", "/etc/hosts"}
			}
			return append([]string{"write-files"}, containerBinds...)
		},
			want: wantOK, blocked: true, setup: containerFiles, run: runInContainer},
		// World-readable host data (a grader's expected outputs, another
		// submission, /home, /srv, /opt): a root of its own has none of
		// it, under grade by default, in the default mode when asked.
		{name: "grade-root-host-data", args: func(e *hostileEnv, s *sandbox.Spec) []string {
			paths := []string{hostData(e)}
			for _, p := range []string{"/home", "/srv", "/opt", "/work", "/root", "/var", "/mnt", "/boot", "/etc/shadow", "/etc/ssh"} {
				if _, err := os.Lstat(p); err == nil {
					paths = append(paths, p)
				}
			}
			return append([]string{"see"}, paths...)
		}, want: wantOK, blocked: true,
			setup: func(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
				if err := os.WriteFile(hostData(e), []byte("expected output\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				// Under grade the profile gives the root; in the default
				// mode the caller asks for it.
				if graded(e, s) {
					if s.HostRoot == nil {
						t.Fatal("the grade profile gives no root of its own")
					}
				} else {
					s.HostRoot = sandbox.MinimalHostRoot()
				}
			}},
	}
}

// hostData is a world-readable file of the host's, outside /tmp (which
// every run replaces).
func hostData(e *hostileEnv) string {
	return filepath.Join(filepath.Dir(e.hostTarget), "expected-output")
}

// swappedBindSource has a first run, with a work directory of the
// pipeline's bound writable at /w, replace /w/build by a symlink to the
// sentinel's directory; the case's run then binds $W/build at /box2.
func swappedBindSource(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	w := t.TempDir()
	build := filepath.Join(w, "build")
	if err := os.Mkdir(build, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(w, 0o777) // grade's nobody writes there too
	os.Chmod(build, 0o777)

	first := *s
	first.Mounts = append(slices.Clone(s.Mounts), sandbox.Mount{Type: sandbox.MountBind, Source: w, Destination: "/w"})
	first.Args = []string{e.inside(), "swap-symlink", "/w/build", filepath.Dir(e.sentinel)}
	var out, errb bytes.Buffer
	first.IO.Stdout, first.IO.Stderr = &out, &errb
	res, err := sandbox.Run(context.Background(), &first)
	if err != nil || res.Status != sandbox.StatusOK {
		t.Fatalf("first stage: %v, %+v: %q %q", err, res, out.String(), errb.String())
	}
	if fi, err := os.Lstat(build); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the first stage left %s as %v, %v: want a symlink", build, fi.Mode(), err)
	}
	// Under grade the profile makes every bind refuse symlinks; in the
	// default mode the caller asks, as docs/security.md tells a pipeline to.
	m := sandbox.Mount{Type: sandbox.MountBind, Source: build, Destination: "/box2", ReadOnly: true}
	if graded(e, s) {
		if !s.NoSymlinks {
			t.Fatal("the grade profile's binds follow symlinks")
		}
	} else {
		m.NoSymlinks = true
	}
	s.Mounts = append(s.Mounts, m)
}

// graded tells the grade mode's Spec from the default mode's.
func graded(e *hostileEnv, s *sandbox.Spec) bool {
	return s.User != nil && e.grade.User != nil && *s.User == *e.grade.User && s.Dir == e.grade.Workdir
}

// The container's own files that a runner in a container sees bound
// below its root, with what they hold.
var containerBinds = []string{"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}

func containerContent(p string) []byte { return []byte("# the container's " + p + "\n") }

// containerFiles makes the files a container runtime binds over
// containerBinds, in a directory whose name the Spec carries to
// runInContainer (as an environment entry of the run's, which the attack
// ignores), and checks after the run that they are unchanged.
func containerFiles(t *testing.T, e *hostileEnv, s *sandbox.Spec) {
	dir := t.TempDir()
	for _, p := range containerBinds {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), containerContent(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.Env = append(s.Env, containerDirEnv+"="+dir)
	t.Cleanup(func() {
		for _, p := range containerBinds {
			if b, err := os.ReadFile(filepath.Join(dir, filepath.Base(p))); err != nil || !bytes.Equal(b, containerContent(p)) {
				t.Errorf("the container's %s changed: %q, %v", p, b, err)
			}
		}
	})
}

const (
	// containerDirEnv names, in the Spec's environment, the directory of
	// the container's files.
	containerDirEnv = "HOSTILE_CONTAINER_FILES"
	// containerJobEnv makes the test binary the runner of a container
	// (containerRunner): the path of its job, a JSON containerJob.
	containerJobEnv = "SANDBOX_TEST_CONTAINER_JOB"
)

type containerJob struct {
	Spec  *sandbox.Spec `json:"spec"`
	Files string        `json:"files"`
}

type containerOutcome struct {
	Status   sandbox.Status `json:"status"`
	ExitCode int            `json:"exit_code"`
	Signal   int            `json:"signal"`
	Message  string         `json:"message"`
	Wall     time.Duration  `json:"wall"`
	Err      string         `json:"err,omitempty"`
	ErrSetup bool           `json:"err_setup,omitempty"`
}

// runInContainer runs s in a runner of its own (this test binary again) in
// a mount namespace laid out as docker's or podman's: the container's files
// bound over /etc/hosts, /etc/resolv.conf and /etc/hostname, / read-only,
// a tmpfs where the runner keeps its runs (a container's /run).
func runInContainer(ctx context.Context, t *testing.T, e *hostileEnv, s *sandbox.Spec) (*sandbox.Result, error) {
	var files string
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, containerDirEnv+"="); ok {
			files = v
		}
	}
	job := filepath.Join(t.TempDir(), "job.json")
	b, err := json.Marshal(containerJob{Spec: s, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(job, b, 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), containerJobEnv+"="+job)
	cmd.Stdout, cmd.Stderr = s.IO.Stdout, s.IO.Stderr
	cmd.ExtraFiles = []*os.File{outW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		t.Fatalf("starting the container's runner: %v", err)
	}
	var o containerOutcome
	derr := json.NewDecoder(outR).Decode(&o)
	outR.Close()
	if werr := cmd.Wait(); werr != nil || derr != nil {
		t.Fatalf("the container's runner: %v, its outcome: %v", werr, derr)
	}
	if o.Err != "" {
		return nil, &runnerError{o.Err, o.ErrSetup}
	}
	return &sandbox.Result{Status: o.Status, ExitCode: o.ExitCode, Signal: o.Signal, Message: o.Message, Wall: o.Wall}, nil
}

// runnerError is the error of the container's runner, as it worded it.
type runnerError struct {
	msg   string
	setup bool
}

func (e *runnerError) Error() string        { return e.msg }
func (e *runnerError) Is(target error) bool { return e.setup && target == sandbox.ErrSetup }

// The test binary is a container's runner when containerJobEnv says so:
// before any test, and before the sandbox package's TestMain.
func init() {
	if job := os.Getenv(containerJobEnv); job != "" {
		os.Exit(containerRunner(job))
	}
}

// containerRunner lays the mount namespace it was started in out as a
// container's, runs the job's Spec there and writes the outcome to fd 3.
func containerRunner(jobPath string) int {
	out := os.NewFile(3, "outcome")
	fail := func(format string, args ...any) int {
		json.NewEncoder(out).Encode(containerOutcome{Err: fmt.Sprintf(format, args...)})
		return 0
	}
	b, err := os.ReadFile(jobPath)
	if err != nil {
		return fail("reading job: %v", err)
	}
	var job containerJob
	if err := json.Unmarshal(b, &job); err != nil {
		return fail("decoding job: %v", err)
	}
	s := job.Spec
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("making mounts private: %v", err)
	}
	for _, p := range containerBinds {
		if err := unix.Mount(filepath.Join(job.Files, filepath.Base(p)), p, "", unix.MS_BIND, ""); err != nil {
			return fail("binding the container's %s: %v", p, err)
		}
	}
	// A container's /run is a tmpfs over its read-only root.
	if err := unix.Mount("tmpfs", s.RunDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fail("mounting the run directory: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fail("making / read-only: %v", err)
	}
	if err := unix.Access("/etc", unix.W_OK); err == nil || !errors.Is(err, unix.EROFS) {
		return fail("the container's root is not read-only: %v", err)
	}
	s.IO = sandbox.IO{Stdout: os.Stdout, Stderr: os.Stderr}
	res, err := sandbox.Run(context.Background(), s)
	if err != nil {
		json.NewEncoder(out).Encode(containerOutcome{Err: err.Error(), ErrSetup: errors.Is(err, sandbox.ErrSetup)})
		return 0
	}
	json.NewEncoder(out).Encode(containerOutcome{Status: res.Status, ExitCode: res.ExitCode, Signal: res.Signal,
		Message: res.Message, Wall: res.Wall})
	return 0
}
