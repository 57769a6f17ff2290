package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A run that may be committed keeps its writable layer where a run that
// is thrown away does: in a tmpfs of Disk bytes, not in the store on the
// host's disk, so that --disk holds with --commit too. That tmpfs must
// outlive the sandbox's mount namespace (the commit comes after PID 1 is
// gone), so the runner makes it itself, detached (fsopen, fsmount: in no
// mount table at all, gone with its last descriptor, whatever kills the
// runner), and hands PID 1 its descriptor: the root's overlay takes
// /proc/self/fd/N/u as its upper. After the run the upper is copied into
// the store's (snapshot.CopyLayer), which the commit then keeps.
type commitLayer struct {
	mnt *os.File // the detached tmpfs
}

// newCommitLayer makes the detached tmpfs with the upper and work
// directories of the root's overlay.
func newCommitLayer(disk int64) (*commitLayer, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%w: making the writable layer of a commit: fsopen: %w", ErrUnsupported, err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"size", strconv.FormatInt(disk, 10)},
		{"nr_inodes", strconv.FormatInt(tmpfsInodes(disk), 10)}, {"mode", "0700"}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return nil, fmt.Errorf("making the writable layer of a commit: tmpfs %s=%s: %w", o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("making the writable layer of a commit: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return nil, fmt.Errorf("making the writable layer of a commit: fsmount: %w", err)
	}
	l := &commitLayer{mnt: os.NewFile(uintptr(mfd), "commit-layer")}
	for _, d := range []string{"u", "w"} {
		if err := unix.Mkdirat(mfd, d, 0o755); err != nil {
			l.close()
			return nil, fmt.Errorf("making the writable layer of a commit: %w", err)
		}
	}
	return l, nil
}

// upper is the upper directory as the runner reaches it.
func (l *commitLayer) upper() string { return fmt.Sprintf("/proc/self/fd/%d/u", l.mnt.Fd()) }

func (l *commitLayer) close() {
	if l != nil && l.mnt != nil {
		l.mnt.Close()
		l.mnt = nil
	}
}

// detachedUpperWorks says whether this kernel takes an overlay's upper and
// work directories on a detached mount (Linux 6.18 does; Debian's 6.1 and
// 6.12 answer EINVAL, found by vmtest). It is tried once per process, for
// real, in a mount namespace of a thread's own that ends with the thread.
var detachedUpperWorks = sync.OnceValue(func() bool {
	l, err := newCommitLayer(1 << 20)
	if err != nil {
		return false
	}
	defer l.close()
	lower, err := os.MkdirTemp("", "sandbox-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(lower)
	target, err := os.MkdirTemp("", "sandbox-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(target)
	ch := make(chan bool, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with its namespace
		if unix.Unshare(unix.CLONE_FS|unix.CLONE_NEWNS) != nil ||
			unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") != nil {
			ch <- false
			return
		}
		fd := l.mnt.Fd()
		opts := fmt.Sprintf("lowerdir=%s,upperdir=/proc/self/fd/%d/u,workdir=/proc/self/fd/%d/w", lower, fd, fd)
		err := unix.Mount("overlay", target, "overlay", 0, opts)
		if err == nil {
			unix.Unmount(target, unix.MNT_DETACH)
		}
		ch <- err == nil
	}()
	return <-ch
})

// CommitDiskBounded says whether --disk bounds the writable layer of a run
// that commits, here: with root, on a kernel that takes an overlay's upper
// layer on a detached tmpfs. Where it does not, such a run with --disk is
// refused, naming why.
func CommitDiskBounded() bool { return !Rootless() && detachedUpperWorks() }
