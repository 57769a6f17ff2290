package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Data is the part of struct seccomp_data a filter reads.
type Data struct {
	Nr   uint32
	Arch uint32
	Args [6]uint64
}

func (d Data) word(off uint32) (uint32, bool) {
	switch {
	case off == offNr:
		return d.Nr, true
	case off == offArch:
		return d.Arch, true
	case off >= offArgs && off < offArgs+48 && off%4 == 0:
		a := d.Args[(off-offArgs)/8]
		if (off-offArgs)%8 == 0 {
			return uint32(a), true
		}
		return uint32(a >> 32), true
	}
	return 0, false
}

// Eval runs prog on d as the kernel would, and says how many instructions
// that took (what attaching the filter costs the kernel, which runs it for
// every syscall number to cache the ones it always allows). It knows the
// instructions filters here are made of: another kind, a load outside
// seccomp_data or a run off the program's end is an error. For tests, of
// this package's programs and of PID 1's own filter.
func Eval(prog []unix.SockFilter, d Data) (Action, int, error) {
	var a uint32
	for pc, steps := 0, 1; pc < len(prog); pc, steps = pc+1, steps+1 {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			w, ok := d.word(in.K)
			if !ok {
				return 0, steps, fmt.Errorf("instruction %d: load at %d, outside seccomp_data", pc, in.K)
			}
			a = w
		case unix.BPF_RET | unix.BPF_K:
			return Action(in.K), steps, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		default:
			var taken bool
			switch in.Code {
			case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
				taken = a == in.K
			case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
				taken = a > in.K
			case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
				taken = a >= in.K
			case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
				taken = a&in.K != 0
			default:
				return 0, steps, fmt.Errorf("instruction %d: unexpected code %#x", pc, in.Code)
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
	}
	return 0, 0, fmt.Errorf("ran off the end of a %d-instruction program", len(prog))
}
