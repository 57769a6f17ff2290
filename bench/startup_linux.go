package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// An op is one throwaway /bin/true, start to finish, in some backend.
type op func(ctx context.Context) error

// backend is a way of running /bin/true. setup makes what it needs (a
// bundle, an image, an initramfs) and returns the op; an error wrapping
// ErrMissing skips the backend, any other fails it.
type backend struct {
	name  string
	note  string
	setup func(ctx context.Context) (op, error)
}

// nsFlags are the namespaces a sandbox gets (network included).
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// startupBackends lists the ways of starting /bin/true, in the order of
// each round.
func (s *suite) startupBackends() []backend {
	return []backend{
		{name: bBare, note: "fork/exec of /bin/true from Go", setup: s.bareOp},
		{name: "namespaces", note: "approximation of \"namespaces only\": clone(2) with the sandbox's namespace flags " +
			"(mnt, pid, uts, ipc, net, cgroup) and exec, no runner, no init stage, no root, no cgroup: " +
			"sandbox.Spec has no knob to leave out the overlay root and the cgroup",
			setup: func(context.Context) (op, error) {
				return cmdOp(func(ctx context.Context) *exec.Cmd {
					cmd := exec.CommandContext(ctx, "/bin/true")
					cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: nsFlags, Pdeathsig: unix.SIGKILL}
					return cmd
				}), nil
			}},
		{name: "sandbox-small-root", note: "approximation of \"+ fresh overlay root\": sandbox exec --root over a 2 MB " +
			"busybox tree (one overlay, not one per host filesystem); the cgroup is still made",
			setup: func(context.Context) (op, error) {
				root, err := s.busyboxRoot()
				if err != nil {
					return nil, err
				}
				return s.cliOp("--root", root, "--", "/bin/true"), nil
			}},
		{name: bSandbox, note: "sandbox exec -- /bin/true: the full default (overlay of the host's /, namespaces, cgroup, rlimits, seccomp when built in)",
			setup: func(context.Context) (op, error) { return s.cliOp("--", "/bin/true"), nil }},
		{name: bAPI, note: "sandbox.Run in the benchmark's own process: the full default without the runner's exec",
			setup: func(context.Context) (op, error) { return s.apiOp([]string{"/bin/true"}), nil }},
		{name: bBwrap, note: "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev", setup: s.bwrapOp},
		{name: bRootless, note: "sandbox exec -- /bin/true run by an unprivileged user (make test-user): the full default in a user namespace " +
			"with its subordinate ids, a root split per host directory, no cgroup where none is delegated",
			setup: func(context.Context) (op, error) { return s.rootlessOp(false) }},
		{name: bBwrapRootless, note: "bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev run by the same unprivileged user",
			setup: func(context.Context) (op, error) { return s.rootlessOp(true) }},
		{name: bRunc, note: "runc run, OCI bundle over a busybox root", setup: func(ctx context.Context) (op, error) { return s.ociOp(ctx, "runc", false) }},
		{name: bCrun, note: "crun run, OCI bundle over a busybox root", setup: func(ctx context.Context) (op, error) { return s.ociOp(ctx, "crun", false) }},
		{name: bCrun + "-no-cgroup2", note: "crun run with the empty cgroup2 mount hidden from it (its own mount namespace), " +
			"which lets crun 1.8 work on a hybrid host", setup: func(ctx context.Context) (op, error) { return s.ociOp(ctx, "crun", true) }},
		{name: bSandboxOCI, note: "sandbox-oci run (the sandbox binary by its sandbox-oci link: create, start, wait, delete), the same OCI bundle",
			setup: func(ctx context.Context) (op, error) { return s.ociOp(ctx, bSandboxOCI, false) }},
		{name: "podman-runc", note: "podman run --rm --network none over an imported busybox image, isolated storage, runtime runc",
			setup: func(ctx context.Context) (op, error) { return s.podmanOp(ctx, "runc", false) }},
		{name: "podman-crun", note: "as podman-runc, runtime crun",
			setup: func(ctx context.Context) (op, error) { return s.podmanOp(ctx, "crun", false) }},
		{name: "podman-crun-no-cgroup2", note: "as podman-crun, with the empty cgroup2 mount hidden from podman and crun",
			setup: func(ctx context.Context) (op, error) { return s.podmanOp(ctx, "crun", true) }},
		{name: "podman-sandbox-oci", note: "as podman-runc, runtime sandbox-oci",
			setup: func(ctx context.Context) (op, error) { return s.podmanOp(ctx, bSandboxOCI, false) }},
		{name: bVM, note: "qemu: Debian's kernel and a busybox initramfs whose init powers off at once", setup: s.vmOp},
	}
}

// startup measures a throwaway /bin/true in every backend.
func (s *suite) startup(ctx context.Context, p plan) ([]*Result, error) {
	var results []*Result
	var tasks []*task
	for _, b := range s.startupBackends() {
		if !s.cfg.wantsBackend(b.name) {
			continue
		}
		s.prog.Phase(p.scenario, "setting up "+b.name)
		r := result(ScenarioStartup, "", b.name, "wall", "ms", Lower)
		r.Note, r.Bare, r.Sandbox = b.note, bBare, bSandbox
		results = append(results, r)
		run, err := b.setup(ctx)
		if b.name == bVM && s.host.Accelerator != "" {
			// The accelerator is known once the probe has run.
			r.Backend = s.vmName()
			r.Note += "; accelerator " + s.host.Accelerator
		}
		if err != nil {
			skipOrFail(r, err)
			continue
		}
		// CPU and context switches per run beside the wall time: the wall
		// time hides what a run costs the other core (a runner's threads,
		// a daemon's work), and the CPU time is far less noisy.
		cpu := result(ScenarioStartup, "", r.Backend, "cpu", "ms", Lower)
		csw := result(ScenarioStartup, "", r.Backend, "csw", "1", Lower)
		for _, m := range []*Result{cpu, csw} {
			m.Note, m.Bare, m.Sandbox = b.note+"; "+usageNote, bBare, bSandbox
		}
		results = append(results, cpu, csw)
		t := newTask(func(ctx context.Context) ([]float64, error) {
			before := takeUsage()
			wall, err := timed(func() error { return run(ctx) })
			if err != nil {
				return nil, err
			}
			u := takeUsage().since(before)
			return []float64{wall, u.cpuMS, u.switches}, nil
		}, r, cpu, csw)
		if b.name == bVM {
			t.maxN = 30 // a TCG boot takes seconds
			if s.cfg.Smoke {
				t.warmup, t.minN, t.maxN = 0, 1, 1
			}
		}
		tasks = append(tasks, t)
	}
	return results, measure(ctx, p, tasks)
}

// usageNote says where a startup row's CPU time and context switches come
// from.
const usageNote = "cpu and csw: getrusage of the benchmark and its reaped children (runner, PID 1, CMD), " +
	"voluntary and involuntary switches (a VM's qemu is counted, being a child; podman's conmon is not)"

// usage is what getrusage says the benchmark and its reaped children have
// used so far.
type usage struct{ cpuMS, switches float64 }

func takeUsage() usage {
	var u usage
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			u.cpuMS += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
			u.switches += float64(ru.Nvcsw + ru.Nivcsw)
		}
	}
	return u
}

func (u usage) since(before usage) usage {
	return usage{u.cpuMS - before.cpuMS, u.switches - before.switches}
}

// cmdOp runs the command make returns, to completion.
func cmdOp(make func(ctx context.Context) *exec.Cmd) op {
	return func(ctx context.Context) error { return runCmd(make(ctx)) }
}

func (s *suite) bareOp(context.Context) (op, error) {
	return cmdOp(func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, "/bin/true") }), nil
}

// cliOp runs `sandbox exec` with args (the real binary: what users pay).
func (s *suite) cliOp(args ...string) op {
	full := s.sandboxArgs(args...)
	return cmdOp(func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, s.cfg.Sandbox, full...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
		return cmd
	})
}

// apiSpec is the spec of an in-process run: what `sandbox exec` would make
// of the same command line.
func (s *suite) apiSpec(args []string) *sandbox.Spec {
	return &sandbox.Spec{Args: args, RunDir: s.run, CgroupRoot: s.cfg.CgroupRoot, Limits: limits.DefaultLimits()}
}

// apiOp runs args with sandbox.Run in this process.
func (s *suite) apiOp(args []string) op {
	return func(ctx context.Context) error {
		res, err := sandbox.Run(ctx, s.apiSpec(args))
		if err != nil {
			return err
		}
		if res.Status != sandbox.StatusOK {
			return fmt.Errorf("sandbox.Run: status %s: %s", res.Status, res.Message)
		}
		return nil
	}
}

func (s *suite) bwrapOp(context.Context) (op, error) {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, missing("bwrap", "bubblewrap")
	}
	s.tool("bwrap", firstLine(bwrap, "--version"))
	return cmdOp(func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true")
	}), nil
}

// rootlessOp runs `sandbox exec -- /bin/true`, or bwrap's equivalent, as
// the unprivileged test user: what a user without root pays, side by side
// with the same commands as root.
func (s *suite) rootlessOp(bwrap bool) (op, error) {
	u, err := fixtures.UnprivilegedUser()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	var args []string
	if bwrap {
		b, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, missing("bwrap", "bubblewrap")
		}
		args = []string{b, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"}
	} else {
		// The binary may be in a directory the user cannot reach.
		bin, err := u.CopyExecutable(s.cfg.Sandbox)
		if err != nil {
			return nil, err
		}
		s.atEnd(func() { os.RemoveAll(filepath.Dir(bin)) })
		run, err := u.WorkDir()
		if err != nil {
			return nil, err
		}
		s.atEnd(func() { os.RemoveAll(run) })
		args = []string{bin, "exec", "--run-dir", filepath.Join(run, "run"), "--", "/bin/true"}
	}
	return cmdOp(func(ctx context.Context) *exec.Cmd {
		cmd := u.CommandContext(ctx, nil, args[0], args[1:]...)
		cmd.Dir = "/"
		cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
		return cmd
	}), nil
}

// ociCgroupRoot holds the cgroups of runc, crun and podman: apart from
// the sandbox's, and removed (in every hierarchy) at the end.
func (s *suite) ociCgroupRoot() string { return s.cfg.CgroupRoot + "-oci" }

var ociSeq atomic.Int64

// ociOp runs /bin/true with runc or crun from an OCI bundle over the
// busybox root, a fresh container id each time. hideCgroup2 runs the
// runtime in a mount namespace without the cgroup2 mount.
func (s *suite) ociOp(ctx context.Context, runtime string, hideCgroup2 bool) (op, error) {
	bin, err := s.runtimePath(runtime)
	if err != nil {
		return nil, err
	}
	s.tool(runtime, firstLine(bin, "--version"))
	root, err := s.busyboxRoot()
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(s.dir, "bundle-"+runtime)
	if hideCgroup2 {
		bundle += "-nocg2"
	}
	state := filepath.Join(bundle, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	s.atEnd(func() { unmountUnder(state) })
	cgRoot := s.ociCgroupRoot()
	s.atEnd(func() { removeCgroupTree(cgRoot) })
	prefix := filepath.Base(bundle)
	spawn, err := s.spawner(hideCgroup2)
	if err != nil {
		return nil, err
	}
	// One cgroup path for every run: runs are one at a time, and the
	// runtime removes the group when its container ends.
	if err := writeOCIConfig(bundle, root, cgRoot+"/"+prefix); err != nil {
		return nil, err
	}
	run := func(ctx context.Context) error {
		id := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), ociSeq.Add(1))
		cmd := exec.CommandContext(ctx, bin, "--root", state, "run", "--bundle", bundle, id)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
		err := spawn(cmd)
		if err != nil {
			// A failed run may leave its container behind.
			exec.Command(bin, "--root", state, "delete", "--force", id).Run()
		}
		return err
	}
	return run, nil
}

// runtimePath finds an OCI runtime: runc and crun on PATH, sandbox-oci as
// a link to the sandbox binary under test.
func (s *suite) runtimePath(runtime string) (string, error) {
	if runtime != bSandboxOCI {
		bin, err := exec.LookPath(runtime)
		if err != nil {
			return "", missing(runtime, runtime)
		}
		return bin, nil
	}
	self, err := filepath.Abs(s.cfg.Sandbox)
	if err != nil {
		return "", err
	}
	link := filepath.Join(s.dir, bSandboxOCI)
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(self, link); err != nil {
			return "", fmt.Errorf("linking %s: %w", bSandboxOCI, err)
		}
	}
	return link, nil
}

// podmanOp runs /bin/true with podman from a busybox image imported into a
// store of the suite's own.
func (s *suite) podmanOp(ctx context.Context, runtime string, hideCgroup2 bool) (op, error) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		return nil, missing("podman", "podman")
	}
	runtimeBin, err := s.runtimePath(runtime)
	if err != nil {
		return nil, err
	}
	s.tool("podman", firstLine(podman, "--version"))
	base := filepath.Join(s.dir, "podman")
	global := []string{"--root", filepath.Join(base, "storage"), "--runroot", filepath.Join(base, "run"),
		"--tmpdir", filepath.Join(base, "tmp"), "--storage-driver", "overlay",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file",
		// The runtime's state too, not in /run/runc or /run/crun.
		"--runtime-flag", "root=" + filepath.Join(base, "runtime")}
	const image = "localhost/sandbox-bench-busybox"
	if err := s.podmanImage(ctx, podman, global, base, image); err != nil {
		return nil, err
	}
	spawn, err := s.spawner(hideCgroup2)
	if err != nil {
		return nil, err
	}
	// Explicit rlimits: podman's default RLIMIT_NOFILE (1048576) needs
	// CAP_SYS_RESOURCE, which root in a container may lack.
	if runtime == bSandboxOCI {
		// podman passes --runtime-flag to create and start, not to the
		// delete of its cleanup: sandbox-oci keeps its default root.
		global = global[:len(global)-2]
	}
	args := append(append([]string(nil), global...), "run", "--rm", "--network", "none", "--runtime", runtimeBin,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"--cgroup-parent", s.ociCgroupRoot(), image, "/bin/true")
	return func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, podman, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
		return spawn(cmd)
	}, nil
}

// podmanImage imports the busybox root as an image, once per suite.
func (s *suite) podmanImage(ctx context.Context, podman string, global []string, base, image string) error {
	done := filepath.Join(base, "imported")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	root, err := s.busyboxRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(base, "tmp"), 0o700); err != nil {
		return err
	}
	s.atEnd(func() {
		// Whatever a failed run left, then the store's own mounts (the
		// overlay driver bind-mounts its directory on itself).
		exec.Command(podman, append(append([]string(nil), global...), "rm", "--all", "--force")...).Run()
		unmountUnder(base)
		removeCgroupTree(s.ociCgroupRoot())
	})
	tarball := filepath.Join(base, "busybox.tar")
	if err := runCmd(exec.CommandContext(ctx, "tar", "-C", root, "-cf", tarball, ".")); err != nil {
		return fmt.Errorf("packing the busybox image: %w", err)
	}
	imp := exec.CommandContext(ctx, podman, append(append([]string(nil), global...), "import", tarball, image)...)
	if err := runCmd(imp); err != nil {
		return fmt.Errorf("importing the busybox image: %w", err)
	}
	return os.WriteFile(done, nil, 0o644)
}

// cgroupMounts lists the mount points of every cgroup hierarchy.
func cgroupMounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(g) >= 1 && (g[0] == "cgroup" || g[0] == "cgroup2") {
			out = append(out, unescapeOctal(f[4]))
		}
	}
	return out
}

// removeCgroupTree removes the group root, its children first, from every
// cgroup hierarchy mounted: runc, crun and podman make groups in each one
// (the named systemd one and the empty cgroup2 one included). A group
// with processes in it stays (rmdir refuses).
func removeCgroupTree(root string) {
	if root == "" || root == "/" {
		return
	}
	for _, m := range cgroupMounts() {
		rmdirDepthFirst(filepath.Join(m, root))
	}
}

// cgroupChildren lists the names of the groups below root, in any
// hierarchy.
func cgroupChildren(root string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range cgroupMounts() {
		entries, _ := os.ReadDir(filepath.Join(m, root))
		for _, e := range entries {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out
}

func rmdirDepthFirst(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			rmdirDepthFirst(filepath.Join(dir, e.Name()))
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		// A group whose tasks are still leaving: give it a moment.
		for i := 0; i < 20 && errors.Is(err, unix.EBUSY); i++ {
			unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
			err = unix.Rmdir(dir)
		}
	}
}

// spawner runs a command as is, or, with hideCgroup2, in a mount namespace
// of the suite's own without the empty cgroup2 mount (for crun 1.8, which
// refuses hybrid hosts).
func (s *suite) spawner(hideCgroup2 bool) (func(*exec.Cmd) error, error) {
	if !hideCgroup2 {
		return runCmd, nil
	}
	ns, err := newHiddenCgroup2()
	if err != nil {
		return nil, err
	}
	s.atEnd(ns.close)
	return ns.run, nil
}
