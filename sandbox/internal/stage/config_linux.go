package stage

import "golang.org/x/sys/unix"

// Kinds of setup step, in Config.Steps.
const (
	StepMount    = "mount"    // mount(2) a filesystem at Target
	StepBind     = "bind"     // bind Source (host) at Target, recursively, read-only if RO
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
	Kind    string  `json:"kind"`
	Source  string  `json:"src,omitempty"`
	Target  string  `json:"dst"`
	FSType  string  `json:"fs,omitempty"`
	Flags   uintptr `json:"flags,omitempty"`
	Data    string  `json:"data,omitempty"`
	RO      bool    `json:"ro,omitempty"`
	Scratch bool    `json:"scratch,omitempty"`
	// Mkdir lists scratch directories to create before this step
	// (an overlay's upper and work directories).
	Mkdir []string `json:"mkdir,omitempty"`
	// Optional steps are skipped when the target does not exist.
	Optional bool `json:"optional,omitempty"`
	// Fallback, for overlays of host submounts: when the overlay cannot be
	// made (a lower filesystem overlayfs refuses), bind Source read-only.
	Fallback bool   `json:"fallback,omitempty"`
	Major    uint32 `json:"major,omitempty"`
	Minor    uint32 `json:"minor,omitempty"`
}

// Config is everything the init stage is told, sent as one JSON message
// over the control socket once the runner has confined the init process.
type Config struct {
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir,omitempty"`       // explicit workdir: created if missing
	CallerWd string   `json:"caller_wd,omitempty"` // used when it exists inside the root
	Hostname string   `json:"hostname"`
	UID      uint32   `json:"uid"`
	GID      uint32   `json:"gid"`
	Caps     []int    `json:"caps,omitempty"` // capabilities kept
	TTY      bool     `json:"tty,omitempty"`
	TTYRows  uint16   `json:"tty_rows,omitempty"`
	TTYCols  uint16   `json:"tty_cols,omitempty"`
	// Loopback brings up lo in the sandbox's own network namespace.
	Loopback   bool   `json:"loopback,omitempty"`
	Scratch    string `json:"scratch"` // host dir where the scratch tmpfs goes
	Rootfs     string `json:"rootfs"`  // host path of the new root, under Scratch
	Steps      []Step `json:"steps"`
	ExtraFiles int    `json:"extra_files,omitempty"`
	// Rlimits are set by PID 1 on the exec stage, not on itself: a small
	// RLIMIT_AS would not leave room for PID 1's Go runtime.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Seccomp is the filter the exec stage loads; nil for none.
	Seccomp *SeccompProgram `json:"seccomp,omitempty"`
}

// Rlimit is one setrlimit(2) limit, as PID 1 sets it on the exec stage.
type Rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// SeccompProgram is an assembled filter as it crosses to the exec stage.
type SeccompProgram struct {
	Filter []unix.SockFilter `json:"filter"`
	// Notify: the filter has "kill" rules, answered by PID 1 through a
	// seccomp user-notification listener (see watchSeccomp); Names names
	// the syscalls they cover, for the report.
	Notify bool           `json:"notify,omitempty"`
	Names  map[int]string `json:"names,omitempty"`
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
}
