package stage

import "golang.org/x/sys/unix"

// Kinds of setup step, in Config.Steps.
const (
	StepMount    = "mount"    // mount(2) a filesystem at Target
	StepBind     = "bind"     // bind Source (host) at Target, recursively, read-only if RO, without symlinks if NoSymlinks
	StepMknod    = "mknod"    // character device Major:Minor at Target
	StepSymlink  = "symlink"  // symlink Target -> Source
	StepMask     = "mask"     // hide Target: /dev/null over a file, an empty read-only tmpfs over a dir
	StepReadOnly = "readonly" // remount Target read-only, recursively
)

// Step is one action of the init stage's filesystem setup, as data, so the
// whole plan is built and tested in the runner and the init stage only
// carries it out. Targets are inside the new root unless Scratch is set
// (then they are host paths under the run's scratch directory, made by us).
type Step struct {
	Kind    string
	Source  string
	Target  string
	FSType  string
	Flags   uintptr
	Data    string
	RO      bool
	Scratch bool
	// Mkdir lists scratch directories to create before this step
	// (an overlay's upper and work directories).
	Mkdir []string
	// Optional steps are skipped when the target does not exist.
	Optional bool
	// Fallback, for overlays of host submounts: when the overlay cannot be
	// made (a lower filesystem overlayfs refuses), bind Source read-only.
	// A submount that is a file (a container's /etc/hosts) is always bound
	// read-only: overlayfs layers only directories.
	Fallback bool
	// NoSymlinks, for a bind, resolves Source with no symlink followed in
	// any component (openat2 RESOLVE_NO_SYMLINKS) and binds the descriptor
	// so opened, so nothing can swap a component between the two.
	NoSymlinks bool
	Major      uint32
	Minor      uint32
}

// Config is everything the init stage is told, sent as one binary message
// (EncodeConfig) over the control socket once the runner has confined the
// init process.
type Config struct {
	Args     []string
	Env      []string
	Dir      string // explicit workdir: created if missing
	CallerWd string // used when it exists inside the root
	// CallerWdRequired makes a CallerWd missing inside the sandbox an
	// error instead of a fall back to "/": with the host's root, the
	// caller's directory is always meant to be CMD's (the runner makes it
	// visible where the sandbox's private /tmp or /run would hide it).
	CallerWdRequired bool
	Hostname         string
	// Domainname is the UTS namespace's NIS domain name; empty leaves the
	// one the namespace started with (the host's).
	Domainname string
	UID        uint32
	GID        uint32
	Caps       []int // capabilities kept
	TTY        bool
	TTYRows    uint16
	TTYCols    uint16
	// Loopback brings up lo in the sandbox's own network namespace.
	Loopback   bool
	Scratch    string // host dir where the scratch tmpfs goes
	Rootfs     string // host path of the new root, under Scratch
	Steps      []Step
	ExtraFiles int
	// Rlimits are set by PID 1 on the exec stage, not on itself: a small
	// RLIMIT_AS would not leave room for PID 1.
	Rlimits []Rlimit
	// Seccomp is the filter the exec stage loads; nil for none.
	Seccomp *SeccompProgram
	// Joined: PID 1 entered a running sandbox (an OCI runtime's exec) and
	// finds it built: no steps, root, hostname or loopback; Dir is CMD's.
	Joined bool
	// Detached: a joined PID 1 whose runner does not wait: it outlives the
	// runner and exits with CMD's status (128+N for signal N).
	Detached bool
	// HandedOff: PID 1 is not the runner's child but its parent's (see
	// SiblingZygote), which reads CMD's status from PID 1's (128+N for
	// signal N). The control socket's end still ends it.
	HandedOff bool
	// SelfMap, for a rootless run whose user namespace maps the caller's
	// own ids alone, is that map: PID 1 writes it itself, first thing in
	// its build (a process may map its own ids in a namespace it made),
	// so that a spare can build its container before the runner knows
	// its pid. nil: the ids are the runner's to map, or there is no user
	// namespace.
	SelfMap *SelfMap
}

// SelfMap is a single-id user namespace map: UID and GID inside are the
// caller's HostUID and HostGID.
type SelfMap struct {
	UID, HostUID, GID, HostGID uint32
}

// Rlimit is one setrlimit(2) limit, as the exec stage sets it on itself.
type Rlimit struct {
	Resource int
	Cur      uint64
	Max      uint64
}

// SeccompProgram is an assembled filter as it crosses to the exec stage.
type SeccompProgram struct {
	Filter []unix.SockFilter
	// Notify: the filter has "kill" rules, answered by PID 1 through a
	// seccomp user-notification listener (see serve_listener); Names names
	// the syscalls they cover, for the report.
	Notify bool
	Names  map[int]string
}

// Exit is PID 1's last word on the control socket: how CMD ended, or why
// it never ran.
type Exit struct {
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"` // set when CMD never ran
	// Unsupported marks an Error caused by a kernel feature the host lacks.
	Unsupported bool `json:"unsupported,omitempty"`
	Pid         int  `json:"pid,omitempty"` // CMD's pid in the sandbox
	// Refused is the first syscall for which the filter killed a process.
	Refused string `json:"refused,omitempty"`
	// LeftCgroup says that PID 1 is alone in the sandbox and has moved out
	// of the run's groups (SendGo's leave): they are empty.
	LeftCgroup bool `json:"left_cgroup,omitempty"`
	// Rusage is what PID 1 and every process it reaped used, taken just
	// before the report: what the runner's wait4 of PID 1 would give. Only
	// a PID 1 whose parent is not the runner (handed off) sends it.
	Rusage *Rusage `json:"rusage,omitempty"`
}

// Rusage is the part of a struct rusage that a run's Result keeps.
type Rusage struct {
	Nvcsw  int64 `json:"nvcsw"`
	Nivcsw int64 `json:"nivcsw"`
	Maxrss int64 `json:"maxrss"` // KiB
}
