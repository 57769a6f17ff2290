package repro

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// hostFacts is what the variations need from the host, probed once. The
// builds run on the host's root, so a tool found here is found inside.
type hostFacts struct {
	setarch  string // path, or "" when missing
	machine  string // uname -m
	faketime string // libfaketime's path, or ""
	locale   string // the experiment's locale, or "" when none other than C is installed
	cpus     []int  // the CPUs this process may run on
	// taskset is util-linux's taskset, set when num_cpus is varied by CPU
	// affinity because a cpuset cannot be had (rootless, with no delegated
	// cpuset controller); "" for a cpuset.
	taskset string
	// reorderDir is a directory on a tmpfs whose readdir lists entries in
	// creation order (reverseCreation: in reverse creation order), where
	// the fileordering copy goes; "" when there is none.
	reorderDir      string
	reverseCreation bool
}

// faketimeLibs are where Debian's faketime package puts the library.
var faketimeLibs = []string{"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"}

// reorderDirs are tmpfs mounts a host usually has, in order of preference.
var reorderDirs = []string{"/dev/shm", "/run"}

func probeHost(wantLocale string) (*hostFacts, map[string]string) {
	h := &hostFacts{}
	why := map[string]string{}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		h.machine = unix.ByteSliceToString(uts.Machine[:])
	}
	if p, err := exec.LookPath("setarch"); err == nil {
		h.setarch = p
	} else {
		why[Kernel] = "setarch (util-linux) not found"
		why[ASLR] = "setarch (util-linux) not found"
	}
	for _, l := range faketimeLibs {
		if _, err := os.Stat(l); err == nil {
			h.faketime = l
			break
		}
	}
	if h.faketime == "" {
		why[Time] = "libfaketime not installed (Debian package faketime); a time namespace would shift only CLOCK_MONOTONIC and CLOCK_BOOTTIME, which builds do not embed"
	}
	var err error
	if h.locale, err = pickLocale(wantLocale); err != nil {
		why[Locales] = err.Error()
	}
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err == nil {
		for i := 0; i < len(mask)*64; i++ {
			if mask.IsSet(i) {
				h.cpus = append(h.cpus, i)
			}
		}
	}
	if len(h.cpus) < 2 {
		why[NumCPUs] = fmt.Sprintf("this process may run on %d CPU", len(h.cpus))
	} else if reason := cpusetUnavailable(); reason != "" {
		// What nproc says is the affinity mask, which a cpuset bounds and
		// taskset sets alike; the build could widen its own mask again,
		// which a cpuset would not let it.
		if p, err := exec.LookPath("taskset"); err == nil {
			h.taskset = p
		} else {
			why[NumCPUs] = reason + ", and taskset (util-linux), which would set the CPU affinity instead, is not found"
		}
	}
	for _, d := range reorderDirs {
		if rev, ok := creationOrdered(d); ok {
			h.reorderDir, h.reverseCreation = d, rev
			break
		}
	}
	if h.reorderDir == "" {
		why[FileOrdering] = fmt.Sprintf("no writable tmpfs (%s) lists entries in creation order, and without FUSE no other filesystem lets the order be chosen", strings.Join(reorderDirs, ", "))
	}
	return h, why
}

// cpusetUnavailable says why a run of this process cannot have a cpuset
// ("" when it can): as root it always can; rootless only in a delegated
// cgroup v2 subtree that gives the cpuset controller.
func cpusetUnavailable() string {
	if !sandbox.Rootless() {
		return ""
	}
	d, err := limits.FindDelegation()
	switch {
	case err != nil:
		return fmt.Sprintf("rootless, a cpuset needs a delegated cgroup v2 subtree (%v)", err)
	case !d.Has("cpuset"):
		return fmt.Sprintf("rootless, a cpuset needs the cpuset controller, which the delegated group %s does not give", d.Top)
	}
	return ""
}

// creationOrdered reports whether dir is a writable tmpfs whose readdir
// order follows creation (reverse: newest first, as tmpfs did before Linux
// 6.6), by making three entries and reading them back.
func creationOrdered(dir string) (reverse, ok bool) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return false, false
	}
	probe, err := os.MkdirTemp(dir, ".sandbox-repro-probe-")
	if err != nil {
		return false, false
	}
	defer os.RemoveAll(probe)
	names := []string{"m", "z", "a"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(probe, n), nil, 0o600); err != nil {
			return false, false
		}
	}
	got, err := readdirNames(probe)
	if err != nil {
		return false, false
	}
	switch strings.Join(got, "") {
	case "mza":
		return false, true
	case "azm":
		return true, true
	}
	return false, false
}

// readdirNames lists dir in the filesystem's own order (os.ReadDir sorts).
func readdirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// pickLocale finds want, else another installed locale that is not C or
// POSIX, in `locale -a`.
func pickLocale(want string) (string, error) {
	out, err := exec.Command("locale", "-a").Output()
	if err != nil {
		return "", fmt.Errorf("listing locales: %w", err)
	}
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(s), "utf-8", "utf8"), "-", "")
	}
	var other string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if norm(l) == norm(want) {
			return want, nil
		}
		switch norm(l) {
		case "", "c", "c.utf8", "posix":
			continue
		}
		if other == "" && strings.HasSuffix(norm(l), ".utf8") {
			other = l
		}
	}
	if other != "" && want == DefaultLocale {
		return other, nil
	}
	if want != DefaultLocale {
		return "", fmt.Errorf("locale %s is not installed", want)
	}
	return "", fmt.Errorf("no locale but C and POSIX is installed (Debian package locales-all)")
}
