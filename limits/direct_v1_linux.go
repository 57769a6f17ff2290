package limits

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A run's v1 groups are made and given their limits here, file by file in
// containerd's order, for the limits this package sets (memory and
// memory+swap, the pids limit, the CFS quota); anything else the resources
// carry goes to containerd's controller as it is. What containerd does
// costs more than the kernel's work on these files: os.MkdirAll stats the
// group and its parent before the mkdir, and os.WriteFile registers each
// control file with the runtime's poller (cgroupfs files are pollable),
// which makes it non-blocking, wakes the poller's thread with an event at
// once and deregisters it again: seven syscalls and a thread's wakeup for
// one write, where an open, a write and a close do.

// directV1 makes a group of one of the controllers above.
type directV1 struct {
	v1Controller
	files func(res *specs.LinuxResources) ([][2]string, bool)
}

// simpleV1 is a controller whose group needs only its directory here
// (cpuacct, freezer): cgroup1 makes those with os.MkdirAll.
type simpleV1 struct{ v1Pather }

// v1Pather is what cgroup1.New uses of a controller without a Create.
type v1Pather interface {
	cgroup1.Subsystem
	Path(path string) string
}

func (c simpleV1) Create(path string, _ *specs.LinuxResources) error {
	return mkdirGroup(c.Path(path))
}

func (c directV1) Create(path string, res *specs.LinuxResources) error {
	files, ok := c.files(res)
	if !ok {
		return c.v1Controller.Create(path, res)
	}
	dir := c.Path(path)
	if err := mkdirGroup(dir); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeControl(filepath.Join(dir, f[0]), f[1]); err != nil {
			return err
		}
	}
	return nil
}

// memoryFiles are memory's files for res: the limit first, as the kernel
// wants memory+swap at or above it at all times.
func memoryFiles(res *specs.LinuxResources) ([][2]string, bool) {
	m := res.Memory
	if m == nil {
		return nil, true
	}
	//nolint:staticcheck // Kernel is deprecated; a caller's is still containerd's to write.
	if m.Reservation != nil || m.Kernel != nil || m.KernelTCP != nil || m.Swappiness != nil ||
		m.DisableOOMKiller != nil || m.UseHierarchy != nil || m.CheckBeforeUpdate != nil {
		return nil, false
	}
	var files [][2]string
	if m.Limit != nil {
		files = append(files, [2]string{"memory.limit_in_bytes", strconv.FormatInt(*m.Limit, 10)})
	}
	if m.Swap != nil {
		files = append(files, [2]string{"memory.memsw.limit_in_bytes", strconv.FormatInt(*m.Swap, 10)})
	}
	return files, true
}

func pidsFiles(res *specs.LinuxResources) ([][2]string, bool) {
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		return [][2]string{{"pids.max", strconv.FormatInt(*p.Limit, 10)}}, true
	}
	return nil, true
}

// cpuFiles are the CFS period and quota (the period first, as containerd
// writes them); the CPUs of res are cpuset's.
func cpuFiles(res *specs.LinuxResources) ([][2]string, bool) {
	c := res.CPU
	if c == nil {
		return nil, true
	}
	if c.Shares != nil || c.RealtimePeriod != nil || c.RealtimeRuntime != nil || c.Burst != nil || c.Idle != nil {
		return nil, false
	}
	var files [][2]string
	if c.Period != nil {
		files = append(files, [2]string{"cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)})
	}
	if c.Quota != nil {
		files = append(files, [2]string{"cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)})
	}
	return files, true
}

// mkdirGroup makes a group's directory, and its parents where they are
// missing; one that exists already is taken, as os.MkdirAll would.
func mkdirGroup(dir string) error {
	err := unix.Mkdir(dir, 0o755)
	switch {
	case err == nil, err == unix.EEXIST:
		return nil
	case err == unix.ENOENT:
		return os.MkdirAll(dir, 0o755)
	}
	return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
}
