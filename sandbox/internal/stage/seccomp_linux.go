package stage

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loadSeccomp installs the filter on the calling thread, which then execs
// CMD. With Notify it returns the listener descriptor for PID 1, else -1.
func loadSeccomp(p *SeccompProgram) (int, error) {
	if p == nil || len(p.Filter) == 0 {
		return -1, nil
	}
	fprog := unix.SockFprog{Len: uint16(len(p.Filter)), Filter: &p.Filter[0]}
	flags := uintptr(0)
	if p.Notify {
		flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, fmt.Errorf("loading seccomp filter: %w", errno)
	}
	if !p.Notify {
		return -1, nil
	}
	return int(r), nil
}

// seccompNotif is struct seccomp_notif (linux/seccomp.h).
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// watchSeccomp serves the filter's "kill" rules in PID 1: each notification
// is a process making a refused syscall; it is killed, and the first
// syscall so refused is named in the report (nsjail reports only SIGSYS).
func watchSeccomp(listener int, p *SeccompProgram, refused func(name string)) {
	f := os.NewFile(uintptr(listener), "seccomp")
	defer f.Close()
	for {
		var n seccompNotif
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		if errno == unix.EINTR || errno == unix.ENOENT { // interrupted, or the caller died first
			continue
		}
		if errno != 0 {
			return // every filtered process is gone
		}
		name := fmt.Sprintf("syscall %d", n.Nr)
		if s, ok := p.Names[int(n.Nr)]; ok {
			name = s
		}
		refused(name)
		unix.Kill(int(n.Pid), unix.SIGKILL)
	}
}
