package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

// limitNeeds are the cgroup controllers behind each cgroup-enforced limit,
// with its flag, for refusals.
var limitNeeds = []struct {
	key, flag, controller string
	asked                 func(limits.Limits) bool
}{
	{"memory_bytes", "memory", "memory", func(l limits.Limits) bool { return l.Memory > 0 }},
	{"pids", "pids", "pids", func(l limits.Limits) bool { return l.Pids != nil }},
	{"cpus", "cpus", "cpu", func(l limits.Limits) bool { return l.CPUs != nil }},
	{"cpuset", "cpuset", "cpuset", func(l limits.Limits) bool { return l.Cpuset != "" }},
	{"io_weight", "io-weight", "io", func(l limits.Limits) bool { return l.IOWeight != 0 }},
}

// delegationHelp is how a user gets a delegated cgroup v2 subtree.
const delegationHelp = "on a systemd host, boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate the controller to user sessions (a drop-in /etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu cpuset io memory pids), then log in again; without systemd, have root make a v2 group for the user (mkdir, enable the controller in the parent's cgroup.subtree_control, chown the directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads to the user) and start from a leaf below it; or run as root"

// rootlessCgroup makes the group of a rootless run: in the caller's
// delegated v2 subtree where there is one, else none (nil). A limit that
// needs a controller the caller does not have is refused, naming it, why,
// and the fix: never silently unenforced.
func rootlessCgroup(id string, l limits.Limits) (limits.Cgroup, error) {
	d, derr := limits.FindDelegation()
	for _, n := range limitNeeds {
		if !n.asked(l) {
			continue
		}
		switch {
		case derr != nil:
			return nil, fmt.Errorf("%w: --%s: needs the cgroup %s controller, and the caller has no delegated cgroup v2 subtree (%v): rootless, there is no other honest way to enforce it; %s",
				ErrUnsupported, n.flag, n.controller, derr, delegationHelp)
		case !d.Has(n.controller):
			return nil, fmt.Errorf("%w: --%s: needs the cgroup %s controller, which the delegated group %s does not give (it has: %s); %s",
				ErrUnsupported, n.flag, n.controller, d.Top, strings.Join(d.Controllers, " "), delegationHelp)
		}
	}
	if derr != nil {
		return nil, nil
	}
	cg, err := limits.NewDelegated(d, id, l)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup: %w", err)
	}
	return cg, nil
}

// checkRootlessRlimits refuses rlimits a rootless run cannot have: raising a
// hard limit above the caller's needs CAP_SYS_RESOURCE on the host.
func checkRootlessRlimits(r limits.Rlimits) error {
	for _, s := range r.Settings() {
		var cur unix.Rlimit
		if err := unix.Getrlimit(s.Resource, &cur); err != nil {
			continue
		}
		if s.Limit.Max > cur.Max {
			return fmt.Errorf("%w: --rlimit-%s: hard limit %s is above the caller's %s: raising a hard limit needs CAP_SYS_RESOURCE (root); ask for at most %s, or raise the caller's limit (ulimit -H, /etc/security/limits.conf)",
				ErrUnsupported, s.Name, rlimitText(s.Limit.Max), rlimitText(cur.Max), rlimitText(cur.Max))
		}
	}
	return nil
}

func rlimitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// noCgroup stands in for the group of a rootless run where the caller has
// no delegated subtree. The sandbox is PID 1's pid namespace: killing PID 1
// kills it all. CPU time comes from /proc while it runs (every live process
// descended from PID 1, plus what they reaped) and from PID 1's rusage at
// the end (see account).
type noCgroup struct {
	pid int // PID 1, once started

	mu        sync.Mutex
	user, sys time.Duration // the most seen by CPUUsage
}

var errNoCgroup = errors.New("no cgroup (rootless run without a delegated cgroup v2 subtree)")

func (g *noCgroup) Version() int         { return 0 }
func (g *noCgroup) Path() string         { return "" }
func (g *noCgroup) Attach(int) error     { return fmt.Errorf("attaching: %w", errNoCgroup) }
func (g *noCgroup) OpenFD() (int, error) { return -1, fmt.Errorf("opening: %w", errNoCgroup) }
func (g *noCgroup) OpenTasks() ([]*os.File, error) {
	return nil, fmt.Errorf("opening: %w", errNoCgroup)
}
func (g *noCgroup) OpenParentTasks() ([]*os.File, error) { return nil, nil }
func (g *noCgroup) Stats() (*limits.Stats, error)        { return nil, errNoCgroup }
func (g *noCgroup) Delete() error                        { return nil }

func (g *noCgroup) Kill() error {
	if g.pid > 0 {
		unix.Kill(g.pid, unix.SIGKILL)
	}
	return nil
}

// CPUUsage sums utime, stime, cutime and cstime of PID 1 and every process
// below it, from /proc/PID/stat (the kernel has no children lists in /proc
// here, so every process's parent is read). A child reaped by a process
// that ignores SIGCHLD takes its time with it: the kernel adds a child's
// time to its parent's only when the parent waits for it.
func (g *noCgroup) CPUUsage() (time.Duration, error) {
	if g.pid <= 0 {
		return 0, nil
	}
	user, sys, err := g.scan()
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.user, g.sys = max(g.user, user), max(g.sys, sys)
	return user + sys, nil
}

// seen is the most CPU time CPUUsage saw: a SIGKILLed PID 1 reaps nothing,
// so the time of what it had not reaped is in no rusage. The CPU time
// watcher reads just before it kills; a run killed for its wall time or
// output without a CPU time limit reports what was reaped (a scan of /proc
// before every kill cost about 10 ms here).
func (g *noCgroup) seen() (user, sys time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.user, g.sys
}

func (g *noCgroup) scan() (user, sys time.Duration, err error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, fmt.Errorf("reading /proc: %w", err)
	}
	type proc struct {
		ppid      int
		user, sys int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, user, sys, ok := procStat(pid); ok {
			procs[pid] = proc{ppid, user, sys}
		}
	}
	if _, ok := procs[g.pid]; !ok {
		return 0, 0, fmt.Errorf("reading PID 1's stat: %w", unix.ESRCH)
	}
	in := map[int]bool{g.pid: true}
	var inside func(pid int) bool
	inside = func(pid int) bool {
		if v, ok := in[pid]; ok {
			return v
		}
		in[pid] = false // cycles cannot happen, but a pid reused meanwhile could
		p, ok := procs[pid]
		v := ok && p.ppid > 1 && inside(p.ppid)
		in[pid] = v
		return v
	}
	var u, s int64
	for pid, p := range procs {
		if inside(pid) {
			u, s = u+p.user, s+p.sys
		}
	}
	const tick = time.Second / 100 // USER_HZ
	return time.Duration(u) * tick, time.Duration(s) * tick, nil
}

// procStat reads ppid, utime+cutime and stime+cstime (clock ticks) of pid.
func procStat(pid int) (ppid int, user, sys int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return ppid, n(11) + n(13), n(12) + n(14), true // utime+cutime, stime+cstime
}

// rusageAccount fills in CPU and memory from PID 1's rusage, which covers
// every process it and its descendants waited for, when no cgroup counted.
func rusageAccount(res *Result, ru *syscall.Rusage, cg limits.Cgroup) {
	user := time.Duration(ru.Utime.Nano())
	sys := time.Duration(ru.Stime.Nano())
	if g, ok := cg.(*noCgroup); ok {
		if u, s := g.seen(); u+s > user+sys {
			user, sys = u, s
		}
	}
	res.CPU, res.CPUUser, res.CPUSys = user+sys, user, sys
	// The largest resident set of one process: a lower bound of the
	// sandbox's peak, as no cgroup summed them.
	res.MemoryPeak = ru.Maxrss * 1024
}
