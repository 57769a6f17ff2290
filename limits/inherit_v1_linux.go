package limits

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A run's v1 cpuset group is made from its parent rather than copied into
// file by file: containerd's cpuset controller reads and rewrites
// cpuset.cpus and cpuset.mems at every level from the hierarchy's root down
// (a dozen reads and writes, a sixth of what making a graded run's groups
// costs), and the kernel does the same at mkdir where the parent has
// cgroup.clone_children set. So the runner's root group (the parent of
// every run's group, which is ours) is given clone_children once, and a
// run's group only checks that its memory nodes came (one read) and writes
// the CPUs asked for. Where the parent is a hierarchy's root (not ours to
// change), or the check finds no memory nodes (the root was made again by
// another runner since), the group is made as containerd makes it.
//
// The devices group is not made so, though a child starts with its
// parent's list too: giving the root the sandbox's list goes through
// deny-all, and a run of another runner made in between could then allow
// nothing its parent allows, and fail.

// v1Controller is what cgroup1.New uses of containerd's cpuset controller.
type v1Controller interface {
	cgroup1.Subsystem
	Path(path string) string
	Create(path string, resources *specs.LinuxResources) error
	Update(path string, resources *specs.LinuxResources) error
}

// preparedParents remembers, per process, the root groups already given
// clone_children (their directories).
var preparedParents sync.Map

// parentOf is the parent of a group's path inside its hierarchy, and
// whether it is a group of ours (not the hierarchy's root).
func parentOf(path string) (string, bool) {
	parent := filepath.Dir(filepath.Clean("/" + path))
	return parent, parent != "/"
}

// inheritedCpuset makes a group whose CPUs and memory nodes come from its
// parent (cgroup.clone_children), and writes only the CPUs asked for.
type inheritedCpuset struct{ v1Controller }

func (c inheritedCpuset) Create(path string, res *specs.LinuxResources) error {
	if parent, ours := parentOf(path); ours && c.prepare(parent) {
		dir := c.Path(path)
		if err := mkdirGroup(dir); err != nil {
			return err
		}
		// A group without memory nodes takes no task: check what came.
		if b, err := readControl(filepath.Join(dir, "cpuset.mems")); err == nil && strings.TrimSpace(string(b)) != "" {
			if res.CPU == nil || res.CPU.Cpus == "" {
				return nil
			}
			return writeControl(filepath.Join(dir, "cpuset.cpus"), res.CPU.Cpus)
		}
	}
	return c.v1Controller.Create(path, res)
}

// prepare makes parent (with containerd's copying of the CPUs and memory
// nodes down from the hierarchy's root) and sets its clone_children, once
// per process; false where it cannot.
func (c inheritedCpuset) prepare(parent string) bool {
	dir := c.Path(parent)
	if _, ok := preparedParents.Load(dir); ok {
		return true
	}
	clone := filepath.Join(dir, "cgroup.clone_children")
	b, err := os.ReadFile(clone)
	mems, _ := os.ReadFile(filepath.Join(dir, "cpuset.mems"))
	if err != nil || strings.TrimSpace(string(b)) != "1" || strings.TrimSpace(string(mems)) == "" {
		if err := c.v1Controller.Create(parent, &specs.LinuxResources{}); err != nil {
			return false
		}
		if err := os.WriteFile(clone, []byte("1"), 0); err != nil {
			return false
		}
	}
	preparedParents.Store(dir, true)
	return true
}

// batchedDevices writes a group's device rules as containerd's devices
// controller does (deny, then allow, one rule a write), but through one
// descriptor per file, not one os.WriteFile per rule: the sandbox's nine
// rules cost two opens instead of nine, and none of the poller's
// registrations (cgroupfs files are pollable), fifty syscalls a run.
type batchedDevices struct{ v1Controller }

func (d batchedDevices) Create(path string, res *specs.LinuxResources) error {
	dir := d.Path(path)
	if err := mkdirGroup(dir); err != nil {
		return err
	}
	// Rules in order, each to its file: the kernel reads one per write.
	fd, open := -1, ""
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for _, r := range res.Devices {
		file := filepath.Join(dir, "devices.deny")
		if r.Allow {
			file = filepath.Join(dir, "devices.allow")
		}
		if file != open {
			if fd >= 0 {
				unix.Close(fd)
			}
			var err error
			if fd, err = unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
				return &fs.PathError{Op: "open", Path: file, Err: err}
			}
			open = file
		}
		if _, err := unix.Write(fd, []byte(deviceRule(r))); err != nil {
			return &fs.PathError{Op: "write", Path: file, Err: err}
		}
	}
	return nil
}

func (d batchedDevices) Update(path string, res *specs.LinuxResources) error {
	return d.Create(path, res)
}

// deviceRule is r as devices.allow and devices.deny read it ("c 1:3 rwm").
func deviceRule(r specs.LinuxDeviceCgroup) string {
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	return typ + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
}
