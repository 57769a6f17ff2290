package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// The guest's side. The same static binary is the initramfs's /init
// (stage 1: load the modules, mount the disk, switch_root) and the disk
// root's PID 1 (stage 2: mount the API filesystems, lay out the cgroup
// hierarchy, run the plan's suites as a child and reap every orphan).
// What the suites print goes to the second serial port, framed by
// resultMarker lines the host parses; the console (the first port) gets
// the kernel's messages and progress.

func consolef(format string, args ...any) {
	fmt.Fprintf(os.Stdout, consoleMark+format+"\n", args...)
}

// stage1 runs as the initramfs's PID 1.
func stage1() error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"}, {"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			return fmt.Errorf("mounting %s: %w", m.dst, err)
		}
	}
	consolef("stage1 up")
	order, err := os.ReadFile("/modules/order")
	if err != nil {
		return fmt.Errorf("reading the module list: %w", err)
	}
	for _, name := range strings.Fields(string(order)) {
		data, err := os.ReadFile(filepath.Join("/modules", name))
		if err != nil {
			return err
		}
		if err := unix.InitModule(data, ""); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("loading module %s: %w", name, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for !exists("/dev/vda") {
		if time.Now().After(deadline) {
			return errors.New("no /dev/vda after 60s: is virtio_blk loaded?")
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.MkdirAll("/newroot", 0o755)
	if err := unix.Mount("/dev/vda", "/newroot", "ext4", 0, ""); err != nil {
		return fmt.Errorf("mounting /dev/vda: %w", err)
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		unix.Unmount(d, unix.MNT_DETACH)
	}
	// busybox switch_root empties the initramfs, moves the disk onto /,
	// chroots and execs, keeping PID 1.
	return syscall.Exec("/bin/busybox", []string{"switch_root", "/newroot", guestDir + "/vmtest", "guest"}, os.Environ())
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// stage2 is the disk root's PID 1: it sets the machine up, starts the
// runner and reaps until the runner is done, then powers off.
func stage2() error {
	mounts := []struct{ src, dst, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=620"},
		{"tmpfs", "/dev/shm", "tmpfs", "mode=1777"},
		{"tmpfs", "/run", "tmpfs", "mode=755"},
	}
	for _, m := range mounts {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, m.data); err != nil {
			return fmt.Errorf("mounting %s: %w", m.dst, err)
		}
	}
	// The disk root is shared: private like systemd's is not, but the
	// runner makes its own namespaces private anyway.
	unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, "")
	unix.Sethostname([]byte("vmguest"))
	exec.Command("/bin/ip", "link", "set", "lo", "up").Run()

	mode := cmdlineParam("vmtest.cgroup")
	if err := setupCgroups(mode); err != nil {
		return fmt.Errorf("setting up cgroup%s: %w", mode, err)
	}

	runner := exec.Command(guestDir+"/vmtest", "guest-run")
	runner.Stdout, runner.Stderr = os.Stdout, os.Stderr
	if err := runner.Start(); err != nil {
		return err
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("waiting: %w", err)
		}
		if pid == runner.Process.Pid {
			break
		}
	}
	return nil
}

func cmdlineParam(key string) string {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// setupCgroups lays out the hierarchy the way the hosts users run do.
// cgroup2: mounted at /sys/fs/cgroup as systemd mounts it, the controllers
// enabled in the root's subtree, and the suites running in a leaf group of
// their own (systemd puts services in leaves: no process stays in a group
// that delegates controllers). cgroup1: one hierarchy per controller
// (cpu and cpuacct together, with links) on a tmpfs, no cgroup2 at all:
// the layout of hosts before the unified hierarchy.
func setupCgroups(mode string) error {
	const root = "/sys/fs/cgroup"
	switch mode {
	case "2":
		if err := unix.Mount("cgroup2", root, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "nsdelegate,memory_recursiveprot"); err != nil {
			return fmt.Errorf("mounting cgroup2: %w", err)
		}
		avail, err := os.ReadFile(root + "/cgroup.controllers")
		if err != nil {
			return err
		}
		var enable []string
		for _, c := range strings.Fields(string(avail)) {
			enable = append(enable, "+"+c)
		}
		if err := os.WriteFile(root+"/cgroup.subtree_control", []byte(strings.Join(enable, " ")), 0); err != nil {
			return fmt.Errorf("enabling %s: %w", enable, err)
		}
		leaf := root + "/vmtest.scope"
		if err := os.Mkdir(leaf, 0o755); err != nil {
			return err
		}
		return os.WriteFile(leaf+"/cgroup.procs", []byte("0"), 0)
	case "1":
		if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
			return fmt.Errorf("mounting the cgroup tmpfs: %w", err)
		}
		for _, h := range []string{"cpu,cpuacct", "memory", "pids", "cpuset", "blkio", "freezer", "devices"} {
			dir := root + "/" + h
			os.Mkdir(dir, 0o755)
			if err := unix.Mount("cgroup", dir, "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, h); err != nil {
				return fmt.Errorf("mounting the %s hierarchy: %w", h, err)
			}
		}
		for _, l := range []string{"cpu", "cpuacct"} {
			os.Symlink("cpu,cpuacct", root+"/"+l)
		}
		return nil
	}
	return fmt.Errorf("vmtest.cgroup=%q on the kernel command line: want 1 or 2", mode)
}

// guestRun runs the plan's suites, writing their output, framed, to the
// results port.
func guestRun() error {
	out, err := os.OpenFile("/dev/ttyS1", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("opening the results port: %w", err)
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	// A tty turns \n into \r\n: raw output keeps the stream as the tests
	// wrote it.
	if t, err := unix.IoctlGetTermios(int(out.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		unix.IoctlSetTermios(int(out.Fd()), unix.TCSETS, t)
	}
	mark := func(format string, args ...any) {
		fmt.Fprintf(w, "\n"+resultMarker+format+"\n", args...)
		w.Flush()
	}

	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	mark("kernel %s", release)
	mark("cgroup %s", cmdlineParam("vmtest.cgroup"))
	consolef("linux %s cgroup%s: running", release, cmdlineParam("vmtest.cgroup"))
	for _, line := range probeFeatures() {
		mark("feature %s", line)
	}

	b, err := os.ReadFile(guestDir + "/plan.json")
	if err != nil {
		return err
	}
	var plan []Suite
	if err := json.Unmarshal(b, &plan); err != nil {
		return fmt.Errorf("reading the plan: %w", err)
	}
	for _, s := range plan {
		consolef("suite %s: starting", s.Name)
		start := time.Now()
		mark("begin %s", s.Name)
		code := runSuite(s, w)
		w.Flush()
		mark("end %s %d %.1f", s.Name, code, time.Since(start).Seconds())
		consolef("suite %s: exit status %d in %.0fs", s.Name, code, time.Since(start).Seconds())
	}
	mark("done")
	w.Flush()
	out.Sync()
	return nil
}

func runSuite(s Suite, w io.Writer) int {
	bin := filepath.Join(guestDir, "tests", strings.ReplaceAll(s.Package, "/", "-")+".test")
	cmd := exec.Command(bin, s.args()...)
	cmd.Dir = filepath.Join(guestDir, "src", s.Package)
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=/root", "TMPDIR=/tmp", "LANG=C.UTF-8",
		"SANDBOX_FIXTURES_PREBUILT=" + guestDir + "/fixtures",
		// The sandbox's tests let a time limit be overshot this many
		// times their usual slack (the verdict and the lower bounds stay
		// exact): under emulation the runner reacts 10-40x more slowly.
		"SANDBOX_TEST_TIME_SCALE=" + timeScale(),
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(w, "starting %s: %v\n", bin, err)
		return 125
	}
	// -test.timeout ends a hung binary with a stack dump; this is for a
	// binary that cannot even do that.
	timer := time.AfterFunc(time.Duration(s.Timeout)+time.Minute, func() {
		fmt.Fprintf(w, "vmtest: %s still running a minute past its -test.timeout: killed\n", s.Name)
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	})
	err := cmd.Wait()
	timer.Stop()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 125
	}
	return 0
}

// timeScale is 50 under TCG and 1 under KVM, from vmtest.accel= on the
// kernel command line.
func timeScale() string {
	if cmdlineParam("vmtest.accel") == "kvm" {
		return "1"
	}
	return "50"
}

// probeFeatures reports, for each kernel feature the runner uses, whether
// this kernel has it and what the runner does about it, as the runner's
// own probes see it.
func probeFeatures() []string {
	var lines []string
	for _, f := range sandbox.KernelFeatures() {
		lines = append(lines, f.String())
	}
	return lines
}

// guestMain is what the binary does inside a guest, by how it was started.
func guestMain(args []string) (bool, error) {
	switch {
	case os.Getpid() == 1 && len(args) > 1 && args[1] == "guest":
		err := stage2()
		if err != nil {
			consolef("stage2: %v", err)
		}
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		return true, err
	case os.Getpid() == 1:
		err := stage1()
		consolef("stage1: %v", err)
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		return true, err
	case len(args) > 1 && args[1] == "guest-run":
		return true, guestRun()
	}
	return false, nil
}
