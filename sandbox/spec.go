package sandbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"github.com/sandbox-dev/sandbox/snapshot"
)

// Network modes.
const (
	// NetworkNone gives the sandbox a network namespace of its own with only
	// loopback, up.
	NetworkNone = "none"
	// NetworkHost shares the caller's network namespace.
	NetworkHost = "host"
)

// Mount types a Spec may ask for. The root filesystem, /proc, /dev, /sys and
// /tmp are not Spec mounts: the runner always makes them.
const (
	MountBind  = "bind"
	MountTmpfs = "tmpfs"
	// MountOverlay layers the host directories Lower (top first) under the
	// writable host directory Upper (Work is overlayfs's scratch, on the
	// same filesystem): a copy-on-write view of a tree whose writes land in
	// Upper, where the caller finds them after the run.
	MountOverlay = "overlay"
)

// Spec is everything one run needs, as plain data: no CLI types, no open
// files. It is what profiles resolve to and what crosses the pipe to the
// init stage (IO stays behind in the runner).
type Spec struct {
	// Args is the command and its arguments. A name without a slash is looked
	// up in the sandbox's PATH, inside the sandbox.
	Args []string `json:"args"`
	// Env is CMD's whole environment. Nil means HermeticEnv(os.Environ()).
	Env []string `json:"env,omitempty"`
	// Dir is CMD's working directory inside the sandbox, created if missing.
	// Empty means the caller's working directory. With the host's root it is
	// always CMD's, kept in view (copy-on-write) where the sandbox's private
	// /tmp or /run would hide it; one that cannot be had (deleted, or in a
	// kernel view the sandbox has its own of, like /proc/PID) fails the
	// run, naming it. With a root of its own, it is used when that root has
	// a directory by that name (after the Mounts), else "/".
	Dir string `json:"dir,omitempty"`
	// Hostname of the UTS namespace; empty means DefaultHostname.
	Hostname string `json:"hostname,omitempty"`
	// Domainname is the UTS namespace's NIS domain name (what domainname(1)
	// prints); empty leaves the one the namespace starts with, the host's.
	Domainname string `json:"domainname,omitempty"`
	// User CMD runs as; nil means the caller's uid and gid.
	User *User `json:"user,omitempty"`
	// OOMScoreAdj, when set, is every process's oom_score_adj (-1000 to
	// 1000), set on PID 1 before anything forks from it; nil inherits the
	// runner's. Below the runner's own needs CAP_SYS_RESOURCE.
	OOMScoreAdj *int `json:"oom_score_adj,omitempty"`
	// Root is the read-only lower layer of the throwaway root: empty means the
	// host's "/" (and the real filesystems mounted below it), else a directory.
	Root string `json:"root,omitempty"`
	// RootInPlace makes Root itself the root, writable unless
	// ReadOnlyRoot, instead of the lower layer of a throwaway overlay: an
	// OCI bundle's root, whose layers the engine owns (podman commit, cp
	// and diff read the container's writes there, as under runc). Disk
	// does not bound what CMD writes to it.
	RootInPlace bool `json:"root_in_place,omitempty"`
	// Snapshot, when set, makes the root from a committed snapshot of a
	// store instead: Root must then be empty.
	Snapshot *SnapshotRoot `json:"snapshot,omitempty"`
	// HostRoot, when set, makes the root of host paths instead of a layer
	// over the host's whole "/": an empty directory holding only the paths
	// it names, read-only (see HostRoot). It is what makes a root from the
	// host's tree, so Root or Snapshot, a root of the run's own already,
	// take its place when set (as a profile's host root and a caller's
	// --root do). MinimalHostRoot is what a grader wants.
	HostRoot *HostRoot `json:"host_root,omitempty"`
	// Mounts are made inside the new root after /proc, /dev, /sys and /tmp,
	// in order, so a later mount may land inside an earlier one.
	Mounts []Mount `json:"mounts,omitempty"`
	// NoSymlinks makes every bind of Mounts resolve its source as if it
	// had Mount.NoSymlinks set: for pipelines whose earlier stages may have
	// planted symlinks where a later stage binds.
	NoSymlinks bool `json:"no_symlinks,omitempty"`
	// Network is NetworkNone (the default when empty) or NetworkHost.
	Network string `json:"network,omitempty"`
	// CapAdd lists capabilities CMD keeps (e.g. "CAP_NET_RAW" or "net_raw");
	// every other one is dropped from every set, bounding included.
	CapAdd []string `json:"cap_add,omitempty"`
	// Seccomp is the syscall filter CMD runs under; nil means
	// DefaultSeccomp(), &Seccomp{Unconfined: true} none at all.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
	// TTY gives CMD a pseudo-terminal of its own, created inside the
	// sandbox; IO.Stdin and IO.Stdout are copied to and from it.
	TTY bool `json:"tty,omitempty"`
	// TTYSize is the initial window size when TTY is set (0 means unset).
	TTYSize WindowSize `json:"tty_size,omitempty"`
	// Limits are the run's quotas (cgroup, rlimits, CPU and wall time,
	// output) and the size of its writable layer: Limits.Disk caps the tmpfs
	// that holds the root's upper layer (and, separately, /tmp); 0 means
	// DefaultDisk. A nil Limits.Pids means limits.DefaultPids: every run
	// has a pids limit.
	Limits limits.Limits `json:"limits"`
	// CgroupRoot is the cgroup under which each run gets its own group,
	// an absolute path in every hierarchy; empty means limits.DefaultRoot.
	CgroupRoot string `json:"cgroup_root,omitempty"`
	// RunDir is where run state lives on the host, one lock file per run,
	// so that `sandbox gc` can find what a killed runner left; each run's
	// PID 1 mounts its scratch tmpfs there, in its own mount namespace.
	// Empty means DefaultRunDir; a relative one is taken from the caller's
	// working directory.
	RunDir string `json:"run_dir,omitempty"`

	// ReadOnlyRoot remounts the root read-only once every mount is made
	// (the OCI runtime's root.readonly): only mounts stay writable.
	ReadOnlyRoot bool `json:"read_only_root,omitempty"`
	// NoDevRoot mounts the root nodev, so that a device node a root of
	// the caller's holds opens nothing (an OCI engine's deny-all device
	// cgroup, kept without one: the runner's own /dev is another mount).
	NoDevRoot bool `json:"no_dev_root,omitempty"`
	// MaskedPaths and ReadOnlyPaths are hidden or made read-only inside
	// the sandbox after the Mounts, besides the runner's own list (runc's),
	// which every run gets. A path the root lacks is skipped.
	MaskedPaths   []string `json:"masked_paths,omitempty"`
	ReadOnlyPaths []string `json:"read_only_paths,omitempty"`

	// IO attaches the caller's streams; it never crosses to the init stage.
	IO IO `json:"-"`
}

// SnapshotRoot is a root made from a snapshot store: a fresh layer over the
// committed snapshot Name, thrown away after the run, or committed as a new
// snapshot Commit (whose parent is Name) when CMD exits 0, or whatever its
// status with CommitAlways.
type SnapshotRoot struct {
	Store        string `json:"store,omitempty"` // "" = snapshot.RootFromEnv()
	Name         string `json:"name"`
	Commit       string `json:"commit,omitempty"`
	CommitAlways bool   `json:"commit_always,omitempty"`
}

// User is a numeric identity inside the sandbox. Unique asks for an
// identity of the run's own instead of UID and GID: a uid, with a gid of
// the same number, that no live run and no account of the host has, taken
// from UniqueIDs for the length of the run. Per-user kernel quotas (inotify
// instances, pipe pages, mqueue bytes, pending signals, processes) are then
// the run's alone, as isolate gives each box a uid of its own.
type User struct {
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Unique bool   `json:"unique,omitempty"`
}

// IDRange is a range of numeric ids.
type IDRange struct {
	First, Count uint32
}

// UniqueIDs is where User.Unique identities come from: far above the
// ranges that distributions give accounts (below 60000) and subordinate ids
// (from 100000, 65536 a user), below 2^31 for tools that keep ids signed.
var UniqueIDs = IDRange{First: 2_000_000_000, Count: 1 << 16}

// IDLockDir holds a lock file for each unique id in use, for every runner
// of the machine, whatever its RunDir; each is removed when its run ends.
const IDLockDir = "/run/sandbox-ids"

// WindowSize is a terminal size in character cells.
type WindowSize struct {
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// Mount is a bind mount or a tmpfs that the init stage makes inside the new
// root. Destination is resolved inside the root: a symlink on the way is
// followed as if the root were "/", never out of it.
type Mount struct {
	Type        string `json:"type"`             // MountBind, MountTmpfs or MountOverlay
	Source      string `json:"source,omitempty"` // host path, for binds
	Destination string `json:"destination"`      // absolute path inside the sandbox
	ReadOnly    bool   `json:"read_only,omitempty"`
	Size        int64  `json:"size,omitempty"` // tmpfs size in bytes, 0: tmpfs's default
	// Lower, Upper and Work are host directories, for overlays.
	Lower []string `json:"lower,omitempty"`
	Upper string   `json:"upper,omitempty"`
	Work  string   `json:"work,omitempty"`
	// NoSymlinks, for a bind, refuses a Source with a symlink in any of
	// its components, the last included, instead of following it. PID 1
	// resolves the source so (openat2 RESOLVE_NO_SYMLINKS) and binds the
	// descriptor it opened: nothing can swap a component for a symlink
	// between the check and the bind. A refused source fails the run's
	// setup (ErrSetup), naming the source.
	NoSymlinks bool `json:"no_symlinks,omitempty"`
	// NoExec mounts a tmpfs, or a bind of a directory, noexec.
	NoExec bool `json:"no_exec,omitempty"`
	// Mode is a tmpfs's root directory mode; 0 means 01777.
	Mode os.FileMode `json:"mode,omitempty"`
}

// HostRoot is a root of the run's own made of host paths, as isolate's
// directory rules make a box's: the root is an empty tmpfs (capped by
// Limits.Disk, as the writable layer it stands for), and each of Paths, an
// absolute host path, appears at the same path inside, made in order (a
// parent before what lands inside it):
//
//   - a directory or a file is bound read-only (recursively), resolved
//     without following symlinks (Mount.NoSymlinks);
//   - a symlink is made again as the same symlink, so merged-/usr layouts
//     (Debian's /bin -> usr/bin, /lib64 -> usr/lib64) keep working inside;
//   - a path the host does not have is left out, so one list serves hosts
//     with and without /lib32 or /libx32.
//
// /proc, /dev, /sys, /tmp and /run are the runner's, as in every run;
// anything else (the submission's box, a language runtime under /opt) is a
// Mount of the Spec's. Nothing else of the host is in the sandbox: no /home,
// /srv, /opt, /var or /work, none of /etc but what Paths names.
type HostRoot struct {
	Paths []string `json:"paths"`
}

// MinimalHostRoot is the root a grader gives an untrusted submission, and
// what the grade profile uses: the host's programs and libraries (/usr, /bin,
// /sbin, /lib and its multilib siblings), and of /etc only what programs
// read to start and to name users: the dynamic loader's cache and
// configuration, the alternatives (Debian's /usr/bin/awk, cc, java point
// there), the time zone, the user and group databases, nsswitch.conf and
// hosts, and the Java runtimes' configuration (Debian's JVMs under /usr/lib/jvm
// link their conf/ to /etc/java-N-openjdk). Interpreters installed under
// /usr (python3, perl, java) work.
func MinimalHostRoot() *HostRoot {
	return &HostRoot{Paths: []string{
		"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
		"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
		"/etc/java-11-openjdk", "/etc/java-17-openjdk", "/etc/java-21-openjdk",
	}}
}

// IO is what the caller attaches to CMD. Nil streams read from or write to
// /dev/null. An *os.File is handed to CMD as it is (pipes stay pipes); other
// readers and writers are copied through a pipe.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become CMD's file descriptors 3, 4, ... in order.
	ExtraFiles []*os.File
	// StartGate, when set, holds CMD set up but for its seccomp filter
	// and exec until a byte can be read from it (the read end of a pipe
	// whose write end the caller keeps): an OCI runtime's create and
	// start. EOF instead fails the run (ErrSetup) and CMD never runs.
	// CMD never holds it.
	StartGate *os.File
}

// Defaults applied where a Spec leaves a field empty.
const (
	DefaultHostname = "sandbox"
	DefaultRunDir   = "/run/sandbox"
)

// DefaultDisk is the size cap of a run's writable layer when Spec.Disk is 0:
// large enough for builds, bounded so a runaway writer cannot fill the host's
// memory.
const DefaultDisk int64 = 4 << 30

// DefaultPath is PATH inside a root other than the host's when the caller's
// PATH is not carried over.
const DefaultPath = stage.DefaultPath

// HermeticEnv is the environment a run gets by default: PATH and HOME from
// the caller (so tools found outside are found inside the host's root), TERM
// if set, LANG=C.UTF-8 and TZ=UTC, and nothing else.
func HermeticEnv(caller []string) []string {
	get := func(k string) (string, bool) {
		for i := len(caller) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(caller[i], k+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	path, ok := get("PATH")
	if !ok || path == "" {
		path = DefaultPath
	}
	home, ok := get("HOME")
	if !ok || home == "" {
		home = "/"
	}
	env := []string{"PATH=" + path, "HOME=" + home}
	if term, ok := get("TERM"); ok {
		env = append(env, "TERM="+term)
	}
	return append(env, "LANG=C.UTF-8", "TZ=UTC")
}

// SetEnv returns env with key set to value, replacing an earlier setting.
func SetEnv(env []string, key, value string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// Validate reports the first thing wrong with s, wrapping ErrInvalidSpec. It
// looks at the host only to check that named paths exist.
func (s *Spec) Validate() error {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return fmt.Errorf("%w: no command given", ErrInvalidSpec)
	}
	if err := s.noNUL(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if a := s.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
		return fmt.Errorf("%w: oom_score_adj %d: want -1000 to 1000", ErrInvalidSpec, *a)
	}
	switch s.Network {
	case "", NetworkNone, NetworkHost:
	default:
		return fmt.Errorf("%w: network %q: want %q or %q", ErrInvalidSpec, s.Network, NetworkNone, NetworkHost)
	}
	if hr := s.HostRoot; hr != nil {
		for _, p := range hr.Paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return fmt.Errorf("%w: host root path %q: want an absolute, clean path other than /", ErrInvalidSpec, p)
			}
		}
	}
	if s.RootInPlace && s.Root == "" {
		return fmt.Errorf("%w: root in place without a root", ErrInvalidSpec)
	}
	if s.RootInPlace && s.Limits.Disk != 0 {
		return fmt.Errorf("%w: a disk limit on a root written in place: its writes land in the root's own filesystem", ErrUnsupported)
	}
	if sn := s.Snapshot; sn != nil {
		if s.Root != "" {
			return fmt.Errorf("%w: root %s and snapshot %s: want one of them", ErrInvalidSpec, s.Root, sn.Name)
		}
		if err := snapshot.ValidateName(sn.Name); err != nil {
			return fmt.Errorf("%w: root snapshot: %w", ErrInvalidSpec, err)
		}
		if sn.Commit != "" {
			if err := snapshot.ValidateName(sn.Commit); err != nil {
				return fmt.Errorf("%w: commit: %w", ErrInvalidSpec, err)
			}
		}
	}
	if s.Root != "" {
		fi, err := os.Stat(s.Root)
		if err != nil {
			return fmt.Errorf("%w: root: %w", ErrInvalidSpec, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: root %s: not a directory", ErrInvalidSpec, s.Root)
		}
		if !filepath.IsAbs(s.Root) {
			return fmt.Errorf("%w: root %s: not an absolute path", ErrInvalidSpec, s.Root)
		}
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		return fmt.Errorf("%w: workdir %q: not an absolute path", ErrInvalidSpec, s.Dir)
	}
	if err := s.Limits.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if err := s.nprocApplies(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%w: environment entry %q: want KEY=VALUE", ErrInvalidSpec, kv)
		}
	}
	for _, c := range s.CapAdd {
		if _, err := capability(c); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
	}
	if s.Seccomp != nil {
		if err := s.Seccomp.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
	}
	for _, m := range s.Mounts {
		if err := m.validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		if s.NoSymlinks && m.Type == MountBind && m.NoExec {
			return fmt.Errorf("%w: bind %s: noexec with no_symlinks: a noexec bind follows symlinks in its source", ErrInvalidSpec, m.Destination)
		}
	}
	for _, p := range append(append([]string(nil), s.MaskedPaths...), s.ReadOnlyPaths...) {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%w: masked or read-only path %q: not an absolute path", ErrInvalidSpec, p)
		}
	}
	return nil
}

// nprocApplies refuses an RLIMIT_NPROC that the kernel would not enforce:
// fork ignores it for the host's uid 0 and for a process holding
// CAP_SYS_RESOURCE or CAP_SYS_ADMIN. CMD's uid is the host's here, no user
// namespace lying between. An unlimited one asks for nothing, and passes.
func (s *Spec) nprocApplies() error {
	r := s.Limits.Rlimits.NProc
	if r == nil || (r.Soft == limits.Unlimited && r.Hard == limits.Unlimited) {
		return nil
	}
	if os.Geteuid() != 0 {
		// Without root CMD's host uid is the caller's (or a subordinate
		// id), and its capabilities are its user namespace's: the kernel
		// exempts neither.
		return nil
	}
	uid := uint32(os.Getuid())
	if s.User != nil {
		uid = s.User.UID
	}
	why := ""
	if uid == 0 {
		why = "CMD runs as the host's uid 0"
	}
	for _, c := range s.CapAdd {
		if n, err := capability(c); err == nil && (n == capSysResource || n == capSysAdmin) {
			why = "CMD keeps CAP_" + strings.ToUpper(capNames[n])
		}
	}
	if why == "" {
		return nil
	}
	return &limits.FlagError{Flag: "rlimit-nproc", Value: r.String(),
		Reason: why + ", which the kernel exempts from RLIMIT_NPROC: bound processes with --pids, or run as another --user"}
}

// Capabilities that exempt a process from RLIMIT_NPROC.
const (
	capSysAdmin    = 21
	capSysResource = 24
)

// noNUL checks the strings that reach the kernel as C strings: a NUL would
// cut one short, and the init stage refuses a config that has one.
func (s *Spec) noNUL() error {
	check := func(what string, vs ...string) error {
		for _, v := range vs {
			if strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("%s %q: contains a NUL byte", what, v)
			}
		}
		return nil
	}
	errs := []error{check("argument", s.Args...), check("environment entry", s.Env...),
		check("workdir", s.Dir), check("hostname", s.Hostname), check("domain name", s.Domainname), check("root", s.Root),
		check("masked path", s.MaskedPaths...), check("read-only path", s.ReadOnlyPaths...)}
	for _, m := range s.Mounts {
		errs = append(errs, check("mount", append([]string{m.Source, m.Destination, m.Upper, m.Work}, m.Lower...)...))
	}
	if s.HostRoot != nil {
		errs = append(errs, check("host root path", s.HostRoot.Paths...))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (m Mount) validate() error {
	if !filepath.IsAbs(m.Destination) {
		return fmt.Errorf("mount destination %q: not an absolute path", m.Destination)
	}
	if filepath.Clean(m.Destination) == "/" {
		return fmt.Errorf("mount destination %q: cannot mount over the root", m.Destination)
	}
	switch m.Type {
	case MountBind:
		if !filepath.IsAbs(m.Source) {
			return fmt.Errorf("bind source %q: not an absolute path", m.Source)
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		if m.NoExec && !fi.IsDir() {
			return fmt.Errorf("bind %s: noexec needs a directory, and %s is not one", m.Destination, m.Source)
		}
		if m.NoExec && m.NoSymlinks {
			return fmt.Errorf("bind %s: noexec and no_symlinks: a noexec bind follows symlinks in its source", m.Destination)
		}
		if m.Mode != 0 {
			return fmt.Errorf("bind %s: a mode is for tmpfs mounts", m.Destination)
		}

	case MountTmpfs:
		if m.Size < 0 {
			return fmt.Errorf("tmpfs %s: negative size", m.Destination)
		}
	case MountOverlay:
		if m.NoExec || m.Mode != 0 {
			return fmt.Errorf("overlay %s: noexec and a mode are for tmpfs mounts and binds", m.Destination)
		}
		if len(m.Lower) == 0 || m.Upper == "" || m.Work == "" {
			return fmt.Errorf("overlay %s: want lower, upper and work directories", m.Destination)
		}
		for _, d := range append([]string{m.Upper, m.Work}, m.Lower...) {
			if !filepath.IsAbs(d) {
				return fmt.Errorf("overlay %s: layer %q: not an absolute path", m.Destination, d)
			}
			if fi, err := os.Stat(d); err != nil {
				return fmt.Errorf("overlay %s: %w", m.Destination, err)
			} else if !fi.IsDir() {
				return fmt.Errorf("overlay %s: layer %s: not a directory", m.Destination, d)
			}
			if strings.ContainsAny(d, ",:") {
				return fmt.Errorf("overlay %s: layer %q contains ',' or ':', which overlayfs's options cannot carry", m.Destination, d)
			}
		}
	default:
		return fmt.Errorf("mount %s: unknown type %q", m.Destination, m.Type)
	}
	return nil
}
