package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Boot is one guest: a kernel, a cgroup mode, and where its files go.
type Boot struct {
	Name    string // e.g. 6.1.0-57-amd64-cgroup2
	Kernel  Kernel
	Cgroup  string // "1" or "2"
	Initrd  string
	Disk    string
	Console string // the first serial port: the kernel's messages and progress
	Results string // the second: the suites' output
}

// errHung is a guest that showed no sign of life in time.
var errHung = errors.New("no sign of life from the guest")

// cmdline is the guest kernel's command line: cgroup2 only (every v1
// controller off, as systemd hosts boot) or v1 controllers only.
func (b Boot) cmdline(accel string) string {
	args := []string{"console=ttyS0", "loglevel=4", "panic=-1", "rdinit=/init", "mitigations=off", "vmtest.cgroup=" + b.Cgroup, "vmtest.accel=" + accel}
	if b.Cgroup == "2" {
		args = append(args, "cgroup_no_v1=all")
	}
	return strings.Join(args, " ")
}

// run boots the guest under accel and waits for it to power off. alive
// bounds the wait for the guest's first words (its init's "stage1 up"),
// total the whole run. progress gets the guest's progress lines.
func (b Boot) run(ctx context.Context, qemu, accel string, alive, total time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	os.Remove(b.Results)
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-m", "2048", "-smp", "2",
		"-kernel", b.Kernel.Image, "-initrd", b.Initrd, "-append", b.cmdline(accel),
		"-drive", "file=" + b.Disk + ",if=virtio,format=raw,snapshot=on,cache=unsafe",
		"-chardev", "file,id=results,path=" + b.Results,
		"-serial", "stdio", "-serial", "chardev:results",
	}
	if accel == "kvm" {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		// One host thread for both vCPUs. Under multi-threaded TCG a
		// vCPU can run a translation of kernel text that another vCPU has
		// just patched (static keys, alternatives: text_poke_bp's int3,
		// then the new bytes): the guest dies in "Oops: int3" at a
		// patched site (dequeue_entities and sched_clock_cpu on 6.12, in
		// CI). With one thread no translation runs while another vCPU
		// writes, for every patched site at once.
		args = append(args, "-accel", "tcg,thread=single", "-cpu", "max")
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	logf, err := os.Create(b.Console)
	if err != nil {
		return err
	}
	defer logf.Close()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", qemu, err)
	}
	up := make(chan struct{})
	lines := make(chan struct{})
	var last string // qemu's own last words, for an error
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			fmt.Fprintln(logf, line)
			if strings.TrimSpace(line) != "" {
				last = line
			}
			if i := strings.Index(line, consoleMark); i >= 0 {
				if !once {
					once = true
					close(up)
				}
				progress(line[i+len(consoleMark):])
			}
		}
	}()
	hung := false
	timer := time.NewTimer(alive)
	select {
	case <-up:
		timer.Stop()
	case <-lines:
	case <-timer.C:
		hung = true
		cmd.Process.Kill()
	}
	<-lines
	err = cmd.Wait()
	switch {
	case hung:
		return fmt.Errorf("%w within %s under %s (console in %s)", errHung, alive, accel, b.Console)
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("the guest was still running after %s: killed (console in %s)", total, b.Console)
	case err != nil:
		return fmt.Errorf("qemu (%s): %w: %q (console in %s)", accel, err, last, b.Console)
	}
	return nil
}

// kvmUsable says whether /dev/kvm can be opened at all, with the reason
// where not.
func kvmUsable() (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, err.Error()
	}
	f.Close()
	return true, ""
}

func findQemu() (string, error) {
	q, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", errors.New("qemu-system-x86_64 not found: install Debian's qemu-system-x86 (make vmtest-deps)")
	}
	return filepath.Clean(q), nil
}
