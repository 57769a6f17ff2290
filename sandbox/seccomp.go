package sandbox

import (
	"fmt"
	"slices"
)

// Seccomp is a syscall filter policy, as data: the action for syscalls no
// rule names, and rules matched in order, the first match winning. The exec
// stage loads it just before it execs CMD, after no_new_privs.
//
// The filter is assembled by internal/seccomp: pure Go, so the binary stays
// free of libseccomp, with static syscall tables that cost a run nothing
// until a filter is assembled (a general library's tables, built at init,
// cost every start a millisecond). Calls through a foreign ABI, such as
// i386 through int 0x80, are refused with ENOSYS in front of the rules.
type Seccomp struct {
	// Unconfined loads no filter at all.
	Unconfined bool `json:"unconfined,omitempty"`
	// DefaultAction is for syscalls no rule names: "allow" when empty.
	DefaultAction string `json:"default_action,omitempty"`
	// DefaultErrno is the error of an "errno" default action; 0 means EPERM.
	DefaultErrno uint16        `json:"default_errno,omitempty"`
	Rules        []SeccompRule `json:"rules,omitempty"`
	// SkipUnknown leaves out the names this architecture has no syscall
	// by (chown32 on x86-64), as libseccomp does with an OCI profile,
	// which names every architecture's; otherwise one is an error.
	SkipUnknown bool `json:"skip_unknown,omitempty"`
}

// SeccompRule gives an action to syscalls by name, optionally only when
// their arguments match (all of Args).
type SeccompRule struct {
	Names []string `json:"names"`
	// Action is one of:
	//   "errno"  fail with EPERM (the default deny: programs see an error)
	//   "enosys" fail with ENOSYS (the syscall "does not exist": libc
	//            falls back, e.g. clone3 to clone)
	//   "kill"   kill the process; the run's report names the syscall
	//   "allow"  let it through
	Action string       `json:"action"`
	Args   []SeccompArg `json:"args,omitempty"`
	// Errno is the error an "errno" rule fails with; 0 means EPERM.
	Errno uint16 `json:"errno,omitempty"`
}

// SeccompArg compares one argument (Index 0-5) with Value. Op is one of
// "eq", "ne", "gt", "ge", "lt", "le", "bits-set" (arg & Value != 0) and
// "bits-clear" (arg & Value == 0).
type SeccompArg struct {
	Index uint32 `json:"index"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

var seccompActions = []string{"allow", "errno", "enosys", "kill"}

var seccompOps = []string{"eq", "ne", "gt", "ge", "lt", "le", "bits-set", "bits-clear"}

// Validate reports the first thing wrong with the policy's form (names of
// syscalls are checked when it is assembled, against the host's table).
func (p *Seccomp) Validate() error {
	if p.DefaultAction != "" && !slices.Contains(seccompActions, p.DefaultAction) {
		return fmt.Errorf("seccomp default action %q: want one of %v", p.DefaultAction, seccompActions)
	}
	for i, r := range p.Rules {
		if len(r.Names) == 0 {
			return fmt.Errorf("seccomp rule %d: no syscall names", i+1)
		}
		if !slices.Contains(seccompActions, r.Action) {
			return fmt.Errorf("seccomp rule %d (%s): action %q: want one of %v", i+1, r.Names[0], r.Action, seccompActions)
		}
		for _, a := range r.Args {
			if a.Index > 5 {
				return fmt.Errorf("seccomp rule %d (%s): argument %d: syscalls have arguments 0 to 5", i+1, r.Names[0], a.Index)
			}
			if !slices.Contains(seccompOps, a.Op) {
				return fmt.Errorf("seccomp rule %d (%s): op %q: want one of %v", i+1, r.Names[0], a.Op, seccompOps)
			}
		}
	}
	return nil
}

// Flags of clone(2) and unshare(2) the default policy looks at.
const (
	cloneNewUser = 0x10000000
)

// Address families the default policy lets socket(2) make.
const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
	afPacket  = 17
)

// DefaultSeccomp is the filter a run gets unless told otherwise: it allows
// what programs, builds and tests do, and refuses with EPERM the syscalls a
// container has no business with. The list follows docker's and runc's
// defaults, written as a deny list so that new, harmless syscalls keep
// working.
func DefaultSeccomp() *Seccomp {
	return &Seccomp{
		DefaultAction: "allow",
		Rules: []SeccompRule{
			{Action: "errno", Names: []string{
				// Keys, BPF, perf, io_uring, userfaultfd: large kernel attack
				// surface, no use inside a sandbox.
				"keyctl", "add_key", "request_key", "bpf", "perf_event_open",
				"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
				// The machine's own business.
				"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
				"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
				"clock_settime", "settimeofday", "adjtimex", "clock_adjtime",
				"iopl", "ioperm", "lookup_dcookie", "uselib", "nfsservctl",
				// File handles bypass the path walk, and so the mount tree.
				"open_by_handle_at", "name_to_handle_at",
				// The mount tree and namespaces are the runner's, fixed at start.
				"mount", "umount2", "pivot_root", "setns", "move_mount", "open_tree",
				"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
			}},
			// Only the default execution domain (and the query), as docker allows.
			{Action: "allow", Names: []string{"personality"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: 0}}},
			{Action: "allow", Names: []string{"personality"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: 0x0008}}},
			{Action: "allow", Names: []string{"personality"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: 0x20000}}},
			{Action: "allow", Names: []string{"personality"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: 0x20008}}},
			{Action: "allow", Names: []string{"personality"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: 0xffffffff}}},
			{Action: "errno", Names: []string{"personality"}},
			// No nested user namespace: it would give CMD capabilities over
			// new namespaces of its own (and so the kernel's less-tested code).
			// clone3 passes its flags in memory a filter cannot read: ENOSYS
			// makes libc fall back to clone, whose flags it can.
			{Action: "errno", Names: []string{"unshare", "clone"}, Args: []SeccompArg{{Index: 0, Op: "bits-set", Value: cloneNewUser}}},
			{Action: "enosys", Names: []string{"clone3"}},
			// Address families: only those a network namespace isolates.
			// AF_VSOCK, for one, reaches the hypervisor and the host's own
			// ports whatever the namespace; the rest are old protocols and
			// hardware buses no sandbox needs.
			{Action: "allow", Names: []string{"socket"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: afUnix}}},
			{Action: "allow", Names: []string{"socket"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: afInet}}},
			{Action: "allow", Names: []string{"socket"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: afInet6}}},
			{Action: "allow", Names: []string{"socket"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: afNetlink}}},
			{Action: "allow", Names: []string{"socket"}, Args: []SeccompArg{{Index: 0, Op: "eq", Value: afPacket}}},
			{Action: "errno", Names: []string{"socket"}},
			// Kernel AIO contexts come out of fs.aio-max-nr, one quota for
			// the whole machine: ENOSYS, as on a kernel without AIO, and
			// libaio's callers fall back to threads.
			{Action: "enosys", Names: []string{"io_setup"}},
		},
	}
}

// Bits of a file mode that grant the ids of the file's owner and group to
// whoever executes it.
const setidBits = 0o6000

// Flags of open(2) that make a file, and so take a mode.
const (
	oCreat   = 0o100
	oTmpfile = 0o20000000 // __O_TMPFILE
)

// setidGuard refuses, with EPERM, every syscall that would leave a file
// with set-user-id or set-group-id bits: chmod and its siblings, and file
// creation with the bits in the mode. It comes in front of whatever policy
// a run has (an unconfined one included) when CMD can write to the host's
// filesystems (a writable bind, a regular file handed over as a
// descriptor): a program CMD plants there would run, for any host user,
// with CMD's ids, which may be root's. openat2 carries its mode in memory
// a filter cannot read: ENOSYS, and libc falls back to openat. io_uring
// opens files past any filter. File capabilities need CAP_SETFCAP, which
// such a run cannot be given (Spec.Validate).
func setidGuard() []SeccompRule {
	mode := func(i uint32) SeccompArg { return SeccompArg{Index: i, Op: "bits-set", Value: setidBits} }
	flag := func(i uint32, v uint64) SeccompArg { return SeccompArg{Index: i, Op: "bits-set", Value: v} }
	return []SeccompRule{
		{Action: "errno", Names: []string{"chmod", "fchmod", "creat", "mknod"}, Args: []SeccompArg{mode(1)}},
		{Action: "errno", Names: []string{"fchmodat", "fchmodat2", "mknodat"}, Args: []SeccompArg{mode(2)}},
		{Action: "errno", Names: []string{"open"}, Args: []SeccompArg{flag(1, oCreat), mode(2)}},
		{Action: "errno", Names: []string{"open"}, Args: []SeccompArg{flag(1, oTmpfile), mode(2)}},
		{Action: "errno", Names: []string{"openat"}, Args: []SeccompArg{flag(2, oCreat), mode(3)}},
		{Action: "errno", Names: []string{"openat"}, Args: []SeccompArg{flag(2, oTmpfile), mode(3)}},
		{Action: "enosys", Names: []string{"openat2"}},
		{Action: "errno", Names: []string{"io_uring_setup", "io_uring_enter", "io_uring_register"}},
	}
}

// guarded is p with the set-id guard in front (p nil: the default policy;
// unconfined: the guard alone).
func guarded(p *Seccomp) *Seccomp {
	if p == nil {
		p = DefaultSeccomp()
	}
	g := &Seccomp{DefaultAction: p.DefaultAction, DefaultErrno: p.DefaultErrno, Rules: setidGuard(), SkipUnknown: p.SkipUnknown}
	if !p.Unconfined {
		g.Rules = append(g.Rules, p.Rules...)
	}
	return g
}
