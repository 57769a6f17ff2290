package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// memory measures what an idle sandbox costs in memory, with cfg.Idle of
// them alive at once: the runner's and the init process's resident set
// (RSS) and proportional set (PSS, shared pages divided among the
// processes sharing them: the fair cost of one of many), per sandbox; and
// the fall of the host's MemAvailable per sandbox, which also counts the
// kernel's share (namespaces, mounts, the idle command).
func (s *suite) memory(ctx context.Context, p plan) ([]*Result, error) {
	var results []*Result
	for _, b := range []struct {
		name, note string
		run        func(ctx context.Context) (memSample, error)
	}{
		{bSandbox, fmt.Sprintf("%d `sandbox exec -- sleep` runners alive at once; runner + init per sandbox", s.cfg.Idle), s.idleCLI},
		{bAPI, fmt.Sprintf("%d sandbox.Start containers in the benchmark's process; its growth shared among them, + init", s.cfg.Idle), s.idleAPI},
	} {
		if !s.cfg.wantsBackend(b.name) {
			continue
		}
		s.prog.Phase(p.scenario, fmt.Sprintf("starting %d idle sandboxes (%s)", s.cfg.Idle, b.name))
		pss := result(ScenarioMemory, "", b.name, "pss", "MiB", Lower)
		rss := result(ScenarioMemory, "", b.name, "rss", "MiB", Lower)
		host := result(ScenarioMemory, "", b.name, "host", "MiB", Lower)
		for _, r := range []*Result{pss, rss, host} {
			r.Note, r.Sandbox = b.note, bSandbox
		}
		host.Note += "; MemAvailable's fall / sandboxes (kernel and the idle command included)"
		results = append(results, pss, rss, host)
		m, err := b.run(ctx)
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		if err != nil {
			for _, r := range []*Result{pss, rss, host} {
				skipOrFail(r, err)
			}
			continue
		}
		pss.Samples, rss.Samples, host.Samples = m.pss, m.rss, []float64{m.host}
	}
	return results, nil
}

// memSample is one memory measurement: per-sandbox PSS and RSS in MiB,
// and the host's MemAvailable fall per sandbox.
type memSample struct {
	pss, rss []float64
	host     float64
}

// idleCLI starts cfg.Idle `sandbox exec -- sleep` runners, waits until
// every sleep runs, and measures runner + init of each.
func (s *suite) idleCLI(ctx context.Context) (memSample, error) {
	var m memSample
	settle()
	before, err := memAvailable()
	if err != nil {
		return m, err
	}
	cmds := make([]*exec.Cmd, 0, s.cfg.Idle)
	errs := make([]*tailBuffer, 0, s.cfg.Idle)
	defer func() {
		for _, c := range cmds {
			c.Process.Signal(unix.SIGTERM) // forwarded to sleep: the runner then cleans up
		}
		for _, c := range cmds {
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	}()
	for i := 0; i < s.cfg.Idle; i++ {
		cmd := exec.Command(s.cfg.Sandbox, s.sandboxArgs("--", "sleep", "3600")...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
		errb := &tailBuffer{}
		cmd.Stderr = errb
		if err := cmd.Start(); err != nil {
			return m, fmt.Errorf("starting sandbox %d: %w", i+1, err)
		}
		cmds, errs = append(cmds, cmd), append(errs, errb)
	}
	pids := make([]int, len(cmds))
	for i, c := range cmds {
		pids[i] = c.Process.Pid
	}
	inits, err := waitIdle(ctx, pids, 60*time.Second)
	if err != nil {
		// Say why, if a runner ended.
		time.Sleep(500 * time.Millisecond)
		for i, c := range cmds {
			var ws unix.WaitStatus
			if pid, _ := unix.Wait4(c.Process.Pid, &ws, unix.WNOHANG, nil); pid > 0 {
				c.Process.Release()
				return m, fmt.Errorf("%w: sandbox %d ended (%s): %s", err, i+1, waitText(ws), strings.TrimSpace(errs[i].String()))
			}
		}
		for i, e := range errs {
			if msg := strings.TrimSpace(e.String()); msg != "" {
				return m, fmt.Errorf("%w; sandbox %d said: %s", err, i+1, msg)
			}
		}
		return m, err
	}
	settle()
	after, err := memAvailable()
	if err != nil {
		return m, err
	}
	for i, pid := range pids {
		p1, r1, err := procMem(pid)
		if err != nil {
			return m, err
		}
		p2, r2, err := procMem(inits[i])
		if err != nil {
			return m, err
		}
		m.pss = append(m.pss, mib(p1+p2))
		m.rss = append(m.rss, mib(r1+r2))
	}
	m.host = mib(before-after) / float64(len(pids))
	return m, nil
}

// idleAPI starts cfg.Idle containers in this process with sandbox.Start:
// the process's own growth is shared among them.
func (s *suite) idleAPI(ctx context.Context) (memSample, error) {
	var m memSample
	settle()
	before, err := memAvailable()
	if err != nil {
		return m, err
	}
	selfPSS0, selfRSS0, err := procMem(os.Getpid())
	if err != nil {
		return m, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var cs []*sandbox.Container
	defer func() {
		cancel() // kills every container
		for _, c := range cs {
			c.Wait()
		}
	}()
	for i := 0; i < s.cfg.Idle; i++ {
		c, err := sandbox.Start(ctx, s.apiSpec([]string{"sleep", "3600"}))
		if err != nil {
			return m, fmt.Errorf("starting sandbox %d: %w", i+1, err)
		}
		cs = append(cs, c)
	}
	inits := make([]int, len(cs))
	for i, c := range cs {
		inits[i] = c.Pid()
	}
	// The containers' pids are their init processes.
	if err := waitSleeping(ctx, inits, time.Now().Add(60*time.Second)); err != nil {
		return m, err
	}
	settle()
	after, err := memAvailable()
	if err != nil {
		return m, err
	}
	selfPSS, selfRSS, err := procMem(os.Getpid())
	if err != nil {
		return m, err
	}
	n := float64(len(cs))
	sharePSS, shareRSS := float64(max(selfPSS-selfPSS0, 0))/n, float64(max(selfRSS-selfRSS0, 0))/n
	for _, pid := range inits {
		p, r, err := procMem(pid)
		if err != nil {
			return m, err
		}
		m.pss = append(m.pss, (float64(p)+sharePSS)/(1<<20))
		m.rss = append(m.rss, (float64(r)+shareRSS)/(1<<20))
	}
	m.host = mib(before-after) / n
	return m, nil
}

// waitIdle waits until each runner in pids has an init child (a child in
// a pid namespace of its own) whose child runs sleep, and returns the init
// pids. The runner may start other, short-lived, children first, in pid
// namespaces of their own too: a spare PID 1 its zygote cloned ahead,
// which is dropped when it does not fit the run. So an init is the one
// whose child runs sleep.
func waitIdle(ctx context.Context, runners []int, timeout time.Duration) ([]int, error) {
	deadline := time.Now().Add(timeout)
	inits := make([]int, len(runners))
	for i, pid := range runners {
		init, err := waitChild(ctx, pid, deadline, func(c int) bool {
			return !samePidNS(c) && slices.ContainsFunc(children(c), func(g int) bool { return comm(g) == "sleep" })
		})
		if err != nil {
			return nil, err
		}
		inits[i] = init
	}
	return inits, nil
}

// waitSleeping waits until each init has a child that runs sleep.
func waitSleeping(ctx context.Context, inits []int, deadline time.Time) error {
	for _, pid := range inits {
		if _, err := waitChild(ctx, pid, deadline, func(c int) bool { return comm(c) == "sleep" }); err != nil {
			return err
		}
	}
	return nil
}

// waitChild waits until pid has a child for which ok holds, and returns it.
func waitChild(ctx context.Context, pid int, deadline time.Time, ok func(child int) bool) (int, error) {
	var child int
	err := poll(ctx, deadline, func() (bool, error) {
		for _, c := range children(pid) {
			if ok(c) {
				child = c
				return true, nil
			}
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return false, fmt.Errorf("process %d ended", pid)
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("waiting for a child of process %d: %w", pid, err)
	}
	return child, nil
}

// samePidNS reports whether pid is in this process's pid namespace.
func samePidNS(pid int) bool {
	a, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	b, err2 := os.Readlink("/proc/self/ns/pid")
	return err1 == nil && err2 == nil && a == b
}

// poll calls cond every 5 ms until it is true, fails, or the deadline.
func poll(ctx context.Context, deadline time.Time, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// children lists a process's children, from every one of its threads.
func children(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
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

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// procMem returns a process's PSS and RSS in bytes, from smaps_rollup.
func procMem(pid int) (pss, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading memory of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Pss":
			pss = kb << 10
		case "Rss":
			rss = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("reading memory of process %d: %w", pid, errors.New("no Rss in smaps_rollup"))
	}
	return pss, rss, sc.Err()
}

// memAvailable returns /proc/meminfo's MemAvailable in bytes.
func memAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no MemAvailable in /proc/meminfo")
}

// settle lets freed memory and RCU-deferred kernel objects go before a
// MemAvailable reading.
func settle() { time.Sleep(300 * time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}
