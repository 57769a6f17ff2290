package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Container is a started run. Signal and Resize may be called from any
// goroutine until Wait returns; Wait must be called exactly once.
type Container struct {
	// ID names the run: its run directory and its cgroup.
	ID string

	spec    Spec
	cmd     *exec.Cmd
	ctrl    *os.File // runner's end of the control socket
	runDir  string
	lock    *os.File // held while the run lives: `gc` skips locked runs
	started time.Time
	ctx     context.Context
	waited  chan struct{}

	ttyOut sync.WaitGroup // the copy from the pty to IO.Stdout
	ttyMu  sync.Mutex
	master *os.File
	size   WindowSize
}

// cleanups is a stack of undo actions, run in reverse on a failure path.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }
func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// Run runs spec to completion: Start, then Wait.
func Run(ctx context.Context, spec *Spec) (*Result, error) {
	c, err := Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return c.Wait()
}

// Start creates the container and starts CMD in it. Cancelling ctx kills
// the container. On error nothing of the run is left behind.
func Start(ctx context.Context, spec *Spec) (_ *Container, err error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	s := *spec
	if s.Env == nil {
		s.Env = HermeticEnv(os.Environ())
	}
	if s.RunDir == "" {
		s.RunDir = DefaultRunDir
	}
	c := &Container{spec: s, ctx: ctx, waited: make(chan struct{}), size: s.TTYSize}
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()

	if err := c.makeRunDir(&undo); err != nil {
		return nil, err
	}
	var hostMounts []hostMount
	if s.Root == "" {
		if hostMounts, err = readHostMounts(); err != nil {
			return nil, err
		}
	}
	wd, _ := os.Getwd()
	cfg, err := buildPlan(&s, c.runDir, hostMounts, wd)
	if err != nil {
		return nil, err
	}
	cfg.ExtraFiles = len(s.IO.ExtraFiles)

	ctrl, initCtrl, err := socketPair(unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	c.ctrl = ctrl
	undo.add(func() { ctrl.Close() })
	defer initCtrl.Close()
	extra := append(append([]*os.File{}, s.IO.ExtraFiles...), initCtrl)
	var console *os.File
	if s.TTY {
		var initConsole *os.File
		if console, initConsole, err = socketPair(unix.SOCK_SEQPACKET); err != nil {
			return nil, err
		}
		undo.add(func() { console.Close() })
		defer initConsole.Close()
		extra = append(extra, initConsole)
	}

	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if s.Network != NetworkHost {
		flags |= unix.CLONE_NEWNET
	}
	c.cmd = &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArg0},
		Env:        []string{initFDEnv + "=" + strconv.Itoa(3+len(s.IO.ExtraFiles))},
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// If the runner dies, so does the container.
			Pdeathsig: unix.SIGKILL,
			// Out of the caller's session: a terminal's Ctrl-C reaches the
			// runner alone, which forwards it once.
			Setsid: true,
		},
		// A caller's Stdin reader that never returns must not hold Wait
		// forever once every process of the sandbox is gone.
		WaitDelay: 2 * time.Second,
	}
	if !s.TTY {
		c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = s.IO.Stdin, s.IO.Stdout, s.IO.Stderr
	}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting init: %w", err)
	}
	undo.add(func() { c.cmd.Process.Kill(); c.cmd.Wait() })

	// The init process waits for this write before it does anything (and
	// before it forks the exec stage), so whatever confines it must be in
	// place first.
	msg, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding init config: %w", err)
	}
	if _, err := ctrl.Write(append([]byte{goByte}, msg...)); err != nil {
		return nil, fmt.Errorf("sending config to init: %w", err)
	}
	if console != nil {
		c.ttyOut.Add(1)
		go c.receiveConsole(console)
	}
	go func() {
		select {
		case <-ctx.Done():
			c.cmd.Process.Kill()
		case <-c.waited:
		}
	}()
	return c, nil
}

// makeRunDir creates the run's directory under a temporary name, takes its
// lock, and renames it into place, so `gc` never sees a run directory that
// is live but unlocked.
func (c *Container) makeRunDir(undo *cleanups) error {
	var b [8]byte
	rand.Read(b[:])
	c.ID = hex.EncodeToString(b[:])
	base := c.spec.RunDir
	if err := os.MkdirAll(base, 0o711); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	tmp := filepath.Join(base, ".new-"+c.ID)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(tmp, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	c.runDir = filepath.Join(base, c.ID)
	if err == nil {
		err = os.Rename(tmp, c.runDir)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(tmp)
		return fmt.Errorf("creating run directory: %w", err)
	}
	c.lock = lock
	undo.add(c.removeRunDir)
	return nil
}

func (c *Container) removeRunDir() {
	// The scratch tmpfs was mounted on the run directory only inside the
	// sandbox's mount namespace: here it is an empty directory.
	os.Remove(filepath.Join(c.runDir, "lock"))
	os.Remove(c.runDir)
	c.lock.Close()
}

func socketPair(typ int) (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "runner"), os.NewFile(uintptr(fds[1]), "init"), nil
}

// receiveConsole takes the pty master the init stage made and copies it to
// and from the caller's streams.
func (c *Container) receiveConsole(console *os.File) {
	defer c.ttyOut.Done()
	defer console.Close()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(console.Fd()), buf, oob, 0)
	if err != nil || oobn == 0 {
		return // init failed before making the pty; Wait reports why
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return
	}
	master := os.NewFile(uintptr(fds[0]), "pty")
	c.ttyMu.Lock()
	c.master = master
	size := c.size
	c.ttyMu.Unlock()
	if size != c.spec.TTYSize {
		c.Resize(size)
	}
	if in := c.spec.IO.Stdin; in != nil {
		go io.Copy(master, in)
	}
	out := c.spec.IO.Stdout
	if out == nil {
		out = io.Discard
	}
	io.Copy(out, master) // ends with EIO when the last holder of the pty exits
}

// Pid is the init process's pid in the caller's pid namespace.
func (c *Container) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to CMD (through PID 1, which forwards the usual
// signals); SIGKILL kills the whole sandbox at once.
func (c *Container) Signal(sig os.Signal) error {
	return c.cmd.Process.Signal(sig)
}

// Resize sets the window size of CMD's pty (TTY runs only).
func (c *Container) Resize(ws WindowSize) error {
	c.ttyMu.Lock()
	defer c.ttyMu.Unlock()
	c.size = ws
	if c.master == nil {
		return nil // applied when the pty arrives
	}
	return unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
}

// Wait waits for CMD and everything else in the sandbox to end, removes
// what the run made, and reports. The error is non-nil only when the runner
// failed (or ctx was cancelled); CMD's own failures are in the Result.
func (c *Container) Wait() (*Result, error) {
	werr := c.cmd.Wait()
	res := &Result{ID: c.ID, Wall: time.Since(c.started), Status: StatusFailed, ExitCode: ExitRunnerFailed}
	close(c.waited)
	c.ttyOut.Wait()
	var ev exitEvent
	derr := json.NewDecoder(c.ctrl).Decode(&ev)
	c.ctrl.Close()
	if c.master != nil {
		c.master.Close()
	}
	c.removeRunDir()

	if derr != nil { // init ended without a word: it was killed
		if err := c.ctx.Err(); err != nil {
			res.Message = "cancelled: " + err.Error()
			res.Signal, res.ExitCode, res.Status = int(unix.SIGKILL), -1, StatusSignal
			return res, err
		}
		if ps := c.cmd.ProcessState; ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal, res.ExitCode, res.Status = int(ws.Signal()), -1, StatusSignal
				res.Message = "sandbox killed by signal " + unix.SignalName(ws.Signal())
				return res, nil
			}
		}
		res.Message = fmt.Sprintf("init stage ended without a report (%v)", werr)
		return res, fmt.Errorf("%w: %s", ErrSetup, res.Message)
	}
	switch {
	case ev.Error != "" && (ev.ExitCode == ExitNotFound || ev.ExitCode == ExitNotExecutable):
		res.ExitCode, res.Status, res.Message = ev.ExitCode, StatusRuntime, ev.Error
		return res, nil
	case ev.Error != "":
		res.Message = ev.Error
		if ev.Unsupported {
			return res, fmt.Errorf("%w: %s", ErrUnsupported, ev.Error)
		}
		return res, fmt.Errorf("%w: %s", ErrSetup, ev.Error)
	case ev.Signal != 0:
		res.ExitCode, res.Signal, res.Status = -1, ev.Signal, StatusSignal
		res.Message = "killed by signal " + unix.SignalName(syscall.Signal(ev.Signal))
	default:
		res.ExitCode, res.Status = ev.ExitCode, StatusOK
		if ev.ExitCode != 0 {
			res.Status = StatusRuntime
		}
	}
	return res, nil
}
