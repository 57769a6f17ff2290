package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// hostArch is the machine, as uname -m says it.
func hostArch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// RealProbes tries each thing on this host. cgroupRoot is where the
// runner makes its groups (limits.DefaultRoot when empty), runDir its run
// state (sandbox.DefaultRunDir when empty).
func RealProbes(cgroupRoot, runDir string) Probes {
	return Probes{
		UserNS:     userNS,
		NetNS:      func() error { return inNewThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }) },
		Overlay:    overlay,
		Cgroup:     func() error { return cgroup(cgroupRoot) },
		Seccomp:    seccompFilter,
		Pidfd:      pidfd,
		Openat2:    openat2,
		IntoCgroup: func() error { return intoCgroup(cgroupRoot) },
		TimeNS:     timeNS,
		KVM:        kvm,
		Run:        func() error { return defaultRun(cgroupRoot, runDir) },
	}
}

// inNewThread runs fn on a thread of its own that ends with it, so that
// what fn changes (namespaces, filters) dies with the thread.
func inNewThread(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		ch <- fn()
	}()
	return <-ch
}

// userNS starts a child that only exits, in a user namespace of its own
// with the caller mapped to root inside.
func userNS() error {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("making a user namespace: %w", err)
	}
	return nil
}

// overlay mounts an overlay of two empty directories in a mount namespace
// of a thread's own (as root), or of a child's in a user namespace.
func overlay() error {
	dir, err := os.MkdirTemp("", "sandbox-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", dir, dir, dir)
	if os.Geteuid() != 0 {
		// A thread cannot enter a user namespace of its own in a
		// multi-threaded process: the sandbox's own run tries that.
		return errors.New("not tried without root: the default run below mounts one in a user namespace")
	}
	return inNewThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("making a mount namespace: %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("making mounts private: %w", err)
		}
		if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting an overlay: %w", err)
		}
		return unix.Unmount(filepath.Join(dir, "merged"), unix.MNT_DETACH)
	})
}

// cgroup makes a group of the runner's, with a memory limit, and removes it.
func cgroup(root string) error {
	if root == "" {
		root = limits.DefaultRoot
	}
	l := limits.Limits{Memory: 64 << 20}
	cg, err := limits.New(root, fmt.Sprintf("check-%d", os.Getpid()), l)
	if err != nil {
		return err
	}
	return cg.Delete()
}

func seccompFilter() error {
	return inNewThread(func() error {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("setting no_new_privs: %w", err)
		}
		allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
		prog := unix.SockFprog{Len: 1, Filter: &allow[0]}
		if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
			return fmt.Errorf("loading a filter: %w", err)
		}
		return nil
	})
}

func pidfd() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	return unix.Close(fd)
}

func openat2() error {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return fmt.Errorf("openat2: %w", err)
	}
	return unix.Close(fd)
}

// intoCgroup starts /bin/true born in a v2 group of the runner's.
func intoCgroup(root string) error {
	if root == "" {
		root = limits.DefaultRoot
	}
	cg, err := limits.New(root, fmt.Sprintf("check-clone-%d", os.Getpid()), limits.Limits{})
	if err != nil {
		return err
	}
	defer cg.Delete()
	if cg.Version() != 2 {
		return errors.New("the runner's groups are v1 here")
	}
	fd, err := cg.OpenFD()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("clone3 with CLONE_INTO_CGROUP: %w", err)
	}
	return nil
}

func timeNS() error {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		return errors.New("no /proc/self/ns/time: the kernel has no time namespaces")
	}
	if os.Geteuid() != 0 {
		return nil // present; made inside the run's user namespace
	}
	return inNewThread(func() error { return unix.Unshare(unix.CLONE_NEWTIME) })
}

func kvm() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	if v != 12 {
		return fmt.Errorf("KVM API version %d, want 12", v)
	}
	return nil
}

// defaultRun is the check that counts: the default sandbox, for real.
func defaultRun(cgroupRoot, runDir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := sandbox.Run(ctx, &sandbox.Spec{Args: []string{"/bin/true"}, CgroupRoot: cgroupRoot, RunDir: runDir})
	if err != nil {
		return err
	}
	if res.Status != sandbox.StatusOK {
		return fmt.Errorf("/bin/true ended %s: %s (exit status %s)", res.Status, res.Message, strconv.Itoa(res.ExitStatus()))
	}
	return nil
}
