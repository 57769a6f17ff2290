package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/sys/unix"
)

// Container is a started run. Signal and Resize may be called from any
// goroutine until Wait returns; Wait must be called exactly once.
type Container struct {
	// ID names the run: its lock file in the run directory, and its cgroup.
	ID string

	spec   Spec
	init   initProc
	joined bool // an Exec in another sandbox: nothing of its own to remove
	// spareFlags are the namespaces of a spare PID 1 for a run like this
	// one (Prepare's), asked for when this one reports; 0 for none.
	spareFlags uintptr
	// build is the run's build part (stage.EncodeBuild), for the spare
	// after it to build ahead if the runs before were alike; buildInside:
	// all it mounts on and makes is under the scratch tmpfs's.
	build       []byte
	buildInside bool
	ctrl        *os.File // runner's end of the control socket
	lockPath    string   // the run directory's file named ID
	lock        *os.File // held while the run lives: `gc` skips locked runs
	started     time.Time
	ctx         context.Context
	waited      chan struct{}

	cg     limits.Cgroup
	userNS *userNS         // nil for root: no user namespace
	store  *snapshot.Store // open for the run when the root is a snapshot
	// commit holds the writable layer of a run to commit, and storeUpper
	// is where the store wants it copied (commit_linux.go).
	commit     *commitLayer
	storeUpper string
	// unboundedLayer: a rootless commit's layer lives in the store.
	unboundedLayer bool
	output         *outputGate // nil when CMD writes straight into the caller's files

	killMu     sync.Mutex
	killedFor  Status // TO or OL once the supervisor has killed the run
	killReason string

	terminals []termState // the caller's, to restore after the run
	uid       *uniqueID   // the run's own id, with User.Unique

	ttyOut sync.WaitGroup // the copy from the pty to IO.Stdout
	ttyMu  sync.Mutex
	master *os.File
	size   WindowSize
}

// cleanups is a stack of undo actions, run in reverse on a failure path.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }
func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// HandOffInit has every sandbox this process starts from now on hand its
// PID 1 to this process's parent: PID 1 is born the parent's child, not
// ours, so that once we have exited (or while we run on) the parent, or
// the subreaper it leaves it to, waits for the sandbox's end itself. This
// is what an OCI runtime's monitor needs: the engine's subreaper (conmon,
// containerd's shim) waits for the container's process, whose pid is in
// create's pid file, and reads the container's status from it.
//
// Handed off, PID 1 exits with CMD's status (128+N for signal N), has no
// parent-death signal (the end of the control socket, when this process
// is gone, ends it instead), and Wait sees its end through a pidfd
// without reaping it: the Result has the cgroup's numbers but no rusage
// of PID 1's (CSWVoluntary, CSWForced). Call it before the first Start.
func HandOffInit() { stage.SiblingZygote() }

// HandOffZygote is, after a Start that handed PID 1 off, the pid of the
// zygote that made it: the parent's child too, it ends once PID 1 is made,
// for the parent to reap. 0 otherwise.
func HandOffZygote() int { return stage.ZygotePid() }

// prepared: Prepare has had the mount table read and the default filter
// compiled once, in the background; later runs find the table cached (or
// changed, by the poll) and the filter made.
var prepared atomic.Bool

// Prepare tells the runner that a Start of spec follows, so that its PID 1
// can be cloned meanwhile with idle CPU time (package stage's spare: the
// kernel making the namespaces is most of what starting PID 1 costs). A
// caller with work to do between knowing its Spec and Start (the CLI sets
// up its signal handling) calls it first; Start does too. It is a hint and
// changes nothing of the run: runs on cgroup v1 alone have spares (a v2
// PID 1 is born in its group), and without root a spare is cloned at the
// runner's own priority (see package stage's doc).
func Prepare(spec *Spec) {
	if !stage.Available {
		return
	}
	// What a run needs before it can send PID 1 its config, made meanwhile
	// on another CPU, once per process, and kept for Start: the host's
	// mount table for a run of the host's root (0.1 ms; readHostMounts's
	// cache) and the default seccomp program (0.1 to 0.2 ms; compiled once).
	if !prepared.Swap(true) {
		hostRoot := spec.Root == "" && spec.Snapshot == nil && spec.HostRoot == nil
		defaultFilter := spec.Seccomp == nil && !writesHost(spec)
		go func() {
			if hostRoot {
				readHostMounts()
			}
			if defaultFilter {
				defaultProgram()
			}
		}()
	}
	if v, err := limits.Version(spec.Limits); err != nil || v != 1 {
		return
	}
	stage.Ahead(namespaceFlags(spec, Rootless()))
}

// namespaceFlags are the CLONE_NEW* flags of spec's namespaces.
func namespaceFlags(s *Spec, userNS bool) uintptr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if s.Network != NetworkHost {
		flags |= unix.CLONE_NEWNET
	}
	if userNS {
		flags |= unix.CLONE_NEWUSER
	}
	return flags
}

// Run runs spec to completion: Start, then Wait.
func Run(ctx context.Context, spec *Spec) (*Result, error) {
	c, err := Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return c.Wait()
}

// Start creates the container and starts CMD in it. Cancelling ctx kills
// the container. On error nothing of the run is left behind.
func Start(ctx context.Context, spec *Spec) (_ *Container, err error) {
	if !stage.Available {
		return nil, fmt.Errorf("%w: this binary was built without cgo, and the sandbox's init stage is C: build it with CGO_ENABLED=1 and a C compiler", ErrUnsupported)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	Prepare(spec)
	if err := checkHandedFiles(&spec.IO); err != nil {
		return nil, err
	}
	if writesHost(spec) {
		// A file capability the host honours needs only CAP_SETFCAP; one
		// that is kept when an existing set-id file is rewritten, only
		// CAP_FSETID: neither goes with a way to write the host's files.
		for _, c := range spec.CapAdd {
			if n, _ := capability(c); n == unix.CAP_SETFCAP || n == unix.CAP_FSETID {
				return nil, fmt.Errorf("%w: capability %s with a writable bind or file: CMD could leave files there that grant host privilege", ErrInvalidSpec, c)
			}
		}
	}
	s := *spec
	if s.Env == nil {
		s.Env = HermeticEnv(os.Environ())
	}
	if s.RunDir == "" {
		if s.RunDir, err = DefaultRunDirFor(); err != nil {
			return nil, err
		}
	}
	// PID 1 mounts on it from a working directory of its own.
	if s.RunDir, err = filepath.Abs(s.RunDir); err != nil {
		return nil, fmt.Errorf("%w: run directory %s: %w", ErrInvalidSpec, spec.RunDir, err)
	}
	if s.CgroupRoot == "" {
		s.CgroupRoot = limits.DefaultRoot
	}
	switch {
	case s.Limits.Pids != nil:
	case Rootless():
		// No pids controller to count on without root. RLIMIT_NPROC is
		// counted per user namespace, the run's own, and binds every
		// process of it (no capability in the host's namespace exempts
		// one): the same bound, from the kernel too.
		if s.Limits.Rlimits.NProc == nil {
			n := uint64(limits.DefaultPids)
			var cur unix.Rlimit
			if unix.Getrlimit(unix.RLIMIT_NPROC, &cur) == nil {
				n = min(n, cur.Max)
			}
			s.Limits.Rlimits.NProc = &limits.Rlimit{Soft: n, Hard: n}
		}
	default:
		// Without it a fork bomb stops only at the host's pid_max.
		pids := int64(limits.DefaultPids)
		s.Limits.Pids = &pids
	}
	c := &Container{spec: s, ctx: ctx, waited: make(chan struct{}), size: s.TTYSize}
	if Rootless() {
		if err := checkUserNSOverlay(); err != nil {
			return nil, err
		}
		if err := checkRootlessRlimits(s.Limits.Rlimits); err != nil {
			return nil, err
		}
		uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
		if s.User != nil && s.User.Unique {
			// Without root the ids a run can have are the caller's
			// subordinate ones: nobody inside, a subordinate id outside,
			// none of the host's accounts (concurrent rootless runs of one
			// caller share it).
			s.User = &User{UID: 65534, GID: 65534}
		}
		if s.User != nil {
			uid, gid = s.User.UID, s.User.GID
		}
		if c.userNS, err = rootlessUserNS(uid, gid, s.Root == "" && s.Snapshot == nil); err != nil {
			return nil, err
		}
	}
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()

	if err := c.makeRunDir(); err != nil {
		return nil, err
	}
	// Runs that take a unique id or a snapshot's layer before PID 1 lock
	// first, as they always did: what those leave is under the run's ID.
	if s.Snapshot != nil || (s.User != nil && s.User.Unique) {
		if err := c.lockRun(&undo); err != nil {
			return nil, err
		}
	}
	if s.User != nil && s.User.Unique {
		if c.uid, err = takeUniqueID(filepath.Join(s.RunDir, ".ids")); err != nil {
			return nil, err
		}
		undo.add(c.uid.release)
		s.User = &User{UID: c.uid.id, GID: c.uid.id}
	}
	var hostMounts []hostMount
	var root rootLayers
	switch {
	case s.Snapshot != nil:
		if root, err = c.snapshotRoot(&undo); err != nil {
			return nil, err
		}
	case s.Root != "":
		root.Lowers = []string{s.Root}
		// Writes land in the caller's tree, where no tmpfs bounds them.
		c.unboundedLayer = s.RootInPlace
	case s.HostRoot != nil: // a root of host paths: no layers, nothing of the mount table
	default:
		root.Lowers = []string{"/"}
		if hostMounts, err = readHostMounts(); err != nil {
			return nil, err
		}
		if c.userNS != nil {
			if root.Split, err = splitHostRoot(hostMounts, s.RunDir, os.Geteuid()); err != nil {
				return nil, err
			}
		}
	}
	root.UserNS = c.userNS != nil
	// With the host's root the caller's directory is CMD's and must be
	// had; a root of its own uses it only if it has one by that name.
	wd, wdErr := os.Getwd()
	if hostMounts != nil && s.Dir == "" && wdErr != nil {
		return nil, workdirError(wdErr)
	}
	ctrl, initCtrl, err := socketPair(unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	c.ctrl = ctrl
	undo.add(func() { ctrl.Close() })
	defer initCtrl.Close()
	extra := append(append([]*os.File{}, s.IO.ExtraFiles...), initCtrl)
	var console *os.File
	if s.TTY {
		var initConsole *os.File
		if console, initConsole, err = socketPair(unix.SOCK_SEQPACKET); err != nil {
			return nil, err
		}
		undo.add(func() { console.Close() })
		defer initConsole.Close()
		extra = append(extra, initConsole)
	}
	if c.commit != nil {
		extra = append(extra, c.commit.mnt)
		if n := 3 + len(extra) - 1; n != c.commitLayerFD() {
			return nil, fmt.Errorf("passing the writable layer: descriptor %d, planned as %d", n, c.commitLayerFD())
		}
	}
	gateFD := -1
	if s.IO.StartGate != nil {
		extra = append(extra, s.IO.StartGate)
		gateFD = 3 + len(extra) - 1
	}

	flags := namespaceFlags(&s, c.userNS != nil)
	// Handed off, PID 1 is our parent's child (an OCI monitor's, for the
	// engine's subreaper): no parent-death signal (the parent may be gone
	// long before us; the control socket's end ends it instead), and it
	// exits with CMD's status.
	handOff, err := stage.HandsOff()
	if err != nil {
		return nil, fmt.Errorf("starting init: %w", err)
	}
	c.init.handedOff = handOff
	req := stage.SpawnRequest{
		Files: extra,
		Ctrl:  3 + len(s.IO.ExtraFiles), NCtrl: len(extra) - len(s.IO.ExtraFiles), Gate: gateFD,
		Flags: flags, CgroupFD: -1, Detach: handOff,
	}

	// Every run gets a cgroup, limits or not: it is where the report's
	// numbers come from, and what kills the whole sandbox at once. On v2
	// PID 1 is born in it (CLONE_INTO_CGROUP), so it comes first. On v1
	// PID 1 moves itself in when it is let go (stage.SendGo), so the
	// groups are made while PID 1 builds the container from its config.
	cgFirst := true
	if c.userNS == nil {
		v, err := limits.Version(s.Limits)
		if err != nil {
			return nil, fmt.Errorf("creating cgroup: %w", err)
		}
		cgFirst = v == 2
	}
	if !cgFirst && !handOff {
		c.spareFlags = flags // as Prepare's: a run like this one may follow
	}
	var tasks, leave []*os.File
	defer func() {
		for _, f := range append(tasks, leave...) {
			f.Close()
		}
	}()
	// It writes c.cg, c.lock, tasks and leave, and no other variable of
	// Start's (err among them): on v1 it runs beside the rest (cgWait).
	makeCgroup := func(undo *cleanups) error {
		var err error
		if c.lock == nil {
			if err := c.lockRun(undo); err != nil {
				return err
			}
		}
		// A rootless run's group is in the caller's delegated subtree, or
		// there is none and PID 1's pid namespace is what is killed at once.
		if c.userNS != nil {
			cg, err := rootlessCgroup(c.ID, s.Limits)
			if err != nil {
				return err
			}
			if cg == nil {
				cg = &noCgroup{}
			}
			c.cg = cg
			if c.cg.Version() != 0 {
				// gc finds the group by the root named in the lock file.
				c.lock.Truncate(0)
				c.lock.WriteAt([]byte(path.Dir(c.cg.Path())), 0)
			}
		} else {
			cg, err := limits.New(s.CgroupRoot, c.ID, s.Limits)
			if err != nil {
				return fmt.Errorf("creating cgroup: %w", err)
			}
			c.cg = cg
		}
		undo.add(func() { c.cg.Kill(); c.cg.Delete() })
		if err := checkKernel(c.cg.Version()); err != nil {
			return err
		}
		switch c.cg.Version() {
		case 2:
			if !cgFirst {
				return fmt.Errorf("creating cgroup: a v2 group where v1 was planned")
			}
			fd, err := c.cg.OpenFD()
			if err != nil {
				return fmt.Errorf("opening cgroup: %w", err)
			}
			req.CgroupFD = fd
		case 1:
			if tasks, err = c.cg.OpenTasks(); err != nil {
				return err
			}
			// A handed-off PID 1's group is the engine's, which removes it.
			if !handOff {
				if leave, err = c.cg.OpenParentTasks(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// On v1 the groups are made on another CPU, beside the plan, the
	// request for PID 1 and its build, from which they take nothing: a
	// PID 1 that built its container ahead waits for them alone. What
	// they leave to undo joins the rest once they are made.
	var cgWait func() error
	if cgFirst {
		if err := makeCgroup(&undo); err != nil {
			return nil, err
		}
		if req.CgroupFD >= 0 {
			defer unix.Close(req.CgroupFD)
		}
		// A rootless run with no group of its own (none delegated) takes a
		// spare as a v1 run does; one that maps the caller's ids alone
		// may find it built (its PID 1 maps them itself: SelfMap).
		if c.userNS != nil && c.cg.Version() == 0 && !handOff {
			c.spareFlags = flags
		}
	} else {
		var cgUndo cleanups
		made := make(chan error, 1)
		go func() { made <- makeCgroup(&cgUndo) }()
		var cgErr error
		cgWait = func() error {
			if made != nil {
				cgErr = <-made
				made = nil
				undo = append(undo, cgUndo...)
			}
			return cgErr
		}
		// Before tasks and leave are closed, and undo run, on every way out.
		defer cgWait()
	}

	c.output = newOutputGate(&s, c.exceeded)
	var stdin io.Reader
	var stdout, stderr io.Writer
	if !s.TTY {
		c.terminals = saveTerminals(&s.IO)
		stdout, stderr = c.output.writers(s.IO.Stdout, s.IO.Stderr)
		stdin, stdout, stderr = throughPipes(s.IO.Stdin, stdout, stderr)
	}
	// The plan before PID 1 is asked for: a spare that built its
	// container ahead is PID 1 only if it built this one (AheadOfNext).
	cfg, err := buildPlan(&s, s.RunDir, root, hostMounts, wd)
	if err != nil {
		return nil, err
	}
	cfg.ExtraFiles = len(s.IO.ExtraFiles)
	cfg.HandedOff = handOff
	cfg.SelfMap = c.userNS.selfMap()
	if cfg.Seccomp, err = compileSeccomp(s.Seccomp, writesHost(&s)); err != nil {
		return nil, err
	}
	if c.spareFlags != 0 { // only a run that may have a spare has one built ahead
		c.build = stage.EncodeBuild(cfg)
		c.buildInside = buildInside(cfg)
		req.Build = stage.BuildHash(c.build)
	}

	c.started = time.Now()
	if err := c.init.begin(req, stdin, stdout, stderr); err != nil {
		return nil, fmt.Errorf("starting init: %w", err)
	}
	undo.add(c.init.abandon)

	if err := c.init.finish(); err != nil {
		if c.userNS != nil {
			// Privileges are detected, not assumed: say what is missing.
			if why := userNSRefused(err); why != nil {
				return nil, why
			}
		}
		if cgFirst && c.cg != nil && c.cg.Version() == 2 {
			if why := cloneIntoCgroupRefused(err); why != nil {
				return nil, why
			}
		}
		return nil, fmt.Errorf("starting init: %w", err)
	}
	if c.userNS != nil {
		if g, ok := c.cg.(*noCgroup); ok {
			g.pid = c.init.pid
		}
		// A single-id map is PID 1's own to write (cfg.SelfMap).
		if err := c.userNS.writeMaps(c.init.pid); err != nil {
			if why := userNSRefused(err); why != nil {
				return nil, why
			}
			return nil, err
		}
	}
	if a := s.OOMScoreAdj; a != nil {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", c.init.pid), []byte(strconv.Itoa(*a)), 0); err != nil {
			return nil, fmt.Errorf("setting oom_score_adj %d: %w", *a, err)
		}
	}

	if err := stage.SendConfig(ctrl, cfg); err != nil {
		return nil, fmt.Errorf("sending config to init: %w", err)
	}
	if cgWait != nil {
		if err := cgWait(); err != nil {
			return nil, err
		}
	}
	// PID 1 and the exec stage (forked, waiting for its instructions) wait
	// for this before anything of CMD runs, so whatever confines them must
	// be in place first: they move into the groups it carries.
	if err := stage.SendGo(ctrl, tasks, leave); err != nil {
		return nil, fmt.Errorf("letting init go: %w", err)
	}
	if s.IO.StartGate != nil {
		// Held: returned once PID 1 is in the run's groups (its word, or
		// its failure's report, left for Wait to read).
		if err := stage.AwaitWord(ctrl); err != nil {
			return nil, fmt.Errorf("waiting for init to join its cgroup: %w", err)
		}
	}
	if console != nil {
		c.ttyOut.Add(1)
		go c.receiveConsole(console)
	}
	go func() {
		select {
		case <-ctx.Done():
			c.init.kill()
		case <-c.waited:
		}
	}()
	c.supervise()
	return c, nil
}

// snapshotKey names the run's own snapshot (a view, or an active snapshot
// to commit) in the store.
func (c *Container) snapshotKey() string { return "run-" + c.ID }

// snapshotRoot opens the store and makes the run's layer over the committed
// snapshot: a view whose layers get an upper in the scratch tmpfs (the fast
// path, nothing written to the store's disk), or, to commit, an active
// snapshot of the store's whose upper is first a tmpfs of Disk bytes too
// (commitLayer), copied into the store's when the run is committed. The
// store stays open until Wait: it is what marks the snapshot as in use by
// this run.
func (c *Container) snapshotRoot(undo *cleanups) (rootLayers, error) {
	sn := c.spec.Snapshot
	st, err := snapshot.Open(snapshot.Config{Root: sn.Store})
	if err != nil {
		return rootLayers{}, fmt.Errorf("opening snapshot store: %w", err)
	}
	c.store = st
	undo.add(func() { st.Close() })
	key := c.snapshotKey()
	if sn.Commit == "" {
		mounts, err := st.View(c.ctx, key, sn.Name)
		if err != nil {
			return rootLayers{}, err
		}
		undo.add(func() { st.Remove(context.Background(), key) })
		return rootLayers{Lowers: snapshot.Lowerdirs(mounts)}, nil
	}
	if _, err := st.Stat(c.ctx, sn.Commit); err == nil {
		return rootLayers{}, fmt.Errorf("%w: commit: snapshot %s exists already", ErrInvalidSpec, sn.Commit)
	}
	mounts, err := st.Prepare(c.ctx, key, sn.Name)
	if err != nil {
		return rootLayers{}, err
	}
	undo.add(func() { st.Remove(context.Background(), key) })
	var root rootLayers
	for _, m := range mounts {
		if m.Type != "overlay" || m.Target != "" {
			continue
		}
		for _, o := range m.Options {
			switch k, v, _ := strings.Cut(o, "="); k {
			case "lowerdir":
				root.Lowers = strings.Split(v, ":")
			case "upperdir":
				root.Upper = v
			case "workdir":
				root.Work = v
			default:
				root.Options = append(root.Options, o)
			}
		}
	}
	if root.Upper == "" {
		return rootLayers{}, fmt.Errorf("preparing snapshot %s: no overlay among %v", sn.Name, mounts)
	}
	disk := c.spec.Limits.Disk
	if disk == 0 {
		disk = DefaultDisk
	}
	var layer *commitLayer
	var why string
	switch {
	case Rootless():
		why = "without root the runner cannot make the tmpfs that bounds it"
	case !detachedUpperWorks():
		why = "this kernel takes no overlay upper layer on the detached tmpfs that would bound it (Linux 6.18 does)"
	default:
		layer, err = newCommitLayer(disk)
	}
	if why != "" {
		// The layer stays in the store, on its disk, where no tmpfs
		// bounds it. That is refused when --disk was asked for, and said
		// in the report (disk_bytes enforced by none) when it was not.
		if c.spec.Limits.Disk != 0 {
			return rootLayers{}, fmt.Errorf("%w: --disk with --commit: the writable layer of a commit is in the snapshot store, on its disk: %s (leave --disk out)", ErrUnsupported, why)
		}
		c.unboundedLayer = true
		return root, nil
	}
	if err != nil {
		return rootLayers{}, err
	}
	undo.add(layer.close)
	c.commit, c.storeUpper = layer, root.Upper
	n := c.commitLayerFD()
	root.Upper, root.Work = fmt.Sprintf("/proc/self/fd/%d/u", n), fmt.Sprintf("/proc/self/fd/%d/w", n)
	return root, nil
}

// commitLayerFD is the writable layer's descriptor in PID 1: the last of
// its own, after the control socket and the console.
func (c *Container) commitLayerFD() int {
	n := 3 + len(c.spec.IO.ExtraFiles) + 1
	if c.spec.TTY {
		n++
	}
	return n
}

// finishSnapshot commits the run's layer or throws it away. The overlay
// was mounted only in the sandbox's mount namespace, gone with PID 1, so the
// upper is no longer in use.
func (c *Container) finishSnapshot(res *Result) error {
	if c.store == nil {
		return nil
	}
	defer c.store.Close()
	defer c.commit.close()
	sn, key := c.spec.Snapshot, c.snapshotKey()
	ctx := context.Background()
	if sn.Commit != "" && (sn.CommitAlways || res.Status == StatusOK) {
		var err error
		if c.commit != nil { // else the layer is in the store already
			err = snapshot.CopyLayer(ctx, c.storeUpper, c.commit.upper())
		}
		if err == nil {
			err = c.store.Commit(ctx, sn.Commit, key)
		}
		if err != nil {
			c.store.Remove(ctx, key)
			return fmt.Errorf("committing the run's changes: %w", err)
		}
		res.Committed = sn.Commit
		return nil
	}
	if err := c.store.Remove(ctx, key); err != nil {
		return fmt.Errorf("removing the run's snapshot: %w", err)
	}
	return nil
}

// throughPipes hides regular files behind pipes. A CMD of the file's
// owner (root, by default) could re-open /proc/self/fd/0 for writing and
// change the caller's input, or read back an output file; through a pipe
// it only has the stream. Pipes, terminals and devices pass straight
// through: there is nothing behind them to re-open.
func throughPipes(in io.Reader, out, errw io.Writer) (io.Reader, io.Writer, io.Writer) {
	regular := func(v any) bool {
		f, ok := v.(*os.File)
		if !ok || f == nil {
			return false
		}
		fi, err := f.Stat()
		return err == nil && fi.Mode().IsRegular()
	}
	if regular(in) {
		in = struct{ io.Reader }{in}
	}
	if regular(out) {
		out = struct{ io.Writer }{out}
	}
	if regular(errw) {
		errw = struct{ io.Writer }{errw}
	}
	return in, out, errw
}

// checkHandedFiles refuses a descriptor that CMD would get as it is and
// through which a path walk leaves the root: a directory of the host's
// (`cd -P /proc/self/fd/0/..` is its parent, on the host), or an O_PATH
// descriptor of anything. A file is handed over as it is when it is an
// *os.File (throughPipes hides only regular files behind pipes).
func checkHandedFiles(io *IO) error {
	check := func(name string, v any) error {
		f, ok := v.(*os.File)
		if !ok || f == nil {
			return nil
		}
		var flags int
		var st unix.Stat_t
		err := withFD(f, func(fd int) (err error) {
			if flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
				err = unix.Fstat(fd, &st)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidSpec, name, err)
		}
		switch {
		case flags&unix.O_PATH != 0:
			return fmt.Errorf("%w: %s is an O_PATH descriptor (%s): a path walk from it would leave the sandbox", ErrInvalidSpec, name, f.Name())
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return fmt.Errorf("%w: %s is a directory (%s): a path walk from it would leave the sandbox", ErrInvalidSpec, name, f.Name())
		}
		return nil
	}
	errs := []error{check("stdin (fd 0)", io.Stdin), check("stdout (fd 1)", io.Stdout), check("stderr (fd 2)", io.Stderr)}
	for i, f := range io.ExtraFiles {
		errs = append(errs, check(fmt.Sprintf("descriptor %d (extra file %d)", 3+i, i+1), f))
	}
	return errors.Join(errs...)
}

// writesHost says whether CMD can write to the host's own filesystems: a
// writable bind, an overlay whose upper directory is the host's, or a
// regular file handed over as a descriptor (stdin, stdout and stderr go
// behind pipes). Every other write lands in the run's throwaway layers.
// Such a run gets the set-id guard (setidGuard): a file CMD leaves there
// with set-id bits would grant its ids to the host's users.
func writesHost(s *Spec) bool {
	for _, m := range s.Mounts {
		if (m.Type == MountBind && !m.ReadOnly) || (m.Type == MountOverlay && m.Upper != "") {
			return true
		}
	}
	for _, f := range s.IO.ExtraFiles {
		if fi, err := f.Stat(); err != nil || fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// withFD calls fn with f's descriptor. Unlike f.Fd, it leaves the
// descriptor's blocking mode as the caller set it.
func withFD(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// termState is a terminal of the caller's that CMD gets as it is, as it
// was before the run: CMD may leave it non-blocking or raw, and the
// caller's shell would inherit that.
type termState struct {
	f     *os.File
	flags int
	tio   *unix.Termios
}

// saveTerminals records the state of each of the caller's terminals among
// CMD's stdin, stdout and stderr (with TTY, CMD has a pty of its own).
func saveTerminals(io *IO) []termState {
	var saved []termState
	for _, v := range []any{io.Stdin, io.Stdout, io.Stderr} {
		f, ok := v.(*os.File)
		if !ok || f == nil {
			continue
		}
		st := termState{f: f}
		err := withFD(f, func(fd int) (err error) {
			if st.tio, err = unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
				st.flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			}
			return err
		})
		if err == nil {
			saved = append(saved, st)
		}
	}
	return saved
}

// restoreTerminals puts back what saveTerminals found, touching only what
// changed: a runner in a background job that sets a terminal gets SIGTTOU.
func restoreTerminals(saved []termState) {
	for _, st := range saved {
		withFD(st.f, func(fd int) error {
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl != st.flags {
				unix.FcntlInt(uintptr(fd), unix.F_SETFL, st.flags)
			}
			if tio, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil && *tio != *st.tio {
				unix.IoctlSetTermios(fd, unix.TCSETS, st.tio)
			}
			return nil
		})
	}
}

// makeRunDir names the run (its ID) and makes sure the run directory is
// there. A run has no directory of its own on the host: PID 1 mounts the
// run's scratch tmpfs on the run directory itself, inside its own mount
// namespace (buildPlan). A directory made and removed per run costs a
// block of its filesystem's: on an ext4 mounted with discard, as /run is
// on some hosts, freeing it waits for the disk. Measured on such a host, a
// directory with its lock file took 0.22 to 0.28 ms a run to make and
// remove, the lock file alone 0.03 to 0.05 ms.
func (c *Container) makeRunDir() error {
	var b [8]byte
	rand.Read(b[:])
	c.ID = hex.EncodeToString(b[:])
	if err := os.MkdirAll(c.spec.RunDir, 0o711); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	return nil
}

// lockRun takes the run's place in the run directory: a lock file named by
// the run's ID, flock'd for as long as the run lives and holding the run's
// cgroup root, so that `gc` can tell a live run from what a dead runner
// left, and find its group. The file is made under a temporary name,
// locked, and renamed into place, so `gc` never sees a run's file
// unlocked. It need only come before the run's cgroup: a runner that dies
// before has PID 1 die with it, and has left nothing for gc. So a v1 run
// makes it while PID 1 builds, off the path (0.1 ms here).
func (c *Container) lockRun(undo *cleanups) error {
	base := c.spec.RunDir
	tmp := filepath.Join(base, ".new-"+c.ID)
	// The lock file names the run's cgroup root, so that GC finds the
	// group of a run whose runner died.
	lock, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			_, err = lock.WriteString(c.spec.CgroupRoot)
		}
		c.lockPath = filepath.Join(base, c.ID)
		if err == nil {
			err = os.Rename(tmp, c.lockPath)
		}
		if err != nil {
			os.Remove(tmp)
			lock.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	c.lock = lock
	undo.add(c.removeRunDir)
	return nil
}

func (c *Container) removeRunDir() {
	// Removed before the lock is let go: `gc` must not find the file
	// unlocked while the run's cgroup may still be there.
	os.Remove(c.lockPath)
	c.lock.Close()
}

func socketPair(typ int) (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating socket pair: %w", err)
	}
	// The runner's end on the runtime's poller: a goroutine waiting for
	// PID 1's report parks instead of holding a thread in read(2).
	unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "runner"), os.NewFile(uintptr(fds[1]), "init"), nil
}

// receiveConsole takes the pty master the init stage made and copies it to
// and from the caller's streams.
func (c *Container) receiveConsole(console *os.File) {
	defer c.ttyOut.Done()
	defer console.Close()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	rc, err := console.SyscallConn()
	if err != nil {
		return
	}
	var oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		_, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	if err != nil || oobn == 0 {
		return // init failed before making the pty; Wait reports why
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return
	}
	master := os.NewFile(uintptr(fds[0]), "pty")
	c.ttyMu.Lock()
	c.master = master
	size := c.size
	c.ttyMu.Unlock()
	if size != c.spec.TTYSize {
		c.Resize(size)
	}
	if in := c.spec.IO.Stdin; in != nil {
		go io.Copy(master, in)
	}
	out, _ := c.output.writers(c.spec.IO.Stdout, nil)
	if out == nil {
		out = io.Discard
	}
	io.Copy(out, master) // ends with EIO when the last holder of the pty exits
}

// Pid is the init process's pid in the caller's pid namespace.
func (c *Container) Pid() int { return c.init.pid }

// Signal sends sig to CMD (through PID 1, which forwards the usual
// signals); SIGKILL kills the whole sandbox at once.
func (c *Container) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signalling init: %v: %w", sig, os.ErrInvalid)
	}
	return c.init.signal(s)
}

// Resize sets the window size of CMD's pty (TTY runs only).
func (c *Container) Resize(ws WindowSize) error {
	c.ttyMu.Lock()
	defer c.ttyMu.Unlock()
	c.size = ws
	if c.master == nil {
		return nil // applied when the pty arrives
	}
	return unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
}

// Wait waits for CMD and everything else in the sandbox to end, removes
// what the run made, and reports. The error is non-nil only when the runner
// failed (or ctx was cancelled); CMD's own failures are in the Result.
func (c *Container) Wait() (*Result, error) {
	if c.joined {
		return c.waitJoined()
	}
	// PID 1 reports when CMD ends, then exits, and its exit (the kernel
	// tearing the namespaces down) takes a while: the report and the
	// cgroup's numbers are read meanwhile, and on v1, where PID 1 leaves
	// the run's groups before it reports, the groups and the run directory
	// are removed too. What that teardown costs is the runner's, as the
	// namespaces' making is (see the package doc).
	var ev stage.Exit
	derr := json.NewDecoder(c.ctrl).Decode(&ev)
	// Not rootless: its spares would be made at the zygote's own
	// priority, beside the sandboxes still running (see make_spare).
	if c.spareFlags != 0 && c.userNS == nil {
		stage.AheadOfNext(c.spareFlags, c.build)
	}
	stats, statsErr := c.cg.Stats()
	removed := false
	if derr == nil && ev.LeftCgroup && c.cg.Delete() == nil {
		// Nothing of the run is left for gc to find through the run
		// directory: PID 1 dies with its control socket if we do.
		removed = true
		c.removeRunDir()
	}
	// While PID 1's namespaces are torn down.
	c.saveBuild()
	werr := c.init.wait()
	restoreTerminals(c.terminals)
	res := &Result{ID: c.ID, Wall: time.Since(c.started), Status: StatusFailed, ExitCode: ExitRunnerFailed,
		Limits: c.spec.Limits, CgroupVersion: c.cg.Version(), EnforcedBy: enforcement(c.spec.Limits)}
	if c.unboundedLayer {
		res.EnforcedBy["disk_bytes"] = ByNone
	}
	if c.userNS != nil {
		res.UserNamespace = c.userNS.Kind
	}
	close(c.waited)
	c.ttyOut.Wait()
	c.ctrl.Close()
	if c.master != nil {
		c.master.Close()
	}
	c.account(res, stats, statsErr, ev.Rusage)
	var cgErr error
	if !removed {
		cgErr = c.removeCgroup()
		c.removeRunDir()
	}
	if c.uid != nil {
		// Every process of the run is gone with its pid namespace: the id
		// owns nothing but what it wrote to binds.
		c.uid.release()
	}

	err := c.judge(res, &ev, derr, werr)
	if snErr := c.finishSnapshot(res); err == nil && snErr != nil {
		err = snErr
	}
	if err == nil && cgErr != nil {
		err = cgErr
	}
	return res, err
}

// saveBuild keeps the run's build part in the run directory, where the
// next runner's zygote reads it (stage.BuildCache), for its first spare
// to build ahead: a CLI run of the same command line as the last then
// finds its container built. Only a process whose zygote reads it (the
// CLI's exec), only runs with the host's root and the namespaces of that
// zygote's first spare, in a run directory only this user writes (the
// zygote reads no other), and only when it changed: the run's PID 1 did
// not build ahead from it. Without root, only a run whose PID 1 maps its
// own ids (SelfMap): no other can build before its request. Nothing the
// run holds (its arguments, environment, credentials) is in it; it is a
// file only its user reads or writes, and gc keeps it. The build a spare
// does from it has no effect outside the spare's own mount namespace:
// what it mounts on and makes is under the run directory, where the first
// step mounts the scratch tmpfs (buildInside).
func (c *Container) saveBuild() {
	s := &c.spec
	if c.init.built || !c.buildInside || !stage.KeepsBuild(c.spareFlags) || (Rootless() && c.userNS.selfMap() == nil) ||
		s.Root != "" || s.Snapshot != nil || s.HostRoot != nil {
		return
	}
	var st unix.Stat_t
	if unix.Stat(s.RunDir, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return
	}
	f, err := os.CreateTemp(s.RunDir, buildCacheTemp)
	if err != nil {
		return
	}
	_, err = f.Write(c.build)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(s.RunDir, stage.BuildCache))
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// buildInside says whether cfg's first step mounts the scratch tmpfs,
// and every step after mounts on, and makes, only what is under it: the
// directories a step makes and a scratch step's target are host paths,
// the root is under the scratch tmpfs, and the other steps' targets are
// resolved in the root.
func buildInside(cfg *stage.Config) bool {
	if len(cfg.Steps) == 0 || !cfg.Steps[0].Scratch || cfg.Steps[0].Target != cfg.Scratch ||
		cfg.Steps[0].FSType != "tmpfs" || len(cfg.Steps[0].Mkdir) != 0 || !strictlyUnder(cfg.Rootfs, cfg.Scratch) {
		return false
	}
	for _, st := range cfg.Steps[1:] {
		if st.Scratch && !strictlyUnder(st.Target, cfg.Scratch) {
			return false
		}
		for _, p := range st.Mkdir {
			if !strictlyUnder(p, cfg.Scratch) {
				return false
			}
		}
	}
	return true
}

func strictlyUnder(p, dir string) bool { return p != dir && under(filepath.Clean(p), dir) }

// account fills in what the run used, from the cgroup's numbers st (err
// if they could not be had) and from the rusage of PID 1 (which includes
// every process it reaped): the runner's wait4's, or else, for a PID 1
// handed off to a parent of its own, the one it reported.
func (c *Container) account(res *Result, st *limits.Stats, err error, reported *stage.Rusage) {
	if err == nil {
		res.CPU, res.CPUUser, res.CPUSys = st.CPUTotal, st.CPUUser, st.CPUSys
		res.MemoryPeak, res.OOMKilled, res.PidsPeak = st.MemoryPeak, st.OOMKills > 0, st.PidsPeak
		res.IORead, res.IOWrite = st.IORead, st.IOWrite
	}
	if ps := c.init.state; ps != nil && !ps.unknown {
		ru := &ps.ru
		res.CSWVoluntary, res.CSWForced = ru.Nvcsw, ru.Nivcsw
		if err != nil || c.cg.Version() == 0 {
			rusageAccount(res, ru, c.cg)
		} else if res.MemoryPeak == 0 {
			// A delegation without the memory controller.
			res.MemoryPeak = ru.Maxrss * 1024
		}
	} else if ru := reported; ru != nil && err == nil && c.cg.Version() != 0 {
		res.CSWVoluntary, res.CSWForced = ru.Nvcsw, ru.Nivcsw
		if res.MemoryPeak == 0 {
			res.MemoryPeak = ru.Maxrss * 1024
		}
	}
	if c.output.counting() {
		n := c.output.passed()
		res.OutputBytes = &n
	}
}

// removeCgroup deletes the run's cgroup. PID 1 is gone, and with it every
// process of the pid namespace, so the group is empty; Kill is for the
// group a process left behind in a state the namespace's end did not reach.
func (c *Container) removeCgroup() error {
	if err := c.cg.Delete(); err != nil {
		c.cg.Kill()
		if err := c.cg.Delete(); err != nil {
			return fmt.Errorf("removing cgroup %s: %w", c.cg.Path(), err)
		}
	}
	return nil
}

// rootHint points a run of a root of the caller's that died as binaries do
// on a kernel they do not fit (another architecture, a libc too new for
// it, calls into a vsyscall page the host has not) at the command that
// says which.
func (c *Container) rootHint() string {
	switch {
	case c.spec.Root != "":
		return fmt.Sprintf("; if the root does not fit this kernel, 'sandbox check --root %s' says why", c.spec.Root)
	case c.spec.Snapshot != nil:
		return fmt.Sprintf("; if the root does not fit this kernel, 'sandbox check --root %s' says why", c.spec.Snapshot.Name)
	}
	return ""
}

// judge turns how the run ended into the Result's verdict and message.
func (c *Container) judge(res *Result, ev *stage.Exit, derr, werr error) error {
	l := c.spec.Limits
	c.killMu.Lock()
	killedFor, reason := c.killedFor, c.killReason
	c.killMu.Unlock()

	switch {
	case derr != nil: // PID 1 ended without a word: it was killed
		// Handed off, how PID 1 ended is its parent's to know: killed, as
		// nothing else ends it without a report.
		res.ExitCode, res.Signal, res.Status = -1, int(unix.SIGKILL), StatusSignal
		if ps := c.init.state; ps != nil && !ps.unknown {
			if ps.ws.Signaled() {
				res.Signal = int(ps.ws.Signal())
			} else {
				res.ExitCode, res.Signal, res.Status = ExitRunnerFailed, 0, StatusFailed
			}
		}
		res.Message = "sandbox killed by signal " + unix.SignalName(syscall.Signal(res.Signal))
		if killedFor == "" && res.Status != StatusFailed {
			if err := c.ctx.Err(); err != nil {
				res.Message = "cancelled: " + err.Error()
				return err
			}
		}
		if res.Status == StatusFailed {
			res.Message = fmt.Sprintf("init stage ended without a report (%v)", werr)
			return fmt.Errorf("%w: %s", ErrSetup, res.Message)
		}
	case ev.Error != "" && (ev.ExitCode == ExitNotFound || ev.ExitCode == ExitNotExecutable):
		res.ExitCode, res.Status, res.Message = ev.ExitCode, StatusRuntime, ev.Error
		if strings.Contains(ev.Error, "exec format error") {
			res.Message += c.rootHint()
		}
		return nil
	case ev.Error != "":
		res.Message = ev.Error
		if c.userNS != nil && strings.HasPrefix(ev.Error, userNSSetup) {
			// PID 1 mapped its own ids (SelfMap): say what forbids it.
			if why := userNSRefused(fmt.Errorf("%s: %w", ev.Error, unix.EPERM)); why != nil {
				return why
			}
		}
		if ev.Unsupported {
			return fmt.Errorf("%w: %s", ErrUnsupported, ev.Error)
		}
		return fmt.Errorf("%w: %s", ErrSetup, ev.Error)
	case ev.Signal != 0:
		res.ExitCode, res.Signal, res.Status = -1, ev.Signal, StatusSignal
		res.Message = "killed by signal " + unix.SignalName(syscall.Signal(ev.Signal))
		if ev.Signal == int(unix.SIGXFSZ) {
			res.Message += " (file size limit exceeded)"
		}
		switch unix.Signal(ev.Signal) {
		case unix.SIGSEGV, unix.SIGILL, unix.SIGBUS, unix.SIGSYS:
			res.Message += c.rootHint()
		}
	default:
		res.ExitCode, res.Status = ev.ExitCode, StatusOK
		if ev.ExitCode != 0 {
			res.Status, res.Message = StatusRuntime, fmt.Sprintf("exited with status %d", ev.ExitCode)
		}
	}

	if ev.Refused != "" {
		res.Refused = ev.Refused
		if res.Status == StatusSignal {
			res.Message = fmt.Sprintf("killed: syscall %s refused by the seccomp filter", ev.Refused)
		}
	}

	// Limits outrank how CMD ended: a program killed for its output or its
	// time, or by the OOM killer, gets that verdict whatever signal it saw.
	// A run that went over a time limit but ended within ExtraTime is TO too.
	switch {
	case killedFor != "":
		res.Status, res.Message = killedFor, reason
	case l.CPUTime > 0 && res.CPU > l.CPUTime:
		res.Status, res.Message = StatusTime, fmt.Sprintf("CPU time limit %v exceeded (used %v)", l.CPUTime, res.CPU.Round(time.Millisecond))
	case l.WallTime > 0 && res.Wall > l.WallTime:
		res.Status, res.Message = StatusTime, fmt.Sprintf("wall time limit %v exceeded", l.WallTime)
	case res.OOMKilled:
		res.Status = StatusMemory
		if l.Memory > 0 {
			res.Message = fmt.Sprintf("memory limit %s exceeded; killed by the OOM killer", bytesText(l.Memory))
		} else {
			res.Message = "out of memory; killed by the OOM killer"
		}
	}
	return nil
}
