package isolate

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// The sandbox hands a regular file to CMD behind a pipe (so that CMD
// cannot re-open the caller's file through /proc/self/fd), and a write to
// a pipe knows no RLIMIT_FSIZE. isolate's callers count on -f for output
// too: Judge0 reports "Runtime Error (SIGXFSZ)" for a program that writes
// more than max_file_size to its stdout. So with -f, an output that is a
// regular file is carried here, through a pipe of our own, and the limit
// applied as the kernel would: the file gets the bytes up to the limit,
// and the process that wrote past it gets SIGXFSZ.

// limitedOutput copies one pipe into one file under a size limit.
type limitedOutput struct {
	r, w    *os.File
	dst     *os.File
	limit   int64
	pos     int64
	pipeIno uint64
	pid1    chan int // the box's PID 1 on the host, once started
	done    chan struct{}
}

// outputs are the run's limited outputs; the zero value has none.
type outputs struct {
	list []*limitedOutput
	once sync.Once
}

// wrap puts a limited copy in front of stdout and stderr where they are
// regular files and a file size limit is set. Two streams into one file
// share one copy (--stderr-to-stdout).
func (o *outputs) wrap(s *sandbox.Spec) error {
	fsize := s.Limits.Rlimits.FSize
	if fsize == nil || fsize.Soft == 0 || fsize.Soft > uint64(1)<<62 {
		return nil
	}
	seen := map[*os.File]*os.File{}
	for _, p := range []*io.Writer{&s.IO.Stdout, &s.IO.Stderr} {
		f, ok := (*p).(*os.File)
		if !ok || f == nil {
			continue
		}
		if w, ok := seen[f]; ok {
			*p = w
			continue
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		lo, err := newLimitedOutput(f, int64(fsize.Soft))
		if err != nil {
			return err
		}
		o.list = append(o.list, lo)
		seen[f] = lo.w
		*p = lo.w
	}
	return nil
}

func newLimitedOutput(dst *os.File, limit int64) (*limitedOutput, error) {
	pos, err := dst.Seek(0, io.SeekCurrent)
	if err != nil {
		pos = 0
	}
	if fl, err := unix.FcntlInt(dst.Fd(), unix.F_GETFL, 0); err == nil && fl&unix.O_APPEND != 0 {
		if fi, err := dst.Stat(); err == nil {
			pos = fi.Size()
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making an output pipe: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(w.Fd()), &st); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("making an output pipe: %w", err)
	}
	lo := &limitedOutput{r: r, w: w, dst: dst, limit: limit, pos: pos, pipeIno: st.Ino,
		pid1: make(chan int, 1), done: make(chan struct{})}
	go lo.copy()
	return lo, nil
}

func (lo *limitedOutput) copy() {
	defer close(lo.done)
	buf := make([]byte, 64<<10)
	over := false
	for {
		n, err := lo.r.Read(buf)
		if n > 0 && !over {
			b := buf[:n]
			if room := lo.limit - lo.pos; int64(len(b)) > room {
				b, over = b[:max(room, 0)], true
			}
			if len(b) > 0 {
				m, _ := lo.dst.Write(b)
				lo.pos += int64(m)
			}
			if over {
				pid1 := <-lo.pid1
				signalWriters(pid1, lo.pipeIno, unix.SIGXFSZ)
			}
		}
		if err != nil {
			return
		}
	}
}

// started tells the copies the box's PID 1 and drops the runner's own
// write ends, which CMD now holds.
func (o *outputs) started(pid1 int) {
	for _, lo := range o.list {
		lo.pid1 <- pid1
		lo.w.Close()
	}
}

// finish waits for every copy to drain and closes the pipes.
func (o *outputs) finish() {
	o.once.Do(func() {
		for _, lo := range o.list {
			select {
			case lo.pid1 <- 0: // never started: no one to signal
			default:
			}
			lo.w.Close()
			<-lo.done
			lo.r.Close()
		}
	})
}

// signalWriters sends sig to the processes of the box under pid1 that hold
// the pipe and have no descendant holding it: the one that wrote, as far
// as can be told from outside (a shell waiting for the program it started
// holds the pipe too, but is not the writer).
func signalWriters(pid1 int, ino uint64, sig syscall.Signal) {
	target := "pipe:[" + strconv.FormatUint(ino, 10) + "]"
	var visit func(pid int) bool
	visit = func(pid int) bool {
		below := false
		for _, c := range children(pid) {
			if visit(c) {
				below = true
			}
		}
		holds := pid != pid1 && holdsFile(pid, target)
		if holds && !below {
			unix.Kill(pid, sig)
		}
		return holds || below
	}
	visit(pid1)
}

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func holdsFile(pid int, target string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == target {
			return true
		}
	}
	return false
}
