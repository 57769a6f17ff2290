package isolate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// envStaged marks the re-executed runner inside a private mount namespace
// (see needsStaging); its value is the parent's mount namespace, so that a
// variable set by hand cannot make a runner mount in the host's.
const envStaged = "SANDBOX_ISOLATE_STAGED"

// Main runs one isolate command and returns isolate's exit status.
func Main(inv Invocation) int {
	o, err := Parse(inv.Args, func(k string) string { return lookupEnv(inv.Environ, k) })
	if err != nil {
		fmt.Fprintf(inv.Stderr, "isolate: %v\n", err)
		return 2
	}
	switch o.Mode {
	case ModeHelp:
		fmt.Fprint(inv.Stdout, Usage)
		return 0
	case ModeVersion:
		fmt.Fprintf(inv.Stdout, "sandbox isolate %s, a drop-in for isolate 2.x\n", inv.Version)
		return 0
	case ModeInit, ModeCleanup:
		b, err := lockBox(o, o.Mode == ModeInit)
		if errors.Is(err, errNoRoot) {
			return 0 // --cleanup of a box that never was
		}
		if err != nil {
			fmt.Fprintf(inv.Stderr, "isolate: %v\n", err)
			return 2
		}
		defer b.unlock()
		if o.Mode == ModeCleanup {
			err = b.cleanup()
		} else if err = b.initBox(); err == nil {
			fmt.Fprintln(inv.Stdout, b.dir)
		}
		if err != nil {
			fmt.Fprintf(inv.Stderr, "isolate: %v\n", err)
			return 2
		}
		return 0
	}
	return runCommand(o, inv)
}

// runCommand is --run: in a private mount namespace of its own when a rule
// asks for mount flags that only a mount made beforehand can carry
// (noexec, norec), else right here.
func runCommand(o *Options, inv Invocation) int {
	if sandbox.Rootless() {
		// Said before anything is touched.
		if err := rootlessRefusal(o); err != nil {
			return internalError(o, inv, err)
		}
	}
	staged := false
	if v := lookupEnv(inv.Environ, envStaged); v != "" {
		if own, err := mountNS(); err != nil || strconv.FormatUint(own, 10) == v {
			return internalError(o, inv, fmt.Errorf("$%s is set but this is not a private mount namespace", envStaged))
		}
		staged = true
	} else if needsStaging(o) {
		return reexecStaged(o, inv)
	}
	r := &runner{o: o, inv: inv, staged: staged}
	return r.run()
}

// needsStaging says whether a rule asks for what a Spec's mounts cannot
// carry: noexec, or a bind without the mounts below its source.
func needsStaging(o *Options) bool {
	for _, r := range DirRules(o.NoDefaultDirs, o.Dirs) {
		if !r.FS && !r.Tmp && !r.Removes() && (r.NoExec || r.NoRec) {
			return true
		}
	}
	return false
}

// reexecStaged runs this same command again in a new mount namespace
// (private from the start: nothing mounted there reaches the host), where
// it stages the binds with their flags; the sandbox it starts inherits
// them. Signals are passed on, the exit status passed back.
func reexecStaged(o *Options, inv Invocation) int {
	ns, err := mountNS()
	if err != nil {
		return internalError(o, inv, err)
	}
	cmd := exec.Command("/proc/self/exe", inv.Args...)
	cmd.Args[0] = "isolate"
	cmd.Env = append(withoutEnv(inv.Environ, envStaged), envStaged+"="+strconv.FormatUint(ns, 10))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inv.Stdin, inv.Stdout, inv.Stderr
	if o.InheritFDs {
		files, err := inheritedFiles()
		if err != nil {
			return internalError(o, inv, err)
		}
		cmd.ExtraFiles = files
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return internalError(o, inv, fmt.Errorf("starting the staging runner: %w", err))
	}
	done := make(chan struct{})
	var forwarded atomic.Int32
	go func() {
		for {
			select {
			case s := <-sigs:
				forwarded.Store(int32(s.(syscall.Signal)))
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	case errors.As(err, &ee):
		// The staging runner catches signals once the box is its own; one
		// passed on before that (it starts as a new process, slowly on a
		// loaded or emulated machine) ends it with nothing of the run
		// made: interrupted, as the same signal a moment later would say.
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && int32(ws.Signal()) == forwarded.Load() {
			m := &Meta{ExitSig: int(ws.Signal()), Killed: true, Status: MetaSignal, Message: "Interrupted"}
			if o.Meta != "" {
				if err := WriteMetaFile(o.Meta, m); err != nil {
					return internalError(o, inv, err)
				}
			}
			if !o.Silent {
				fmt.Fprintln(inv.Stderr, m.Message)
			}
			return ExitStatus(m)
		}
	}
	return internalError(o, inv, fmt.Errorf("staging runner: %w", err))
}

// mountNS is the inode of this process's mount namespace.
func mountNS() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &st); err != nil {
		return 0, fmt.Errorf("reading the mount namespace: %w", err)
	}
	return st.Ino, nil
}

// internalError reports a failure of the sandbox itself as isolate does:
// on stderr (even with --silent), as status XX in the meta file, exit 2.
func internalError(o *Options, inv Invocation, err error) int {
	fmt.Fprintf(inv.Stderr, "isolate: %v\n", err)
	if o.Meta != "" {
		if werr := WriteMetaFile(o.Meta, &Meta{Status: MetaInternal, Message: err.Error()}); werr != nil {
			fmt.Fprintf(inv.Stderr, "isolate: %v\n", werr)
		}
	}
	return 2
}

type runner struct {
	o      *Options
	inv    Invocation
	staged bool
	b      *box
	ms     []boxMount // the rules resolved (and staged) once per --run
	given  bool       // without root: box/ given to the box user (attempt)
}

func (r *runner) run() int {
	o := r.o
	notInit := fmt.Errorf("%w: box %d has no directory %s: run isolate --init first", ErrNotInitialized, o.BoxID, o.BoxDir()+"/box")
	b, err := lockBox(o, false)
	if errors.Is(err, errNoRoot) {
		return internalError(o, r.inv, notInit)
	}
	if err != nil {
		return internalError(o, r.inv, err)
	}
	defer b.unlock()
	r.b = b
	// Signals are caught once the box is ours (a --wait for it can still be
	// interrupted) and before anything of the run is made, so none kills
	// the runner with the box half given away; one that arrives ends the
	// program, as isolate's "Interrupted".
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	var interrupted syscall.Signal
	sigDone := make(chan struct{})
	defer close(sigDone)
	got := make(chan syscall.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			got <- s.(syscall.Signal)
			cancel()
		case <-sigDone:
		}
	}()

	if fi, err := os.Stat(b.path("box")); err != nil || !fi.IsDir() {
		if _, err := os.Lstat(b.dir); errors.Is(err, fs.ErrNotExist) {
			b.forget()
		}
		return internalError(o, r.inv, notInit)
	}
	// box/ goes back to whoever had it (the caller, or --as-uid at --init),
	// unless a run that died left it the box user's.
	uid, gid := b.owner()
	if fi, err := os.Stat(b.path("box")); err == nil && !sandbox.Rootless() {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != o.BoxUID() {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	defer func() {
		// Between runs the box is the caller's again, without what the
		// program may have left to trick it (fifos, sockets, symlinks).
		if sandbox.Rootless() {
			// Always the caller's (no --as-uid without root); tmp/ too,
			// which the caller could not empty otherwise.
			if err := chownInNS(o, r.inv.Environ, uint32(uid), uint32(gid), b.path("box"), b.path("tmp")); err != nil {
				fmt.Fprintf(r.inv.Stderr, "isolate: %v\n", err)
				return
			}
		}
		if !o.SpecialFiles {
			if err := removeSpecialFiles(b.path("box")); err != nil {
				fmt.Fprintf(r.inv.Stderr, "isolate: %v\n", err)
			}
		}
		if sandbox.Rootless() {
			return
		}
		if err := chownTree(b.path("box"), uid, gid); err != nil {
			fmt.Fprintf(r.inv.Stderr, "isolate: %v\n", err)
		}
	}()
	if err := r.prepare(); err != nil {
		return internalError(o, r.inv, err)
	}
	stdinAt := int64(-1)
	if r.inv.Stdin != nil {
		if fi, err := r.inv.Stdin.Stat(); err == nil && fi.Mode().IsRegular() {
			stdinAt, _ = r.inv.Stdin.Seek(0, io.SeekCurrent)
		}
	}
	var res *sandbox.Result
	for try := 1; ; try++ {
		res, err = r.attempt(ctx)
		if err == nil || !pidsRace(o, err) || try == 3 || ctx.Err() != nil {
			break
		}
		// Nothing of the program ran; give it its input again from where
		// it was.
		if stdinAt >= 0 {
			r.inv.Stdin.Seek(stdinAt, io.SeekStart)
		}
	}
	select {
	case interrupted = <-got:
	default:
	}
	var m *Meta
	switch {
	case interrupted != 0:
		m = &Meta{ExitSig: int(interrupted), Killed: true, Status: MetaSignal, Message: "Interrupted"}
		if res != nil {
			m.Time, m.WallTime, m.MaxRSS = res.CPU, res.Wall, res.MemoryPeak/1024
		}
	case err != nil:
		return internalError(o, r.inv, err)
	default:
		m = MetaFromResult(res, o.CG)
	}
	if o.Meta != "" {
		if err := WriteMetaFile(o.Meta, m); err != nil {
			return internalError(o, r.inv, err)
		}
	}
	switch {
	case m.Status == MetaInternal:
		fmt.Fprintln(r.inv.Stderr, m.Message)
	case o.Silent:
	case m.Status == "":
		fmt.Fprintf(r.inv.Stderr, "OK (%s sec real, %s sec wall)\n", seconds(m.Time), seconds(m.WallTime))
	default:
		fmt.Fprintln(r.inv.Stderr, m.Message)
	}
	return ExitStatus(m)
}

// attempt is one start of the box's program: the Spec with its stdio
// opened, the limited outputs, Start and Wait.
func (r *runner) attempt(ctx context.Context) (*sandbox.Result, error) {
	spec, closeIO, err := r.spec()
	if err != nil {
		return nil, err
	}
	defer closeIO()
	if r.o.Verbose > 0 {
		r.describe(spec)
	}
	if sandbox.Rootless() && !r.given {
		// Only now: the runner opened the box's stdio as the caller,
		// whose box/ was until here.
		if err := chownInNS(r.o, r.inv.Environ, r.o.BoxUID(), r.o.BoxGID(), r.b.path("box")); err != nil {
			return nil, fmt.Errorf("giving the box to its user: %w", err)
		}
		r.given = true
	}
	var outs outputs
	if err := outs.wrap(spec); err != nil {
		return nil, err
	}
	defer outs.finish()
	c, err := sandbox.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	outs.started(c.Pid())
	res, err := c.Wait()
	outs.finish()
	return res, err
}

// pidsRace says whether err is the sandbox's init stage failing to fork
// the program under a pids limit of 2 or 3 (-p1, -p2): on cgroup v1 the
// runner's thread that forked PID 1 into the group can still count there
// for a moment (2 of 40 runs at pids.max 2 here). The program has not
// started, so the run is tried again rather than the limit loosened.
func pidsRace(o *Options, err error) bool {
	return o.Processes > 0 && o.Processes <= 2 && !sandbox.Rootless() && errors.Is(err, sandbox.ErrSetup) &&
		strings.Contains(err.Error(), "init stage ended without a report")
}

// prepare readies the box for a run: /tmp empty, the box directory the box
// user's.
func (r *runner) prepare() error {
	if err := emptyDir(r.b.path("tmp")); err != nil {
		return fmt.Errorf("emptying the box's /tmp: %w", err)
	}
	if sandbox.Rootless() {
		return nil // attempt gives it, once the stdio is open
	}
	if err := chownTree(r.b.path("box"), int(r.o.BoxUID()), int(r.o.BoxGID())); err != nil {
		return fmt.Errorf("giving the box to its user: %w", err)
	}
	return nil
}

func (r *runner) describe(s *sandbox.Spec) {
	w := r.inv.Stderr
	fmt.Fprintf(w, "Box %d in %s, uid %d, gid %d\n", r.o.BoxID, r.b.dir, s.User.UID, s.User.GID)
	for _, m := range s.Mounts {
		mode := "ro"
		if !m.ReadOnly {
			mode = "rw"
		}
		if m.Type == sandbox.MountTmpfs {
			fmt.Fprintf(w, "Mounting tmpfs on %s (%s)\n", m.Destination, mode)
		} else {
			fmt.Fprintf(w, "Binding %s on %s (%s)\n", m.Source, m.Destination, mode)
		}
	}
	if r.o.Verbose > 1 {
		fmt.Fprintln(w, "Passing environment:")
		for _, kv := range s.Env {
			fmt.Fprintf(w, "\t%s\n", kv)
		}
	}
}

// inheritedFiles are the caller's descriptors from 3 up that survive exec
// (no close-on-exec: the runner's own all have it), as sandbox.IO.ExtraFiles
// renumbers them: they must run 3, 4, ... without a gap to keep their
// numbers.
func inheritedFiles() ([]*os.File, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("--inherit-fds: %w", err)
	}
	var fds []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	var files []*os.File
	for i, fd := range fds {
		if fd != 3+i {
			return nil, fmt.Errorf("%w: --inherit-fds: descriptor %d follows a gap; only a run 3, 4, ... keeps its numbers", ErrUnsupported, fd)
		}
		files = append(files, os.NewFile(uintptr(fd), "fd"+strconv.Itoa(fd)))
	}
	return files, nil
}

func lookupEnv(env []string, k string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], k+"="); ok {
			return v
		}
	}
	return ""
}

func withoutEnv(env []string, k string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return out
}
