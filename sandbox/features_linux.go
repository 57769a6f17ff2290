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
// init stage with a bare ENOSYS. It is on every run's path, so it probes
// only those, each a syscall that fails at once: not the whole table
// KernelFeatures makes for `sandbox check`. CLONE_INTO_CGROUP, needed only
// where the run's cgroup is v2, is not probed here at all: its probe is a
// clone3 that the kernel refuses only after copying the runner's memory
// map (a fifth of a run's CPU in the runner on 6.18), and the run's own
// clone3 tells as much (cloneIntoCgroupRefused).
func checkKernel(cgroupVersion int) error {
	requiredOnce.Do(func() {
		for _, p := range kernelProbes {
			if p.Missing == "refuse" && p.Name != cloneIntoCgroup {
				f := p.Feature
				f.Present = p.probe()
				required = append(required, f)
			}
		}
	})
	return checkFeatures(required, cgroupVersion)
}

var (
	requiredOnce sync.Once
	required     []Feature
)

func checkFeatures(fs []Feature, cgroupVersion int) error {
	var missing []string
	for _, f := range fs {
		if f.Name == cloneIntoCgroup && cgroupVersion != 2 {
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

// cloneIntoCgroupRefused says whether err, from starting PID 1 into a v2
// cgroup, is the kernel not knowing CLONE_INTO_CGROUP, and words it as
// checkFeatures would have.
func cloneIntoCgroupRefused(err error) error {
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.E2BIG) && !errors.Is(err, unix.EINVAL) {
		return nil
	}
	for _, p := range kernelProbes {
		if p.Name == cloneIntoCgroup {
			return checkFeatures([]Feature{p.Feature}, 2)
		}
	}
	return nil
}

const cloneIntoCgroup = "CLONE_INTO_CGROUP"

// kernelProbes is every feature the runner knows, with how to probe it.
var kernelProbes = []struct {
	Feature
	probe func() bool
}{
	{Feature{Name: "openat2", Since: "5.6", Missing: "refuse", Why: "mount targets resolved inside the root"},
		func() bool { return syscallExists(openat2Probe()) }},
	{Feature{Name: "open_tree/move_mount", Since: "5.2", Missing: "refuse", Why: "bind mounts attached whole"},
		func() bool { return syscallExists(openTreeProbe()) }},
	{Feature{Name: "mount_setattr", Since: "5.12", Missing: "refuse", Why: "binds made read-only before they are attached"},
		func() bool { return syscallExists(mountSetattrProbe()) }},
	{Feature{Name: "pidfd_open", Since: "5.3", Missing: "fallback: plain pids (Go's os package)", Why: "signalling and waiting without pid reuse races"},
		func() bool { return syscallExists(pidfdProbe()) }},
	{Feature{Name: cloneIntoCgroup, Since: "5.7", Missing: "refuse", Why: "the init is born in its cgroup, on cgroup v2"},
		cloneIntoCgroupProbe},
	{Feature{Name: "cgroup.kill", Since: "5.14", Missing: "fallback: freeze, SIGKILL each, thaw", Why: "killing a run's whole cgroup"},
		func() bool { return ownCgroupFile("cgroup.kill") }},
	{Feature{Name: "memory.peak", Since: "5.19", Missing: "fallback: memory_peak reported as 0", Why: "a run's peak memory (cgroup v2)"},
		func() bool { return ownCgroupFile("memory.peak") }},
	{Feature{Name: "pids.peak", Since: "6.1", Missing: "fallback: pids_peak not reported", Why: "a run's peak process count (cgroup v2)"},
		func() bool { return ownCgroupFile("pids.peak") }},
	{Feature{Name: "time namespaces", Since: "5.6", Missing: "unused", Why: "not used by the runner"},
		func() bool { return exists("/proc/self/ns/time") }},
	{Feature{Name: "idmapped mounts", Since: "5.12", Missing: "unused", Why: "not used by the runner"},
		func() bool { return syscallExists(mountSetattrProbe()) }},
}

func probeKernel() []Feature {
	fs := make([]Feature, len(kernelProbes))
	for i, p := range kernelProbes {
		fs[i] = p.Feature
		fs[i].Present = p.probe()
	}
	return fs
}

// ownCgroupFile says whether the caller's own v2 group has the file.
func ownCgroupFile(name string) bool {
	v2 := ownCgroupV2()
	return v2 != "" && exists(v2+"/"+name)
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
