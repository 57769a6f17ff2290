package oci

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// MonitorArg0 is the name the runtime re-executes itself by to be a
// container's monitor (see the package doc); main hands such a process to
// Monitor.
const MonitorArg0 = "sandbox-oci-monitor"

// CreateOptions are runc create's.
type CreateOptions struct {
	Root, ID, Bundle string
	PidFile          string
	ConsoleSocket    string
	// PreserveFDs passes descriptors 3 .. 3+N-1 on to the process.
	PreserveFDs int
	// Warn gets what the runner does in place of what was asked.
	Warn func(string)
}

// loadConfig reads and translates bundle/config.json.
func loadConfig(bundle string) (*specs.Spec, *Plan, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("reading bundle: %w", err)
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil, fmt.Errorf("reading config.json: %w: %w", ErrInvalid, err)
	}
	p, err := Translate(bundle, &c)
	if err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	return &c, p, nil
}

// Create makes the container and leaves its process held until Start.
// The container's process, the sandbox's PID 1, whose pid goes to the pid
// file, is the caller's child, as runc's is: an engine's subreaper
// (conmon, containerd's shim) inherits it once `create` exits, and reads
// the container's status from it. A caller that does not exit must reap
// it.
func Create(o CreateOptions) error {
	p, _, err := create(o)
	if err != nil {
		return err
	}
	return p.Release()
}

// create starts the monitor, and returns it and the sandbox's PID 1.
func create(o CreateOptions) (_ *os.Process, initPid int, err error) {
	if err := CheckID(o.ID); err != nil {
		return nil, 0, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, 0, fmt.Errorf("bundle: %w", err)
	}
	c, plan, err := loadConfig(bundle)
	if err != nil {
		return nil, 0, err
	}
	if err := plan.Spec.Validate(); err != nil {
		return nil, 0, fmt.Errorf("config.json: %w", err)
	}
	if o.Warn != nil {
		for _, w := range plan.Warnings {
			o.Warn(w)
		}
	}
	if plan.Terminal && o.ConsoleSocket == "" {
		return nil, 0, fmt.Errorf("process.terminal: %w: set, and no --console-socket given", ErrInvalid)
	}
	if !plan.Terminal && o.ConsoleSocket != "" {
		return nil, 0, fmt.Errorf("--console-socket: %w: given, and process.terminal is not set", ErrInvalid)
	}
	if err := os.MkdirAll(o.Root, 0o711); err != nil {
		return nil, 0, fmt.Errorf("creating state root: %w", err)
	}
	dir := Dir(o.Root, o.ID)
	if _, err := os.Lstat(dir); err == nil {
		return nil, 0, fmt.Errorf("container %s: %w", o.ID, ErrExists)
	}
	tmp, err := os.MkdirTemp(o.Root, ".new-"+o.ID+"-")
	if err != nil {
		return nil, 0, fmt.Errorf("creating container directory: %w", err)
	}
	rec := &Record{ID: o.ID, Bundle: bundle, Rootfs: plan.Spec.Root, Status: specs.StateCreating, Created: time.Now().UTC(),
		Annotations: c.Annotations, Hooks: plan.Hooks, CgroupsPath: c.Linux.CgroupsPath}
	if err := writeRecord(tmp, rec); err != nil {
		os.RemoveAll(tmp)
		return nil, 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return nil, 0, fmt.Errorf("container %s: %w", o.ID, ErrExists)
		}
		return nil, 0, fmt.Errorf("creating container directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()

	stdin, stdout, stderr := os.Stdin, os.Stdout, os.Stderr
	if plan.Terminal {
		slave, err := sendConsole(o.ConsoleSocket, plan.ConsoleSize)
		if err != nil {
			return nil, 0, err
		}
		defer slave.Close()
		stdin, stdout, stderr = slave, slave, slave
	}
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, 0, fmt.Errorf("creating sync pipe: %w", err)
	}
	defer syncR.Close()
	extra := make([]*os.File, 0, o.PreserveFDs+1)
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	extra = append(extra, syncW)
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{MonitorArg0, o.Root, o.ID, strconv.Itoa(o.PreserveFDs)},
		Env:        os.Environ(),
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: extra,
		// Out of the engine's session and process group: its signals
		// reach the container through kill.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := startInNetNS(cmd, plan); err != nil {
		syncW.Close()
		return nil, 0, err
	}
	syncW.Close()
	reply, _ := io.ReadAll(syncR)
	msg := strings.TrimSpace(string(reply))
	zygote := 0
	for {
		line, rest, _ := strings.Cut(msg, "\n")
		if v, ok := strings.CutPrefix(line, "zygote "); ok {
			zygote, _ = strconv.Atoi(v)
		} else if v, ok := strings.CutPrefix(line, "init "); ok {
			initPid, _ = strconv.Atoi(v)
		} else {
			break
		}
		msg = rest
	}
	if msg != "ok" || initPid <= 0 {
		cmd.Process.Kill()
		cmd.Wait()
		if initPid > 0 {
			reap(initPid)
		}
		if zygote > 0 {
			reap(zygote)
		}
		if msg == "" || msg == "ok" {
			msg = "the monitor ended without a word"
		}
		return nil, 0, fmt.Errorf("creating container %s: %s", o.ID, strings.TrimPrefix(msg, "error "))
	}
	if zygote > 0 {
		// It has made PID 1 and ends, or is gone.
		reap(zygote)
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(initPid))); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			reap(initPid)
			return nil, 0, fmt.Errorf("writing pid file: %w", err)
		}
	}
	return cmd.Process, initPid, nil
}

// reap waits for the sandbox's PID 1, our child once create has made it.
func reap(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

// startInNetNS starts the monitor in the container's network namespace,
// new or joined: the sandbox shares its monitor's (every thread of a Go
// process must be in it, so it is the process's from birth). A joined one
// is entered by the starting thread, which the child inherits it from.
func startInNetNS(cmd *exec.Cmd, plan *Plan) error {
	switch {
	case plan.NewNet:
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNET
	case plan.NetNS != "":
		ns, err := os.Open(plan.NetNS)
		if err != nil {
			return fmt.Errorf("opening network namespace: %w", err)
		}
		defer ns.Close()
		errc := make(chan error)
		go func() {
			// The thread is left in the namespace and never reused: a
			// locked goroutine that returns takes its thread with it.
			runtime.LockOSThread()
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
				errc <- fmt.Errorf("joining network namespace %s: %w", plan.NetNS, err)
				return
			}
			errc <- cmd.Start()
		}()
		if err := <-errc; err != nil {
			return fmt.Errorf("starting monitor: %w", err)
		}
		return nil
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting monitor: %w", err)
	}
	return nil
}

// sendConsole makes a pty, sends its master to the engine's console socket
// and returns the slave: the process's stdio.
func sendConsole(path string, size sandbox.WindowSize) (*os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening pty: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlocking pty: %w", err)
	}
	if size.Rows > 0 && size.Cols > 0 {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols})
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return nil, fmt.Errorf("opening pty peer: %w", errno)
	}
	sfd := int(r)
	slave := os.NewFile(uintptr(sfd), "pty")
	conn, err := net.Dial("unix", path)
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("connecting to console socket: %w", err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	if _, _, err := uc.WriteMsgUnix([]byte("/dev/ptmx"), unix.UnixRights(int(master.Fd())), nil); err != nil {
		slave.Close()
		return nil, fmt.Errorf("sending pty to console socket: %w", err)
	}
	return slave, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Load reads the container's record, stopped if its monitor is gone.
func Load(root, id string) (*Record, error) {
	r, err := readRecord(root, id)
	if err != nil {
		return nil, err
	}
	if r.Status != specs.StateStopped && !r.alive() {
		// The monitor writes the container's end and then dies: it may
		// have done both between the read above and the check. Read
		// again now that it is known gone.
		if again, err := readRecord(root, id); err == nil && again.Status == specs.StateStopped {
			return again, nil
		}
		r.Status = specs.StateStopped
		if r.Message == "" {
			r.Message = "the monitor was killed"
		}
	}
	return r, nil
}

// alive says whether the record's monitor still runs.
func (r *Record) alive() bool {
	if r.Pid <= 0 {
		// creating: the monitor has not said yet
		return r.Status == specs.StateCreating
	}
	st, ok := procStart(r.Pid)
	return ok && st == r.PidStart
}

// procStart is a process's start time (field 22 of /proc/PID/stat); a
// zombie counts as gone.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}

// request sends one line to the container's monitor and returns its reply.
func request(root, id, line string) error {
	dir, err := os.Open(Dir(root, id))
	if err != nil {
		return fmt.Errorf("container %s: %w", id, ErrNotExist)
	}
	defer dir.Close()
	// Through the directory's descriptor: a socket path has 107 bytes at
	// most, and an engine's state root may be longer.
	conn, err := net.Dial("unix", fmt.Sprintf("/proc/self/fd/%d/ctl", dir.Fd()))
	if err != nil {
		return fmt.Errorf("reaching the monitor of %s: %w", id, err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return fmt.Errorf("reaching the monitor of %s: %w", id, err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reaching the monitor of %s: %w", id, err)
	}
	reply = strings.TrimSpace(reply)
	if reply == "ok" {
		return nil
	}
	msg := strings.TrimPrefix(reply, "error ")
	if strings.HasPrefix(msg, "state ") {
		return fmt.Errorf("container %s: %w: %s", id, ErrState, strings.TrimPrefix(msg, "state "))
	}
	return fmt.Errorf("container %s: %s", id, msg)
}

// Start lets the created container's process run.
func Start(root, id string) error {
	r, err := Load(root, id)
	if err != nil {
		return err
	}
	if r.Status != specs.StateCreated {
		return fmt.Errorf("container %s: %w: %s, not created", id, ErrState, r.Status)
	}
	return request(root, id, "start")
}

// Kill sends sig to the container's process (all: to every process of it).
func Kill(root, id string, sig syscall.Signal, all bool) error {
	r, err := Load(root, id)
	if err != nil {
		return err
	}
	if r.Status == specs.StateStopped {
		return fmt.Errorf("container %s: %w: stopped", id, ErrState)
	}
	a := 0
	if all {
		a = 1
	}
	return request(root, id, fmt.Sprintf("kill %d %d", int(sig), a))
}

// Delete removes a stopped container (a created one too, as runc does);
// with force, a running one is killed first.
func Delete(root, id string, force bool) error {
	r, err := Load(root, id)
	if err != nil {
		if force && errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	if r.Status == specs.StateRunning && !force {
		return fmt.Errorf("container %s: %w: running (delete --force kills it)", id, ErrState)
	}
	if r.Status == StatePaused {
		if !force {
			return fmt.Errorf("container %s: %w: paused (delete --force kills it)", id, ErrState)
		}
		setFrozen(r.Cgroup, false) // frozen tasks do not act on SIGKILL
	}
	if r.Status != specs.StateStopped {
		request(root, id, fmt.Sprintf("kill %d 1", int(unix.SIGKILL)))
		if !waitGone(r, 3*time.Second) {
			unix.Kill(r.Pid, unix.SIGKILL)
			waitGone(r, 2*time.Second)
		}
		r.Status = specs.StateStopped
	}
	return remove(root, r)
}

func waitGone(r *Record, max time.Duration) bool {
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if !r.alive() {
			return true
		}
	}
	return !r.alive()
}

// remove cleans up after a container whose monitor is gone: what a killed
// monitor left (its sandbox's run directory and cgroup), the container's
// cgroup path, the poststop hooks, the directory.
func remove(root string, r *Record) error {
	dir := Dir(root, r.ID)
	runDir := filepath.Join(dir, "run")
	// The processes of a killed monitor's sandbox may still be on their
	// way out (PID 1 sees its runner gone on EOF): until they are, their
	// run stays locked and their group busy.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := sandbox.GC(runDir)
		busy := err != nil
		for _, h := range cgroupMounts() {
			if _, err := os.Stat(filepath.Join(h, r.Cgroup)); r.Cgroup != "" && err == nil {
				busy = true
			}
		}
		if entries, _ := os.ReadDir(runDir); len(entries) > 0 {
			busy = true
		}
		if !busy && r.CgroupsPath != "" && filepath.IsAbs(r.CgroupsPath) {
			// Its own only when no other container shares it: then the
			// removal fails, and the path is the engine's to keep.
			for _, h := range cgroupMounts() {
				os.Remove(filepath.Join(h, filepath.Clean(r.CgroupsPath)))
			}
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("run directory or cgroup %s still busy", r.CgroupsPath)
			}
			return fmt.Errorf("cleaning up container %s: %w", r.ID, err)
		}
	}
	var hookErr error
	if len(r.Hooks.Poststop) > 0 {
		// The spec has a poststop hook's failure logged, not fatal.
		hookErr = runHooks("poststop", r.Hooks.Poststop, r)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing container %s: %w", r.ID, err)
	}
	return hookErr
}

// runHooks runs hooks in order with the state on stdin; the first failure
// ends the run of them.
func runHooks(kind string, hooks []specs.Hook, r *Record) error {
	st, _ := json.Marshal(r.State())
	for _, h := range hooks {
		ctx := context.Background()
		if h.Timeout != nil && *h.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = strings.NewReader(string(st))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s hook %s: %w: %s", kind, h.Path, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Run creates and starts the container and, unless detach, waits for it
// and returns its exit status.
func Run(o CreateOptions, detach bool) (int, error) {
	p, initPid, err := create(o)
	if err != nil {
		return 0, err
	}
	if err := Start(o.Root, o.ID); err != nil {
		p.Kill()
		p.Wait()
		reap(initPid)
		Delete(o.Root, o.ID, true)
		return 0, err
	}
	if detach {
		return 0, p.Release()
	}
	// PID 1 goes once the monitor has seen it go: reaped, it leaves no
	// zombie of ours behind.
	defer reap(initPid)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	go func() {
		for s := range sigs {
			p.Signal(s)
		}
	}()
	ps, err := p.Wait()
	signal.Stop(sigs)
	code := 0
	if err == nil {
		ws := ps.Sys().(syscall.WaitStatus)
		code = ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	return code, Delete(o.Root, o.ID, true)
}

// forwarded are the signals a monitor (and a foreground run) passes on to
// the container, as the sandbox's PID 1 does to its process.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// Pids lists the container's processes (host pids).
func Pids(root, id string) ([]int, error) {
	r, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	if r.Status != specs.StateRunning && r.Status != StatePaused {
		return nil, nil
	}
	// The container's processes: its PID 1 and what runs below it (not
	// the monitor and its zygote).
	top := r.InitPid
	if top == 0 {
		top = r.Pid
	}
	pids := []int{top}
	for _, pid := range descendants(top) {
		pids = append(pids, pid)
	}
	return pids, nil
}

// descendants lists the processes below pid, parents first.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], n)
		}
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// ContainerProcess is the process of the container's config.json, for an
// exec's command line to start from (its env, cwd, user, capabilities).
func ContainerProcess(root, id string) (*specs.Process, error) {
	r, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	c, _, err := loadConfig(r.Bundle)
	if err != nil {
		return nil, err
	}
	return c.Process, nil
}

// Exec runs a process in the running container: in its namespaces and
// cgroup, as the sandbox's own process runs (sandbox.Exec). Detached, it
// returns once the process is started (the pid file names it: an engine's
// subreaper, conmon, reads its exit status); otherwise it waits and
// returns the process's exit status (128+N for signal N).
func Exec(o ExecOptions) (int, error) {
	r, err := Load(o.Root, o.ID)
	if err != nil {
		return 0, err
	}
	if r.Status != specs.StateRunning && r.Status != specs.StateCreated {
		return 0, fmt.Errorf("exec in %s: %w: the container is %s", o.ID, ErrState, r.Status)
	}
	if r.InitPid == 0 || !r.alive() {
		return 0, fmt.Errorf("exec in %s: %w: the container has no running process", o.ID, ErrState)
	}
	c, _, err := loadConfig(r.Bundle)
	if err != nil {
		return 0, err
	}
	if o.Process == nil {
		return 0, fmt.Errorf("exec in %s: %w: no process", o.ID, ErrInvalid)
	}
	c.Process = o.Process
	plan, err := Translate(r.Bundle, c)
	if err != nil {
		return 0, fmt.Errorf("process: %w", err)
	}
	ps := plan.Spec
	s := sandbox.Spec{Args: ps.Args, Env: ps.Env, Dir: ps.Dir, User: ps.User, CapAdd: ps.CapAdd,
		Seccomp: ps.Seccomp}
	s.Limits.Rlimits = ps.Limits.Rlimits
	s.IO = sandbox.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if plan.Terminal {
		if o.ConsoleSocket == "" {
			return 0, fmt.Errorf("process.terminal: %w: needs --console-socket", ErrInvalid)
		}
		slave, err := sendConsole(o.ConsoleSocket, plan.ConsoleSize)
		if err != nil {
			return 0, err
		}
		defer slave.Close()
		s.IO = sandbox.IO{Stdin: slave, Stdout: slave, Stderr: slave}
	}
	for i := 0; i < o.PreserveFDs; i++ {
		s.IO.ExtraFiles = append(s.IO.ExtraFiles, os.NewFile(uintptr(3+i), fmt.Sprintf("fd %d", 3+i)))
	}
	x, err := sandbox.Exec(context.Background(), r.InitPid, &s, o.Detach)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", o.ID, err)
	}
	if o.PidFile != "" {
		if err := writeFileAtomic(o.PidFile, []byte(strconv.Itoa(x.Pid()))); err != nil {
			x.Signal(unix.SIGKILL)
			if !o.Detach {
				x.Wait()
			}
			return 0, fmt.Errorf("writing pid file: %w", err)
		}
	}
	if o.Detach {
		return 0, nil
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			x.Signal(sig)
		}
	}()
	res, err := x.Wait()
	if err != nil {
		return 0, err
	}
	if res.Signal != 0 {
		return 128 + res.Signal, nil
	}
	return res.ExitCode, nil
}

// Pause freezes every process of the running container (the v1 freezer,
// or cgroup.freeze on v2).
func Pause(root, id string) error { return freeze(root, id, true) }

// Resume thaws a paused container.
func Resume(root, id string) error { return freeze(root, id, false) }

func freeze(root, id string, frozen bool) error {
	r, err := Load(root, id)
	if err != nil {
		return err
	}
	want, verb := specs.StateRunning, "resuming"
	if frozen {
		want, verb = StatePaused, "pausing"
	}
	switch {
	case frozen && r.Status != specs.StateRunning:
		return fmt.Errorf("pausing %s: %w: %s, not running", id, ErrState, r.Status)
	case !frozen && r.Status != StatePaused:
		return fmt.Errorf("resuming %s: %w: %s, not paused", id, ErrState, r.Status)
	case r.Cgroup == "":
		return fmt.Errorf("%s %s: %w: no cgroup recorded", verb, id, ErrUnsupported)
	}
	if err := setFrozen(r.Cgroup, frozen); err != nil {
		return fmt.Errorf("%s %s: %w", verb, id, err)
	}
	r.Status = want
	return writeRecord(Dir(root, id), r)
}

// setFrozen freezes or thaws a group and waits until it holds.
func setFrozen(group string, frozen bool) error {
	v1 := filepath.Join("/sys/fs/cgroup/freezer", group, "freezer.state")
	v2 := filepath.Join("/sys/fs/cgroup", group, "cgroup.freeze")
	file, value, done := v1, "THAWED", "THAWED"
	if frozen {
		value, done = "FROZEN", "FROZEN"
	}
	if _, err := os.Stat(v1); err != nil {
		if _, err := os.Stat(v2); err != nil {
			return fmt.Errorf("%w: no freezer for cgroup %s", ErrUnsupported, group)
		}
		file, value, done = v2, "0", "0"
		if frozen {
			value, done = "1", "1"
		}
	}
	if err := os.WriteFile(file, []byte(value), 0); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		if strings.TrimSpace(string(b)) == done {
			return nil
		}
		if frozen && file == v1 {
			os.WriteFile(file, []byte(value), 0) // FREEZING: ask again
		}
	}
	return fmt.Errorf("cgroup %s: not %s after 5s", group, strings.ToLower(done))
}

// cgroupMounts are the host's cgroup hierarchies' mount points.
func cgroupMounts() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && (g[0] == "cgroup" || g[0] == "cgroup2") {
			out = append(out, f[4])
		}
	}
	return out
}
