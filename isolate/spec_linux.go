package isolate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// boxMount is a directory rule resolved against the box: the Spec mount it
// becomes and, for a bind, the host directory behind it (stdio paths are
// opened there).
type boxMount struct {
	rule  DirRule
	m     sandbox.Mount
	host  string // a bind's host source, before staging
	stage bool   // made beforehand in the private namespace, with its flags
}

// devNode says whether p is a device file every box has in its own /dev; a
// stdio path naming one opens the host's node of the same kind.
func devNode(p string) bool {
	switch p {
	case "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom":
		return true
	}
	return false
}

// mounts resolves the directory rules into mounts, in rule order. The
// box's /proc and /dev are the sandbox's own (a fresh procfs; a minimal
// /dev rather than the host's, which isolate binds); /sys is hidden unless
// a rule asks for it.
func (r *runner) mounts() ([]boxMount, error) {
	var out []boxMount
	showSys := false
	for _, d := range DirRules(r.o.NoDefaultDirs, r.o.Dirs) {
		if d.Removes() {
			continue
		}
		switch {
		case d.In == "/proc":
			if !d.FS || d.Out != "proc" {
				return nil, unsupportedf("-d %s: the box always has a procfs of its own at /proc; only /proc=proc:fs can go there", d.In)
			}
			continue
		case d.In == "/dev":
			if d.FS || d.Tmp || d.Out != "/dev" || d.RW {
				return nil, unsupportedf("-d %s=%s: the box always has a /dev of its own (null, zero, full, random, urandom, tty, ptmx, pts, shm); the host's devices are not bound", d.In, d.Out)
			}
			continue
		case d.In == "/sys":
			if (d.FS && d.Out == "sysfs" || d.Out == "/sys") && !d.RW {
				showSys = true
				continue
			}
			return nil, unsupportedf("-d %s: only a read-only sysfs can go at /sys (-d /sys=sysfs:fs)", d.In)
		case d.Dev:
			return nil, unsupportedf("-d %s: dev: the box's device cgroup admits only its own /dev nodes", d.In)
		case d.Tmp && d.In == "/tmp":
			out = append(out, boxMount{rule: d, host: r.b.path("tmp"), stage: r.staged,
				m: sandbox.Mount{Type: sandbox.MountBind, Source: r.b.path("tmp"), Destination: "/tmp"}})
			continue
		case d.Tmp:
			out = append(out, boxMount{rule: d, m: sandbox.Mount{Type: sandbox.MountTmpfs, Destination: d.In}})
			continue
		case d.FS:
			if d.Out != "tmpfs" {
				return nil, unsupportedf("-d %s=%s:fs: only tmpfs can be mounted here (procfs and sysfs only at /proc and /sys)", d.In, d.Out)
			}
			out = append(out, boxMount{rule: d, m: sandbox.Mount{Type: sandbox.MountTmpfs, Destination: d.In, ReadOnly: !d.RW}})
			continue
		}
		src := d.Out
		if rel, ok := strings.CutPrefix(src, "./"); ok {
			src = filepath.Join(r.b.dir, rel)
		}
		if _, err := os.Stat(src); err != nil {
			if d.Maybe && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("-d %s=%s: %w", d.In, d.Out, err)
		}
		out = append(out, boxMount{rule: d, host: src, stage: r.staged,
			m: sandbox.Mount{Type: sandbox.MountBind, Source: src, Destination: d.In, ReadOnly: !d.RW}})
	}
	if !showSys {
		out = append(out, boxMount{m: sandbox.Mount{Type: sandbox.MountTmpfs, Destination: "/sys", ReadOnly: true}})
	}
	return out, nil
}

// stageMounts makes each staged bind in the private mount namespace, at
// .stage/N in the box directory, with isolate's flags (read-only unless
// rw, nosuid, nodev, noexec if asked, recursive unless norec), and points
// its Spec mount there: the sandbox clones a mount with its flags.
func (r *runner) stageMounts(ms []boxMount) error {
	stage := r.b.path(".stage")
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return fmt.Errorf("staging binds: %w", err)
	}
	if err := unix.Mount("isolate-stage", stage, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size=64k"); err != nil {
		return fmt.Errorf("staging binds: mounting %s: %w", stage, err)
	}
	for i := range ms {
		bm := &ms[i]
		if !bm.stage {
			continue
		}
		target := filepath.Join(stage, strconv.Itoa(i))
		if err := stageBind(bm.m.Source, target, bm.rule); err != nil {
			return fmt.Errorf("-d %s: %w", bm.m.Destination, err)
		}
		bm.m.Source = target
	}
	return nil
}

func stageBind(src, target string, d DirRule) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		err = os.Mkdir(target, 0o700)
	} else {
		err = os.WriteFile(target, nil, 0o600)
	}
	if err != nil {
		return fmt.Errorf("staging %s: %w", src, err)
	}
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if !d.NoRec {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", src, err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if !d.RW {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if d.NoExec {
		attr.Attr_set |= unix.MOUNT_ATTR_NOEXEC
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("setting the flags of %s: %w", src, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching %s: %w", src, err)
	}
	return nil
}

// spec is the run as a sandbox.Spec, with the program's stdio opened; the
// returned func closes what was opened.
func (r *runner) spec() (*sandbox.Spec, func(), error) {
	o := r.o
	if r.ms == nil {
		ms, err := r.mounts()
		if err != nil {
			return nil, nil, err
		}
		if r.staged {
			if err := r.stageMounts(ms); err != nil {
				return nil, nil, err
			}
		}
		r.ms = ms
	}
	ms := r.ms
	lim, err := o.limits()
	if err != nil {
		return nil, nil, err
	}
	args := append([]string(nil), o.Args...)
	if !strings.Contains(args[0], "/") {
		// isolate execve()s the program as named, with no PATH search: a
		// bare name is a file in the working directory.
		args[0] = "./" + args[0]
	}
	dir := "/box"
	if o.Chdir != "" {
		dir = path.Join("/box", o.Chdir)
		if path.IsAbs(o.Chdir) {
			dir = path.Clean(o.Chdir)
		}
	}
	s := &sandbox.Spec{
		Args:       args,
		Env:        Environment(withoutEnv(r.inv.Environ, envStaged), o.FullEnv, o.Env),
		Dir:        dir,
		User:       &sandbox.User{UID: o.BoxUID(), GID: o.BoxGID()},
		Root:       r.b.path("root"),
		Network:    sandbox.NetworkNone,
		Limits:     lim,
		CgroupRoot: lookupEnv(r.inv.Environ, "SANDBOX_CGROUP_ROOT"),
		RunDir:     lookupEnv(r.inv.Environ, "SANDBOX_RUN_DIR"),
	}
	if o.ShareNet {
		s.Network = sandbox.NetworkHost
	}
	for _, bm := range ms {
		s.Mounts = append(s.Mounts, bm.m)
	}
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
		opened = nil
	}
	s.IO = sandbox.IO{Stdin: r.inv.Stdin, Stdout: r.inv.Stdout, Stderr: r.inv.Stderr}
	for _, f := range []struct {
		name  string
		path  string
		write bool
		set   func(*os.File)
	}{
		{"--stdin", o.Stdin, false, func(f *os.File) { s.IO.Stdin = f }},
		{"--stdout", o.Stdout, true, func(f *os.File) { s.IO.Stdout = f }},
		{"--stderr", o.Stderr, true, func(f *os.File) { s.IO.Stderr = f }},
	} {
		if f.path == "" {
			continue
		}
		fh, err := openInBox(ms, f.path, f.write, o.BoxUID(), o.BoxGID())
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s %s: %w", f.name, f.path, err)
		}
		opened = append(opened, fh)
		f.set(fh)
	}
	if o.StderrToStdout {
		s.IO.Stderr = s.IO.Stdout
	}
	if o.InheritFDs {
		if s.IO.ExtraFiles, err = inheritedFiles(); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return s, closeAll, nil
}

// openInBox opens a path as the box's program would see it, from the
// host: under the bind that holds it, resolved as if that bind's source
// were the root (so no symlink the program left leads out of it), with the
// box user's permissions below the bind (the bind's source itself is
// reached as the caller, as a mount would be). A relative path is taken
// from /box, where isolate opens them.
func openInBox(ms []boxMount, p string, write bool, uid, gid uint32) (*os.File, error) {
	inner := path.Clean(path.Join("/box", p))
	if path.IsAbs(p) {
		inner = path.Clean(p)
	}
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	}
	if devNode(inner) {
		return os.OpenFile(inner, flags, 0)
	}
	var best *boxMount
	for i := range ms {
		bm := &ms[i]
		if bm.m.Destination == inner || strings.HasPrefix(inner, strings.TrimSuffix(bm.m.Destination, "/")+"/") {
			if best == nil || len(bm.m.Destination) > len(best.m.Destination) {
				best = bm
			}
		}
	}
	switch {
	case best == nil:
		return nil, fmt.Errorf("%w: only files under a bound directory (such as /box) or /dev/null can be redirected", ErrUnsupported)
	case best.host == "":
		return nil, fmt.Errorf("%w: %s is a fresh filesystem of the run, not reachable before it starts", ErrUnsupported, best.m.Destination)
	case write && best.m.ReadOnly:
		return nil, fmt.Errorf("open: %w", unix.EROFS)
	}
	root, err := unix.Open(best.host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", best.host, err)
	}
	defer unix.Close(root)
	rel := strings.TrimPrefix(strings.TrimPrefix(inner, best.m.Destination), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOCTTY), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if write {
		how.Mode = 0o666 // openat2 refuses a mode without O_CREAT
	}
	var fd int
	open := func() error {
		var err error
		fd, err = unix.Openat2(root, rel, how)
		return err
	}
	if sandbox.Rootless() {
		// As the caller, who cannot take another identity: see
		// rootless_linux.go.
		err = open()
	} else {
		err = asUser(uid, gid, open)
	}
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return os.NewFile(uintptr(fd), inner), nil
}

// asUser runs f on a thread of its own whose filesystem identity is
// uid:gid with no supplementary groups, so that files are opened and
// created as the box user would. The thread is never unlocked: Go ends it
// with the goroutine instead of reusing it with that identity.
func asUser(uid, gid uint32, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setgroups(nil); err != nil {
			errc <- fmt.Errorf("dropping groups: %w", err)
			return
		}
		unix.Setfsgid(int(gid))
		unix.Setfsuid(int(uid))
		if cur, _ := unix.SetfsuidRetUid(-1); cur != int(uid) {
			errc <- fmt.Errorf("switching to uid %d to open files: not permitted", uid)
			return
		}
		if cur, _ := unix.SetfsgidRetGid(-1); cur != int(gid) {
			errc <- fmt.Errorf("switching to gid %d to open files: not permitted", gid)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// limits are the run's limits from isolate's options: the box's CPU and
// wall time, its memory (--cg-mem) and processes (-p) by cgroup, and
// isolate's rlimits: address space (-m), stack (-k, unlimited by default),
// file size (-f), open files (-n, 64 by default), core (--core, 0).
func (o *Options) limits() (limits.Limits, error) {
	l := limits.Limits{CPUTime: o.Time, WallTime: o.WallTime, ExtraTime: o.ExtraTime}
	kb := func(p *int64) uint64 { return uint64(*p) * 1024 }
	if o.CGMem != nil && *o.CGMem > 0 {
		if *o.CGMem < 1024 {
			return l, usageErrorf("--cg-mem=%d: the least is 1024 (1 MiB)", *o.CGMem)
		}
		l.Memory = int64(kb(o.CGMem))
	}
	rl := func(v uint64) *limits.Rlimit { return &limits.Rlimit{Soft: v, Hard: v} }
	switch {
	case o.Processes > 0 && rootlessNProc():
		// The box user's processes alone: PID 1 is another uid.
		l.Rlimits.NProc = rl(uint64(o.Processes))
	case o.Processes > 0:
		// The box's PID 1, the sandbox's own init, counts in its group.
		n := o.Processes + 1
		l.Pids = &n
	}
	if o.Mem != nil && *o.Mem > 0 {
		if least := minAddressSpace(); kb(o.Mem) < least {
			return l, unsupportedf("-m/--mem=%d: below %d the box cannot start: the limit also bounds the sandbox's PID 1 (this program's image) before the program replaces it; limit the box's memory with --cg --cg-mem instead", *o.Mem, least/1024)
		}
		l.Rlimits.AS = rl(kb(o.Mem))
	}
	if o.FSize != nil && *o.FSize > 0 {
		l.Rlimits.FSize = rl(kb(o.FSize))
	}
	l.Rlimits.Stack = rl(limits.Unlimited)
	if o.Stack != nil && *o.Stack > 0 {
		l.Rlimits.Stack = rl(kb(o.Stack))
	}
	l.Rlimits.Core = rl(0)
	if o.Core != nil {
		l.Rlimits.Core = rl(kb(o.Core))
	}
	l.Rlimits.NoFile = rl(64)
	if o.OpenFiles != nil {
		n := uint64(*o.OpenFiles)
		if n == 0 {
			n = nrOpen()
		}
		l.Rlimits.NoFile = rl(n)
	}
	if err := l.Validate(); err != nil {
		return l, usageErrorf("%v", err)
	}
	return l, nil
}

// minAddressSpace is the least RLIMIT_AS under which the sandbox's init
// stage, this very binary, starts: its image and 40 MiB for its stack and
// mappings (measured: a 14 MiB binary needs 48 MiB, fails at 44).
func minAddressSpace() uint64 {
	fi, err := os.Stat("/proc/self/exe")
	if err != nil {
		return 64 << 20
	}
	return uint64(fi.Size()) + 40<<20
}

// nrOpen is the most open files the kernel lets a process have.
func nrOpen() uint64 {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return n
		}
	}
	return 1 << 20
}
