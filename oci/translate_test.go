package oci

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/sandbox"
)

func podmanConfig(t *testing.T) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile("testdata/podman-4.3-config.json")
	if err != nil {
		t.Fatal(err)
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestTranslatePodman: the config.json podman 4.3 writes for `podman run
// --rm --network none IMAGE echo hi`, as the runner makes it.
func TestTranslatePodman(t *testing.T) {
	p, err := Translate("/bundle", podmanConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Spec
	pids := int64(2048)
	want := struct {
		Args          []string
		Hostname, Dir string
		User          *sandbox.User
		Network       string
		Pids          *int64
		NoDevRoot     bool
		CgroupRoot    string
		Mounts        []string
		CapAdd        []string
		NewNet        bool
		Sysctl        map[string]string
	}{
		Args: []string{"echo", "hi"}, Hostname: "0a4865894454", Dir: "/", User: &sandbox.User{},
		Network: sandbox.NetworkHost, Pids: &pids, NoDevRoot: true,
		CgroupRoot: "/libpod_parent/libpod-0a486589445433bf31f9759c1e6ac1f3b46c9518566751e22a38ff1fb27afb88",
		Mounts:     []string{"bind /dev/shm noexec", "bind /run/.containerenv", "bind /etc/hostname", "bind /etc/hosts"},
		CapAdd: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_NET_BIND_SERVICE",
			"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"},
		NewNet: true, Sysctl: map[string]string{"net.ipv4.ping_group_range": "0 0"},
	}
	var mounts []string
	for _, m := range s.Mounts {
		d := m.Type + " " + m.Destination
		if m.NoExec {
			d += " noexec"
		}
		mounts = append(mounts, d)
	}
	got := want
	got.Args, got.Hostname, got.Dir, got.User, got.Network = s.Args, s.Hostname, s.Dir, s.User, s.Network
	got.Pids, got.NoDevRoot, got.CgroupRoot, got.Mounts, got.CapAdd = s.Limits.Pids, s.NoDevRoot, s.CgroupRoot, mounts, s.CapAdd
	got.NewNet, got.Sysctl = p.NewNet, p.Sysctl
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("translation (-want +got):\n%s", diff)
	}
	if s.Seccomp == nil || s.Seccomp.DefaultAction != "errno" || s.Seccomp.DefaultErrno != 38 || !s.Seccomp.SkipUnknown {
		t.Errorf("seccomp: %+v, want podman's profile: default ENOSYS, unknown names skipped", s.Seccomp)
	}
	wantWarnings := 3 // the cgroup mount, RLIMIT_NPROC's (for root), the capabilities left out
	if os.Geteuid() != 0 {
		wantWarnings = 2
	}
	if len(p.Warnings) != wantWarnings {
		t.Errorf("warnings: %q, want %d", p.Warnings, wantWarnings)
	}
}

// TestTranslateRefuses: each field the runner cannot honour is an error
// naming it.
func TestTranslateRefuses(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u := func(v uint) *uint { return &v }
	tests := []struct {
		name   string
		change func(c *specs.Spec)
		field  string // in the error
	}{
		{"user namespace", func(c *specs.Spec) { c.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, "linux.uidMappings"},
		{"no pid namespace", func(c *specs.Spec) { c.Linux.Namespaces = c.Linux.Namespaces[1:] }, "no pid namespace"},
		{"pid namespace by path", func(c *specs.Spec) { c.Linux.Namespaces[0].Path = "/proc/1/ns/pid" }, "linux.namespaces pid path"},
		{"time namespace", func(c *specs.Spec) {
			c.Linux.Namespaces = append(c.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}, "linux.namespaces time"},
		{"kernel sysctl", func(c *specs.Spec) { c.Linux.Sysctl["kernel.msgmax"] = "1" }, "linux.sysctl kernel.msgmax"},
		{"device", func(c *specs.Spec) {
			c.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
		}, "linux.devices /dev/sda"},
		{"device denied", func(c *specs.Spec) {
			c.Linux.Resources.Devices = append(c.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: false, Type: "b", Major: i64(8), Access: "rw"})
		}, "linux.resources.devices"},
		{"additional gids", func(c *specs.Spec) { c.Process.User.AdditionalGids = []uint32{10} }, "process.user.additionalGids"},
		{"umask", func(c *specs.Spec) { m := uint32(0o077); c.Process.User.Umask = &m }, "process.user.umask"},
		{"apparmor", func(c *specs.Spec) { c.Process.ApparmorProfile = "x" }, "process.apparmorProfile"},
		{"rlimit", func(c *specs.Spec) {
			c.Process.Rlimits = append(c.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_MEMLOCK", Soft: 1, Hard: 1})
		}, "process.rlimits RLIMIT_MEMLOCK"},
		{"effective caps apart", func(c *specs.Spec) { c.Process.Capabilities.Effective = nil }, "process.capabilities.effective"},
		{"overlay mount", func(c *specs.Spec) {
			c.Mounts = append(c.Mounts, specs.Mount{Destination: "/x", Type: "overlay", Source: "overlay"})
		}, "mounts /x"},
		{"mount option", func(c *specs.Spec) {
			c.Mounts = append(c.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "rshared"}})
		}, "mounts /x option rshared"},
		{"propagation", func(c *specs.Spec) { c.Linux.RootfsPropagation = "rshared" }, "linux.rootfsPropagation"},
		{"hook in the container", func(c *specs.Spec) {
			c.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, "hooks.startContainer"},
		{"systemd cgroups path", func(c *specs.Spec) { c.Linux.CgroupsPath = "system.slice:libpod:x" }, "linux.cgroupsPath"},
		{"unlimited pids", func(c *specs.Spec) { c.Linux.Resources.Pids.Limit = i64(-1) }, "linux.resources.pids.limit"},
		{"memory reservation", func(c *specs.Spec) {
			c.Linux.Resources.Memory = &specs.LinuxMemory{Reservation: i64(1 << 20)}
		}, "linux.resources.memory.reservation"},
		{"blkio throttle", func(c *specs.Spec) {
			c.Linux.Resources.BlockIO = &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1}}}
		}, "linux.resources.blockIO"},
		{"hugepages", func(c *specs.Spec) {
			c.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}
		}, "linux.resources.hugepageLimits"},
		{"seccomp trap", func(c *specs.Spec) { c.Linux.Seccomp.DefaultAction = specs.ActTrap }, "linux.seccomp.defaultAction SCMP_ACT_TRAP"},
		{"seccomp listener", func(c *specs.Spec) { c.Linux.Seccomp.ListenerPath = "/run/x.sock" }, "linux.seccomp.listenerPath"},
		{"seccomp masked compare", func(c *specs.Spec) {
			c.Linux.Seccomp.Syscalls = append(c.Linux.Seccomp.Syscalls, specs.LinuxSyscall{Names: []string{"clone"},
				Action: specs.ActErrno, ErrnoRet: u(1), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 3, ValueTwo: 1, Op: specs.OpMaskedEqual}}})
		}, "SCMP_CMP_MASKED_EQ"},
		{"personality", func(c *specs.Spec) { c.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX32"} }, "linux.personality"},
		{"windows", func(c *specs.Spec) { c.Windows = &specs.Windows{} }, "windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := podmanConfig(t)
			tt.change(c)
			_, err := Translate("/bundle", c)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Translate: %v, want an error naming %q", err, tt.field)
			}
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v wraps neither ErrUnsupported nor ErrInvalid", err)
			}
		})
	}
}

// TestTranslateExtras: the runner's annotations and the limits.
func TestTranslateExtras(t *testing.T) {
	c := podmanConfig(t)
	c.Annotations[AnnotationReport] = "/var/reports/x.json"
	c.Annotations[AnnotationCPUTime] = "2s"
	c.Annotations[AnnotationWallTime] = "1m"
	q, per := int64(50000), uint64(100000)
	lim := int64(64 << 20)
	c.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim, Swap: &lim}
	c.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &q, Period: &per, Cpus: "0"}
	c.Root.Readonly = true
	p, err := Translate("/bundle", c)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Spec.Limits
	got := []any{p.Report, l.CPUTime.String(), l.WallTime.String(), l.Memory, *l.CPUs, l.Cpuset, p.Spec.ReadOnlyRoot}
	want := []any{"/var/reports/x.json", "2s", "1m0s", lim, 0.5, "0", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c.Annotations[AnnotationCPUTime] = "soon"
	if _, err := Translate("/bundle", c); err == nil || !strings.Contains(err.Error(), AnnotationCPUTime) {
		t.Errorf("a bad CPU time: %v, want an error naming %s", err, AnnotationCPUTime)
	}
}

// TestTranslateMknod: CAP_MKNOD is kept only where the sandbox's devices
// cgroup keeps a node the container makes closed.
func TestTranslateMknod(t *testing.T) {
	c := podmanConfig(t)
	k := c.Process.Capabilities
	k.Bounding = append(k.Bounding, "CAP_MKNOD")
	k.Effective, k.Permitted = k.Bounding, k.Bounding
	_, err := Translate("/bundle", c)
	if hostDevicesCgroup() && err != nil {
		t.Errorf("CAP_MKNOD with a devices cgroup: %v", err)
	}
	if !hostDevicesCgroup() && (err == nil || !strings.Contains(err.Error(), "CAP_MKNOD")) {
		t.Errorf("CAP_MKNOD without a devices cgroup: %v, want an error naming it", err)
	}
}
