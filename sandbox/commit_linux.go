package sandbox

import (
	"fmt"
	"os"
	"strconv"

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
