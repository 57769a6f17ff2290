package oci

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// request from `start`, `kill` and `delete`, to the monitor's loop.
type ctlRequest struct {
	verb  string
	sig   unix.Signal
	reply chan string
	// written is closed once the reply is on its way, so that a monitor
	// about to exit lets it out first.
	written chan struct{}
}

// monitor is one container's process: see the package doc.
type monitor struct {
	root, id, dir string
	rec           *Record
	plan          *Plan
	extra         []*os.File
	reqs          chan ctlRequest
	c             *sandbox.Container
	// gate is the write end of the sandbox's start gate: a byte on it
	// is start, closing it unstarted is the end of the container.
	gate *os.File
}

// Monitor is the life of a container's monitor, as create started it:
// args are MonitorArg0, the state root, the id and --preserve-fds. Its
// exit is the container's.
func Monitor(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "sandbox-oci-monitor: started by create only")
		return 125
	}
	n, _ := strconv.Atoi(args[3])
	// The sandbox's PID 1 is create's child, and then the engine's
	// subreaper's, which waits for it (see Create).
	sandbox.HandOffInit()
	m := &monitor{root: args[1], id: args[2], dir: Dir(args[1], args[2]), reqs: make(chan ctlRequest)}
	sync := os.NewFile(uintptr(3+n), "sync")
	for i := 0; i < n; i++ {
		m.extra = append(m.extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	// The sync pipe's words to create: the pids of its children that the
	// sandbox's start made (the zygote, which ends at once, and PID 1),
	// for it to reap, then "ok" or the error.
	ln, err := m.prepare()
	if z := sandbox.HandOffZygote(); z != 0 {
		fmt.Fprintln(sync, "zygote", z)
	}
	if m.rec != nil && m.rec.InitPid != 0 {
		fmt.Fprintln(sync, "init", m.rec.InitPid)
	}
	if err != nil {
		fmt.Fprintf(sync, "error %v\n", err)
		return 125
	}
	fmt.Fprintln(sync, "ok")
	sync.Close()
	return m.run(ln)
}

// prepare does what create promises before it returns: the network
// namespace set up, the createRuntime and prestart hooks run, the control
// socket listening, the record saying "created".
func (m *monitor) prepare() (*net.UnixListener, error) {
	rec, err := readRecord(m.root, m.id)
	if err != nil {
		return nil, err
	}
	m.rec = rec
	if _, m.plan, err = loadConfig(rec.Bundle); err != nil {
		return nil, err
	}
	if m.plan.NewNet {
		if err := loopbackUp(); err != nil {
			return nil, err
		}
	}
	for _, k := range sortedKeys(m.plan.Sysctl) {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(m.plan.Sysctl[k]), 0); err != nil {
			return nil, fmt.Errorf("setting sysctl %s: %w", k, err)
		}
	}
	dirf, err := os.Open(m.dir)
	if err != nil {
		return nil, fmt.Errorf("opening container directory: %w", err)
	}
	defer dirf.Close()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("/proc/self/fd/%d/ctl", dirf.Fd()), Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening for the runtime: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	m.rec.Pid = os.Getpid()
	m.rec.PidStart, _ = procStart(m.rec.Pid)
	if err := m.create(); err != nil {
		ln.Close()
		return nil, err
	}
	fail := func(err error) (*net.UnixListener, error) {
		ln.Close()
		m.gate.Close()
		m.c.Signal(unix.SIGKILL)
		m.c.Wait()
		return nil, err
	}
	if err := runHooks("createRuntime", m.plan.Hooks.CreateRuntime, m.rec); err != nil {
		return fail(err)
	}
	if err := runHooks("prestart", m.plan.Hooks.Prestart, m.rec); err != nil {
		return fail(err)
	}
	m.rec.Status = specs.StateCreated
	if err := writeRecord(m.dir, m.rec); err != nil {
		return fail(err)
	}
	return ln, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loopbackUp brings lo up in the monitor's new network namespace, as the
// sandbox does in one of its own.
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

// serve passes the runtime's requests to the monitor's loop.
func (m *monitor) serve(ln *net.UnixListener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				return
			}
			req := ctlRequest{verb: f[0], reply: make(chan string, 1), written: make(chan struct{})}
			if f[0] == "kill" && len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				req.sig = unix.Signal(n)
			}
			m.reqs <- req
			fmt.Fprintln(conn, <-req.reply)
			close(req.written)
		}()
	}
}

func (m *monitor) run(ln *net.UnixListener) int {
	defer ln.Close()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	go m.serve(ln)
	done := make(chan struct{})
	var res *sandbox.Result
	var werr error
	go func() {
		res, werr = m.c.Wait()
		close(done)
	}()

	// Created: the process is held at the gate until start.
	for started := false; !started; {
		select {
		case s := <-sigs:
			return m.stopCreated(s.(unix.Signal), done)
		case <-done:
			// It ended before start (its command not found, say): start
			// then reports how, as the container's end.
			req := <-m.reqs
			req.reply <- "ok"
			<-req.written
			return m.stopped(res, werr)
		case req := <-m.reqs:
			switch req.verb {
			case "start":
				if err := m.start(); err != nil {
					req.reply <- "error " + oneLine(err)
					<-req.written
					return m.stopCreated(unix.SIGKILL, done)
				}
				req.reply <- "ok"
				started = true
			case "kill":
				req.reply <- "ok"
				<-req.written
				return m.stopCreated(req.sig, done)
			default:
				req.reply <- "error unknown request " + req.verb
			}
		}
	}
	for {
		select {
		case s := <-sigs:
			m.c.Signal(s)
		case req := <-m.reqs:
			switch req.verb {
			case "kill":
				if err := m.c.Signal(req.sig); err != nil {
					req.reply <- "error signalling: " + oneLine(err)
				} else {
					req.reply <- "ok"
				}
			case "start":
				req.reply <- "error state running, not created"
			default:
				req.reply <- "error unknown request " + req.verb
			}
		case <-done:
			return m.stopped(res, werr)
		}
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// create starts the sandbox, its process held at the start gate.
func (m *monitor) create() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("creating start gate: %w", err)
	}
	defer r.Close()
	s := m.plan.Spec
	s.RunDir = filepath.Join(m.dir, "run")
	s.IO = sandbox.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, ExtraFiles: m.extra, StartGate: r}
	c, err := sandbox.Start(context.Background(), &s)
	if err != nil {
		w.Close()
		return err
	}
	m.c, m.gate = c, w
	m.rec.InitPid = c.Pid()
	root := s.CgroupRoot
	if root == "" {
		root = limits.DefaultRoot
	}
	m.rec.Cgroup = filepath.Join(root, c.ID)
	for _, f := range m.extra {
		f.Close()
	}
	return nil
}

// start opens the gate and runs the poststart hooks.
func (m *monitor) start() error {
	_, err := m.gate.Write([]byte{1})
	m.gate.Close()
	if err != nil {
		return fmt.Errorf("opening the start gate: %w", err)
	}
	m.rec.Status = specs.StateRunning
	if err := writeRecord(m.dir, m.rec); err != nil {
		m.c.Signal(unix.SIGKILL)
		return err
	}
	if err := runHooks("poststart", m.plan.Hooks.Poststart, m.rec); err != nil {
		// The spec has a poststart hook's failure logged; the container runs on.
		fmt.Fprintf(os.Stderr, "sandbox-oci: %v\n", err)
	}
	return nil
}

// stopCreated ends a container killed before it started, as if its process
// had died of sig: the gate closes, and the sandbox ends unstarted.
func (m *monitor) stopCreated(sig unix.Signal, done chan struct{}) int {
	m.gate.Close()
	<-done
	st := 128 + int(sig)
	m.rec.Status, m.rec.ExitStatus, m.rec.Message = specs.StateStopped, &st, "killed before start by signal "+unix.SignalName(sig)
	writeRecord(m.dir, m.rec)
	return dieOf(sig)
}

// stopped records how the container ended, writes its report, and returns
// (or dies of) its status.
func (m *monitor) stopped(res *sandbox.Result, werr error) int {
	st := 125
	if res != nil && (werr == nil || res.Status != sandbox.StatusFailed) {
		st = res.ExitStatus()
		m.rec.Message = res.Message
	}
	if werr != nil {
		m.rec.Message = werr.Error()
		fmt.Fprintf(os.Stderr, "sandbox-oci: %v\n", werr)
	}
	m.rec.Status, m.rec.ExitStatus = specs.StateStopped, &st
	if m.plan.Report != "" && res != nil {
		if err := writeReport(m.plan.Report, res); err != nil {
			fmt.Fprintf(os.Stderr, "sandbox-oci: %v\n", err)
		}
	}
	writeRecord(m.dir, m.rec)
	if res != nil && res.Signal > 0 && werr == nil {
		return dieOf(unix.Signal(res.Signal))
	}
	return st
}

func writeReport(path string, res *sandbox.Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// dieOf ends the monitor by sig, so that the engine's wait sees the
// container's death as it was; a signal whose default is not to end a
// process gives 128+sig instead.
func dieOf(sig unix.Signal) int {
	signal.Reset(sig)
	syscall.Kill(os.Getpid(), sig)
	time.Sleep(100 * time.Millisecond)
	return 128 + int(sig)
}
