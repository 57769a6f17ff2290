package limits

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

// DefaultRoot is the cgroup under which runs get their groups, as an
// absolute path in every hierarchy (never under the runner's own cgroup).
const DefaultRoot = "/sandbox"

// Cgroup is one run's control group, v1 or v2 behind one interface. Its
// methods are safe for concurrent use: a supervisor may poll CPUUsage while
// another goroutine calls Kill.
type Cgroup interface {
	// Version is 1 or 2.
	Version() int
	// Path is the group's path inside each hierarchy, e.g. /sandbox/<id>.
	Path() string
	// Attach moves a process into the group: on v1 into every hierarchy
	// the group has, on v2 into its cgroup.procs.
	Attach(pid int) error
	// OpenFD opens the v2 group directory (O_PATH|O_DIRECTORY|O_CLOEXEC) for
	// clone3's CLONE_INTO_CGROUP (syscall.SysProcAttr.UseCgroupFD and
	// CgroupFD). The caller closes it once the child is started. On v1 it
	// returns ErrUnsupported.
	OpenFD() (int, error)
	// OpenTasks opens the v1 group's tasks file in every hierarchy, for a
	// single-threaded process to move itself in, writing "0" to each,
	// before it does anything else: how a sandbox's PID 1 enters its group
	// on v1. A thread moving itself takes no global lock, where Attach
	// (moving a whole process) takes the kernel's cgroup_threadgroup_rwsem
	// for writing, which costs an RCU grace period (5-10 ms measured here)
	// once the lock has been idle for a while. The caller
	// closes them. On v2 it returns ErrUnsupported: use OpenFD.
	OpenTasks() ([]*os.File, error)
	// OpenParentTasks opens, on v1, the tasks file of the group's parent
	// in every hierarchy, in OpenTasks' order: the group's last process
	// writes "0" to each to leave before it exits, so that the group can be
	// removed while the kernel is still ending that process (a sandbox's
	// PID 1, whose namespaces take a millisecond to tear down). None where
	// a parent is a hierarchy's root, which belongs to the machine; none
	// on v2. The caller closes them.
	OpenParentTasks() ([]*os.File, error)
	// CPUUsage is the CPU time used so far by everything in the group. It
	// reads one small file through a descriptor kept open, and allocates
	// nothing, so it can be polled every millisecond.
	CPUUsage() (time.Duration, error)
	// Stats reads what the group used so far; call it after the processes
	// are gone and before Delete for final numbers.
	Stats() (*Stats, error)
	// Kill SIGKILLs every process in the group and its descendants and
	// waits until none is left, or returns ErrBusy after a bounded time.
	Kill() error
	// Delete removes the group (and any group its processes made below it)
	// from every hierarchy. It fails with ErrBusy if processes remain: Kill
	// first. Deleting a deleted group succeeds.
	Delete() error
}

// killTimeout bounds Kill's wait for the group to empty. SIGKILLed tasks
// exit within milliseconds unless stuck in uninterruptible sleep (a hung
// NFS, a FUSE server in the sandbox), where waiting longer does not help.
//
// exitTimeout is the longer bound for processes that have taken the
// signal and are in their exit, which the kernel finishes by itself, but
// not always quickly: the last process of a mount namespace unmounts the
// run's overlay there, and that syncs the upper layer's whole filesystem
// (`sandbox gc` after a killed runner, on a disk with much dirty data,
// waited seconds in wb_wait_for_completion: found by vmtest on 6.12).
const (
	killTimeout = 3 * time.Second
	exitTimeout = 60 * time.Second
)

// groupPath joins and checks root and id: root must be absolute and clean,
// id one plain name, so that a group can only ever land under our root.
func groupPath(root, id string) (string, error) {
	if err := checkRoot(root); err != nil {
		return "", err
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	return path.Join(root, id), nil
}

func checkRoot(root string) error {
	if !path.IsAbs(root) || path.Clean(root) != root || root == "/" || strings.HasPrefix(root, "/sys/") {
		return fmt.Errorf("checking cgroup root %q: must be a clean absolute path below /, such as %s: %w", root, DefaultRoot, ErrInvalid)
	}
	return nil
}

func checkID(id string) error {
	ok := id != "" && id != "." && id != ".." && len(id) <= 128
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			ok = false
		}
	}
	if !ok || strings.HasPrefix(id, "cgroup.") {
		return fmt.Errorf("checking cgroup id %q: want 1-128 of [A-Za-z0-9._-]: %w", id, ErrInvalid)
	}
	return nil
}
