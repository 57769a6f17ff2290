package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/sandbox/internal/seccomp"
	"golang.org/x/sys/unix"
)

// probeEnv makes the test binary, run inside a sandbox, make one syscall
// and print how it went: "ok" or the errno's name.
const probeEnv = "SANDBOX_TEST_PROBE"

func probeMain(name string) int {
	var err error
	if path, ok := strings.CutPrefix(name, "connect-unix="); ok {
		name = "connect-unix"
		var fd int
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err == nil {
			err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		}
	}
	switch name {
	case "connect-unix":
	case "keyctl":
		_, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, true)
	case "add_key":
		_, err = unix.AddKey("user", "probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	case "bpf":
		_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		err = errnoErr(e)
	case "perf_event_open":
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
		_, err = unix.PerfEventOpen(&attr, 0, -1, -1, 0)
	case "io_uring_setup":
		var params [120]byte
		_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
		err = errnoErr(e)
	case "userfaultfd":
		_, _, e := unix.Syscall(unix.SYS_USERFAULTFD, 0, 0, 0)
		err = errnoErr(e)
	case "mount":
		err = unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "")
	case "unshare-user":
		err = unix.Unshare(unix.CLONE_NEWUSER)
	case "personality-linux32":
		_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0x0008|0x0800000, 0, 0)
		err = errnoErr(e)
	case "personality-default":
		_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		err = errnoErr(e)
	case "clock_settime":
		err = unix.ClockSettime(unix.CLOCK_REALTIME, &unix.Timespec{Sec: 1})
	case "reboot":
		err = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	case "syslog":
		_, err = unix.Klogctl(3, make([]byte, 16))
	default:
		fmt.Println("unknown probe", name)
		return 2
	}
	if err != nil {
		fmt.Println(unix.ErrnoName(errnoOf(err)))
		return 0
	}
	fmt.Println("ok")
	return 0
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

// probe runs the test binary inside a sandbox as a probe of syscall name.
func probe(t *testing.T, name string, sc *Seccomp) (string, *Result) {
	t.Helper()
	// The test binary lives under the host's /tmp, which the sandbox
	// replaces: bind it in.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := &Spec{Args: []string{"/probe"}, Seccomp: sc,
		Mounts: []Mount{{Type: MountBind, Source: self, Destination: "/probe", ReadOnly: true}}}
	s.Env = append(HermeticEnv(os.Environ()), probeEnv+"="+name)
	out, _, res := run(t, s)
	return strings.TrimSpace(out), res
}

func TestSeccompDefault(t *testing.T) {
	needRunner(t)
	// Refused with EPERM by the default filter. Without it, these would
	// give other answers (ENOKEY, EINVAL, EFAULT, ...), or succeed.
	refused := []string{"keyctl", "add_key", "bpf", "perf_event_open", "io_uring_setup", "userfaultfd",
		"mount", "unshare-user", "personality-linux32", "clock_settime", "reboot", "syslog"}
	for _, name := range refused {
		t.Run(name, func(t *testing.T) {
			got, res := probe(t, name, nil)
			if got != "EPERM" || res.Status != StatusOK {
				t.Errorf("%s under the default filter: %q (%s %s), want EPERM", name, got, res.Status, res.Message)
			}
		})
	}
	t.Run("default personality allowed", func(t *testing.T) {
		if got, _ := probe(t, "personality-default", nil); got != "ok" {
			t.Errorf("personality(0xffffffff): %q", got)
		}
	})
	t.Run("unconfined", func(t *testing.T) {
		got, _ := probe(t, "keyctl", &Seccomp{Unconfined: true})
		if got == "EPERM" {
			t.Errorf("keyctl unconfined: %q, want anything but the filter's EPERM", got)
		}
	})
}

func TestSeccompKillNamesSyscall(t *testing.T) {
	needRunner(t)
	sc := DefaultSeccomp()
	sc.Rules = append([]SeccompRule{{Names: []string{"keyctl"}, Action: "kill"}}, sc.Rules...)
	got, res := probe(t, "keyctl", sc)
	type verdict struct {
		Output  string
		Status  Status
		Signal  int
		Refused string
		Message string
	}
	want := verdict{"", StatusSignal, 9, "keyctl", "killed: syscall keyctl refused by the seccomp filter"}
	if diff := cmp.Diff(want, verdict{got, res.Status, res.Signal, res.Refused, res.Message}); diff != "" {
		t.Errorf("keyctl under a kill rule (-want +got):\n%s", diff)
	}
}

func TestSeccompPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		p    Seccomp
		want string
	}{
		{"bad default", Seccomp{DefaultAction: "maybe"}, `default action "maybe"`},
		{"bad action", Seccomp{Rules: []SeccompRule{{Names: []string{"read"}, Action: "deny"}}}, `action "deny"`},
		{"no names", Seccomp{Rules: []SeccompRule{{Action: "errno"}}}, "no syscall names"},
		{"bad op", Seccomp{Rules: []SeccompRule{{Names: []string{"read"}, Action: "errno", Args: []SeccompArg{{Op: "like"}}}}}, `op "like"`},
		{"unknown syscall", Seccomp{Rules: []SeccompRule{{Names: []string{"frobnicate"}, Action: "errno"}}}, `no syscall "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileSeccomp(&tt.p, false)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("compileSeccomp: %v, want ErrInvalidSpec naming %q", err, tt.want)
			}
		})
	}
}

func TestDeviceCgroup(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/sys/fs/cgroup/devices"); err != nil {
		t.Skip("needs the v1 devices controller")
	}
	// Under the host's /var/tmp, which the default root overlays: the
	// nodes reach the sandbox at the same path, and only the devices
	// cgroup stands between them and CMD.
	dir, err := os.MkdirTemp("/var/tmp", "devcg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// /dev/kmsg's numbers (1:11): a node that opens without capabilities
	// anywhere but in a devices cgroup that does not list it.
	if err := unix.Mknod(dir+"/kmsg", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 11))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(dir+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	s := sh("(echo x > " + dir + "/kmsg) 2>&1 | tr A-Z a-z; echo x > " + dir + "/null && echo null-ok")
	out, _, _ := run(t, s)
	if !strings.Contains(out, "operation not permitted") || !strings.Contains(out, "null-ok") {
		t.Errorf("a host device node in the root: %q, want it refused and /dev/null's numbers allowed", out)
	}
	// Binds are nodev: there, no node opens at all.
	s = sh("(echo x > /devs/null) 2>&1 | tr A-Z a-z")
	s.Mounts = []Mount{{Type: MountBind, Source: dir, Destination: "/devs"}}
	if out, _, _ := run(t, s); !strings.Contains(out, "permission denied") {
		t.Errorf("a device node in a bind: %q, want it refused (nodev)", out)
	}
}

func TestSeccompOps(t *testing.T) {
	want := map[string]seccomp.Op{"eq": seccomp.Eq, "ne": seccomp.Ne, "gt": seccomp.Gt, "ge": seccomp.Ge,
		"lt": seccomp.Lt, "le": seccomp.Le, "bits-set": seccomp.BitsSet, "bits-clear": seccomp.BitsClear}
	got := map[string]seccomp.Op{}
	for _, op := range seccompOps {
		got[op] = seccompOp(op)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy ops to the assembler's (-want +got):\n%s", diff)
	}
}
