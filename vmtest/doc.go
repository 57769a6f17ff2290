// Command vmtest runs the project's suites inside qemu guests of Debian's
// packaged kernels, with the cgroup layout of the hosts users run: `make
// vmtest`, part of `make test`. It is a program of its own, not a test,
// because it builds images and boots machines; its parsing and planning
// are unit-tested like a package.
//
// # Vocabulary
//
//   - Kernel: a release in /boot with its modules in /lib/modules.
//   - Boot: one guest, a kernel and a cgroup mode ("2": v2 only; "1": v1
//     controllers only).
//   - Suite: one test binary (go test -c) and what it runs (Suite is plain
//     data: the host writes the plan, the guest runs it).
//   - Exclusion: a test not run in a guest, with its reason: counted as
//     skipped, the reason in the log.
//   - Results port: the guest's second serial port, where the suites'
//     `go test -v` output goes, framed by "@@vmtest " lines.
//
// # Lifecycle
//
// The host: build the payload in build/vmtest/root (busybox, the host's
// GNU tools and their libraries, bin/sandbox, the static test binaries,
// the prebuilt fixtures, the repository's files, plan.json) and an ext4
// disk from it; an initramfs per kernel (this binary as /init, busybox,
// the modules decompressed, in dependency order); then boot each guest,
// KVM first where /dev/kvm opens (a guest silent for -kvm-timeout is hung:
// killed and booted again under TCG), parse its results port, print the
// report and one summary line, and exit 1 if any test failed or any guest
// did not finish, 125 if nothing could be built or booted.
//
// The guest, the same binary by how it is started: as the initramfs's
// PID 1, load the modules, mount /dev/vda and switch_root; as the disk's
// PID 1 ("guest"), mount /proc, /sys, /dev, /run, lay out the cgroup
// hierarchy from vmtest.cgroup= on the kernel command line, start the
// runner ("guest-run") and reap every orphan until it ends, then power
// off; the runner prints the kernel, the cgroup mode and the kernel
// features (sandbox.KernelFeatures), then runs each suite with its
// timeout in its package's directory.
//
// # Invariants
//
//   - Every guest boots the same disk (snapshot=on): no guest sees another's
//     writes, and the image is built once per run.
//   - Each boot ends with exactly one line
//     "vmtest: linux <uname -r> cgroup<1|2>: N passed, M failed, K skipped".
//   - A suite that never ends, or whose binary exits non-zero with no
//     failed test, counts one failure: a crash is never a pass.
package main
