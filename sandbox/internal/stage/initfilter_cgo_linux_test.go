//go:build cgo

package stage

import (
	"slices"
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox/internal/seccomp"
	"golang.org/x/sys/unix"
)

// TestInitFilter runs PID 1's own filter, as the C init stage assembles
// it, on every syscall number: its loop's syscalls pass, ioctl only to
// receive seccomp notifications, everything else and every other ABI gets
// EPERM; and each number is decided in a few instructions, since the
// kernel runs the filter for every number as it attaches it (tested one
// by one, the list took 35 instructions for most numbers).
func TestInitFilter(t *testing.T) {
	prog, allowed := cInitFilter()
	if len(allowed) < 20 {
		t.Fatalf("%d syscalls allowed: the list did not come through", len(allowed))
	}
	native, err := seccomp.Native()
	if err != nil {
		t.Skip(err)
	}
	eperm := seccomp.Errno(unix.EPERM)
	worst := 0
	eval := func(d seccomp.Data) seccomp.Action {
		t.Helper()
		act, steps, err := seccomp.Eval(prog, d)
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, steps)
		return act
	}
	for nr := range uint32(1024) {
		want := eperm
		if slices.Contains(allowed, nr) {
			want = seccomp.Allow
		}
		d := seccomp.Data{Nr: nr, Arch: native.Audit}
		if nr == unix.SYS_IOCTL {
			d.Args[1] = unix.SECCOMP_IOCTL_NOTIF_RECV
			if got := eval(d); got != seccomp.Allow {
				t.Errorf("ioctl SECCOMP_IOCTL_NOTIF_RECV: got %#x, want it allowed", got)
			}
			d.Args[1] = unix.TIOCSTI
			if got := eval(d); got != eperm {
				t.Errorf("ioctl TIOCSTI: got %#x, want EPERM", got)
			}
			d.Args[1] = 1<<32 | unix.SECCOMP_IOCTL_NOTIF_RECV
			if got := eval(d); got != eperm {
				t.Errorf("ioctl SECCOMP_IOCTL_NOTIF_RECV with a high word: got %#x, want EPERM", got)
			}
			continue
		}
		if got := eval(d); got != want {
			t.Errorf("syscall %d: got %#x, want %#x", nr, got, want)
		}
		if got := eval(seccomp.Data{Nr: nr, Arch: unix.AUDIT_ARCH_I386}); got != eperm {
			t.Errorf("syscall %d of i386: got %#x, want EPERM", nr, got)
		}
		if native.X32 {
			if got := eval(seccomp.Data{Nr: nr | 0x40000000, Arch: native.Audit}); got != eperm {
				t.Errorf("syscall %d of x32: got %#x, want EPERM", nr, got)
			}
		}
	}
	if worst > 16 {
		t.Errorf("a syscall takes %d instructions to decide (program of %d), want at most 16", worst, len(prog))
	}
}
