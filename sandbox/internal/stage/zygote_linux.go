//go:build cgo

package stage

/*
#define _GNU_SOURCE
#include <sched.h>
#include "zygote.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ZygoteArg0 is the name the zygote is exec'd under, where the process
// that starts a sandbox did not fork one before its runtime started.
const ZygoteArg0 = C.ZYGOTE_ARG0

// zygote is this process's connection to its zygote.
type zygote struct {
	mu   sync.Mutex
	sock syscall.RawConn // on the runtime's poller: a clone takes a while
	err  error
	// sibling: the zygote is our parent's child, and so is its PID 1.
	sibling bool
	pid     int
	// hinted: the flags of the last Ahead since the last request, which
	// a second Ahead (the CLI's, then Start's) need not send again.
	hinted uintptr
	// requests counts the requests sent (see AheadOfNext).
	requests int
	// builds: the build hashes of the last two requests (see AheadOfNext).
	builds [2]uint64
}

var wantSibling atomic.Bool

// SiblingZygote asks for this process's zygote to be its sibling rather
// than its child, so that every PID 1 it clones is this process's
// parent's child: handed off (Config.HandedOff) to a parent that waits
// for it itself. An OCI runtime's monitor wants this: the engine's
// subreaper (conmon, containerd's shim) waits for the container's PID 1
// once create has exited. It must come before the first StartSpawn; a zygote
// the constructor forked is a child or a sibling already, as
// sandbox_zygote_wanted said.
func SiblingZygote() { wantSibling.Store(true) }

// HandsOff reports whether the PID 1 this process spawns is handed off
// to its parent (SiblingZygote), which starts the zygote if need be.
func HandsOff() (bool, error) {
	z := theZygote()
	return z.sibling, z.err
}

// ZygotePid is the sibling zygote's pid, for the parent to reap (it ends
// once it has made PID 1, or when this process does), or 0 for none.
func ZygotePid() int {
	if z := theZygote(); z.sibling {
		return z.pid
	}
	return 0
}

// KeepsBuild reports whether a run of this process with namespaces flags
// keeps its build part at BuildCache, for the next process's first spare
// to build ahead from: the constructor's zygote read it
// (sandbox_zygote_cached_build), and that spare has these namespaces.
func KeepsBuild(flags uintptr) bool {
	return C.sandbox_zygote_cache != 0 && uint64(C.sandbox_zygote_cache) == uint64(flags)
}

var theZygote = sync.OnceValue(func() *zygote {
	fd := int(C.sandbox_zygote_sock)
	z := &zygote{sibling: C.sandbox_zygote_sibling != 0, pid: int(C.sandbox_zygote_pid)}
	if fd < 0 {
		z.sibling = wantSibling.Load()
		if fd, z.pid, z.err = execZygote(z.sibling); z.err != nil {
			return z
		}
	}
	if z.err = unix.SetNonblock(fd, true); z.err == nil {
		z.sock, z.err = os.NewFile(uintptr(fd), "zygote").SyscallConn()
	}
	if z.err != nil {
		z.err = fmt.Errorf("connecting to the zygote: %w", z.err)
	}
	return z
})

// execZygote starts a zygote for a process whose constructor did not fork
// one: this binary again, as ZygoteArg0, which serves from its
// constructor on. It lives as long as this process (it ends when its
// socket's other end closes), so it is never waited for (a zombie of it,
// should something kill it sooner, is no worse than a thread blocked
// waiting for it all along; the next StartSpawn then says it is gone).
//
// Every PID 1 it clones has, for its parent-death signal, the thread that
// started the zygote as its parent (CLONE_PARENT takes the zygote's): so
// that thread is one of our own, locked and never ended. Go ends a thread
// whose locked goroutine returns, which would kill every sandbox at once.
// A sibling has none of that: its PID 1s have no parent-death signal
// (see pid1 in zygote.c).
func execZygote(sibling bool) (fd, pid int, err error) {
	if sibling {
		return startZygote(true)
	}
	type started struct {
		fd, pid int
		err     error
	}
	done := make(chan started)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		fd, pid, err := startZygote(false)
		done <- started{fd, pid, err}
		if err == nil {
			select {}
		}
	}()
	r := <-done
	return r.fd, r.pid, r.err
}

func startZygote(sibling bool) (fd, pid int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("starting zygote: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "zygote")
	defer child.Close()
	// It goes with this process at once, not only at its socket's EOF
	// a moment later: whoever removes this process's cgroup next finds
	// it empty. Its parent thread is the locked one, which never ends.
	attr := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	args := []string{ZygoteArg0}
	if sibling {
		// Our parent's child, which may exit before us: it ends after its
		// PID 1, or at the socket's EOF.
		attr = &syscall.SysProcAttr{Setsid: true, Cloneflags: syscall.CLONE_PARENT}
		args = append(args, C.ZYGOTE_SIBLING_ARG)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        args,
		Env:         []string{},
		ExtraFiles:  []*os.File{child},
		SysProcAttr: attr,
	}
	if err := cmd.Start(); err != nil {
		unix.Close(fds[0])
		return -1, 0, fmt.Errorf("starting zygote: %w", err)
	}
	return fds[0], cmd.Process.Pid, nil
}

// StartSpawn asks the zygote to clone PID 1 for r, and returns at once:
// the zygote clones (making the namespaces, the costly part) while the
// caller goes on; Wait has the answer. Until then r's descriptors must stay
// open, and no other StartSpawn is asked.
func StartSpawn(r SpawnRequest) *Spawning {
	fail := func(err error) *Spawning { return &Spawning{wait: func() (int, error) { return 0, err }} }
	z := theZygote()
	if z.err != nil {
		return fail(z.err)
	}
	var fds []int
	for _, f := range r.Files {
		fds = append(fds, int(f.Fd()))
	}
	var cg, join, detach uint32
	if r.CgroupFD >= 0 {
		fds = append(fds, r.CgroupFD)
		cg = 1
	}
	if r.Join != nil {
		fds = append(fds, int(r.Join.Fd()))
		join = 1
	}
	if r.Detach {
		detach = 1
	}
	if len(fds) > C.ZY_MAXFD {
		return fail(fmt.Errorf("starting init: %d descriptors, at most %d", len(fds), C.ZY_MAXFD))
	}
	req := C.struct_zy_req{
		version: C.ZY_VERSION,
		nchild:  C.uint32_t(len(r.Files)),
		cgroup:  C.uint32_t(cg),
		flags:   C.uint64_t(r.Flags),
		ctrl:    C.int32_t(r.Ctrl),
		nctrl:   C.int32_t(r.NCtrl),
		gate:    C.int32_t(r.Gate),
		join:    C.uint32_t(join),
		detach:  C.uint32_t(detach),
		build:   C.uint64_t(r.Build),
	}
	msg := unsafe.Slice((*byte)(unsafe.Pointer(&req)), unsafe.Sizeof(req))

	z.mu.Lock()
	z.hinted = 0
	z.requests++
	z.builds = [2]uint64{z.builds[1], r.Build}
	var serr error
	err := z.sock.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, unix.UnixRights(fds...), nil, 0)
		return serr != unix.EAGAIN && serr != unix.EINTR
	})
	// The kernel holds the descriptors from here on.
	runtime.KeepAlive(r)
	if err == nil {
		err = serr
	}
	if err != nil {
		z.mu.Unlock()
		return fail(fmt.Errorf("asking the zygote for init: %w", err))
	}
	s := &Spawning{}
	s.wait = func() (int, error) {
		defer z.mu.Unlock()
		pid, built, err := z.reply()
		s.Built = built
		return pid, err
	}
	return s
}

// Ahead tells the zygote that a request with these namespace flags
// follows, so that it clones a spare PID 1 meanwhile (see zygote.c), with
// idle CPU time, and on a CPU other than the caller's (see make_spare).
// It is a hint: nothing answers it, and a spare that the request does not
// fit is dropped.
func Ahead(flags uintptr) { ahead(flags, nil) }

// ahead sends the hint, with build (EncodeBuild's bytes) for the spare to
// build its container from, if not nil.
func ahead(flags uintptr, build []byte) {
	z := theZygote()
	if z.err != nil {
		return
	}
	req := C.struct_zy_req{version: C.ZY_VERSION, flags: C.uint64_t(flags), ahead: 1, gate: -1, cpu: C.int32_t(C.sched_getcpu())}
	msg := append(unsafe.Slice((*byte)(unsafe.Pointer(&req)), unsafe.Sizeof(req)), build...)
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.hinted == flags {
		return
	}
	z.hinted = flags
	z.sock.Write(func(fd uintptr) bool {
		err := unix.Sendmsg(int(fd), msg, nil, nil, 0)
		return err != unix.EAGAIN && err != unix.EINTR
	})
}

// AheadOfNext is Ahead for the run after this one, said when this one's
// PID 1 reports, by a process that has asked for two PID 1s or more (a
// judge's loop, an API caller's, and not a CLI run, which would pay for a
// spare it never uses). Then is when the clone does the least harm: made
// as a request was answered, it ran, in the kernel and unpreempted (the
// kernels here preempt none of it), beside the PID 1 just started, and
// held it back by up to a millisecond in half the runs of a loop.
//
// build is this run's build part (EncodeBuild). When the last two runs
// had the same one (a loop of one command line: a test's repetitions, a
// judge's tests that differ only in what CMD reads), the spare builds
// that container too, before the next request comes: PID 1's build (its
// mounts and pivot_root, most of what it does before CMD) is then off
// the next run's path. Otherwise the spare is one that builds at its
// request, which fits any: one built ahead fits only a request with the
// same build part, and another would wait for a clone.
func AheadOfNext(flags uintptr, build []byte) {
	z := theZygote()
	z.mu.Lock()
	n, builds := z.requests, z.builds
	z.mu.Unlock()
	if z.err != nil || n < 2 {
		return
	}
	if builds[0] != builds[1] || builds[1] == 0 || len(build) > C.ZY_MAXBUILD || BuildHash(build) != builds[1] {
		build = nil
	}
	ahead(flags, build)
}

// reply reads the zygote's answer to the request just sent.
func (z *zygote) reply() (pid int, built bool, _ error) {
	var buf [16]byte
	var n int
	var rerr error
	err := z.sock.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf[:], 0)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("asking the zygote for init: %w", err)
	case n == 0:
		z.err = fmt.Errorf("asking the zygote for init: the zygote is gone")
		return 0, false, z.err
	case n != len(buf):
		return 0, false, fmt.Errorf("asking the zygote for init: a reply of %d bytes", n)
	}
	errno := int32(binary.NativeEndian.Uint32(buf[0:4]))
	pid1 := int32(binary.NativeEndian.Uint32(buf[4:8]))
	if gone := int(int32(binary.NativeEndian.Uint32(buf[8:12]))); gone > 0 {
		// A spare the zygote dropped (see zygote.c): our child, killed,
		// reaped beside the run: its end tears down its namespaces, and
		// those of one that built its container ahead hold every mount of
		// it (0.5 to 1 ms, which the run's start waited for).
		go func() {
			var ws syscall.WaitStatus
			for {
				if _, err := syscall.Wait4(gone, &ws, 0, nil); err != syscall.EINTR {
					break
				}
			}
		}()
	}
	if errno != 0 {
		return 0, false, fmt.Errorf("cloning init: %w", os.NewSyscallError("clone3", syscall.Errno(errno)))
	}
	return int(pid1), binary.NativeEndian.Uint32(buf[12:16]) != 0, nil
}
