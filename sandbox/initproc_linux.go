package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// initProc is PID 1 as the runner holds it: the process the zygote made
// (stage.StartSpawn), and the pipes that carry CMD's stdio where the caller's
// streams are not files, as os/exec's Cmd would make them.
type initProc struct {
	pid      int
	pidfd    *os.File        // pollable: Wait parks on the runtime's poller, not in a blocking syscall
	state    *procState      // once reaped
	spawning *stage.Spawning // between begin and finish
	built    bool            // a spare that built the container ahead (stage.AheadOfNext)
	// handedOff: PID 1 is our parent's child, not ours (stage.HandsOff).
	// We see its end through the pidfd, but its parent reaps it: its
	// state has neither wait status nor rusage.
	handedOff bool

	childEnds  []*os.File // closed once PID 1 has them
	parentEnds []*os.File // closed after Wait
	copies     sync.WaitGroup
	copyErr    error
	copyMu     sync.Mutex
	copyFuncs  []func() error
}

// initWaitDelay bounds how long Wait waits for CMD's output to drain once
// every process of the sandbox is gone: a caller's Stdin reader that never
// returns, or a stream some host process still holds, must not hold it.
const initWaitDelay = 2 * time.Second

var errWaitDelay = errors.New("stdio still open after the sandbox ended")

// stdio gives PID 1's descriptors 0, 1 and 2 for the caller's streams.
func (ip *initProc) stdio(in io.Reader, out, errw io.Writer) ([]*os.File, error) {
	stdin, err := ip.reader(in)
	if err != nil {
		return nil, err
	}
	stdout, err := ip.writer(out)
	if err != nil {
		return nil, err
	}
	stderr := stdout
	if errw != out || out == nil {
		if stderr, err = ip.writer(errw); err != nil {
			return nil, err
		}
	}
	return []*os.File{stdin, stdout, stderr}, nil
}

func (ip *initProc) devNull(flag int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return nil, err
	}
	ip.childEnds = append(ip.childEnds, f)
	return f, nil
}

func (ip *initProc) reader(r io.Reader) (*os.File, error) {
	if r == nil {
		return ip.devNull(os.O_RDONLY)
	}
	if f, ok := r.(*os.File); ok {
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ip.childEnds = append(ip.childEnds, pr)
	ip.parentEnds = append(ip.parentEnds, pw)
	ip.copyFuncs = append(ip.copyFuncs, func() error {
		_, err := io.Copy(pw, r)
		// CMD may stop reading long before the caller's input ends.
		if errors.Is(err, os.ErrClosed) || isEPIPE(err) {
			err = nil
		}
		if cerr := pw.Close(); err == nil && !errors.Is(cerr, os.ErrClosed) {
			err = cerr
		}
		return err
	})
	return pr, nil
}

func (ip *initProc) writer(w io.Writer) (*os.File, error) {
	if w == nil {
		return ip.devNull(os.O_WRONLY)
	}
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ip.childEnds = append(ip.childEnds, pw)
	ip.parentEnds = append(ip.parentEnds, pr)
	ip.copyFuncs = append(ip.copyFuncs, func() error {
		_, err := io.Copy(w, pr)
		pr.Close()
		return err
	})
	return pw, nil
}

// start has the zygote make PID 1 with req (its Files after the three of
// stdio), then starts the copies: begin, then finish.
func (ip *initProc) start(req stage.SpawnRequest, in io.Reader, out, errw io.Writer) error {
	if err := ip.begin(req, in, out, errw); err != nil {
		return err
	}
	return ip.finish()
}

// begin asks the zygote for PID 1 and returns while it clones; finish must
// follow, with req's descriptors still open.
func (ip *initProc) begin(req stage.SpawnRequest, in io.Reader, out, errw io.Writer) error {
	std, err := ip.stdio(in, out, errw)
	if err != nil {
		ip.closeEnds()
		return err
	}
	req.Files = append(std, req.Files...)
	ip.spawning = stage.StartSpawn(req)
	return nil
}

// finish has the zygote's answer, and starts the copies.
func (ip *initProc) finish() error {
	pid, err := ip.spawning.Wait()
	ip.built = ip.spawning.Built
	ip.spawning = nil
	if err == nil {
		// PID 1 is unreaped (our child, or handed off to a parent
		// that reaps it only after it has run): its pid cannot be
		// reused.
		ip.pid = pid
		var fd int
		if fd, err = unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
			ip.pidfd = os.NewFile(uintptr(fd), "pidfd")
		} else {
			err = fmt.Errorf("opening init's pidfd: %w", err)
			unix.Kill(pid, unix.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}
	if err != nil {
		ip.closeEnds()
		return err
	}
	for _, f := range ip.childEnds {
		f.Close()
	}
	for _, f := range ip.copyFuncs {
		ip.copies.Add(1)
		go func() {
			defer ip.copies.Done()
			if err := f(); err != nil {
				ip.copyMu.Lock()
				if ip.copyErr == nil {
					ip.copyErr = err
				}
				ip.copyMu.Unlock()
			}
		}()
	}
	return nil
}

// abandon ends a PID 1 that Start gives up on, begun or finished.
func (ip *initProc) abandon() {
	if ip.spawning != nil {
		if err := ip.finish(); err != nil {
			return
		}
	}
	if ip.pidfd != nil {
		ip.kill()
		ip.wait()
	}
}

func (ip *initProc) closeEnds() {
	for _, f := range ip.childEnds {
		f.Close()
	}
	for _, f := range ip.parentEnds {
		f.Close()
	}
}

// procState is how PID 1 ended, and what it and its reaped descendants
// used; unknown for a PID 1 handed off, which its parent reaps.
type procState struct {
	ws      syscall.WaitStatus
	ru      syscall.Rusage
	unknown bool
}

func (st *procState) String() string {
	switch {
	case st.ws.Signaled():
		return "signal: " + unix.SignalName(st.ws.Signal())
	default:
		return fmt.Sprintf("exit status %d", st.ws.ExitStatus())
	}
}

// signal sends sig to PID 1 through its pidfd; after wait it is gone.
func (ip *initProc) signal(sig syscall.Signal) error {
	if ip.state != nil {
		return os.ErrProcessDone
	}
	rc, err := ip.pidfd.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	return serr
}

func (ip *initProc) kill() { ip.signal(unix.SIGKILL) }

// reap waits for PID 1 to end, parked on the poller until its pidfd is
// readable (a blocking wait would hold a thread in the kernel, and the Go
// scheduler's monitor would keep waking to look at it), then reaps it.
func (ip *initProc) reap() (*procState, error) {
	rc, err := ip.pidfd.SyscallConn()
	if err != nil {
		return nil, err
	}
	st := &procState{unknown: ip.handedOff}
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		if ip.handedOff {
			// Readable once it has exited.
			pf := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pf, 0)
			if err != nil && err != unix.EINTR {
				werr = err
				return true
			}
			return n > 0
		}
		for {
			pid, err := syscall.Wait4(ip.pid, &st.ws, syscall.WNOHANG, &st.ru)
			switch {
			case err == syscall.EINTR:
				continue
			case err != nil:
				werr = err
				return true
			case pid == ip.pid:
				return true
			}
			return false // not yet: wait until the pidfd says
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for init: %w", err)
	}
	return st, nil
}

// wait waits for PID 1, then (at most initWaitDelay) for its output.
func (ip *initProc) wait() error {
	state, err := ip.reap()
	ip.state = state
	ip.pidfd.Close()
	done := make(chan struct{})
	go func() { ip.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(initWaitDelay):
		for _, f := range ip.parentEnds {
			f.Close()
		}
		if err == nil {
			err = errWaitDelay
		}
	}
	if err != nil {
		return err
	}
	ip.copyMu.Lock()
	defer ip.copyMu.Unlock()
	if ip.copyErr != nil {
		return ip.copyErr
	}
	if state.ws != 0 && !state.unknown {
		return &exitError{state}
	}
	return nil
}

// exitError is PID 1's unsuccessful end, worded as os/exec words it.
type exitError struct{ *procState }

func (e *exitError) Error() string { return e.procState.String() }

func isEPIPE(err error) bool { return errors.Is(err, syscall.EPIPE) }
