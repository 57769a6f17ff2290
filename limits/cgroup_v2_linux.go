package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v2fs is where a v2 hierarchy lives and how to make a directory in it:
// tests pass a temp dir and a mkdir that plays the kernel, creating the
// interface files a real cgroup2 mkdir would.
type v2fs struct {
	mount string
	mkdir func(path string) error
	// devices confines the group at dir to sandboxDevices: attachDevices
	// on a real hierarchy; a fake's records the call.
	devices func(dir string) error
	// For a Delegation: the controllers it gives (instead of the root's),
	// the group below which directories are ours to make, and the
	// controllers accounting takes where given (instead of v2Optional,
	// memory among them: a delegation may lack it).
	avail    []string
	from     string
	optional []string
}

// attachDevices attaches to the group at dir a BPF_CGROUP_DEVICE program
// allowing only sandboxDevices: cgroup v2 has no devices controller, and
// without it a device node that reaches the sandbox (a node in a --root
// tree, mknod under --cap-add MKNOD) opens the host's disk or memory.
// Found by vmtest on Linux 6.1 and 6.12 (TestHostile/device-node and
// device-in-root). A kernel or a host that refuses the program refuses
// the run: the filter is a confinement, not a hint.
func attachDevices(dir string) error {
	insts, license, err := cgroup2.DeviceFilter(v2DeviceRules())
	if err != nil {
		return fmt.Errorf("assembling the device filter: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer unix.Close(fd)
	// Loaded and attached here, not with cgroup2.LoadAttachCgroupDeviceFilter,
	// which leaves the program's descriptor to a finalizer: a runner
	// leaked one per run until the GC came (TestNothingLeaks in vmtest's
	// guests). Attached, the program lives as long as the group.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insts, License: license})
	if err != nil {
		return fmt.Errorf("loading the device filter (a BPF_CGROUP_DEVICE program, Linux 4.15+ with CONFIG_CGROUP_BPF): %w", err)
	}
	defer prog.Close()
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attaching the device filter to %s: %w", dir, err)
	}
	return nil
}

// v2Group is a group on cgroup v2: one directory. containerd's cgroup2
// enables controllers, writes limits, attaches and deletes; CPUUsage, Stats
// and Kill read and write the files directly (see v1Group for why).
type v2Group struct {
	path  string // group path below the mount, e.g. /sandbox/<id>
	dir   string
	m     *cgroup2.Manager
	usage *cpuReader
}

// v2Optional are controllers taken where the v2 root has them, for
// accounting: pids.peak and io.stat.
var v2Optional = []string{"pids", "io"}

func newV2(fsys v2fs, group string, l Limits) (_ *v2Group, retErr error) {
	avail, enable, optional := fsys.avail, v2Required(l), v2Optional
	where := "at its root"
	if fsys.from == "" {
		// A failed read is that error, never "no controllers": out of
		// descriptors, a runner would otherwise refuse with ErrUnsupported.
		var err error
		if avail, err = readFieldsErr(filepath.Join(fsys.mount, "cgroup.controllers")); err != nil {
			return nil, fmt.Errorf("reading the v2 root's controllers: %w", err)
		}
	} else {
		enable, optional, where = v2Asked(l), fsys.optional, "in the delegated group "+fsys.from
	}
	for _, c := range enable {
		if !slices.Contains(avail, c) {
			return nil, fmt.Errorf("cgroup v2 has no %s controller enabled %s: %w", c, where, ErrUnsupported)
		}
	}
	for _, c := range optional {
		if slices.Contains(avail, c) && !slices.Contains(enable, c) {
			enable = append(enable, c)
		}
	}
	m, err := cgroup2.Load(group, cgroup2.WithMountpoint(fsys.mount))
	if err != nil {
		return nil, fmt.Errorf("loading v2 group: %w", err)
	}
	g := &v2Group{path: group, dir: filepath.Join(fsys.mount, group), m: m}

	// Make the ancestors, then enable the controllers in their
	// subtree_control before the group exists, so that its files are there
	// from its first moment. Most runs find them enabled and write nothing.
	parent := filepath.Dir(g.dir)
	for p := filepath.Join(fsys.mount, fsys.from); p != parent; {
		rel, _ := filepath.Rel(p, parent)
		p = filepath.Join(p, strings.Split(rel, string(filepath.Separator))[0])
		if err := fsys.mkdir(p); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating %s: %w", p, err)
		}
	}
	have, err := readFieldsErr(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return nil, fmt.Errorf("reading the controllers enabled for %s: %w", parent, err)
	}
	if len(enable) > 0 && slices.ContainsFunc(enable, func(c string) bool { return !slices.Contains(have, c) && !slices.Contains(have, "+"+c) }) {
		if err := m.ToggleControllers(enable, cgroup2.Enable); err != nil {
			return nil, fmt.Errorf("enabling controllers %s: %w", strings.Join(enable, ","), err)
		}
	}

	if err := fsys.mkdir(g.dir); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("claiming %s: %w", g.dir, ErrExists)
		}
		return nil, fmt.Errorf("creating %s: %w", g.dir, err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(g.dir)
		}
	}()

	// The limits, in the order containerd's cgroup2 writes them, each
	// through a plain descriptor (writeControl): cgroup2's Update would
	// register every file with the runtime's poller.
	var files [][2]string
	if l.CPUs != nil {
		quota, period := cfsQuota(*l.CPUs), uint64(cfsPeriodUS)
		files = append(files, [2]string{"cpu.max", string(cgroup2.NewCPUMax(&quota, &period))})
	}
	if l.Cpuset != "" {
		cpus, err := ParseCpuset(l.Cpuset)
		if err != nil {
			return nil, err
		}
		files = append(files, [2]string{"cpuset.cpus", cpus})
	}
	if l.Memory > 0 {
		if exists(filepath.Join(g.dir, "memory.swap.max")) {
			files = append(files, [2]string{"memory.swap.max", "0"})
		}
		files = append(files, [2]string{"memory.max", strconv.FormatInt(l.Memory, 10)})
	}
	if l.Pids != nil && *l.Pids != 0 {
		limit := "max"
		if *l.Pids > 0 {
			limit = strconv.FormatInt(*l.Pids, 10)
		}
		files = append(files, [2]string{"pids.max", limit})
	}
	for _, f := range files {
		if err := writeControl(filepath.Join(g.dir, f[0]), f[1]); err != nil {
			return nil, fmt.Errorf("writing limits to %s: %w", g.dir, err)
		}
	}
	if fsys.devices != nil {
		if err := fsys.devices(g.dir); err != nil {
			return nil, err
		}
	}
	if l.IOWeight != 0 {
		// io.weight (iocost) has a range of 1..10000 with 100 the default;
		// io.bfq.weight that of blkio.weight. The mapping is runc's.
		w := 1 + (l.IOWeight-10)*9999/990
		if exists(filepath.Join(g.dir, "io.weight")) {
			if err := writeFirst("default "+strconv.Itoa(w), filepath.Join(g.dir, "io.weight")); err != nil {
				return nil, err
			}
		} else if err := writeFirst(strconv.Itoa(l.IOWeight), filepath.Join(g.dir, "io.bfq.weight")); err != nil {
			return nil, err
		}
	}
	g.usage = newCPUReader(filepath.Join(g.dir, "cpu.stat"), true)
	return g, nil
}

// v2DeviceRules is deviceRules in the form the BPF filter's assembler
// takes: every type and number explicit, -1 for "any", "a" for any type.
func v2DeviceRules() []specs.LinuxDeviceCgroup {
	rules := deviceRules()
	for i := range rules {
		r := &rules[i]
		if r.Type == "" {
			r.Type = "a"
		}
		if r.Major == nil {
			wild := int64(-1)
			r.Major = &wild
		}
		if r.Minor == nil {
			wild := int64(-1)
			r.Minor = &wild
		}
	}
	return rules
}

func readFieldsErr(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func loadV2(mount, group string) (*v2Group, error) {
	m, err := cgroup2.Load(group, cgroup2.WithMountpoint(mount))
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", group, err)
	}
	dir := filepath.Join(mount, group)
	return &v2Group{path: group, dir: dir, m: m, usage: newCPUReader(filepath.Join(dir, "cpu.stat"), true)}, nil
}

func (g *v2Group) Version() int { return 2 }

func (g *v2Group) Path() string { return g.path }

func (g *v2Group) Attach(pid int) error {
	if err := g.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("attaching pid %d to cgroup %s: %w", pid, g.path, err)
	}
	return nil
}

func (g *v2Group) OpenFD() (int, error) {
	fd, err := unix.Open(g.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			err = ErrNotFound
		}
		return -1, fmt.Errorf("opening cgroup %s: %w", g.path, err)
	}
	return fd, nil
}

func (g *v2Group) CPUUsage() (time.Duration, error) { return g.usage.read() }

func (g *v2Group) OpenTasks() ([]*os.File, error) {
	return nil, fmt.Errorf("opening the tasks files of cgroup %s: v2 starts processes in a group with CLONE_INTO_CGROUP: %w", g.path, ErrUnsupported)
}

func (g *v2Group) OpenParentTasks() ([]*os.File, error) { return nil, nil }

func (g *v2Group) Stats() (*Stats, error) {
	if !exists(g.dir) {
		return nil, fmt.Errorf("reading stats of cgroup %s: %w", g.path, ErrNotFound)
	}
	s, err := statsV2(g.dir)
	if err != nil {
		return nil, fmt.Errorf("reading stats of cgroup %s: %w", g.path, err)
	}
	return s, nil
}

// procs reads cgroup.events first: "populated 0" answers the common case,
// a group already empty, in one small read.
func (g *v2Group) procs() ([]int, error) {
	if ev, err := readKeyed(filepath.Join(g.dir, "cgroup.events")); err == nil {
		if p, ok := ev["populated"]; ok && p == 0 {
			return nil, nil
		}
	}
	return readProcs(g.dir)
}

// Kill uses cgroup.kill (Linux 5.14+), which kills the whole subtree in the
// kernel with no pid reuse race; older kernels get freeze, SIGKILL, thaw.
func (g *v2Group) Kill() error {
	killFile := filepath.Join(g.dir, "cgroup.kill")
	hasKill := exists(killFile)
	kill := func(pids []int) {
		if hasKill && writeControl(killFile, "1") == nil {
			return
		}
		if g.freeze("1") {
			if p, err := readProcs(g.dir); err == nil {
				pids = p
			}
		}
		sigkillAll(pids)
		g.freeze("0")
	}
	if err := drain(g.procs, kill, killBounds, procExiting); err != nil {
		return fmt.Errorf("killing cgroup %s: %w", g.path, err)
	}
	// cgroup.procs leaves out a dying group leader whose threads still
	// run their exit; "populated 0" is the group really empty, which
	// rmdir needs.
	if !waitFor(exitTimeout, g.depopulated) {
		return fmt.Errorf("killing cgroup %s: still populated after %v with no process listed: %w", g.path, exitTimeout, ErrBusy)
	}
	return nil
}

func (g *v2Group) depopulated() bool {
	ev, err := readKeyed(filepath.Join(g.dir, "cgroup.events"))
	return err != nil || ev["populated"] == 0
}

// freeze writes cgroup.freeze and waits, boundedly, for cgroup.events to
// say the group got there.
func (g *v2Group) freeze(v string) bool {
	if err := writeControl(filepath.Join(g.dir, "cgroup.freeze"), v); err != nil {
		return false
	}
	want, _ := strconv.ParseInt(v, 10, 64)
	return waitFor(100*time.Millisecond, func() bool {
		ev, err := readKeyed(filepath.Join(g.dir, "cgroup.events"))
		return err == nil && ev["frozen"] == want
	})
}

func (g *v2Group) Delete() error {
	g.usage.close()
	if !exists(g.dir) {
		return nil
	}
	if err := g.m.Delete(); err != nil {
		if pids, perr := g.procs(); perr == nil && len(pids) > 0 {
			return fmt.Errorf("deleting cgroup %s: %w", g.path, ErrBusy)
		}
		return fmt.Errorf("deleting cgroup %s: %w", g.path, err)
	}
	return nil
}
