package sandbox

import (
	"fmt"
	"sync"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

var (
	defaultProgramOnce sync.Once
	defaultProgram     *stage.SeccompProgram
	defaultProgramErr  error
)

//go:generate go run ./internal/gendefault

// AssembleDefaultSeccomp assembles DefaultSeccomp() for this host, for the
// generator of the precompiled default.
func AssembleDefaultSeccomp() ([]unix.SockFilter, error) {
	p, err := assemble(DefaultSeccomp())
	if err != nil {
		return nil, err
	}
	return p.Filter, nil
}

// compileSeccomp assembles p (nil: DefaultSeccomp) for this host's
// architecture. It returns nil for an unconfined run. The default policy is
// assembled once per process: runs are the hot path.
func compileSeccomp(p *Seccomp) (*stage.SeccompProgram, error) {
	if p == nil {
		defaultProgramOnce.Do(func() {
			if defaultFilter != nil { // generated for this architecture
				defaultProgram = &stage.SeccompProgram{Filter: defaultFilter}
				return
			}
			defaultProgram, defaultProgramErr = assemble(DefaultSeccomp())
		})
		return defaultProgram, defaultProgramErr
	}
	if p.Unconfined {
		return nil, nil
	}
	return assemble(p)
}

func assemble(p *Seccomp) (*stage.SeccompProgram, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	native, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp: %w", ErrUnsupported, err)
	}
	action := func(a string) seccomp.Action {
		switch a {
		case "errno":
			return seccomp.ActionErrno | seccomp.Action(unix.EPERM)
		case "enosys":
			return seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)
		case "kill":
			return seccomp.ActionUserNotify
		}
		return seccomp.ActionAllow
	}
	ops := map[string]seccomp.Operation{"eq": seccomp.Equal, "ne": seccomp.NotEqual, "gt": seccomp.GreaterThan,
		"ge": seccomp.GreaterOrEqual, "lt": seccomp.LessThan, "le": seccomp.LessOrEqual,
		"bits-set": seccomp.BitsSet, "bits-clear": seccomp.BitsNotSet}
	// The library assembles one group of syscalls with one action, and
	// gives every other syscall the policy's default: its groups do not
	// chain. So each rule is assembled alone, with a marker as its default,
	// and the marker becomes "go on to the next rule". Every rule reloads
	// the syscall number (argument checks overwrite the accumulator).
	const marker = seccomp.ActionTrace // never an action of ours
	const nrOffset, archOffset = 0, 4  // offsets in struct seccomp_data
	insts := []bpf.Instruction{
		// A foreign ABI (i386 through int 0x80, x32) gets nothing.
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
	}
	if native.ID == arch.X86_64.ID {
		insts = append(insts,
			bpf.LoadAbsolute{Off: nrOffset, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(arch.X32.SeccompMask), SkipFalse: 1},
			bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)})
	}
	notify := p.DefaultAction == "kill"
	for i, r := range p.Rules {
		for _, n := range r.Names {
			if _, ok := native.SyscallNames[n]; !ok {
				return nil, fmt.Errorf("%w: seccomp rule %d: no syscall %q on %s", ErrInvalidSpec, i+1, n, native.Name)
			}
		}
		g := seccomp.SyscallGroup{Action: action(r.Action)}
		if len(r.Args) == 0 {
			g.Names = r.Names
		} else {
			var conds seccomp.ArgumentConditions
			for _, a := range r.Args {
				conds = append(conds, seccomp.Condition{Argument: a.Index, Operation: ops[a.Op], Value: a.Value})
			}
			for _, n := range r.Names {
				g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{Name: n, Conditions: conds})
			}
		}
		one := seccomp.Policy{DefaultAction: marker, Syscalls: []seccomp.SyscallGroup{g}}
		full, err := one.Assemble()
		if err != nil {
			return nil, fmt.Errorf("%w: assembling seccomp rule %d (%s): %w", ErrInvalidSpec, i+1, r.Names[0], err)
		}
		body, err := ruleBody(full)
		if err != nil {
			return nil, fmt.Errorf("assembling seccomp rule %d (%s): %w", i+1, r.Names[0], err)
		}
		insts = append(insts, bpf.LoadAbsolute{Off: nrOffset, Size: 4})
		for _, in := range body {
			if rc, ok := in.(bpf.RetConstant); ok && rc.Val == uint32(marker) {
				in = bpf.Jump{Skip: 1} // over the rule's "ret action", into the next rule
			}
			insts = append(insts, in)
		}
		notify = notify || r.Action == "kill"
	}
	insts = append(insts, bpf.RetConstant{Val: uint32(action(p.DefaultAction))})
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assembling seccomp filter: %w", err)
	}
	prog := &stage.SeccompProgram{Notify: notify}
	if notify {
		// PID 1 names the syscall it kills for without the library's
		// tables: they would cost every run their start-up.
		prog.Names = map[int]string{}
		for _, r := range p.Rules {
			if r.Action == "kill" || p.DefaultAction == "kill" {
				for _, n := range r.Names {
					prog.Names[native.SyscallNames[n]] = n
				}
			}
		}
	}
	for _, r := range raw {
		prog.Filter = append(prog.Filter, unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K})
	}
	return prog, nil
}

// ruleBody cuts the rule's own instructions out of a one-group program of
// the library: what follows its load of the syscall number (and, on
// x86_64, its two-instruction x32 check).
func ruleBody(full []bpf.Instruction) ([]bpf.Instruction, error) {
	for i, in := range full {
		if la, ok := in.(bpf.LoadAbsolute); ok && la.Off == 0 {
			body := full[i+1:]
			if len(body) >= 2 {
				if ji, ok := body[0].(bpf.JumpIf); ok && ji.Val == uint32(arch.X32.SeccompMask) {
					body = body[2:]
				}
			}
			// The group ends "ret default; ret action": two returns at least.
			if len(body) < 2 {
				break
			}
			return body, nil
		}
	}
	return nil, fmt.Errorf("unexpected program shape from the seccomp library (%d instructions)", len(full))
}
