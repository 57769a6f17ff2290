package judge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// killMargin is how much sooner than a failed submission's end an
// interactor must end to count as first: more than the EOF of the
// submission's end takes to reach it.
const killMargin = 50 * time.Millisecond

// exitTime sends the moment process pid exits, or the zero time when that
// cannot be watched (no pidfd). The process must not be reaped before it
// is opened: the container's Wait reaps it, so call this before Wait.
func exitTime(pid int) <-chan time.Time {
	ch := make(chan time.Time, 1)
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		ch <- time.Time{}
		return ch
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				ch <- time.Time{}
				return
			}
			ch <- time.Now()
			return
		}
	}()
	return ch
}

// interact runs the submission and the interactor in two sandboxes, each
// one's stdout the other's stdin, and judges by Kattis's rules:
//
//   - the interactor exited first and said WA: WA, whatever the
//     submission then did (it typically dies of SIGPIPE or reads EOF);
//   - else the submission's own failure, if it had one (TLE, MLE, OLE,
//     RTE);
//   - else the interactor's verdict.
//
// A test where both sides wait for each other ends when the submission's
// wall-time limit kills it: TLE. The interactor gets the submission's
// limits plus InteractorMargin, so it outlives it.
func (j *Judge) interact(ctx context.Context, slot int, t *Test, prog *program, dir string, tr *TestResult) (*sandbox.Result, error) {
	toSubR, toSubW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making the pipes: %w", err)
	}
	toIntR, toIntW, err := os.Pipe()
	if err != nil {
		toSubR.Close()
		toSubW.Close()
		return nil, fmt.Errorf("making the pipes: %w", err)
	}
	pipes := []*os.File{toSubR, toSubW, toIntR, toIntW}
	closePipes := sync.OnceFunc(func() {
		for _, f := range pipes {
			f.Close()
		}
	})
	defer closePipes()

	sl := j.testLimits(slot, prog.lang)
	// What the submission writes goes to the interactor, not to the judge:
	// there is no output to cap, and stderr is thrown away.
	sl.OutputLimit = 0
	ss, err := j.spec(prog.run, prog.box, false, j.submissionUID(slot), sl, prog.lang.Env)
	if err != nil {
		return nil, err
	}
	ss.IO = sandbox.IO{Stdin: toSubR, Stdout: toIntW}

	ic := j.p.Interactor
	data := j.dataMounts(t)
	in, ans := data.path(t.Input), data.path(t.Answer)
	var args []string
	switch ic.Kind {
	case CheckKattis:
		args = append([]string{in, ans, "/judge/feedback/"}, ic.Args...)
	case CheckTestlib:
		args = []string{in, "/judge/out/tout"}
	}
	il := CheckerLimits.limits()
	il.CPUTime = j.p.Limits.Time + InteractorMargin
	il.WallTime = j.p.Limits.Wall + InteractorMargin
	// No output limit: it would put the runner's copy between the
	// interactor and the pipe, which must be the interactor's own.
	il.OutputLimit = 0
	is, err := j.checkerSpec(j.interactor, args, slot, dir, data, il)
	if err != nil {
		return nil, err
	}
	// A regular file for the interactor's stderr, so that its stdout stays
	// the pipe itself (no copy through the runner, no output gate).
	errPath := filepath.Join(dir, "interactor.stderr")
	ierr, err := os.Create(errPath)
	if err != nil {
		return nil, fmt.Errorf("creating the interactor's stderr: %w", err)
	}
	defer ierr.Close()
	is.IO = sandbox.IO{Stdin: toIntR, Stdout: toSubW, Stderr: ierr}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ic1, err := sandbox.Start(ctx, is)
	if err != nil {
		return nil, fmt.Errorf("starting the interactor: %w", err)
	}
	sc, err := sandbox.Start(ctx, ss)
	if err != nil {
		cancel()
		ic1.Wait()
		return nil, fmt.Errorf("starting the submission: %w", err)
	}
	// Only the sandboxes hold the pipes now: each side sees EOF when the
	// other ends.
	closePipes()
	// Which side ended first is read from the moments their PID 1s exited
	// (a pidfd turns readable then), not from when Wait returns: Wait's
	// teardown takes longer than the other side's reaction to the end.
	subEnd, intEnd := exitTime(sc.Pid()), exitTime(ic1.Pid())

	type ended struct {
		res *sandbox.Result
		err error
		at  time.Time
	}
	wait := func(c *sandbox.Container, ch chan<- ended) {
		res, err := c.Wait()
		ch <- ended{res, err, time.Now()}
	}
	subCh, intCh := make(chan ended, 1), make(chan ended, 1)
	go wait(sc, subCh)
	go wait(ic1, intCh)
	sub, inter := <-subCh, <-intCh
	if sub.err != nil {
		return nil, fmt.Errorf("running the submission: %w", sub.err)
	}
	if inter.err != nil {
		return nil, fmt.Errorf("running the interactor: %w", inter.err)
	}
	fill(tr, sub.res)
	tr.Interactor = runOf(inter.res)
	ierr.Close()
	stderr := readSmall(errPath)
	tr.Interactor.Output = stderr
	iv, msg, score := j.checkerVerdict(ic, inter.res, "", stderr, dir, t)
	se, ie := <-subEnd, <-intEnd
	if se.IsZero() || ie.IsZero() {
		se, ie = sub.at, inter.at
	}
	// A submission the runner killed for a limit, or one that died of a
	// signal of its own (an abort, a fault: not SIGPIPE, which the
	// interactor's end causes), ends when its PID 1 has reported and its
	// pid namespace has been emptied, after its pipes closed: an
	// interactor woken by that EOF can end before it. Such a submission
	// counts as first unless the interactor ended well before. (One that
	// exits non-zero after the interactor's end, on a broken pipe, did
	// not end first.)
	switch st := sub.res.Status; {
	case st == sandbox.StatusTime, st == sandbox.StatusMemory, st == sandbox.StatusOutput,
		st == sandbox.StatusSignal && sub.res.Signal != int(unix.SIGPIPE):
		se = se.Add(-killMargin)
	}
	// A submission killed by SIGPIPE wrote to a pipe whose only reader,
	// the interactor, had gone: the interactor ended first.
	interactorFirst := ie.Before(se) || (sub.res.Status == sandbox.StatusSignal && sub.res.Signal == int(unix.SIGPIPE))
	sv := fromStatus(sub.res.Status)
	switch {
	case interactorFirst && iv == WA:
		tr.Verdict = WA
	case sv != "":
		tr.Verdict = sv
		if sv == JE {
			msg = "the runner failed: " + sub.res.Message
		}
	default:
		tr.Verdict = iv
	}
	tr.CheckerMessage = strings.TrimSpace(msg)
	if tr.Verdict == AC {
		tr.Score = score
	}
	if tr.Verdict == iv && iv == AC && ic.Kind == CheckTestlib && j.checker != nil {
		// Polygon: the checker judges what the interactor wrote.
		if err := j.check(ctx, slot, t, dir, "tout", tr); err != nil {
			return nil, err
		}
	}
	return sub.res, nil
}
