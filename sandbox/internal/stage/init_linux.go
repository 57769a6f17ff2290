package stage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forwarded are the signals PID 1 passes on to CMD.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

func init() {
	arg0 := ""
	if len(os.Args) > 0 {
		arg0 = os.Args[0]
	}
	// Built with cgo, a runner's PID 1 never gets here: the C constructor
	// (prefork_cgo_linux.go) runs the whole init stage before the Go
	// runtime starts.
	switch arg0 {
	case InitArg0:
		// Credentials, capabilities, no_new_privs and namespaces set by
		// unshare are per thread: the stages do all their work on the
		// main thread.
		runtime.LockOSThread()
		// Named for ps: exec'd as /proc/self/exe it would show as "exe".
		unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte(InitArg0 + "\x00")[0])), 0, 0, 0)
		os.Exit(initMain())
	case execArg0:
		runtime.LockOSThread()
		stageFD, _ := strconv.Atoi(os.Getenv(stageFDEnv))
		os.Exit(execMain(stageFD))
	}
}

// initMain is PID 1 of the sandbox in builds without cgo (initstage_cgo_linux.go
// is the same in C). It reads its config, builds the container, has the
// exec stage become CMD, reaps every child, forwards signals, and reports
// CMD's end to the runner. Its own exit then makes the kernel kill whatever
// is left in the pid namespace.
func initMain() int {
	fd, err := strconv.Atoi(os.Getenv(InitFDEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox-init: not started by the sandbox runner")
		return ExitRunnerFailed
	}
	unix.CloseOnExec(fd)
	// Descriptors past ours are the caller's, leaked to the runner without
	// close-on-exec and so to us: a directory among them would be a way out
	// of the root (runc CVE-2024-21626).
	n, _ := strconv.Atoi(os.Getenv(InitNFDEnv))
	unix.CloseRange(uint(fd+max(n, 1)), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	ctrl := os.NewFile(uintptr(fd), "control")
	// The runner writes GoByte once it has confined us.
	var b [1]byte
	if _, err := io.ReadFull(ctrl, b[:]); err != nil {
		return ExitRunnerFailed
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return ExitRunnerFailed
	}
	cfg, err := readConfig(ctrl)
	if err != nil {
		return ExitRunnerFailed // the runner gave up before sending the config
	}
	// The runner never writes again: a read ends only when it is gone
	// (killed, crashed), and then so is the sandbox. This is the parent-death
	// signal where there is none (see Container.startInit).
	go func() {
		var b [1]byte
		ctrl.Read(b[:])
		os.Exit(ExitRunnerFailed)
	}()
	var console *os.File
	if cfg.TTY {
		unix.CloseOnExec(fd + 1)
		console = os.NewFile(uintptr(fd+1), "console")
	}
	var ev *Exit
	stageFD, stagePid, err := forkExecStage(cfg)
	if err != nil {
		ev = failure(err)
	} else {
		ev = runInit(cfg, console, os.NewFile(uintptr(stageFD), "stage"), stagePid)
	}
	json.NewEncoder(ctrl).Encode(ev)
	return 0
}

// forkExecStage starts the exec stage when no C constructor did.
func forkExecStage(cfg *Config) (fd, pid int, err error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("creating exec stage socket: %w", err)
	}
	defer unix.Close(sv[1])
	files := []uintptr{0, 1, 2}
	for i := 0; i < cfg.ExtraFiles; i++ {
		files = append(files, uintptr(3+i))
	}
	files = append(files, uintptr(sv[1]))
	pid, err = syscall.ForkExec("/proc/self/exe", []string{execArg0}, &syscall.ProcAttr{
		Env:   []string{stageFDEnv + "=" + strconv.Itoa(len(files)-1)},
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		unix.Close(sv[0])
		return -1, 0, fmt.Errorf("starting exec stage: %w", err)
	}
	return sv[0], pid, nil
}

// setupError is a failure before CMD ran, with the exit code it means.
type setupError struct {
	code int
	err  error
}

func (e *setupError) Error() string { return e.err.Error() }

func failure(err error) *Exit {
	ev := &Exit{ExitCode: ExitRunnerFailed, Error: err.Error(), Unsupported: errors.Is(err, ErrUnsupported)}
	var se *setupError
	if errors.As(err, &se) {
		ev.ExitCode = se.code
	}
	return ev
}

// execConfig is what PID 1 tells the exec stage once the container is built.
// It travels as a flat binary message (wire_linux.go).
type execConfig struct {
	Args       []string
	Env        []string
	Dir        string
	UID        uint32
	GID        uint32
	Caps       []int
	ExtraFiles int
	Seccomp    *SeccompProgram
}

// execReply is the exec stage's answer when it could not become CMD; on
// success the socket just closes (it is close-on-exec).
type execReply struct {
	Code  int
	Error string
}

func runInit(cfg *Config, console, stage *os.File, pid int) *Exit {
	// Every signal is caught: the usual ones are passed on to CMD, the rest
	// ignored. The kernel spares a namespace's PID 1 only the signals it
	// has no handler for, and the Go runtime handles all of them, so a
	// SIGSEGV sent by CMD (of PID 1's uid) would otherwise crash PID 1 and
	// turn the verdict into a runner failure. (A fault of PID 1's own still
	// panics: Go raises those, it does not catch them.)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	go func() {
		for s := range sigs {
			if slices.Contains(forwarded, s) {
				unix.Kill(pid, s.(syscall.Signal))
			}
		}
	}()

	ec, slave, err := setupContainer(cfg, console)
	if err == nil {
		err = applyRlimits(pid, cfg.Rlimits)
	}
	if err != nil {
		return failure(err) // our exit takes the waiting exec stage with it
	}
	var rights []byte
	if slave >= 0 {
		rights = unix.UnixRights(slave)
	}
	err = unix.Sendmsg(int(stage.Fd()), []byte{0}, rights, nil, 0)
	if slave >= 0 {
		unix.Close(slave)
	}
	if err == nil {
		_, err = stage.Write(encodeExec(ec))
	}
	if err != nil {
		return failure(fmt.Errorf("instructing exec stage: %w", err))
	}
	// The exec stage's last word before exec: one byte, with the seccomp
	// listener when the filter has "kill" rules.
	var refusedMu sync.Mutex
	refused := ""
	if fds, err := recvFDs(stage); err == nil && len(fds) > 0 {
		go watchSeccomp(fds[0], cfg.Seccomp, func(name string) {
			refusedMu.Lock()
			if refused == "" {
				refused = name
			}
			refusedMu.Unlock()
		})
	}
	answer, _ := io.ReadAll(stage)
	reply, execFailed := decodeReply(answer)
	stage.Close()
	firstRefused := func() string {
		refusedMu.Lock()
		defer refusedMu.Unlock()
		return refused
	}

	// PID 1 of a namespace inherits every orphan: reap them all, and stop
	// when CMD itself is done.
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &Exit{ExitCode: ExitRunnerFailed, Error: fmt.Sprintf("waiting for command: %v", err)}
		}
		if wpid != pid {
			continue
		}
		switch {
		case execFailed:
			return &Exit{ExitCode: reply.Code, Error: reply.Error}
		case ws.Signaled():
			return &Exit{ExitCode: -1, Signal: int(ws.Signal()), Pid: pid, Refused: firstRefused()}
		default:
			return &Exit{ExitCode: ws.ExitStatus(), Pid: pid, Refused: firstRefused()}
		}
	}
}

// setupContainer builds the container around PID 1 (and so around the
// exec stage, which shares its namespaces) and says how to start CMD.
func setupContainer(cfg *Config, console *os.File) (*execConfig, int, error) {
	unix.Umask(0)
	if err := performSteps(cfg); err != nil {
		return nil, -1, err
	}
	if err := pivotRoot(cfg.Rootfs); err != nil {
		return nil, -1, err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return nil, -1, fmt.Errorf("setting hostname: %w", err)
	}
	if cfg.Loopback {
		if err := loopbackUp(); err != nil {
			return nil, -1, err
		}
	}
	dir, err := workdir(cfg)
	if err != nil {
		return nil, -1, err
	}
	slave := -1
	if console != nil {
		if slave, err = openConsole(cfg, console); err != nil {
			return nil, -1, err
		}
	}
	// CMD must not reach into PID 1 through /proc/1 (its fds, its exe, its
	// root): a non-dumpable process is off limits without CAP_SYS_PTRACE.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, -1, fmt.Errorf("making init non-dumpable: %w", err)
	}
	return &execConfig{Args: cfg.Args, Env: cfg.Env, Dir: dir, UID: cfg.UID, GID: cfg.GID,
		Caps: cfg.Caps, ExtraFiles: cfg.ExtraFiles, Seccomp: cfg.Seccomp}, slave, nil
}

// execMain is the exec stage (pid 2) of builds without cgo: it waits for
// PID 1 to build the container, then drops every privilege and becomes
// CMD. With cgo, sandbox_exec_stage (execstage_cgo_linux.go) does the same
// without starting the Go runtime; the two must stay alike.
func execMain(stageFD int) int {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(stageFD, buf, oob, 0)
	if err != nil || n == 0 {
		return ExitRunnerFailed // PID 1 failed; it reports why
	}
	slave := -1
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
			slave = fds[0]
		}
	}
	stage := os.NewFile(uintptr(stageFD), "stage")
	var lenb [4]byte
	if _, err := io.ReadFull(stage, lenb[:]); err != nil {
		return ExitRunnerFailed
	}
	n = int(binary.NativeEndian.Uint32(lenb[:]))
	if n < wireHeaderLen || n > wireMaxLen {
		return ExitRunnerFailed
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(stage, msg); err != nil {
		return ExitRunnerFailed
	}
	ec, err := decodeExec(msg)
	if err != nil {
		return ExitRunnerFailed
	}
	sent := false
	err = execCommand(ec, slave, stageFD, &sent)
	if !sent { // PID 1 reads the one-byte message before any reply
		unix.Sendmsg(stageFD, []byte{0}, nil, nil, 0)
	}
	reply := execReply{Code: ExitRunnerFailed, Error: err.Error()}
	var se *setupError
	if errors.As(err, &se) {
		reply.Code = se.code
	}
	stage.Write(encodeReply(reply))
	return reply.Code
}

// execCommand becomes CMD; it returns only on failure.
func execCommand(ec *execConfig, slave, stageFD int, sent *bool) error {
	// Always chdir: the exec stage was forked with the runner's cwd, which
	// pivot_root left pointing into the host's tree (runc CVE-2024-21626).
	if err := unix.Chdir(ec.Dir); err != nil {
		return fmt.Errorf("entering workdir %s: %w", ec.Dir, err)
	}
	// A workdir through a magic link (/proc/self/fd/N) can land outside the
	// root; the kernel then names the cwd "(unreachable)/...", which Getwd
	// refuses (runc's check for CVE-2024-21626).
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("workdir %s: outside the sandbox's root", ec.Dir)
	}
	// A session of its own: CMD has no controlling terminal to inject input
	// into (TIOCSTI) unless it gets its own pty.
	if _, err := unix.Setsid(); err != nil && err != unix.EPERM {
		return fmt.Errorf("starting a session: %w", err)
	}
	if slave >= 0 {
		if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("taking the pty as controlling terminal: %w", err)
		}
		for fd := 0; fd < 3; fd++ {
			if err := unix.Dup3(slave, fd, 0); err != nil {
				return fmt.Errorf("attaching the pty: %w", err)
			}
		}
		if slave > 2 {
			unix.Close(slave)
		}
	}
	path, err := lookPath(ec.Args[0], ec.Env)
	if err != nil {
		return err
	}
	if err := dropPrivileges(ec.UID, ec.GID, ec.Caps); err != nil {
		return err
	}
	unix.Umask(0o022)
	// Only 0, 1, 2 and the preserved descriptors reach CMD.
	if err := unix.CloseRange(uint(3+ec.ExtraFiles), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing descriptors: %w", err)
	}
	// Last, the filter: everything above may use what it refuses.
	listener, err := loadSeccomp(ec.Seccomp)
	if err != nil {
		return err
	}
	var rights []byte
	if listener >= 0 {
		rights = unix.UnixRights(listener)
	}
	if err := unix.Sendmsg(stageFD, []byte{0}, rights, nil, 0); err != nil {
		return fmt.Errorf("handing over the seccomp listener: %w", err)
	}
	*sent = true
	if listener >= 0 {
		unix.Close(listener)
	}
	return execError(ec.Args[0], syscall.Exec(path, ec.Args, ec.Env))
}

func execError(name string, err error) error {
	code := ExitNotExecutable
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	return &setupError{code: code, err: fmt.Errorf("exec %s: %w", name, err)}
}

// lookPath finds CMD the way execvp would, in the sandbox's PATH, so a
// missing command is 127 and an unrunnable one 126.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	found := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
		if found == "" {
			found = p
		}
	}
	if found != "" {
		return "", &setupError{code: ExitNotExecutable, err: fmt.Errorf("exec %s: permission denied", name)}
	}
	return "", &setupError{code: ExitNotFound, err: fmt.Errorf("exec %s: command not found", name)}
}

// workdir creates an explicit workdir, or takes the caller's directory:
// when it must be had (CallerWdRequired), one missing inside the sandbox is
// an error naming it; otherwise (a root of its own, where the caller's
// directory is the host's) the fallback is "/".
func workdir(cfg *Config) (string, error) {
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return "", fmt.Errorf("creating workdir: %w", err)
		}
		return cfg.Dir, nil
	}
	if cfg.CallerWd != "" {
		fi, err := os.Stat(cfg.CallerWd)
		if err == nil && fi.IsDir() {
			return cfg.CallerWd, nil
		}
		if cfg.CallerWdRequired {
			if err == nil {
				err = unix.ENOTDIR
			}
			return "", fmt.Errorf("working directory %s: not in the sandbox: %w", cfg.CallerWd, errors.Unwrap(err))
		}
	}
	return "/", nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bringing up loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up loopback: %w", err)
	}
	return nil
}

// openConsole makes CMD's pty in the sandbox's own devpts, sends the master
// to the runner, and returns the slave.
func openConsole(cfg *Config, console *os.File) (int, error) {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening pty: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return -1, fmt.Errorf("unlocking pty: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return -1, fmt.Errorf("opening pty peer: %w", errno)
	}
	slave := int(r)
	if cfg.TTYRows > 0 && cfg.TTYCols > 0 {
		ws := &unix.Winsize{Row: cfg.TTYRows, Col: cfg.TTYCols}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			unix.Close(slave)
			return -1, fmt.Errorf("sizing pty: %w", err)
		}
	}
	if err := unix.Fchown(slave, int(cfg.UID), int(cfg.GID)); err != nil {
		unix.Close(slave)
		return -1, fmt.Errorf("handing pty to uid %d: %w", cfg.UID, err)
	}
	if err := unix.Sendmsg(int(console.Fd()), []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		unix.Close(slave)
		return -1, fmt.Errorf("sending pty to runner: %w", err)
	}
	console.Close()
	return slave, nil
}

// recvFDs reads the one-byte message that may carry descriptors.
func recvFDs(f *os.File) ([]int, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, 0)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	return unix.ParseUnixRights(&msgs[0])
}

// applyRlimits sets the run's rlimits on the exec stage, before it becomes
// CMD. Raising a hard limit needs CAP_SYS_RESOURCE, which PID 1 has.
func applyRlimits(pid int, rl []Rlimit) error {
	for _, r := range rl {
		lim := unix.Rlimit{Cur: r.Cur, Max: r.Max}
		if err := unix.Prlimit(pid, r.Resource, &lim, nil); err != nil {
			return fmt.Errorf("setting rlimit %d to %d:%d: %w", r.Resource, r.Cur, r.Max, err)
		}
	}
	return nil
}
