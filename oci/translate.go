package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// The runner's extras, as annotations of config.json.
const (
	// AnnotationReport is a host path where the run report (the JSON of
	// `sandbox exec --report`) is written when the container stops.
	AnnotationReport = "dev.sandbox.report"
	// AnnotationCPUTime and AnnotationWallTime are the run's CPU and wall
	// time limits, as Go durations ("2s", "1m30s"): past them the
	// supervisor kills the container (SIGKILL: exit status 137) and the
	// report says TO.
	AnnotationCPUTime  = "dev.sandbox.cpu-time"
	AnnotationWallTime = "dev.sandbox.wall-time"
)

// Plan is one container as the runner makes it: the sandbox's Spec, and
// what the runtime does around it before the sandbox starts.
type Plan struct {
	Spec sandbox.Spec
	// NetNS is a network namespace to join (a path); with NewNet false
	// and NetNS empty the container shares the runtime's.
	NetNS  string
	NewNet bool
	// Sysctl are net.* settings, written in the container's network
	// namespace before it starts.
	Sysctl map[string]string
	// Terminal: the process gets a pty whose master goes to the console
	// socket; ConsoleSize is its first size.
	Terminal    bool
	ConsoleSize sandbox.WindowSize
	Hooks       specs.Hooks
	// Report is where the run report goes (AnnotationReport).
	Report string
	// Warnings are what the runner does in place of what was asked, where
	// the kernel leaves no difference to see (RLIMIT_NPROC for root); they
	// go to the log.
	Warnings []string
}

// unsupported names a field the runner cannot honour.
func unsupported(field, why string) error {
	if why == "" {
		return fmt.Errorf("%s: %w", field, ErrUnsupported)
	}
	return fmt.Errorf("%s: %w: %s", field, ErrUnsupported, why)
}

// Translate maps the config.json of the bundle in dir onto a Plan. It looks
// at the host only for the root and bind sources (which must exist) and
// for swap (see memory.swap).
func Translate(bundle string, c *specs.Spec) (*Plan, error) {
	p := &Plan{Sysctl: map[string]string{}}
	s := &p.Spec
	if c.Process == nil {
		return nil, fmt.Errorf("process: %w: missing", ErrInvalid)
	}
	if c.Root == nil || c.Root.Path == "" {
		return nil, fmt.Errorf("root.path: %w: missing", ErrInvalid)
	}
	for field, set := range map[string]bool{"solaris": c.Solaris != nil, "windows": c.Windows != nil,
		"vm": c.VM != nil, "zos": c.ZOS != nil, "freebsd": c.FreeBSD != nil} {
		if set {
			return nil, unsupported(field, "a Linux runtime")
		}
	}
	root := c.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	s.Root = root
	// The engine's rootfs, written in place as runc does: its container
	// layer is where podman commit, cp and diff find the writes.
	s.RootInPlace = true
	s.ReadOnlyRoot = c.Root.Readonly
	s.Hostname, s.Domainname = c.Hostname, c.Domainname
	if s.Hostname == "" {
		// An empty hostname leaves the UTS namespace's: the host's.
		s.Hostname, _ = os.Hostname()
	}
	if err := p.process(c.Process); err != nil {
		return nil, err
	}
	if err := p.mounts(c.Mounts); err != nil {
		return nil, err
	}
	if c.Hooks != nil {
		p.Hooks = *c.Hooks
		if len(c.Hooks.CreateContainer) > 0 {
			return nil, unsupported("hooks.createContainer", "the runner runs no host program inside the container's namespaces")
		}
		if len(c.Hooks.StartContainer) > 0 {
			return nil, unsupported("hooks.startContainer", "the runner runs no host program inside the container's namespaces")
		}
	}
	if err := p.annotations(c.Annotations); err != nil {
		return nil, err
	}
	if c.Linux == nil {
		return nil, fmt.Errorf("linux: %w: missing", ErrInvalid)
	}
	if err := p.linux(c.Linux); err != nil {
		return nil, err
	}
	p.hostWriteCaps()
	return p, nil
}

// hostWriteCaps leaves out the two capabilities the sandbox refuses beside
// a writable bind (an engine's /etc/hosts, /dev/shm): CAP_FSETID keeps a
// rewritten set-id file set-id, and CAP_SETFCAP grants file capabilities,
// either one a way to leave the host a file that grants privilege. Engines
// give both by default; a container keeps the rest, and the log says so.
func (p *Plan) hostWriteCaps() {
	writable := false
	for _, m := range p.Spec.Mounts {
		writable = writable || m.Type == sandbox.MountBind && !m.ReadOnly
	}
	if !writable {
		return
	}
	var kept, dropped []string
	for _, c := range p.Spec.CapAdd {
		if n := strings.TrimPrefix(strings.ToUpper(c), "CAP_"); n == "FSETID" || n == "SETFCAP" {
			dropped = append(dropped, c)
			continue
		}
		kept = append(kept, c)
	}
	if len(dropped) > 0 {
		p.Spec.CapAdd = kept
		p.Warnings = append(p.Warnings, fmt.Sprintf("process.capabilities: %s left out: with a writable bind they could leave the host a file that grants privilege", strings.Join(dropped, ", ")))
	}
}

func (p *Plan) process(pr *specs.Process) error {
	s := &p.Spec
	if len(pr.Args) == 0 {
		return fmt.Errorf("process.args: %w: empty", ErrInvalid)
	}
	s.Args = pr.Args
	s.Env = pr.Env
	if s.Env == nil {
		s.Env = []string{}
	}
	if pr.Cwd == "" || !filepath.IsAbs(pr.Cwd) {
		return fmt.Errorf("process.cwd %q: %w: want an absolute path", pr.Cwd, ErrInvalid)
	}
	s.Dir = pr.Cwd
	s.User = &sandbox.User{UID: pr.User.UID, GID: pr.User.GID}
	for _, g := range pr.User.AdditionalGids {
		if g != pr.User.GID {
			return unsupported("process.user.additionalGids", "the process's groups are its gid alone")
		}
	}
	if u := pr.User.Umask; u != nil && *u != 0o022 {
		return unsupported("process.user.umask", fmt.Sprintf("%#o: the process starts with umask 022", *u))
	}
	p.Terminal = pr.Terminal
	if b := pr.ConsoleSize; b != nil {
		p.ConsoleSize = sandbox.WindowSize{Rows: uint16(b.Height), Cols: uint16(b.Width)}
	}
	if err := p.capabilities(pr); err != nil {
		return err
	}
	if err := p.rlimits(pr); err != nil {
		return err
	}
	// noNewPrivileges false is not honoured the other way: every run gets
	// no_new_privs (docs/oci.md).
	p.Spec.OOMScoreAdj = pr.OOMScoreAdj
	switch {
	case pr.ApparmorProfile != "":
		return unsupported("process.apparmorProfile", "the runner loads no AppArmor profile")
	case pr.SelinuxLabel != "":
		return unsupported("process.selinuxLabel", "")
	case pr.Scheduler != nil:
		return unsupported("process.scheduler", "")
	case pr.IOPriority != nil:
		return unsupported("process.ioPriority", "")
	case pr.ExecCPUAffinity != nil:
		return unsupported("process.execCPUAffinity", "")
	}
	return nil
}

// capabilities: after execve a root process holds its bounding set, and
// any other its ambient set (it has no file capabilities to gain from
// with no_new_privs). The runner gives the process one set, in every
// set: so that is what it gets, and sets that would make a difference
// beyond it are refused.
func (p *Plan) capabilities(pr *specs.Process) error {
	c := pr.Capabilities
	if c == nil {
		return nil
	}
	keep := c.Ambient
	field := "process.capabilities.ambient"
	if pr.User.UID == 0 {
		keep, field = c.Bounding, "process.capabilities.bounding"
		for _, set := range []struct {
			name string
			caps []string
		}{{"effective", c.Effective}, {"permitted", c.Permitted}} {
			if !sameSet(set.caps, c.Bounding) {
				return unsupported("process.capabilities."+set.name, "differs from bounding: the runner gives a root process its bounding set in every set")
			}
		}
	}
	// A process other than root keeps its ambient set alone through the
	// execve: effective and permitted capabilities beyond it (podman exec
	// --user gives its defaults there) are gone after it under runc as
	// here, with no_new_privs and so no file capabilities to grant more.
	if len(c.Inheritable) > 0 && !sameSet(c.Inheritable, keep) {
		return unsupported("process.capabilities.inheritable", "the runner sets the inheritable set to the one the process keeps")
	}
	for _, n := range keep {
		if !slices.Contains(c.Bounding, n) {
			return fmt.Errorf("%s: %w: %s not in bounding", field, ErrInvalid, n)
		}
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(n), "CAP_"), "MKNOD") && !hostDevicesCgroup() {
			// The sandbox's v1 devices cgroup keeps a node it makes closed;
			// without one it would open.
			return unsupported(field, "CAP_MKNOD: this host has no devices cgroup (v1) to keep a device node the container made closed")
		}
		p.Spec.CapAdd = append(p.Spec.CapAdd, n)
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (p *Plan) rlimits(pr *specs.Process) error {
	r := &p.Spec.Limits.Rlimits
	for _, rl := range pr.Rlimits {
		v := &limits.Rlimit{Soft: rl.Soft, Hard: rl.Hard}
		switch rl.Type {
		case "RLIMIT_NOFILE":
			r.NoFile = v
		case "RLIMIT_FSIZE":
			r.FSize = v
		case "RLIMIT_STACK":
			r.Stack = v
		case "RLIMIT_CORE":
			r.Core = v
		case "RLIMIT_AS":
			r.AS = v
		case "RLIMIT_NPROC":
			if pr.User.UID == 0 && os.Geteuid() == 0 {
				// The kernel exempts the host's uid 0 from it, which the
				// sandbox refuses to pretend to set; engines set it for
				// every container (podman: the host's own, or --ulimit).
				// The pids limit bounds the container.
				p.Warnings = append(p.Warnings, fmt.Sprintf("process.rlimits RLIMIT_NPROC %d:%d not set: the kernel exempts uid 0 from it; linux.resources.pids bounds the container", rl.Soft, rl.Hard))
				continue
			}
			r.NProc = v
		default:
			return unsupported("process.rlimits "+rl.Type, "the runner sets RLIMIT_NOFILE, FSIZE, STACK, CORE, AS and NPROC")
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("process.rlimits %s: %w: soft %d above hard %d", rl.Type, ErrInvalid, rl.Soft, rl.Hard)
		}
	}
	return nil
}

// The mounts the runner makes itself, whatever config.json says of them:
// their options (runc's defaults) are what it gives them.
var ownMounts = map[string]string{
	"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
	"/sys": "sysfs", "/sys/fs/cgroup": "cgroup",
}

// mountFlags are the mount options a bind or tmpfs may carry; others are
// refused by name.
var mountFlags = map[string]bool{
	"bind": true, "rbind": true, "ro": true, "rw": true, "nosuid": true, "nodev": true, "noexec": true, "exec": false,
	"suid": false, "dev": false, "private": true, "rprivate": true, "relatime": true, "norelatime": true,
	"strictatime": true, "noatime": true, "nodiratime": true, "z": true, "Z": true, "async": true,
}

func (p *Plan) mounts(ms []specs.Mount) error {
	for _, m := range ms {
		dst := filepath.Clean(m.Destination)
		name := fmt.Sprintf("mounts %s", m.Destination)
		if !filepath.IsAbs(dst) {
			return fmt.Errorf("%s: %w: destination not an absolute path", name, ErrInvalid)
		}
		typ := m.Type
		if typ == "" && (slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")) {
			typ = "bind"
		}
		if dst == "/sys/fs/cgroup" && (typ == "cgroup" || typ == "cgroup2") {
			p.Warnings = append(p.Warnings, "mounts /sys/fs/cgroup: not made: the container's /sys/fs/cgroup is sysfs's, empty")
			continue
		}
		if own, ok := ownMounts[dst]; ok && typ == own && typ != "bind" {
			continue
		}
		if dst == "/dev/shm" && typ == "tmpfs" {
			continue
		}
		var mnt sandbox.Mount
		switch typ {
		case "bind":
			src := m.Source
			if !filepath.IsAbs(src) {
				return fmt.Errorf("%s: %w: bind source %q not an absolute path", name, ErrInvalid, src)
			}
			mnt = sandbox.Mount{Type: sandbox.MountBind, Source: src, Destination: dst}
		case "tmpfs":
			mnt = sandbox.Mount{Type: sandbox.MountTmpfs, Destination: dst}
		default:
			return unsupported(name, fmt.Sprintf("type %q: the runner makes binds and tmpfs mounts, and /proc, /dev, /sys and the rest itself", m.Type))
		}
		for _, o := range m.Options {
			k, v, hasV := strings.Cut(o, "=")
			switch {
			case hasV && typ == "tmpfs" && k == "size":
				n, err := tmpfsSize(v)
				if err != nil {
					return fmt.Errorf("%s: option %s: %w: %w", name, o, ErrInvalid, err)
				}
				mnt.Size = n
			case hasV && typ == "tmpfs" && k == "mode":
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil || n > 0o7777 {
					return fmt.Errorf("%s: option %s: %w: want an octal mode", name, o, ErrInvalid)
				}
				mnt.Mode = os.FileMode(n & 0o777)
				if n&0o1000 != 0 {
					mnt.Mode |= os.ModeSticky
				}
				if n&0o2000 != 0 {
					mnt.Mode |= os.ModeSetgid
				}
				if n&0o4000 != 0 {
					mnt.Mode |= os.ModeSetuid
				}
				if mnt.Mode == 0 {
					return unsupported(name+" option "+o, "a tmpfs of mode 0")
				}
			case hasV:
				return unsupported(name+" option "+o, "")
			case o == "ro":
				mnt.ReadOnly = true
			case o == "rw":
				mnt.ReadOnly = false
			case o == "noexec":
				mnt.NoExec = true
			case o == "tmpcopyup" && typ == "tmpfs":
				// A tmpfs that starts with what the root has there: the
				// same as an empty one where the root has nothing.
				if !emptyIn(p.Spec.Root, dst) {
					return unsupported(name+" option tmpcopyup", "the root has files there, and the runner's tmpfs starts empty")
				}
			case mountFlags[o]:
			default:
				return unsupported(name+" option "+o, "binds and tmpfs mounts are nosuid and nodev, with no propagation")
			}
		}
		if mnt.NoExec && mnt.Type == sandbox.MountBind {
			if fi, err := os.Stat(mnt.Source); err == nil && !fi.IsDir() {
				// A file runs only what the kernel maps of it: noexec on a
				// bind of one is for the scripts an interpreter reads, which
				// it never stopped.
				mnt.NoExec = false
			}
		}
		p.Spec.Mounts = append(p.Spec.Mounts, mnt)
	}
	return nil
}

// emptyIn says whether root has nothing at dst (no entry, or an empty
// directory), looking no further than a symlink inside.
func emptyIn(root, dst string) bool {
	d, err := os.Open(filepath.Join(root, dst))
	if err != nil {
		return os.IsNotExist(err)
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	return err != nil && len(names) == 0
}

// tmpfsSize parses tmpfs's size= (bytes, or with k, m, g); a percentage
// of RAM is refused.
func tmpfsSize(v string) (int64, error) {
	mult := int64(1)
	switch strings.ToLower(v[len(v)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	if mult != 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes, or a number with k, m or g", v)
	}
	return n * mult, nil
}

func (p *Plan) annotations(a map[string]string) error {
	p.Report = a[AnnotationReport]
	if p.Report != "" && !filepath.IsAbs(p.Report) {
		return fmt.Errorf("annotation %s %q: %w: want an absolute path", AnnotationReport, p.Report, ErrInvalid)
	}
	for key, d := range map[string]*time.Duration{AnnotationCPUTime: &p.Spec.Limits.CPUTime, AnnotationWallTime: &p.Spec.Limits.WallTime} {
		v, ok := a[key]
		if !ok {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return fmt.Errorf("annotation %s %q: %w: want a positive duration (2s, 1m30s)", key, v, ErrInvalid)
		}
		*d = t
	}
	return nil
}

// The devices the runner's /dev has, as major:minor: a device config.json
// names must be one of them.
var ownDevices = map[string][2]int64{
	"/dev/null": {1, 3}, "/dev/zero": {1, 5}, "/dev/full": {1, 7}, "/dev/random": {1, 8},
	"/dev/urandom": {1, 9}, "/dev/tty": {5, 0}, "/dev/ptmx": {5, 2},
}

func (p *Plan) linux(l *specs.Linux) error {
	s := &p.Spec
	if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		return unsupported("linux.uidMappings", "the runner makes no user namespace for a container")
	}
	ns := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, n := range l.Namespaces {
		ns[n.Type] = n
	}
	for _, t := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		n, ok := ns[t]
		if !ok {
			return unsupported("linux.namespaces", fmt.Sprintf("no %s namespace: the runner always makes a new one", t))
		}
		if n.Path != "" {
			return unsupported("linux.namespaces "+string(t)+" path", "the runner joins a network namespace only")
		}
	}
	for t, n := range ns {
		switch t {
		case specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace:
		case specs.NetworkNamespace:
			p.NetNS, p.NewNet = n.Path, n.Path == ""
		case specs.CgroupNamespace:
			if n.Path != "" {
				return unsupported("linux.namespaces cgroup path", "the runner joins a network namespace only")
			}
		default:
			return unsupported("linux.namespaces "+string(t), "the runner makes pid, mount, ipc, uts, cgroup and network namespaces")
		}
	}
	// Either way the sandbox itself leaves the network namespace alone:
	// the runtime gives it one (a new one or the one named) before it starts.
	s.Network = sandbox.NetworkHost
	for k, v := range l.Sysctl {
		if !strings.HasPrefix(k, "net.") {
			return unsupported("linux.sysctl "+k, "the runner sets net.* sysctls, in the container's network namespace")
		}
		if strings.Contains(k, "/") || strings.Contains(k, "..") {
			return fmt.Errorf("linux.sysctl %s: %w", k, ErrInvalid)
		}
		if !p.NewNet && p.NetNS == "" {
			return unsupported("linux.sysctl "+k, "the container shares the runtime's network namespace")
		}
		p.Sysctl[k] = v
	}
	for _, d := range l.Devices {
		mm, ok := ownDevices[d.Path]
		if !ok || d.Type != "c" || mm != [2]int64{d.Major, d.Minor} {
			return unsupported("linux.devices "+d.Path, "the runner's /dev has null, zero, full, random, urandom, tty and ptmx")
		}
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate":
	default:
		return unsupported("linux.rootfsPropagation "+l.RootfsPropagation, "the container's mounts are private")
	}
	if l.Seccomp != nil {
		sc, err := seccompPolicy(l.Seccomp)
		if err != nil {
			return err
		}
		s.Seccomp = sc
	} else {
		s.Seccomp = &sandbox.Seccomp{Unconfined: true}
	}
	s.MaskedPaths, s.ReadOnlyPaths = l.MaskedPaths, l.ReadonlyPaths
	switch {
	case l.MountLabel != "":
		return unsupported("linux.mountLabel", "")
	case l.IntelRdt != nil:
		return unsupported("linux.intelRdt", "")
	case l.Personality != nil:
		return unsupported("linux.personality", "")
	case len(l.TimeOffsets) > 0:
		return unsupported("linux.timeOffsets", "the runner makes no time namespace")
	case len(l.NetDevices) > 0:
		return unsupported("linux.netDevices", "")
	case l.MemoryPolicy != nil:
		return unsupported("linux.memoryPolicy", "")
	}
	if l.CgroupsPath != "" {
		if strings.Contains(l.CgroupsPath, ":") || !filepath.IsAbs(l.CgroupsPath) {
			return unsupported("linux.cgroupsPath "+l.CgroupsPath, "want an absolute cgroupfs path (systemd's slice:prefix:name form is not supported)")
		}
		// The container's group is the sandbox's own, below the path.
		s.CgroupRoot = filepath.Clean(l.CgroupsPath)
	}
	return p.resources(l.Resources)
}

func (p *Plan) resources(r *specs.LinuxResources) error {
	s := &p.Spec
	if r == nil {
		return nil
	}
	for _, d := range r.Devices {
		if !d.Allow {
			if (d.Type == "" || d.Type == "a") && d.Major == nil && d.Minor == nil {
				// Deny everything: what a root with no device node that opens
				// and a /dev of the runner's give.
				s.NoDevRoot = true
				continue
			}
			return unsupported("linux.resources.devices", "a deny rule other than deny-all")
		}
		if d.Type == "c" && d.Major != nil && d.Minor != nil {
			if slices.Contains(slices.Collect(mapValues(ownDevices)), [2]int64{*d.Major, *d.Minor}) {
				continue
			}
			if *d.Major == 136 { // devpts
				continue
			}
		}
		if strings.Trim(d.Access, "m") == "" && (d.Type == "c" || d.Type == "b") {
			continue // mknod only: what the sandbox's devices cgroup allows or not, a made node does not open
		}
		// An allowance for a device without a node (linux.devices names
		// only the runner's): what it could reach is a node the container
		// makes, which the sandbox's devices cgroup keeps closed.
		p.Warnings = append(p.Warnings, fmt.Sprintf("linux.resources.devices: allowing %s %s not kept: only the runner's /dev opens", d.Type, devNum(d.Major, d.Minor)))
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			s.Limits.Memory = *m.Limit
		}
		if m.Swap != nil && *m.Swap != 0 && (m.Limit == nil || *m.Swap != *m.Limit) && *m.Swap != -1 {
			if hostSwaps() {
				return unsupported("linux.resources.memory.swap", "the container gets no swap beyond its memory limit")
			}
		}
		switch {
		case m.Reservation != nil && *m.Reservation > 0:
			return unsupported("linux.resources.memory.reservation", "")
		case m.Kernel != nil && *m.Kernel != 0 || m.KernelTCP != nil && *m.KernelTCP != 0:
			return unsupported("linux.resources.memory.kernel", "")
		case m.Swappiness != nil && *m.Swappiness != 0 && *m.Swappiness != ^uint64(0):
			return unsupported("linux.resources.memory.swappiness", "")
		case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
			return unsupported("linux.resources.memory.disableOOMKiller", "")
		}
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			cpus := float64(*c.Quota) / float64(period)
			s.Limits.CPUs = &cpus
		}
		s.Limits.Cpuset = c.Cpus
		switch {
		case c.Shares != nil && *c.Shares != 0 && *c.Shares != 1024:
			return unsupported("linux.resources.cpu.shares", "")
		case c.Mems != "":
			return unsupported("linux.resources.cpu.mems", "")
		case c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0, c.RealtimePeriod != nil && *c.RealtimePeriod != 0:
			return unsupported("linux.resources.cpu.realtimeRuntime", "")
		case c.Burst != nil && *c.Burst != 0:
			return unsupported("linux.resources.cpu.burst", "")
		case c.Idle != nil && *c.Idle != 0:
			return unsupported("linux.resources.cpu.idle", "")
		}
	}
	if pl := r.Pids; pl != nil && pl.Limit != nil {
		if *pl.Limit <= 0 {
			return unsupported("linux.resources.pids.limit", "unlimited: every container has a pids limit")
		}
		n := *pl.Limit
		s.Limits.Pids = &n
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			s.Limits.IOWeight = int(*b.Weight)
		}
		if b.LeafWeight != nil || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 || len(b.ThrottleWriteBpsDevice) > 0 ||
			len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0 {
			return unsupported("linux.resources.blockIO", "the runner sets a weight only")
		}
	}
	switch {
	case len(r.HugepageLimits) > 0:
		return unsupported("linux.resources.hugepageLimits", "")
	case r.Network != nil:
		return unsupported("linux.resources.network", "")
	case len(r.Rdma) > 0:
		return unsupported("linux.resources.rdma", "")
	case len(r.Unified) > 0:
		return unsupported("linux.resources.unified", "")
	}
	return nil
}

func devNum(major, minor *int64) string {
	f := func(p *int64) string {
		if p == nil {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	return f(major) + ":" + f(minor)
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// hostDevicesCgroup says whether the host has the v1 devices controller,
// which every sandbox's cgroup joins (only the runner's /dev opens).
func hostDevicesCgroup() bool {
	_, err := os.Stat("/sys/fs/cgroup/devices/devices.list")
	return err == nil
}

// hostSwaps says whether the host has swap on: without it a swap limit
// above the memory limit makes no difference to see.
func hostSwaps() bool {
	b, err := os.ReadFile("/proc/swaps")
	return err != nil || strings.Count(string(b), "\n") > 1
}

// seccompPolicy is an OCI seccomp profile as the runner's policy. The
// runner's actions are allow, an errno and kill; libseccomp's masked
// comparison maps onto its bit tests where it can.
func seccompPolicy(sc *specs.LinuxSeccomp) (*sandbox.Seccomp, error) {
	if sc.ListenerPath != "" {
		return nil, unsupported("linux.seccomp.listenerPath", "")
	}
	for _, f := range sc.Flags {
		if f != specs.LinuxSeccompFlagSpecAllow {
			return nil, unsupported("linux.seccomp.flags "+string(f), "")
		}
	}
	def, defErrno, err := seccompAction("linux.seccomp.defaultAction", sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	out := &sandbox.Seccomp{DefaultAction: def, DefaultErrno: defErrno, SkipUnknown: true}
	for i, sys := range sc.Syscalls {
		field := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		act, errno, err := seccompAction(field+".action", sys.Action, sys.ErrnoRet)
		if err != nil {
			return nil, err
		}
		rule := sandbox.SeccompRule{Names: sys.Names, Action: act, Errno: errno}
		for _, a := range sys.Args {
			arg := sandbox.SeccompArg{Index: uint32(a.Index), Value: a.Value}
			switch a.Op {
			case specs.OpEqualTo:
				arg.Op = "eq"
			case specs.OpNotEqual:
				arg.Op = "ne"
			case specs.OpGreaterThan:
				arg.Op = "gt"
			case specs.OpGreaterEqual:
				arg.Op = "ge"
			case specs.OpLessThan:
				arg.Op = "lt"
			case specs.OpLessEqual:
				arg.Op = "le"
			case specs.OpMaskedEqual:
				switch {
				case a.ValueTwo == 0:
					arg.Op = "bits-clear"
				case a.ValueTwo == a.Value && a.Value&(a.Value-1) == 0:
					arg.Op = "bits-set" // one bit: set, or not
				default:
					return nil, unsupported(field+".args SCMP_CMP_MASKED_EQ", fmt.Sprintf("mask %#x, value %#x: the runner tests all bits clear, or one bit set", a.Value, a.ValueTwo))
				}
			default:
				return nil, unsupported(field+".args "+string(a.Op), "")
			}
			rule.Args = append(rule.Args, arg)
		}
		if act == def && errno == defErrno && len(rule.Args) == 0 {
			continue // what the default does anyway
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}

func seccompAction(field string, a specs.LinuxSeccompAction, errno *uint) (string, uint16, error) {
	switch a {
	case specs.ActAllow:
		return "allow", 0, nil
	case specs.ActKill, specs.ActKillProcess, specs.ActKillThread:
		return "kill", 0, nil
	case specs.ActErrno:
		if errno == nil {
			return "errno", 0, nil // libseccomp's default: EPERM
		}
		if *errno == 0 || *errno > 4095 {
			return "", 0, fmt.Errorf("%s errnoRet %d: %w: want 1 to 4095", field, *errno, ErrInvalid)
		}
		return "errno", uint16(*errno), nil
	}
	return "", 0, unsupported(field+" "+string(a), "the runner's filter allows, kills, or fails with an errno")
}
