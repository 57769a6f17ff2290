package limits

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// New creates the cgroup of run id under root ("" = DefaultRoot) with the
// limits l, on v2 or v1 as chooseVersion decides. Each hierarchy gets only
// the controllers l needs plus those accounting needs. On failure nothing is
// left behind except root itself, which is shared by all runs.
func New(root, id string, l Limits) (Cgroup, error) {
	if root == "" {
		root = DefaultRoot
	}
	group, err := groupPath(root, id)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup: %w", err)
	}
	cg, err := newGroup(group, l)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", group, err)
	}
	return cg, nil
}

// Version is the cgroup version New would give a run with the limits l
// on this host (1 or 2), without making anything: a runner that knows it
// can order its start around it.
func Version(l Limits) (int, error) {
	h, err := probeMode()
	if err != nil {
		return 0, err
	}
	return chooseVersion(h.mode, h.v2Controllers, v2Required(l))
}

func newGroup(group string, l Limits) (Cgroup, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	h, err := probeHost()
	if err != nil {
		return nil, err
	}
	v, err := chooseVersion(h.mode, h.v2Controllers, v2Required(l))
	if err != nil {
		return nil, err
	}
	// Explicit nils: a nil *v1Group in a Cgroup would not compare == nil.
	if v == 2 && l.Memory > 0 && bootedNoSocket() {
		return nil, fmt.Errorf("the kernel was booted with cgroup.memory=nosocket: a memory limit on cgroup v2 would not bound socket buffers: %w", ErrUnsupported)
	}
	if v == 2 {
		g, err := newV2(v2fs{mount: h.v2Mount, mkdir: mkdir, devices: attachDevices}, group, l)
		if err != nil {
			return nil, err
		}
		return g, nil
	}
	g, err := newV1(h, group, l)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Load finds the existing group of run id under root ("" = DefaultRoot),
// for `sandbox gc` to kill and delete what a dead runner left. It returns
// ErrNotFound if no hierarchy has it.
func Load(root, id string) (Cgroup, error) {
	if root == "" {
		root = DefaultRoot
	}
	group, err := groupPath(root, id)
	if err != nil {
		return nil, fmt.Errorf("loading cgroup: %w", err)
	}
	h, err := probeHost()
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", group, err)
	}
	if h.v2Mount != "" && isDir(filepath.Join(h.v2Mount, group)) {
		g, err := loadV2(h.v2Mount, group)
		if err != nil {
			return nil, err
		}
		return g, nil
	}
	cg, err := loadV1(h, group)
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", group, err)
	}
	return cg, nil
}

// List returns the ids of the groups under root ("" = DefaultRoot) in any
// hierarchy, sorted.
func List(root string) ([]string, error) {
	if root == "" {
		root = DefaultRoot
	}
	if err := checkRoot(root); err != nil {
		return nil, fmt.Errorf("listing cgroups: %w", err)
	}
	h, err := probeHost()
	if err != nil {
		return nil, fmt.Errorf("listing cgroups under %s: %w", root, err)
	}
	seen := map[string]bool{}
	for _, dir := range h.hierarchies() {
		entries, err := os.ReadDir(filepath.Join(dir, root))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing cgroups under %s: %w", root, err)
		}
		for _, e := range entries {
			if e.IsDir() && checkID(e.Name()) == nil {
				seen[e.Name()] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// RemoveRoot removes root itself from every hierarchy, for tests and for gc
// once no run is using it: a New under root at the same moment may fail.
// It returns ErrBusy if groups are still below root.
func RemoveRoot(root string) error {
	if err := checkRoot(root); err != nil {
		return fmt.Errorf("removing cgroup root: %w", err)
	}
	h, err := probeHost()
	if err != nil {
		return fmt.Errorf("removing cgroup root %s: %w", root, err)
	}
	var errs []error
	for _, dir := range h.hierarchies() {
		p := filepath.Join(dir, root)
		switch err := unix.Rmdir(p); {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOTEMPTY):
			errs = append(errs, fmt.Errorf("removing %s: %w", p, ErrBusy))
		default:
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// chooseVersion picks the cgroup version for a run needing the v2
// controllers need. Unified hosts have only v2 and legacy hosts only v1. On
// hybrid hosts the controllers live in the v1 hierarchies unless the kernel
// was told to leave some to the v2 mount; v2 is used only if it has every
// controller the run needs, because a run split across versions could not
// be attached, killed or accounted in one place.
func chooseVersion(mode cgroups.CGMode, v2Controllers, need []string) (int, error) {
	var missing []string
	for _, c := range need {
		if !slices.Contains(v2Controllers, c) {
			missing = append(missing, c)
		}
	}
	switch mode {
	case cgroups.Unified:
		if len(missing) > 0 {
			return 0, fmt.Errorf("cgroup v2 has no %s controller enabled at its root: %w", strings.Join(missing, ", "), ErrUnsupported)
		}
		return 2, nil
	case cgroups.Hybrid:
		if len(missing) == 0 {
			return 2, nil
		}
		return 1, nil
	case cgroups.Legacy:
		return 1, nil
	default:
		return 0, fmt.Errorf("no cgroup hierarchy mounted at /sys/fs/cgroup: %w", ErrUnsupported)
	}
}

// v2Required are the v2 controllers a run cannot do without: memory for
// accounting, the rest for the limits asked. CPU time needs no controller
// on v2 (cpu.stat is always there).
func v2Required(l Limits) []string {
	need := []string{"memory"}
	if l.Pids != nil {
		need = append(need, "pids")
	}
	if l.CPUs != nil {
		need = append(need, "cpu")
	}
	if l.Cpuset != "" {
		need = append(need, "cpuset")
	}
	return need
}

// v2Asked are the v2 controllers the limits asked for need, without the
// memory controller that accounting takes where it can.
func v2Asked(l Limits) []string {
	var need []string
	if l.Memory > 0 {
		need = append(need, "memory")
	}
	return append(need, v2Required(l)[1:]...)
}

// hostCgroups is what probeHost learns once per process: the mounts do
// not change under a running runner.
type hostCgroups struct {
	mode          cgroups.CGMode
	v2Mount       string   // "" when there is no v2 hierarchy
	v2Controllers []string // of the v2 root
	// v1 maps a controller to the directory above its hierarchy, such that
	// <dir>/<controller> is the hierarchy (the layout containerd expects).
	v1    map[string]string
	memsw bool // v1 swap accounting (memory.memsw.* exist)
}

// v1Known are the v1 controllers this package may use.
var v1Known = []string{"memory", "cpuacct", "cpu", "cpuset", "pids", "blkio", "freezer", "devices"}

var (
	probeMu     sync.Mutex
	probed      *hostCgroups
	probedModes *hostCgroups // mode, v2Mount and v2Controllers alone
)

// probeMode learns what Version needs, and no more: the v1 hierarchies'
// table (parsing the mount table, 0.1 ms) waits for the first group, which
// a run makes while PID 1 builds, where Version's answer is on the path of
// every CLI run before its spare PID 1 is asked for (sandbox.Prepare).
func probeMode() (*hostCgroups, error) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if probed != nil {
		return probed, nil
	}
	if probedModes != nil {
		return probedModes, nil
	}
	h, err := probeModeLocked()
	if err != nil {
		return nil, err
	}
	probedModes = h
	return h, nil
}

func probeModeLocked() (*hostCgroups, error) {
	h := &hostCgroups{mode: cgroups.Mode()}
	switch h.mode {
	case cgroups.Unavailable:
		return nil, fmt.Errorf("no cgroup hierarchy mounted at /sys/fs/cgroup: %w", ErrUnsupported)
	case cgroups.Unified:
		h.v2Mount = "/sys/fs/cgroup"
	case cgroups.Hybrid:
		h.v2Mount = "/sys/fs/cgroup/unified"
	}
	if h.v2Mount != "" {
		b, err := os.ReadFile(filepath.Join(h.v2Mount, "cgroup.controllers"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading the cgroup2 controllers: %w", err)
		}
		h.v2Controllers = strings.Fields(string(b))
	}
	return h, nil
}

// probeHost learns the host's hierarchies once per process. A probe that
// fails (out of descriptors, say) is an error and is tried again next
// time: cached, it would leave the process sure that no controller is
// mounted.
func probeHost() (*hostCgroups, error) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if probed != nil {
		return probed, nil
	}
	h := probedModes
	if h == nil {
		var err error
		if h, err = probeModeLocked(); err != nil {
			return nil, err
		}
	}
	h = &hostCgroups{mode: h.mode, v2Mount: h.v2Mount, v2Controllers: h.v2Controllers}
	if h.mode == cgroups.Legacy || h.mode == cgroups.Hybrid {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return nil, fmt.Errorf("finding the cgroup v1 hierarchies: %w", err)
		}
		h.v1 = usableV1(parseMountinfoV1(f))
		f.Close()
		if d, ok := h.v1["memory"]; ok {
			_, err := os.Stat(filepath.Join(d, "memory", "memory.memsw.limit_in_bytes"))
			h.memsw = err == nil
		}
	}
	probed = h
	return h, nil
}

// hierarchies lists every hierarchy directory a group of ours may be in.
func (h *hostCgroups) hierarchies() []string {
	var dirs []string
	if h.v2Mount != "" {
		dirs = append(dirs, h.v2Mount)
	}
	for _, c := range v1Known {
		if d, ok := h.v1[c]; ok {
			dirs = append(dirs, filepath.Join(d, c))
		}
	}
	return dirs
}

// parseMountinfoV1 maps each v1 controller to the mount point of its
// hierarchy (the first one, if mounted twice).
func parseMountinfoV1(r io.Reader) map[string]string {
	mounts := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// 36 25 0:32 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if slices.Contains(v1Known, opt) {
				if _, dup := mounts[opt]; !dup {
					mounts[opt] = pf[4]
				}
			}
		}
	}
	return mounts
}

// usableV1 keeps the controllers whose hierarchy is reachable as
// <dir>/<controller>: either its own mount point, or the symlink distros
// make for co-mounted ones (cpu -> cpu,cpuacct).
func usableV1(mounts map[string]string) map[string]string {
	out := map[string]string{}
	for c, mp := range mounts {
		dir := filepath.Dir(mp)
		if filepath.Base(mp) != c {
			a, err1 := os.Stat(mp)
			b, err2 := os.Stat(filepath.Join(dir, c))
			if err1 != nil || err2 != nil || !os.SameFile(a, b) {
				continue
			}
		}
		out[c] = dir
	}
	return out
}

func readFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func mkdir(path string) error { return os.Mkdir(path, 0o755) }

// cpuReader reads a group's CPU time through a descriptor opened on first
// use, with one pread into a fixed buffer: no allocation, one syscall.
// fileReader rereads one small cgroup file through a descriptor opened on
// the first read and kept: a read is then one pread, not an open, a read
// and a close. A file of a removed group reads as ErrNotFound.
type fileReader struct {
	mu     sync.Mutex
	path   string
	fd     int // -1 until opened
	closed bool
	buf    []byte
}

func newFileReader(path string, size int) *fileReader {
	return &fileReader{path: path, fd: -1, buf: make([]byte, size)}
}

// read calls parse with the file's content, under the reader's lock.
func (r *fileReader) read(parse func([]byte) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("reading %s: %w", r.path, ErrNotFound)
	}
	if r.fd < 0 {
		fd, err := unix.Open(r.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				err = ErrNotFound
			}
			return fmt.Errorf("opening %s: %w", r.path, err)
		}
		r.fd = fd
	}
	n, err := unix.Pread(r.fd, r.buf, 0)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			err = ErrNotFound // the group was removed under us
		}
		return fmt.Errorf("reading %s: %w", r.path, err)
	}
	return parse(r.buf[:n])
}

func (r *fileReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	r.closed = true
}

// cpuReader reads a group's CPU usage (cpu.stat on v2, cpuacct.usage on v1).
type cpuReader struct {
	*fileReader
	v2 bool
}

func newCPUReader(path string, v2 bool) *cpuReader {
	return &cpuReader{fileReader: newFileReader(path, 512), v2: v2}
}

func (r *cpuReader) read() (time.Duration, error) {
	var d time.Duration
	err := r.fileReader.read(func(b []byte) error {
		var ok bool
		if d, ok = parseCPUUsage(b, r.v2); !ok {
			return fmt.Errorf("parsing %s: %q: %w", r.path, b, ErrUnsupported)
		}
		return nil
	})
	return d, err
}

// readProcs lists the pids in dir's cgroup.procs and in those of the groups
// below it (a sandbox with its own cgroupfs may have made some).
func readProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "cgroup.procs"), err)
	}
	var pids []int
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil {
			pids = append(pids, pid)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return pids, nil // gone meanwhile: its processes with it
	}
	for _, e := range entries {
		if e.IsDir() {
			sub, err := readProcs(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			pids = append(pids, sub...)
		}
	}
	return pids, nil
}

// drainBounds are how long drain waits in all: for processes to take the
// kill, and for those already exiting to finish (killTimeout, exitTimeout).
type drainBounds struct{ kill, exit time.Duration }

var killBounds = drainBounds{kill: killTimeout, exit: exitTimeout}

// drain calls kill with the group's processes until procs finds none, or
// returns ErrBusy: after b.kill while any process has not begun its exit,
// after b.exit while all have. A process in its exit has taken the kill
// (it is not killed again) and will be gone when the kernel has done
// with it; one that has not after b.kill is stuck where SIGKILL does not
// reach, and waiting longer does not help.
func drain(procs func() ([]int, error), kill func(pids []int), b drainBounds, exiting func(pid int) bool) error {
	start := time.Now()
	delay := 100 * time.Microsecond
	for {
		pids, err := procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		// Only past the first bound are the processes looked at one by
		// one: a fork bomb's thousands are gone well before it.
		if waited := time.Since(start); waited > b.kill {
			if waited > b.exit || slices.ContainsFunc(pids, func(pid int) bool { return !exiting(pid) }) {
				return fmt.Errorf("%d processes left after %v (%s): %w", len(pids), waited.Round(time.Millisecond), describeProcs(pids), ErrBusy)
			}
		} else {
			kill(pids)
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// pfExiting is the kernel's PF_EXITING task flag: set when a task begins
// its exit (do_exit), before it drops its files, namespaces and cgroup.
const pfExiting = 0x4

// procExiting reports whether pid has begun its exit, from the flags
// field of /proc/PID/stat. A process gone meanwhile counts as exiting.
func procExiting(pid int) bool {
	flags, ok := procStatFlags(pid)
	return !ok || flags&pfExiting != 0
}

// procStatFlags reads the flags field (the 9th) of /proc/PID/stat; the
// command name before it is in parentheses and may hold anything, so the
// fields are counted from its closing one.
func procStatFlags(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:]) // state ppid pgrp session tty_nr tpgid flags
	if len(f) < 7 {
		return 0, false
	}
	flags, err := strconv.ParseUint(string(f[6]), 10, 64)
	return flags, err == nil
}

// describeProcs says, for the first few of pids, whether each is exiting
// and where in the kernel it waits (/proc/PID/wchan): what a user needs
// to tell a hung NFS server from a slow disk.
func describeProcs(pids []int) string {
	var parts []string
	for _, pid := range pids[:min(len(pids), 8)] {
		what := "not exiting"
		if procExiting(pid) {
			what = "exiting"
		}
		if w, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan"); err == nil && len(w) > 0 && string(w) != "0" {
			what += ", waiting in " + string(w)
		}
		parts = append(parts, fmt.Sprintf("pid %d %s", pid, what))
	}
	if len(pids) > 8 {
		parts = append(parts, "...")
	}
	return strings.Join(parts, "; ")
}

// sigkillAll SIGKILLs pids, ignoring those already gone.
func sigkillAll(pids []int) {
	for _, pid := range pids {
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// waitFor polls cond every millisecond for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// rmdirTree removes a group directory, its child groups first. The kernel
// says EBUSY while tasks are still leaving, so that is retried for about
// 100ms before giving up with ErrBusy. A missing directory is not an error.
func rmdirTree(dir string) error {
	delay := 500 * time.Microsecond
	for attempt := 0; ; attempt++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
		if entries, rerr := os.ReadDir(dir); rerr == nil {
			for _, e := range entries {
				if e.IsDir() {
					if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
						return err
					}
				}
			}
		}
		if attempt == 8 {
			return fmt.Errorf("removing %s: %w", dir, ErrBusy)
		}
		time.Sleep(delay)
		delay *= 2
	}
}

// OpenProcessGroup opens the cgroup a running sandbox's PID 1 is in, for a
// process to join it (an OCI runtime's exec): on v2 the group's directory,
// for CLONE_INTO_CGROUP; on v1 the tasks file of each hierarchy where pid
// is in its run's group (where its path is its memory group's: the other
// hierarchies hold the caller's groups, which a sandbox must not touch).
// The caller closes what it gets.
func OpenProcessGroup(pid int) (v2fd int, tasks []*os.File, err error) {
	h, err := probeHost()
	if err != nil {
		return -1, nil, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return -1, nil, fmt.Errorf("reading the cgroup of pid %d: %w", pid, err)
	}
	paths := map[string]string{} // controller list (v1) or "" (v2) to path
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			paths[f[1]] = f[2]
		}
	}
	if h.mode == cgroups.Unified {
		p, ok := paths[""]
		if !ok {
			return -1, nil, fmt.Errorf("finding the cgroup of pid %d: no cgroup2 entry in /proc/%d/cgroup", pid, pid)
		}
		fd, err := unix.Open(filepath.Join(h.v2Mount, p), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, nil, fmt.Errorf("opening the cgroup of pid %d: %w", pid, err)
		}
		return fd, nil, nil
	}
	var group string
	for list, p := range paths {
		if slices.Contains(strings.Split(list, ","), "memory") {
			group = p
		}
	}
	if group == "" || group == "/" {
		return -1, nil, fmt.Errorf("finding the cgroup of pid %d: it is in no memory group of its own", pid)
	}
	closeAll := func() {
		for _, f := range tasks {
			f.Close()
		}
	}
	for list, p := range paths {
		if p != group {
			continue
		}
		for _, c := range strings.Split(list, ",") {
			dir, ok := h.v1[c]
			if !ok {
				continue
			}
			fd, err := openTasks(filepath.Join(dir, c, p))
			if err != nil {
				closeAll()
				return -1, nil, fmt.Errorf("opening the cgroup of pid %d: %w", pid, err)
			}
			tasks = append(tasks, os.NewFile(uintptr(fd), filepath.Join(dir, c, p, "tasks")))
			break // one tasks file per hierarchy
		}
	}
	return -1, tasks, nil
}
