package sandbox

import (
	"fmt"
	"slices"
	"sync"

	"github.com/sandbox-dev/sandbox/sandbox/internal/seccomp"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// The default policy is assembled once per process: runs are the hot path.
var defaultProgram = sync.OnceValues(func() (*stage.SeccompProgram, error) {
	return assemble(DefaultSeccomp())
})

// compileSeccomp assembles p (nil: DefaultSeccomp) for this host's
// architecture, with the set-id guard in front when guard is set. It
// returns nil for an unconfined run.
func compileSeccomp(p *Seccomp, guard bool) (*stage.SeccompProgram, error) {
	if guard {
		return assemble(guarded(p))
	}
	if p == nil {
		return defaultProgram()
	}
	if p.Unconfined {
		return nil, nil
	}
	return assemble(p)
}

// seccompOp is the assembler's op for a policy's (Validate has checked it).
func seccompOp(op string) seccomp.Op {
	switch op {
	case "ne":
		return seccomp.Ne
	case "gt":
		return seccomp.Gt
	case "ge":
		return seccomp.Ge
	case "lt":
		return seccomp.Lt
	case "le":
		return seccomp.Le
	case "bits-set":
		return seccomp.BitsSet
	case "bits-clear":
		return seccomp.BitsClear
	}
	return seccomp.Eq
}

func seccompAction(a string, errno uint16) seccomp.Action {
	switch a {
	case "errno":
		if errno != 0 {
			return seccomp.Errno(unix.Errno(errno))
		}
		return seccomp.Errno(unix.EPERM)
	case "enosys":
		return seccomp.Errno(unix.ENOSYS)
	case "kill":
		// PID 1 takes the notification, kills the sandbox and reports the
		// syscall by name.
		return seccomp.Notify
	}
	return seccomp.Allow
}

func assemble(p *Seccomp) (*stage.SeccompProgram, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	native, err := seccomp.Native()
	if err != nil {
		return nil, fmt.Errorf("%w: %w (use an unconfined policy)", ErrUnsupported, err)
	}
	prog := &stage.SeccompProgram{Notify: p.DefaultAction == "kill"}
	rules := make([]seccomp.Rule, len(p.Rules))
	for i, r := range p.Rules {
		rules[i].Action = seccompAction(r.Action, r.Errno)
		for _, n := range r.Names {
			nr, ok := native.Number(n)
			if !ok && (guardOnly(n) || p.SkipUnknown) {
				continue // chmod, open, ...: not on every architecture
			}
			if !ok {
				return nil, fmt.Errorf("%w: seccomp rule %d: no syscall %q on %s", ErrInvalidSpec, i+1, n, native.Name)
			}
			rules[i].Syscalls = append(rules[i].Syscalls, nr)
			if r.Action == "kill" || p.DefaultAction == "kill" {
				// PID 1 names the syscall it kills for from this, not
				// from a table of its own.
				if prog.Names == nil {
					prog.Names = map[int]string{}
				}
				prog.Names[int(nr)] = n
			}
		}
		for _, a := range r.Args {
			rules[i].Conds = append(rules[i].Conds, seccomp.Cond{Arg: a.Index, Op: seccompOp(a.Op), Value: a.Value})
		}
		prog.Notify = prog.Notify || r.Action == "kill"
	}
	// A rule of names this architecture lacks alone has nothing to match.
	kept := rules[:0]
	for i, r := range rules {
		if len(r.Syscalls) > 0 || len(p.Rules[i].Names) == 0 {
			kept = append(kept, r)
		}
	}
	rules = kept
	if prog.Filter, err = seccomp.Assemble(native, rules, seccompAction(p.DefaultAction, p.DefaultErrno)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return prog, nil
}

// guardOnly says whether the set-id guard names syscall n, which an
// architecture may lack (arm64 has no chmod, open, creat or mknod).
func guardOnly(n string) bool {
	for _, r := range setidGuard() {
		if slices.Contains(r.Names, n) {
			return true
		}
	}
	return false
}
