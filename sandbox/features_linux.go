package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Feature is a kernel feature the runner uses or might, as probed on this
// kernel: whether it is there, and what the runner does about it.
type Feature struct {
	Name    string // "openat2", "memory.peak", ...
	Since   string // the Linux version that brought it, e.g. "5.6"
	Present bool
	// Missing is what the runner does where the kernel lacks it: "refuse"
	// (Start fails with ErrUnsupported naming the feature), "fallback: ..."
	// or "unused".
	Missing string
	Why     string // what the runner uses it for
}

// Applied is what applies on this kernel: "used", the fallback, "refused"
// or "unused".
func (f Feature) Applied() string {
	switch {
	case strings.HasPrefix(f.Missing, "unused"):
		return "unused by the runner"
	case f.Present:
		return "used"
	case f.Missing == "refuse":
		return "missing: the runner refuses to start"
	}
	return "missing: " + f.Missing
}

func (f Feature) String() string {
	have := "present"
	if !f.Present {
		have = "absent"
	}
	return fmt.Sprintf("%s (Linux %s): %s, %s (%s)", f.Name, f.Since, have, f.Applied(), f.Why)
}

var (
	featuresOnce sync.Once
	features     []Feature
)

// KernelFeatures probes, once per process, the kernel features the runner
// depends on or falls back from. The cgroup files are looked up in the
// caller's own v2 group; on a v1 host they do not apply and show absent
// with the v1 fallback.
func KernelFeatures() []Feature {
	featuresOnce.Do(func() { features = probeKernel() })
	return features
}

// checkKernel refuses a run on a kernel that lacks a feature the runner
// cannot do without, naming it, rather than failing somewhere inside the
// init stage with a bare ENOSYS.
// CLONE_INTO_CGROUP is needed only where the run's cgroup is v2.
func checkKernel(cgroupVersion int) error { return checkFeatures(KernelFeatures(), cgroupVersion) }

func checkFeatures(fs []Feature, cgroupVersion int) error {
	var missing []string
	for _, f := range fs {
		if f.Name == "CLONE_INTO_CGROUP" && cgroupVersion != 2 {
			continue
		}
		if f.Missing == "refuse" && !f.Present {
			missing = append(missing, fmt.Sprintf("%s (Linux %s, %s)", f.Name, f.Since, f.Why))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: this kernel lacks %s", ErrUnsupported, strings.Join(missing, "; "))
	}
	return nil
}

func probeKernel() []Feature {
	v2 := ownCgroupV2()
	cgfile := func(name string) bool {
		return v2 != "" && exists(v2+"/"+name)
	}
	return []Feature{
		{Name: "openat2", Since: "5.6", Present: syscallExists(openat2Probe()),
			Missing: "refuse", Why: "mount targets resolved inside the root"},
		{Name: "open_tree/move_mount", Since: "5.2", Present: syscallExists(openTreeProbe()),
			Missing: "refuse", Why: "bind mounts attached whole"},
		{Name: "mount_setattr", Since: "5.12", Present: syscallExists(mountSetattrProbe()),
			Missing: "refuse", Why: "binds made read-only before they are attached"},
		{Name: "pidfd_open", Since: "5.3", Present: syscallExists(pidfdProbe()),
			Missing: "fallback: plain pids (Go's os package)", Why: "signalling and waiting without pid reuse races"},
		{Name: "CLONE_INTO_CGROUP", Since: "5.7", Present: cloneIntoCgroupProbe(),
			Missing: "refuse", Why: "the init is born in its cgroup, on cgroup v2"},
		{Name: "cgroup.kill", Since: "5.14", Present: cgfile("cgroup.kill"),
			Missing: "fallback: freeze, SIGKILL each, thaw", Why: "killing a run's whole cgroup"},
		{Name: "memory.peak", Since: "5.19", Present: cgfile("memory.peak"),
			Missing: "fallback: memory_peak reported as 0", Why: "a run's peak memory (cgroup v2)"},
		{Name: "pids.peak", Since: "6.1", Present: cgfile("pids.peak"),
			Missing: "fallback: pids_peak not reported", Why: "a run's peak process count (cgroup v2)"},
		{Name: "time namespaces", Since: "5.6", Present: exists("/proc/self/ns/time"),
			Missing: "unused", Why: "not used by the runner"},
		{Name: "idmapped mounts", Since: "5.12", Present: syscallExists(mountSetattrProbe()),
			Missing: "unused", Why: "not used by the runner"},
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// syscallExists: a probe made with bad arguments fails with anything but
// ENOSYS where the syscall exists.
func syscallExists(err error) bool { return !errors.Is(err, unix.ENOSYS) }

func openat2Probe() error {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err == nil {
		unix.Close(fd)
	}
	return err
}

func openTreeProbe() error {
	_, err := unix.OpenTree(-1, "", unix.AT_EMPTY_PATH) // EBADF where it exists
	return err
}

func mountSetattrProbe() error {
	return unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{}) // EBADF where it exists
}

func pidfdProbe() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// cloneIntoCgroupProbe calls clone3 with CLONE_INTO_CGROUP and a cgroup fd
// that cannot be open: EBADF where the flag is known, before anything is
// forked; ENOSYS (no clone3), E2BIG (args too large for the kernel's
// struct) or EINVAL (unknown flag) where it is not.
func cloneIntoCgroupProbe() bool {
	args := struct {
		flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
	}{flags: unix.CLONE_INTO_CGROUP, exitSignal: uint64(unix.SIGCHLD), cgroup: 1<<31 - 1}
	pid, _, errno := unix.Syscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	if errno == 0 {
		if pid == 0 {
			unix.Exit(0) // cannot happen: the fd is not open
		}
		var ws unix.WaitStatus
		unix.Wait4(int(pid), &ws, 0, nil)
		return true
	}
	return errno == unix.EBADF
}

// ownCgroupV2 is the directory of the caller's cgroup v2 group where
// /sys/fs/cgroup is the v2 hierarchy, or "".
func ownCgroupV2() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return ""
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return "/sys/fs/cgroup" + strings.TrimSuffix(p, "/")
		}
	}
	return ""
}
