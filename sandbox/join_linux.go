package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// joinable are the namespaces an exec enters, as /proc/PID/ns names them.
var joinable = []struct {
	name string
	flag uintptr
}{
	{"user", unix.CLONE_NEWUSER}, {"mnt", unix.CLONE_NEWNS}, {"pid", unix.CLONE_NEWPID},
	{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
	{"cgroup", unix.CLONE_NEWCGROUP},
}

// Exec starts a process in the running sandbox whose PID 1 is pid (as
// Container.Pid gives it): an OCI runtime's exec. The process is s's:
// Args, Env, Dir, User, CapAdd, Seccomp, Limits.Rlimits, IO (TTY aside:
// give it a terminal as its stdio). It enters the sandbox's namespaces and
// cgroup, and a PID 1 of its own, the init stage joined (stage.Config's
// Joined), reaps it and reports it as a sandbox's PID 1 does; what the
// sandbox was built with (root, mounts, hostname) is already there, and
// its limits are the sandbox's. With detach, the process outlives the
// runner (call Pid, not Wait): its exit status is CMD's, for a subreaper
// (conmon) to read.
func Exec(ctx context.Context, pid int, s *Spec, detach bool) (*Container, error) {
	if !stage.Available {
		return nil, fmt.Errorf("%w: this binary was built without cgo, and the init stage is C", ErrUnsupported)
	}
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	if s.TTY || s.Root != "" || s.Snapshot != nil || s.HostRoot != nil || len(s.Mounts) > 0 {
		return nil, fmt.Errorf("%w: an exec takes the sandbox as it is: a terminal is given as its stdio, and root and mounts are the sandbox's", ErrInvalidSpec)
	}
	cfg := &stage.Config{Args: s.Args, Env: s.Env, Dir: s.Dir, Rlimits: rlimits(s.Limits.Rlimits),
		ExtraFiles: len(s.IO.ExtraFiles), Joined: true, Detached: detach}
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	cfg.UID, cfg.GID = uint32(os.Getuid()), uint32(os.Getgid())
	if s.User != nil {
		cfg.UID, cfg.GID = s.User.UID, s.User.GID
	}
	for _, name := range s.CapAdd {
		n, err := capability(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		cfg.Caps = append(cfg.Caps, n)
	}
	var err error
	// The set-id guard always: the process cannot tell whether the sandbox
	// writes to the host (writesHost), and a set-id file is no exec's need.
	if cfg.Seccomp, err = compileSeccomp(s.Seccomp, true); err != nil {
		return nil, err
	}

	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("opening sandbox pid %d: %w", pid, err)
	}
	target := os.NewFile(uintptr(pidfd), "sandbox")
	defer target.Close()
	var flags uintptr
	for _, ns := range joinable {
		own, err1 := os.Stat("/proc/self/ns/" + ns.name)
		theirs, err2 := os.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reading the namespaces of sandbox pid %d: %w", pid, errors.Join(err1, err2))
		}
		if !os.SameFile(own, theirs) {
			flags |= ns.flag
		}
	}
	if flags&unix.CLONE_NEWPID == 0 || flags&unix.CLONE_NEWNS == 0 {
		return nil, fmt.Errorf("%w: pid %d is not a sandbox's PID 1 (it shares the runner's pid or mount namespace)", ErrInvalidSpec, pid)
	}
	cgfd, tasks, err := limits.OpenProcessGroup(pid)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cgfd >= 0 {
			unix.Close(cgfd)
		}
		for _, f := range tasks {
			f.Close()
		}
	}()

	ctrl, initCtrl, err := socketPair(unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	defer initCtrl.Close()
	c := &Container{ID: fmt.Sprintf("exec-%d", pid), spec: *s, ctrl: ctrl, ctx: ctx, waited: make(chan struct{}),
		joined: true, cg: &noCgroup{}}
	handOff, err := stage.HandsOff()
	if err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("starting exec: %w", err)
	}
	cfg.HandedOff, c.init.handedOff = handOff, handOff
	c.output = newOutputGate(&c.spec, c.exceeded)
	stdout, stderr := c.output.writers(s.IO.Stdout, s.IO.Stderr)
	stdin, stdout, stderr := throughPipes(s.IO.Stdin, stdout, stderr)
	req := stage.SpawnRequest{
		Files: append(append([]*os.File{}, s.IO.ExtraFiles...), initCtrl),
		Ctrl:  3 + len(s.IO.ExtraFiles), NCtrl: 1, Gate: -1,
		Flags: flags, CgroupFD: cgfd, Join: target, Detach: detach || handOff,
	}
	c.started = time.Now()
	if err := c.init.start(req, stdin, stdout, stderr); err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("starting exec: %w", err)
	}
	err = stage.SendConfig(ctrl, cfg)
	if err == nil {
		err = stage.SendGo(ctrl, tasks, nil)
	}
	if err != nil {
		c.init.kill()
		c.init.wait()
		ctrl.Close()
		return nil, fmt.Errorf("sending config to exec: %w", err)
	}
	if !detach {
		go func() {
			select {
			case <-ctx.Done():
				c.init.kill()
			case <-c.waited:
			}
		}()
	}
	return c, nil
}

// waitJoined is Wait for an exec: there is no cgroup, run directory or
// snapshot of its own to account or remove.
func (c *Container) waitJoined() (*Result, error) {
	werr := c.init.wait()
	res := &Result{ID: c.ID, Wall: time.Since(c.started), Status: StatusFailed, ExitCode: ExitRunnerFailed}
	close(c.waited)
	var ev stage.Exit
	derr := json.NewDecoder(c.ctrl).Decode(&ev)
	c.ctrl.Close()
	if ps := c.init.state; ps != nil && !ps.unknown {
		res.CSWVoluntary, res.CSWForced = ps.ru.Nvcsw, ps.ru.Nivcsw
	}
	switch {
	case derr != nil:
		res.ExitCode, res.Signal, res.Status = -1, int(unix.SIGKILL), StatusSignal
		res.Message = fmt.Sprintf("exec killed before it reported (%v)", werr)
	case ev.Error != "":
		res.ExitCode, res.Message = ev.ExitCode, ev.Error
		if ev.ExitCode == ExitRunnerFailed {
			return res, fmt.Errorf("exec: %s", ev.Error)
		}
		res.Status = StatusRuntime
	case ev.Signal != 0:
		res.ExitCode, res.Signal, res.Status = -1, ev.Signal, StatusSignal
		res.Message = "killed by signal " + unix.SignalName(unix.Signal(ev.Signal))
	default:
		res.ExitCode, res.Status = ev.ExitCode, StatusRuntime
		if ev.ExitCode == 0 {
			res.Status = StatusOK
		}
	}
	return res, nil
}
