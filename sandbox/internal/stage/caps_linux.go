package stage

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropPrivileges leaves the calling thread (the one that execs CMD) with
// the sandbox's identity and only the capabilities the Spec keeps, in every
// set including the bounding set, and with no_new_privs, so neither setuid
// binaries nor file capabilities can give any back.
//
// The calls are raw, per-thread syscalls on purpose: the Go runtime's
// all-threads setuid is not needed: only the exec'ing thread's
// credentials reach CMD.
func dropPrivileges(uid, gid uint32, caps []int) error {
	keep := map[int]bool{}
	var mask uint64
	for _, c := range caps {
		keep[c] = true
		mask |= 1 << uint(c)
	}
	for c := 0; c < 64; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL { // past the kernel's last capability
				break
			}
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if len(keep) > 0 && uid != 0 {
		// Keep permitted capabilities across the uid change, for ambient.
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keeping capabilities: %w", err)
		}
	}
	groups := []uint32{gid} // gid_t
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 && !(e == unix.EPERM && setgroupsDenied()) {
		return fmt.Errorf("setting groups: %w", e)
	}
	g := uintptr(gid)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, g, g, g); e != 0 {
		return fmt.Errorf("setting gid %d: %w", gid, e)
	}
	u := uintptr(uid)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, u, u, u); e != 0 {
		return fmt.Errorf("setting uid %d: %w", uid, e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(mask), Permitted: uint32(mask), Inheritable: uint32(mask)},
		{Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32), Inheritable: uint32(mask >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	if uid != 0 {
		// A non-root CMD keeps added capabilities across exec only as
		// ambient ones.
		for c := range keep {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				return fmt.Errorf("raising ambient capability %d: %w", c, err)
			}
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}

// setgroupsDenied: in a user namespace whose gid_map an unprivileged runner
// wrote (a rootless run with a single-id map), the kernel denies
// setgroups(2) for good; the caller's supplementary groups then stay, as
// they are in every unprivileged sandbox.
func setgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.HasPrefix(string(b), "deny")
}
