package sandbox

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompProgram is an assembled filter as it crosses to the exec stage.
type seccompProgram struct {
	Filter []unix.SockFilter `json:"filter"`
	// Notify: the filter has "kill" rules, answered by PID 1 through a
	// seccomp user-notification listener (see watchSeccomp).
	Notify bool `json:"notify,omitempty"`
}

var (
	defaultProgramOnce sync.Once
	defaultProgram     *seccompProgram
	defaultProgramErr  error
)

// compileSeccomp assembles p (nil: DefaultSeccomp) for this host's
// architecture. It returns nil for an unconfined run. The default policy is
// assembled once per process: runs are the hot path.
func compileSeccomp(p *Seccomp) (*seccompProgram, error) {
	if p == nil {
		defaultProgramOnce.Do(func() { defaultProgram, defaultProgramErr = assemble(DefaultSeccomp()) })
		return defaultProgram, defaultProgramErr
	}
	if p.Unconfined {
		return nil, nil
	}
	return assemble(p)
}

func assemble(p *Seccomp) (*seccompProgram, error) {
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
	prog := &seccompProgram{Notify: notify}
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

// loadSeccomp installs the filter on the calling thread, which then execs
// CMD. With Notify it returns the listener descriptor for PID 1, else -1.
func loadSeccomp(p *seccompProgram) (int, error) {
	if p == nil || len(p.Filter) == 0 {
		return -1, nil
	}
	fprog := unix.SockFprog{Len: uint16(len(p.Filter)), Filter: &p.Filter[0]}
	flags := uintptr(0)
	if p.Notify {
		flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, fmt.Errorf("loading seccomp filter: %w", errno)
	}
	if !p.Notify {
		return -1, nil
	}
	return int(r), nil
}

// seccompNotif is struct seccomp_notif (linux/seccomp.h).
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// watchSeccomp serves the filter's "kill" rules in PID 1: each notification
// is a process making a refused syscall; it is killed, and the first
// syscall so refused is named in the report (nsjail reports only SIGSYS).
func watchSeccomp(listener int, refused func(name string)) {
	native, _ := arch.GetInfo("")
	f := os.NewFile(uintptr(listener), "seccomp")
	defer f.Close()
	for {
		var n seccompNotif
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		if errno == unix.EINTR || errno == unix.ENOENT { // interrupted, or the caller died first
			continue
		}
		if errno != 0 {
			return // every filtered process is gone
		}
		name := fmt.Sprintf("syscall %d", n.Nr)
		if native != nil {
			if s, ok := native.SyscallNumbers[int(n.Nr)]; ok {
				name = s
			}
		}
		refused(name)
		unix.Kill(int(n.Pid), unix.SIGKILL)
	}
}
