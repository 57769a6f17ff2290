package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ociVersion is the runtime-spec version of the bundles.
const ociVersion = "1.0.2"

// ociCaps are the capabilities `runc spec` gives a container.
var ociCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// ociSpec is what `runc spec` writes, for /bin/true over rootfs: the
// runtimes' own default container, so that they are measured doing what
// their users get.
func ociSpec(rootfs, cgroupsPath string) *specs.Spec {
	ro := []string{"nosuid", "noexec", "nodev", "ro"}
	return &specs.Spec{
		// The version runc 1.1 and crun 1.8 (Debian 12) know: they refuse
		// newer ones ("unknown version specified").
		Version: ociVersion,
		Process: &specs.Process{
			Args: []string{"/bin/true"}, Cwd: "/",
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{Bounding: ociCaps, Effective: ociCaps, Permitted: ociCaps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Hostname: "bench",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: ro},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append([]string{"relatime"}, ro...)},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// writeOCIConfig writes bundle/config.json.
func writeOCIConfig(bundle, rootfs, cgroupsPath string) error {
	b, err := json.MarshalIndent(ociSpec(rootfs, cgroupsPath), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding OCI config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		return fmt.Errorf("writing OCI config: %w", err)
	}
	return nil
}

// hiddenCgroup2 is a thread in a mount namespace of its own where the
// cgroup2 mount of a hybrid host is gone: crun 1.8 refuses to run on a
// hybrid host ("cgroups in hybrid mode not supported, drop all controllers
// from cgroupv2") unless it cannot see the cgroup2 mount. Commands started
// from the thread are born in its namespace, at no cost per run.
type hiddenCgroup2 struct {
	reqs chan nsReq
}

type nsReq struct {
	cmd  *exec.Cmd
	errc chan error
}

func newHiddenCgroup2() (*hiddenCgroup2, error) {
	h := &hiddenCgroup2{reqs: make(chan nsReq)}
	ready := make(chan error, 1)
	var serve func(first bool)
	serve = func(first bool) {
		// Never unlocked: the thread, its namespace with it, ends with the
		// goroutine. The main thread cannot end, so it hands over.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			go serve(false)
			runtime.UnlockOSThread()
			return
		}
		if err := hideCgroup2(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for r := range h.reqs {
			// Start forks from this thread, so the child inherits its
			// mount namespace; Wait may happen anywhere.
			if err := r.cmd.Start(); err != nil {
				r.errc <- err
				continue
			}
			go func() { r.errc <- r.cmd.Wait() }()
		}
	}
	go serve(true)
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("hiding the cgroup2 mount: %w", err)
	}
	return h, nil
}

func hideCgroup2() error {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // nothing there to hide
	}
	return err
}

// run runs cmd to completion from the namespace, with runCmd's errors.
func (h *hiddenCgroup2) run(cmd *exec.Cmd) error {
	var errb tailBuffer
	if cmd.Stderr == nil {
		cmd.Stderr = &errb
	}
	errc := make(chan error, 1)
	h.reqs <- nsReq{cmd: cmd, errc: errc}
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, strings.TrimSpace(errb.String()))
	}
	return nil
}

func (h *hiddenCgroup2) close() { close(h.reqs) }
