package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"golang.org/x/sys/unix"
)

// vmInit is the initramfs's /init: power off at once.
const vmInit = "#!/bin/busybox sh\n/bin/busybox poweroff -f\n"

// vmName is the VM backend's name once the accelerator is known.
func (s *suite) vmName() string {
	if s.host.Accelerator == "" {
		return bVM
	}
	return bVM + "-" + s.host.Accelerator
}

// vmOp boots Debian's kernel with a busybox initramfs to poweroff. KVM is
// tried first with a short timeout, since on some hosts /dev/kvm exists
// but a guest hangs in it; TCG (software emulation) otherwise.
func (s *suite) vmOp(ctx context.Context) (op, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, missing("qemu-system-x86_64", "qemu-system-x86")
	}
	s.tool("qemu", firstLine(qemu, "--version"))
	kernel, err := findKernel()
	if err != nil {
		return nil, err
	}
	s.tool("guest-kernel", filepath.Base(kernel))
	initrd := filepath.Join(s.dir, "initrd.cpio")
	if err := writeInitramfs(initrd); err != nil {
		return nil, err
	}
	boot := func(ctx context.Context, accel string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		args := []string{"-accel", accel, "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
			"-display", "none", "-serial", "stdio", "-no-reboot",
			"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1"}
		if accel == "kvm" {
			args = append(args, "-cpu", "host")
		} else {
			args = append(args, "-cpu", "max")
		}
		cmd := exec.CommandContext(ctx, qemu, args...)
		var out tailBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
		err := cmd.Run()
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("the %s guest did not power off within %s (it hangs on this host)", accel, timeout)
		}
		if err != nil {
			return fmt.Errorf("qemu (%s): %w: %s", accel, err, lastLines(out.String(), 3))
		}
		if !strings.Contains(out.String(), "Power down") {
			return fmt.Errorf("qemu (%s): the guest exited without powering off: %s", accel, lastLines(out.String(), 3))
		}
		return nil
	}
	accel := "tcg"
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		s.prog.Phase(ScenarioStartup, fmt.Sprintf("probing KVM (up to %s)", s.cfg.KVMTimeout))
		if err := boot(ctx, "kvm", s.cfg.KVMTimeout); err == nil {
			accel = "kvm"
		} else {
			s.note("KVM not used: " + err.Error())
		}
	} else {
		s.note("KVM not used: " + err.Error())
	}
	s.host.Accelerator = accel
	return func(ctx context.Context) error { return boot(ctx, accel, s.cfg.VMTimeout) }, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// findKernel returns the newest /boot/vmlinuz-*.
func findKernel() (string, error) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(ks) == 0 {
		return "", missing("a kernel in /boot", "linux-image-amd64")
	}
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i], ks[j]) })
	return ks[len(ks)-1], nil
}

// versionLess compares strings with runs of digits compared as numbers.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		ra, rb := digits(a), digits(b)
		if ra != "" && rb != "" {
			da, db := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			if len(da) != len(db) {
				return len(da) < len(db)
			}
			if da != db {
				return da < db
			}
			a, b = a[len(ra):], b[len(rb):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// writeInitramfs writes an uncompressed initramfs (which the kernel takes
// as it is) holding a static busybox and vmInit.
func writeInitramfs(path string) error {
	bb, err := fixtures.FindBusybox()
	if err != nil {
		return missing("static busybox", "busybox-static")
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w io.Writer) error {
		c := &fixtures.CPIO{W: w}
		c.Dir(".")
		c.Dir("bin")
		c.Dir("dev")
		c.Dir("proc")
		c.Dir("sys")
		c.CharDev("dev/console", 0o600, 5, 1)
		c.File("bin/busybox", 0o755, data)
		c.File("init", 0o755, []byte(vmInit))
		return c.Close()
	})
}
