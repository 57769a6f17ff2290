package stage

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// SpawnRequest is what PID 1 is made of: its descriptors and namespaces,
// and where it is confined from birth.
type SpawnRequest struct {
	// Files become PID 1's descriptors 0, 1, 2 and on, in order; none nil.
	Files []*os.File
	// Ctrl is PID 1's control socket as PID 1 numbers it; it and the
	// NCtrl-1 after it are the runner's (the rest are CMD's). Gate is the
	// start gate, one of them, or -1.
	Ctrl, NCtrl, Gate int
	// Flags are the CLONE_NEW* flags of the sandbox's namespaces.
	Flags uintptr
	// CgroupFD is the v2 cgroup PID 1 is born in, or -1.
	CgroupFD int
	// Join, a pidfd of a running sandbox's PID 1, has PID 1 enter the
	// namespaces named in Flags (those that differ from the runner's)
	// instead of making new ones: an exec in that sandbox. Nil otherwise.
	Join *os.File
	// Detach: no parent-death signal, for an exec that outlives the runner.
	Detach bool
	// Build is BuildHash of the config's build part (EncodeBuild), which
	// a spare that built its container ahead must have built from; 0 for
	// a PID 1 that builds its own.
	Build uint64
}

// Spawning is a Spawn asked for (StartSpawn) and not yet answered.
type Spawning struct {
	wait func() (int, error)
	// Built, once Wait has returned: PID 1 is a spare that built its
	// container ahead (AheadOfNext).
	Built bool
}

// Wait returns PID 1's pid. PID 1 is this process's child (or, handed off,
// its parent's); it waits for the GoByte on its control socket (SendGo).
func (s *Spawning) Wait() (int, error) { return s.wait() }

// SendConfig sends PID 1 its Config, which it builds the container from
// (its mounts and root) at once: ctrl is the runner's end of PID 1's
// control socket. Whatever PID 1 needs to build (a rootless run's id
// maps) must be in place first; what confines it comes with SendGo.
func SendConfig(ctrl *os.File, cfg *Config) error {
	_, err := ctrl.Write(EncodeConfig(cfg))
	return err
}

// SendGo lets PID 1 go, after SendConfig: the GoByte, with the v1 tasks
// files PID 1 moves itself into before anything else (none on v2, where
// it was born in its group). Everything that confines PID 1 from outside
// (its cgroup, oom_score_adj) must be in place first: the exec stage,
// forked next, inherits it.
//
// leave, when there are any, are the tasks files of the groups' parent,
// which PID 1 moves into at its end, after it has ended every other
// process of the sandbox and before it reports (Exit.LeftCgroup): the
// runner can then remove the run's groups while PID 1's namespaces are
// torn down. A second byte counts the tasks files to move into.
func SendGo(ctrl *os.File, tasks, leave []*os.File) error {
	rc, err := ctrl.SyscallConn()
	if err != nil {
		return err
	}
	if len(tasks)+len(leave) > MaxGoFiles {
		return fmt.Errorf("%d tasks files, more than the %d PID 1 takes", len(tasks)+len(leave), MaxGoFiles)
	}
	var fds []int
	for _, f := range append(append([]*os.File{}, tasks...), leave...) {
		fds = append(fds, int(f.Fd()))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	msg := []byte{GoByte, byte(len(tasks))}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, oob, nil, 0)
		return serr != unix.EAGAIN && serr != unix.EINTR
	}); err != nil {
		return err
	}
	runtime.KeepAlive(tasks)
	runtime.KeepAlive(leave)
	return serr
}

// AwaitWord waits until PID 1 has written on ctrl, and leaves what it
// wrote there: a held PID 1's newline once it is in the run's groups, or
// its report.
func AwaitWord(ctrl *os.File) error {
	rc, err := ctrl.SyscallConn()
	if err != nil {
		return err
	}
	var b [1]byte
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		var n int
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if rerr == nil && n == 0 {
			rerr = io.ErrUnexpectedEOF
		}
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	}); err != nil {
		return err
	}
	return rerr
}
