package hostcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Status is a check's verdict.
type Status string

const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// SchemaVersion is the version of Report's and RootReport's JSON.
const SchemaVersion = 1

// Check is one thing a run may need, and what was found.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Needed: a default run cannot do without it.
	Needed bool   `json:"needed"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the host's checks, in a fixed order.
type Report struct {
	Version int     `json:"version"`
	Kernel  string  `json:"kernel"`
	Arch    string  `json:"arch"`
	UID     int     `json:"uid"`
	Checks  []Check `json:"checks"`
	// DefaultRun: every needed check passed and a real default run worked.
	DefaultRun bool `json:"default_run"`
}

// Host is what a report is made of: the host's files, under Root ("/" for
// the real host), who asks, and the probes that try things for real.
type Host struct {
	Root   string
	UID    int
	Probes Probes
}

// Probes try things for real; each returns nil when the thing works. A nil
// probe is not tried (its check says so).
type Probes struct {
	UserNS     func() error // a user namespace with the caller mapped
	NetNS      func() error
	Overlay    func() error // an overlay mount, in a mount namespace of its own
	Cgroup     func() error // a child of the runner's cgroup root, a limit written, removed
	Seccomp    func() error // a filter loaded (on a thread that then ends)
	Pidfd      func() error
	Openat2    func() error
	IntoCgroup func() error // clone3 with CLONE_INTO_CGROUP
	TimeNS     func() error
	KVM        func() error
	Run        func() error // a default sandbox run of a command that exits 0
}

func (h *Host) path(p string) string { return filepath.Join(h.Root, p) }

func (h *Host) read(p string) (string, bool) {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Check makes the report: every check, and the default run's verdict.
func (h *Host) Check() *Report {
	r := &Report{Version: SchemaVersion, UID: h.UID}
	r.Kernel, _ = h.read("proc/sys/kernel/osrelease")
	r.Arch = hostArch()
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	add(h.kernel(r.Kernel))
	add(h.cgroup())
	add(h.userNS())
	if h.UID != 0 {
		add(h.subIDs())
	}
	add(probe("netns", true, h.Probes.NetNS, "a network namespace of its own", "enable CONFIG_NET_NS in the kernel"))
	add(h.overlay())
	add(probe("seccomp", true, h.Probes.Seccomp, "a seccomp filter loads", "enable CONFIG_SECCOMP_FILTER in the kernel"))
	add(probe("pidfd", false, h.Probes.Pidfd, "pidfd_open works", "a kernel of 5.3 or later"))
	add(probe("openat2", true, h.Probes.Openat2, "openat2 with RESOLVE_IN_ROOT works (mount targets are resolved inside the root)", "a kernel of 5.6 or later"))
	add(h.intoCgroup())
	add(probe("time-namespace", false, h.Probes.TimeNS, "a time namespace of its own", "a kernel of 5.6 or later with CONFIG_TIME_NS (only `sandbox repro`'s time variation needs it)"))
	add(probe("kvm", false, h.Probes.KVM, "/dev/kvm opens (the bench's VM)", "load kvm_intel or kvm_amd, and add yourself to the kvm group; without it the bench's VM runs under TCG"))
	for _, c := range h.noise() {
		add(c)
	}
	run := probe("run", true, h.Probes.Run, "a default sandbox run of /bin/true exits 0", "")
	r.DefaultRun = run.Status == OK
	for _, c := range r.Checks {
		if c.Needed && c.Status == Fail {
			r.DefaultRun = false
		}
	}
	add(run)
	return r
}

// probe turns a probe's result into a check.
func probe(name string, needed bool, p func() error, works, fix string) Check {
	c := Check{Name: name, Needed: needed}
	switch err := call(p); {
	case p == nil:
		c.Status, c.Detail = Warn, "not tried here"
	case err == nil:
		c.Status, c.Detail = OK, works
	default:
		c.Status, c.Detail, c.Fix = Fail, err.Error(), fix
		if !needed {
			c.Status = Warn
		}
	}
	return c
}

func call(p func() error) error {
	if p == nil {
		return nil
	}
	return p()
}

// kernelVersion reads "6.1.0-13-amd64" as 6, 1.
func kernelVersion(release string) (major, minor int) {
	f := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) >= 2 {
		major, _ = strconv.Atoi(f[0])
		minor, _ = strconv.Atoi(f[1])
	}
	return major, minor
}

func atLeast(release string, major, minor int) bool {
	ma, mi := kernelVersion(release)
	return ma > major || (ma == major && mi >= minor)
}

func (h *Host) kernel(release string) Check {
	c := Check{Name: "kernel", Needed: true, Status: OK, Detail: fmt.Sprintf("Linux %s on %s", release, hostArch())}
	switch {
	case release == "":
		c.Status, c.Detail = Fail, "no /proc/sys/kernel/osrelease: is /proc mounted?"
		c.Fix = "mount -t proc proc /proc"
	case !atLeast(release, 5, 12):
		// open_tree, move_mount and mount_setattr build the sandbox's
		// mounts; openat2 resolves them inside the root.
		c.Status = Fail
		c.Detail += ": the runner needs 5.12 or later (mount_setattr, openat2, close_range)"
		c.Fix = "boot a newer kernel (Debian 12 ships 6.1)"
	}
	return c
}

// cgroupMode reads the mount table: v2 alone, v1 (with or without a v2
// hierarchy beside it: hybrid), or none.
func (h *Host) cgroupMode() (mode string, v1 []string) {
	b, err := os.ReadFile(h.path("proc/self/mountinfo"))
	if err != nil {
		return "none", nil
	}
	v2 := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		_, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(post)
		pre := strings.Fields(l)
		if len(f) < 3 || len(pre) < 5 {
			continue
		}
		switch f[0] {
		case "cgroup2":
			if pre[4] == "/sys/fs/cgroup" || pre[4] == "/sys/fs/cgroup/unified" {
				v2 = true
			}
		case "cgroup":
			for _, o := range strings.Split(f[len(f)-1], ",") {
				switch o {
				case "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio":
					v1 = append(v1, o)
				}
			}
		}
	}
	sort.Strings(v1)
	switch {
	case len(v1) > 0 && v2:
		return "hybrid", v1
	case len(v1) > 0:
		return "v1", v1
	case v2:
		return "v2", nil
	}
	return "none", nil
}

// ownCgroup is the caller's group in the unified hierarchy.
func (h *Host) ownCgroup() string {
	s, _ := h.read("proc/self/cgroup")
	for _, l := range strings.Split(s, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

func (h *Host) cgroup() Check {
	mode, v1 := h.cgroupMode()
	c := Check{Name: "cgroup", Needed: true}
	var controllers []string
	switch mode {
	case "v2":
		dir := "sys/fs/cgroup"
		if h.UID != 0 {
			dir = filepath.Join(dir, h.ownCgroup())
		}
		s, _ := h.read(filepath.Join(dir, "cgroup.controllers"))
		controllers = strings.Fields(s)
		c.Detail = "cgroup v2"
		if h.UID != 0 {
			c.Detail += fmt.Sprintf(", delegated to you at %s", filepath.Join("/", dir))
		}
	case "v1", "hybrid":
		controllers = v1
		c.Detail = "cgroup v1"
		if mode == "hybrid" {
			c.Detail += " (hybrid: a cgroup2 hierarchy beside it)"
		}
	default:
		c.Status, c.Detail = Fail, "no cgroup filesystem mounted"
		c.Fix = "mount -t cgroup2 none /sys/fs/cgroup"
		return c
	}
	c.Detail += ", controllers: " + strings.Join(controllers, " ")
	missing := []string{}
	for _, want := range []string{"memory", "pids", "cpu"} {
		if !contains(controllers, want) {
			missing = append(missing, want)
		}
	}
	err := call(h.Probes.Cgroup)
	switch {
	case err != nil && h.UID == 0:
		c.Status, c.Detail = Fail, c.Detail+"; a cgroup of the runner's: "+err.Error()
		c.Fix = "make the cgroup filesystem writable to root (a container: --cgroupns=private and a writable /sys/fs/cgroup)"
	case err != nil:
		// Without root, a run refuses only the limits it cannot have.
		c.Status, c.Needed, c.Detail = Warn, false, c.Detail+"; no cgroup of your own: "+err.Error()+"; limits that need one are refused, naming why"
		c.Fix = "systemd-run --user --scope -p Delegate=yes sandbox exec ... (or log in through systemd, whose user@.service delegates a subtree)"
	case len(missing) > 0:
		c.Status, c.Detail = Warn, c.Detail+"; missing "+strings.Join(missing, ", ")+": limits that need them are refused"
		if mode == "v2" {
			c.Fix = "echo '+" + strings.Join(missing, " +") + "' > /sys/fs/cgroup/cgroup.subtree_control (for a user: Delegate=" + strings.Join(missing, " ") + " in user@.service)"
		}
	default:
		c.Status = OK
	}
	return c
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (h *Host) userNS() Check {
	c := Check{Name: "user-namespace", Needed: h.UID != 0}
	max, ok := h.read("proc/sys/user/max_user_namespaces")
	if ok && max == "0" {
		c.Status, c.Detail, c.Fix = Fail, "user.max_user_namespaces is 0", "sysctl -w user.max_user_namespaces=15000"
		return c.downgrade(h)
	}
	if v, ok := h.read("proc/sys/kernel/unprivileged_userns_clone"); ok && v == "0" && h.UID != 0 {
		c.Status, c.Detail, c.Fix = Fail, "kernel.unprivileged_userns_clone is 0 (Debian's switch)", "sysctl -w kernel.unprivileged_userns_clone=1"
		return c
	}
	apparmor := false
	if v, ok := h.read("proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		apparmor = true
	}
	err := call(h.Probes.UserNS)
	switch {
	case h.Probes.UserNS == nil:
		c.Status, c.Detail = Warn, "not tried here"
	case err == nil:
		c.Status, c.Detail = OK, "a user namespace with the caller mapped"
		if apparmor {
			c.Detail += " (AppArmor restricts unprivileged user namespaces, and lets this binary have them)"
		}
	case apparmor:
		c.Status = Fail
		c.Detail = "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): " + err.Error()
		c.Fix = "install contrib/apparmor/sandbox as /etc/apparmor.d/sandbox (its path line naming this binary) and run: apparmor_parser -r /etc/apparmor.d/sandbox"
	default:
		c.Status, c.Detail = Fail, err.Error()
		c.Fix = "sysctl -w user.max_user_namespaces=15000 (and, on older Debian kernels, kernel.unprivileged_userns_clone=1)"
	}
	return c.downgrade(h)
}

// downgrade: as root a run needs no user namespace of its own.
func (c Check) downgrade(h *Host) Check {
	if h.UID == 0 && c.Status == Fail {
		c.Status = Warn
		c.Detail += " (runs as root need none; rootless runs do)"
	}
	return c
}

// subIDs: subordinate ids let a rootless run map more than the caller.
func (h *Host) subIDs() Check {
	c := Check{Name: "subordinate-ids", Status: OK}
	var missing []string
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if !h.onPath(tool) {
			missing = append(missing, tool)
		}
	}
	name := h.userName()
	ranges := 0
	for _, f := range []string{"etc/subuid", "etc/subgid"} {
		s, _ := h.read(f)
		for _, l := range strings.Split(s, "\n") {
			who, _, _ := strings.Cut(l, ":")
			if who != "" && (who == name || who == strconv.Itoa(h.UID)) {
				ranges++
				break
			}
		}
	}
	switch {
	case len(missing) > 0:
		c.Status, c.Detail = Warn, "no "+strings.Join(missing, ", ")+": a run maps only your own id (a single-id map)"
		c.Fix = "apt-get install uidmap"
	case ranges < 2:
		c.Status, c.Detail = Warn, "no range for "+name+" in /etc/subuid and /etc/subgid: a run maps only your own id"
		c.Fix = "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name
	default:
		c.Detail = "newuidmap, newgidmap and ranges in /etc/subuid and /etc/subgid for " + name
	}
	return c
}

func (h *Host) onPath(tool string) bool {
	for _, d := range []string{"usr/bin", "bin", "usr/sbin", "sbin", "usr/local/bin"} {
		if fi, err := os.Stat(filepath.Join(h.path(d), tool)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

func (h *Host) userName() string {
	s, _ := h.read("etc/passwd")
	for _, l := range strings.Split(s, "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[2] == strconv.Itoa(h.UID) {
			return f[0]
		}
	}
	return strconv.Itoa(h.UID)
}

func (h *Host) overlay() Check {
	c := Check{Name: "overlayfs", Needed: true}
	fs, _ := h.read("proc/filesystems")
	if !strings.Contains(fs, "\toverlay") {
		c.Status, c.Detail, c.Fix = Fail, "overlay is not in /proc/filesystems", "modprobe overlay"
		return c
	}
	kernel, _ := h.read("proc/sys/kernel/osrelease")
	if h.UID != 0 && !atLeast(kernel, 5, 11) {
		c.Status, c.Detail = Fail, "overlayfs inside a user namespace needs a kernel of 5.11 or later, this is "+kernel
		c.Fix = "boot a newer kernel, or run as root"
		return c
	}
	c = probe("overlayfs", true, h.Probes.Overlay, "an overlay mounts", "modprobe overlay")
	if h.UID != 0 && c.Status == OK {
		c.Detail += ", in a user namespace too (userxattr)"
	}
	return c
}

func (h *Host) intoCgroup() Check {
	mode, _ := h.cgroupMode()
	if mode != "v2" {
		return Check{Name: "clone-into-cgroup", Status: OK, Detail: "not used on cgroup " + mode + ": PID 1 joins its groups by a thread of the runner's"}
	}
	return probe("clone-into-cgroup", false, h.Probes.IntoCgroup, "clone3 starts PID 1 in its cgroup", "a kernel of 5.7 or later")
}

// noise are isolate-check-environment's sources of timing noise: for
// graders and benchmarkers, never needed.
func (h *Host) noise() []Check {
	var cs []Check
	add := func(name string, bad bool, detail, fix string) {
		c := Check{Name: name, Status: OK, Detail: detail}
		if bad {
			c.Status, c.Fix = Warn, fix
		}
		cs = append(cs, c)
	}
	if v, ok := h.read("sys/devices/system/cpu/smt/active"); ok {
		add("smt", v == "1", "simultaneous multithreading active: "+v, "echo off > /sys/devices/system/cpu/smt/control (siblings share a core's time)")
	}
	govs := map[string]bool{}
	paths, _ := filepath.Glob(h.path("sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			govs[strings.TrimSpace(string(b))] = true
		}
	}
	if len(govs) > 0 {
		var names []string
		for g := range govs {
			names = append(names, g)
		}
		sort.Strings(names)
		add("cpufreq", len(names) != 1 || names[0] != "performance", "scaling governors: "+strings.Join(names, " "),
			"for c in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do echo performance > $c; done")
	}
	if v, ok := h.read("sys/devices/system/cpu/intel_pstate/no_turbo"); ok {
		add("turbo", v == "0", "intel_pstate turbo "+map[bool]string{true: "on", false: "off"}[v == "0"], "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo")
	} else if v, ok := h.read("sys/devices/system/cpu/cpufreq/boost"); ok {
		add("turbo", v == "1", "cpufreq boost "+v, "echo 0 > /sys/devices/system/cpu/cpufreq/boost")
	}
	if s, ok := h.read("proc/swaps"); ok {
		n := len(strings.Split(s, "\n")) - 1
		add("swap", n > 0, fmt.Sprintf("%d swap areas (a run's memory limit allows no swap, but the host's other pages move)", n), "swapoff -a")
	}
	if s, ok := h.read("sys/kernel/mm/transparent_hugepage/enabled"); ok {
		add("transparent-hugepages", strings.Contains(s, "[always]"), "transparent huge pages: "+s,
			"echo madvise > /sys/kernel/mm/transparent_hugepage/enabled")
	}
	if v, ok := h.read("proc/sys/kernel/randomize_va_space"); ok {
		add("aslr", v != "0", "address space randomization "+v+" (timings and memory use vary from run to run)", "sysctl -w kernel.randomize_va_space=0")
	}
	return cs
}
