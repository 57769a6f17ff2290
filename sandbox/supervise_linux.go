package sandbox

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
)

// The supervisor enforces the limits the kernel cannot: CPU time of the
// whole sandbox, wall time, output, and on cgroup v1 memory with TCP
// buffers together (sockets_linux.go). Each ends the run the same way, by
// SIGKILL to PID 1 (the kernel then kills the whole pid namespace), after
// recording why, so that Wait gives the verdict of the limit rather than of
// the signal.

// kill ends the run for a limit. The first limit to fire names the verdict.
func (c *Container) kill(why Status, reason string) {
	c.killMu.Lock()
	if c.killedFor == "" {
		c.killedFor, c.killReason = why, reason
	}
	c.killMu.Unlock()
	c.init.kill()
}

func (c *Container) exceeded() {
	c.kill(StatusOutput, fmt.Sprintf("output limit %s exceeded; killed", bytesText(c.spec.Limits.OutputLimit)))
}

// supervise starts the timers and pollers the Spec's limits need.
func (c *Container) supervise() {
	l := c.spec.Limits
	if l.WallTime > 0 {
		t := time.AfterFunc(l.WallTime+l.ExtraTime, func() {
			c.kill(StatusTime, fmt.Sprintf("wall time limit %v exceeded; killed", l.WallTime))
		})
		go func() { <-c.waited; t.Stop() }()
	}
	if l.CPUTime > 0 {
		go c.watchCPU(l.CPUTime, l.CPUTime+l.ExtraTime)
	}
	if b, ok := c.cg.(limits.SocketBalancer); ok && l.Memory > 0 {
		go c.watchSockets(b, l.Memory)
	}
}

// watchCPU kills the run once the sandbox has used killAt of CPU time. It
// sleeps as long as the sandbox could not possibly reach the limit, running
// flat out on every CPU, and no less than a millisecond: so it reads the
// counter a handful of times per run and overshoots by at most a
// millisecond of each CPU (isolate polls every 100 ms, nsjail every second).
func (c *Container) watchCPU(limit, killAt time.Duration) {
	cpus := time.Duration(runtime.NumCPU())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-c.waited:
			return
		case <-timer.C:
		}
		used, err := c.cg.CPUUsage()
		if err != nil {
			return // the group is gone: the run is over
		}
		if used >= killAt {
			c.kill(StatusTime, fmt.Sprintf("CPU time limit %v exceeded (used %v); killed", limit, used.Round(time.Millisecond)))
			return
		}
		wait := (killAt - used) / cpus
		wait = max(wait, time.Millisecond)
		timer.Reset(wait)
	}
}

// outputGate counts what CMD writes to stdout and stderr and stops passing
// it on past the output limit, calling exceeded once.
type outputGate struct {
	limit    int64
	exceeded func()

	mu   sync.Mutex
	n    int64
	over bool
}

// newOutputGate returns nil when nothing needs counting: no output limit,
// and the caller's streams are files CMD can write to directly (the fast
// path: no copy at all).
func newOutputGate(s *Spec, exceeded func()) *outputGate {
	if s.Limits.OutputLimit == 0 && isFileOrNil(s.IO.Stdout) && isFileOrNil(s.IO.Stderr) {
		return nil
	}
	return &outputGate{limit: s.Limits.OutputLimit, exceeded: exceeded}
}

func isFileOrNil(w io.Writer) bool {
	if w == nil {
		return true
	}
	_, ok := w.(*os.File)
	return ok
}

func (g *outputGate) counting() bool { return g != nil }

func (g *outputGate) passed() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// writers wraps the caller's streams; a nil stream stays nil (/dev/null).
func (g *outputGate) writers(stdout, stderr io.Writer) (io.Writer, io.Writer) {
	if g == nil {
		return stdout, stderr
	}
	wrap := func(w io.Writer) io.Writer {
		if w == nil && g.limit == 0 {
			return nil
		}
		if w == nil {
			w = io.Discard // still counted: output to /dev/null counts too
		}
		return &gatedWriter{g: g, w: w}
	}
	return wrap(stdout), wrap(stderr)
}

type gatedWriter struct {
	g *outputGate
	w io.Writer
}

// Write passes on what fits under the limit and swallows the rest, so
// that the copy keeps draining the pipe until the killed sandbox closes it.
func (gw *gatedWriter) Write(p []byte) (int, error) {
	g := gw.g
	g.mu.Lock()
	allowed := int64(len(p))
	if g.limit > 0 {
		allowed = min(allowed, g.limit-g.n)
	}
	g.n += allowed
	tripped := !g.over && g.limit > 0 && allowed < int64(len(p))
	if tripped {
		g.over = true
	}
	g.mu.Unlock()
	if tripped {
		g.exceeded()
	}
	if allowed > 0 {
		if _, err := gw.w.Write(p[:allowed]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
