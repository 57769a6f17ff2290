package limits

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Group is a group on cgroup v1: one directory per hierarchy, all at the
// same path. containerd's cgroup1 creates it, through its controllers
// wrapped so that each file this package writes takes one open
// (direct_v1_linux.go, inherit_v1_linux.go); removal, kill and stats are
// done here, directly on the files, because cgroup1's walk-everything
// Delete and Stat cost more than the rest of a run's cgroup work and
// cgroup1's freeze waits without a bound.
type v1Group struct {
	path  string
	cg    cgroup1.Cgroup
	ctrls []string          // controllers the group is in, in creation order
	dirs  map[string]string // controller -> the group's directory in it
	usage *cpuReader
	// sockets is its TCP accounting (sockets_v1_linux.go); nil where the
	// kernel has none, or for a group Load found.
	sockets *socketAccount
}

// v1Controllers returns the v1 controllers a run needs (required: memory
// and cpuacct for accounting, the rest for its limits) and those it takes
// where mounted: freezer so that Kill can stop forks before killing,
// devices so that only the sandbox's own /dev can be opened, and blkio for
// the I/O weight. Each hierarchy costs 25-50us per run (mkdir,
// attach, rmdir), so blkio is not joined for I/O accounting alone: on v1 it
// misses buffered writes anyway (they are charged to the flusher threads).
func v1Controllers(l Limits) (required, optional []string) {
	required = []string{"memory", "cpuacct"}
	if l.Pids != nil {
		required = append(required, "pids")
	}
	if l.CPUs != nil {
		required = append(required, "cpu")
	}
	if l.Cpuset != "" {
		required = append(required, "cpuset")
	}
	optional = []string{"freezer", "devices"}
	if l.IOWeight != 0 {
		optional = append(optional, "blkio")
	}
	return required, optional
}

// sandboxDevices are the only devices a sandbox may open or create: those of
// its own minimal /dev (null, zero, full, random, urandom, tty, ptmx and its
// devpts). A host device node that reaches the sandbox some other way (a
// bind of /dev, a node in a --root tree) stays closed.
var sandboxDevices = [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {136, -1}}

// deviceRules is the devices cgroup's list: deny everything, then allow
// sandboxDevices (minor -1: all of the major).
func deviceRules() []specs.LinuxDeviceCgroup {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for _, d := range sandboxDevices {
		major := d[0]
		r := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Access: "rwm"}
		if d[1] >= 0 {
			minor := d[1]
			r.Minor = &minor
		}
		rules = append(rules, r)
	}
	return rules
}

func v1Subsystem(name, root string) cgroup1.Subsystem {
	switch name {
	case "memory":
		return directV1{cgroup1.NewMemory(root), memoryFiles}
	case "cpuacct":
		return simpleV1{cgroup1.NewCpuacct(root)}
	case "cpu":
		return directV1{cgroup1.NewCpu(root), cpuFiles}
	case "cpuset":
		return inheritedCpuset{cgroup1.NewCpuset(root)}
	case "pids":
		return directV1{cgroup1.NewPids(root), pidsFiles}
	case "blkio":
		return cgroup1.NewBlkio(root)
	case "freezer":
		return simpleV1{cgroup1.NewFreezer(root)}
	case "devices":
		return batchedDevices{cgroup1.NewDevices(root)}
	}
	panic("limits: unknown v1 controller " + name)
}

func newV1(h *hostCgroups, group string, l Limits) (_ *v1Group, retErr error) {
	required, optional := v1Controllers(l)
	var ctrls []string
	for _, c := range required {
		if _, ok := h.v1[c]; !ok {
			return nil, fmt.Errorf("cgroup v1 controller %s is not mounted: %w", c, ErrUnsupported)
		}
		ctrls = append(ctrls, c)
	}
	for _, c := range optional {
		if _, ok := h.v1[c]; ok {
			ctrls = append(ctrls, c)
		}
	}
	g := &v1Group{path: group, ctrls: ctrls, dirs: map[string]string{}}
	var subs []cgroup1.Subsystem
	for _, c := range ctrls {
		subs = append(subs, v1Subsystem(c, h.v1[c]))
		g.dirs[c] = filepath.Join(h.v1[c], c, group)
	}

	// Claim the id with an exclusive mkdir in the memory hierarchy, so that
	// two runs (or a run and a leftover) never share a group.
	mem := g.dirs["memory"]
	if err := os.MkdirAll(filepath.Dir(mem), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(mem), err)
	}
	if err := os.Mkdir(mem, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("claiming %s: %w", mem, ErrExists)
		}
		return nil, fmt.Errorf("claiming %s: %w", mem, err)
	}
	defer func() {
		if retErr != nil {
			for _, c := range slices.Backward(ctrls) {
				unix.Rmdir(g.dirs[c])
			}
		}
	}()

	res, err := v1Resources(h, l)
	if err == nil {
		err = failAt("claimed")
	}
	if err != nil {
		return nil, err
	}
	g.cg, err = cgroup1.New(cgroup1.StaticPath(group), res,
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err == nil {
		err = failAt("created")
	}
	if err != nil {
		return nil, fmt.Errorf("creating v1 groups (%s): %w", strings.Join(ctrls, ","), err)
	}
	if l.IOWeight != 0 {
		if d, ok := g.dirs["blkio"]; ok {
			if err := writeFirst(strconv.Itoa(l.IOWeight), filepath.Join(d, "blkio.weight"), filepath.Join(d, "blkio.bfq.weight")); err != nil {
				return nil, err
			}
		}
	}
	if g.sockets, err = accountSockets(g.dirs["memory"], l.Memory); err != nil {
		return nil, err
	}
	g.usage = newCPUReader(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"), false)
	return g, nil
}

// testFail lets tests make group creation fail at a named point (ENOMEM,
// which the kernel gives when it cannot allocate a group, is hard to get
// for real): "claimed" (the memory directory exists), "created" (every
// hierarchy has the group and its limits).
var testFail func(point string) error

func failAt(point string) error {
	if testFail != nil {
		return testFail(point)
	}
	return nil
}

// v1Resources translates l into the runtime-spec resources cgroup1 writes.
func v1Resources(h *hostCgroups, l Limits) (*specs.LinuxResources, error) {
	var res specs.LinuxResources
	if _, ok := h.v1["devices"]; ok {
		res.Devices = deviceRules()
	}
	if l.Memory > 0 {
		m := l.Memory
		res.Memory = &specs.LinuxMemory{Limit: &m}
		if h.memsw {
			// memory+swap = memory: no swap at all. cgroup1 writes the memory
			// limit first, as the kernel wants memsw >= memory at all times.
			sw := m
			res.Memory.Swap = &sw
		}
	}
	if l.Pids != nil {
		n := *l.Pids
		res.Pids = &specs.LinuxPids{Limit: &n}
	}
	if l.CPUs != nil {
		quota, period := cfsQuota(*l.CPUs), uint64(cfsPeriodUS)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if l.Cpuset != "" {
		cpus, err := ParseCpuset(l.Cpuset)
		if err != nil {
			return nil, err
		}
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		res.CPU.Cpus = cpus
	}
	return &res, nil
}

func cfsQuota(cpus float64) int64 {
	return int64(math.Round(cpus * cfsPeriodUS))
}

// writeFirst writes value to the first of files that exists, and to none
// if none does: for knobs whose name depends on the I/O scheduler.
func writeFirst(value string, files ...string) error {
	for _, f := range files {
		if exists(f) {
			if err := writeControl(f, value); err != nil {
				return fmt.Errorf("writing %s: %w", f, err)
			}
			return nil
		}
	}
	return nil
}

func loadV1(h *hostCgroups, group string) (*v1Group, error) {
	g := &v1Group{path: group, dirs: map[string]string{}}
	var subs []cgroup1.Subsystem
	for _, c := range v1Known {
		root, ok := h.v1[c]
		if !ok || !isDir(filepath.Join(root, c, group)) {
			continue
		}
		g.ctrls = append(g.ctrls, c)
		g.dirs[c] = filepath.Join(root, c, group)
		subs = append(subs, v1Subsystem(c, root))
	}
	if len(subs) == 0 {
		return nil, ErrNotFound
	}
	var err error
	g.cg, err = cgroup1.Load(cgroup1.StaticPath(group),
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	g.usage = newCPUReader(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"), false)
	return g, nil
}

func (g *v1Group) Version() int { return 1 }

func (g *v1Group) Path() string { return g.path }

func (g *v1Group) Attach(pid int) error {
	if err := g.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("attaching pid %d to cgroup %s: %w", pid, g.path, err)
	}
	return nil
}

func (g *v1Group) OpenTasks() ([]*os.File, error) {
	var files []*os.File
	for _, c := range g.ctrls {
		fd, err := openTasks(g.dirs[c])
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("opening the tasks files of cgroup %s: %w", g.path, err)
		}
		files = append(files, os.NewFile(uintptr(fd), filepath.Join(g.dirs[c], "tasks")))
	}
	return files, nil
}

func (g *v1Group) OpenParentTasks() ([]*os.File, error) {
	if filepath.Dir(g.path) == "/" {
		return nil, nil
	}
	var files []*os.File
	for _, c := range g.ctrls {
		dir := filepath.Dir(g.dirs[c])
		fd, err := openTasks(dir)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("opening the tasks files of the parent of cgroup %s: %w", g.path, err)
		}
		files = append(files, os.NewFile(uintptr(fd), filepath.Join(dir, "tasks")))
	}
	return files, nil
}

// openTasks opens the tasks file of the v1 group at dir: "0" written there
// moves the writer's own thread, the one case the kernel migrates without
// cgroup_threadgroup_rwsem.
func openTasks(dir string) (int, error) {
	return unix.Open(filepath.Join(dir, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
}

func (g *v1Group) OpenFD() (int, error) {
	return -1, fmt.Errorf("opening cgroup %s: CLONE_INTO_CGROUP needs cgroup v2: %w", g.path, ErrUnsupported)
}

func (g *v1Group) CPUUsage() (time.Duration, error) {
	if _, ok := g.dirs["cpuacct"]; !ok {
		return 0, fmt.Errorf("reading CPU usage of %s: no cpuacct group: %w", g.path, ErrUnsupported)
	}
	return g.usage.read()
}

func (g *v1Group) Stats() (*Stats, error) {
	if !slices.ContainsFunc(g.ctrls, func(c string) bool { return exists(g.dirs[c]) }) {
		return nil, fmt.Errorf("reading stats of cgroup %s: %w", g.path, ErrNotFound)
	}
	s, err := statsV1(g.dirs)
	if err != nil {
		return nil, fmt.Errorf("reading stats of cgroup %s: %w", g.path, err)
	}
	return s, nil
}

// Kill freezes the group so that nothing forks while the pids are read,
// SIGKILLs every pid, and thaws so they can die (frozen v1 tasks do not
// act on SIGKILL), until the group is empty.
func (g *v1Group) Kill() error {
	// Any hierarchy lists the same processes; freezer's directory is the
	// smallest to scan for child groups.
	dir, ok := g.dirs["freezer"]
	if !ok {
		dir = g.dirs[g.ctrls[0]]
	}
	freezer, hasFreezer := g.dirs["freezer"]
	kill := func(pids []int) {
		if hasFreezer && setFreezer(freezer, "FROZEN") {
			if p, err := readProcs(dir); err == nil {
				pids = p
			}
		}
		sigkillAll(pids)
		if hasFreezer {
			setFreezer(freezer, "THAWED")
		}
	}
	if err := drain(func() ([]int, error) { return readProcs(dir) }, kill, killBounds, procExiting); err != nil {
		return fmt.Errorf("killing cgroup %s: %w", g.path, err)
	}
	return nil
}

// setFreezer asks for a freezer state and waits (boundedly: a task in
// uninterruptible sleep can keep a group FREEZING) until it holds.
func setFreezer(dir, state string) bool {
	f := filepath.Join(dir, "freezer.state")
	if err := writeControl(f, state); err != nil {
		return false
	}
	return waitFor(100*time.Millisecond, func() bool {
		b, err := readControl(f)
		return err == nil && strings.TrimSpace(string(b)) == state
	})
}

func (g *v1Group) Delete() error {
	g.usage.close()
	g.sockets.close()
	var errs []error
	for _, c := range slices.Backward(g.ctrls) {
		if err := rmdirTree(g.dirs[c]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("deleting cgroup %s: %w", g.path, err)
	}
	return nil
}
