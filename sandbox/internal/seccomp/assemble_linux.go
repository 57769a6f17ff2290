package seccomp

import (
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sys/unix"
)

//go:generate go run mktables.go

// Action is what the filter returns for a call: SECCOMP_RET_* and its data.
type Action uint32

const (
	Allow  Action = unix.SECCOMP_RET_ALLOW
	Notify Action = unix.SECCOMP_RET_USER_NOTIF
)

// Errno makes the call fail with e, without running it.
func Errno(e unix.Errno) Action {
	return Action(unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA)
}

// Op compares a syscall argument with a value, as unsigned 64-bit numbers.
type Op int

const (
	Eq        Op = iota
	Ne           // !=
	Gt           // >
	Ge           // >=
	Lt           // <
	Le           // <=
	BitsSet      // arg & value != 0
	BitsClear    // arg & value == 0
)

// Cond is a test of argument Arg (0 to 5).
type Cond struct {
	Arg   uint32
	Op    Op
	Value uint64
}

// Rule gives Action to the syscalls numbered Syscalls when all of Conds
// hold.
type Rule struct {
	Syscalls []uint32
	Conds    []Cond
	Action   Action
}

// maxInsns is BPF_MAXINSNS: the kernel refuses longer programs.
const maxInsns = 4096

// maxJump is the farthest a conditional jump reaches (8-bit offsets).
const maxJump = 255

// Offsets in struct seccomp_data. Arguments are 64 bits, loaded as two
// 32-bit words; both supported architectures are little-endian.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// target is where a span of syscall numbers goes: straight to a return,
// or to the block that tests the conditions of the rules naming it.
type target struct {
	ret    bool
	action uint32
	block  int // label, when !ret
}

// span is the syscall numbers from start up to the next span's start,
// which all go to the same target.
type span struct {
	start uint32
	to    target
}

// Assemble makes the program for rules on a, ending in def.
func Assemble(a *Arch, rules []Rule, def Action) ([]unix.SockFilter, error) {
	for i, r := range rules {
		if len(r.Syscalls) == 0 {
			return nil, fmt.Errorf("rule %d: no syscalls", i+1)
		}
		for _, c := range r.Conds {
			if c.Arg > 5 {
				return nil, fmt.Errorf("rule %d: argument %d: syscalls have arguments 0 to 5", i+1, c.Arg)
			}
			if c.Op < Eq || c.Op > BitsClear {
				return nil, fmt.Errorf("rule %d: unknown op %d", i+1, c.Op)
			}
		}
	}

	// Each number's rules, in order, up to the first that has no
	// conditions (it always matches: the ones after it never decide).
	chain := map[uint32][]int{}
	settled := map[uint32]bool{}
	for i, r := range rules {
		for _, nr := range r.Syscalls {
			if settled[nr] || slices.Contains(chain[nr], i) {
				continue
			}
			chain[nr] = append(chain[nr], i)
			settled[nr] = len(r.Conds) == 0
		}
	}
	// Numbers with the same chain share one target, so that runs of them
	// become one span.
	var p prog
	targets := map[string]target{}
	type block struct {
		label int
		chain []int
	}
	var blocks []block
	targetOf := func(c []int) target {
		key := fmt.Sprint(c)
		if t, ok := targets[key]; ok {
			return t
		}
		t := target{ret: true, action: uint32(rules[c[0]].Action)}
		if len(rules[c[0]].Conds) > 0 {
			t = target{block: p.newLabel()}
			blocks = append(blocks, block{t.block, c})
		}
		targets[key] = t
		return t
	}
	nrs := slices.Sorted(maps.Keys(chain))
	deflt := target{ret: true, action: uint32(def)}
	var spans []span
	add := func(start uint32, t target) {
		if len(spans) > 0 && spans[len(spans)-1].to == t {
			return
		}
		spans = append(spans, span{start, t})
	}
	next := uint32(0) // the first number no span covers yet
	for _, nr := range nrs {
		if nr != next {
			add(next, deflt)
		}
		add(nr, targetOf(chain[nr]))
		next = nr + 1
	}
	if len(nrs) == 0 || next != 0 { // else the last span reaches the last number
		add(next, deflt)
	}

	enosys := uint32(Errno(unix.ENOSYS))
	p.ld(offArch)
	p.jump(unix.BPF_JEQ, a.Audit, 1, 0)
	p.ret(enosys)
	p.ld(offNr)
	if a.X32 {
		p.jump(unix.BPF_JGE, x32Bit, 0, 1)
		p.ret(enosys)
	}
	p.tree(spans)
	for _, b := range blocks {
		p.place(b.label)
		for _, i := range b.chain {
			r := rules[i]
			if len(r.Conds) == 0 {
				p.ret(uint32(r.Action))
				break
			}
			fail := p.newLabel()
			for _, c := range r.Conds {
				ok := p.newLabel()
				p.cond(c, ok, fail)
				p.place(ok)
			}
			p.ret(uint32(r.Action))
			p.place(fail)
		}
		if last := rules[b.chain[len(b.chain)-1]]; len(last.Conds) > 0 {
			p.ret(uint32(def))
		}
	}
	return p.resolve()
}

// tree emits a binary search over spans (A holds the syscall number): a
// number's way to its target is a few jumps, not a test of every name.
// That is what a filter costs to load: the kernel runs it for every
// syscall number as it is attached, to cache which ones it always allows.
func (p *prog) tree(spans []span) {
	if len(spans) == 1 {
		if t := spans[0].to; t.ret {
			p.ret(t.action)
		} else {
			p.ja(t.block)
		}
		return
	}
	mid := len(spans) / 2
	left, right := spans[:mid], spans[mid:]
	if n := treeSize(left); n <= maxJump {
		p.jump(unix.BPF_JGE, right[0].start, uint8(n), 0)
		p.tree(left)
		p.tree(right)
		return
	}
	far := p.newLabel()
	p.jump(unix.BPF_JGE, right[0].start, 0, 1)
	p.ja(far)
	p.tree(left)
	p.place(far)
	p.tree(right)
}

// treeSize is how many instructions tree emits for spans.
func treeSize(spans []span) int {
	if len(spans) == 1 {
		return 1
	}
	mid := len(spans) / 2
	n := treeSize(spans[:mid])
	if n > maxJump {
		n++ // the ja to the right half
	}
	return 1 + n + treeSize(spans[mid:])
}

// negation is the test that Ne, Le, Lt and BitsClear negate: the same
// instructions with the targets swapped.
func negation(op Op) (Op, bool) {
	switch op {
	case Ne:
		return Eq, true
	case Le:
		return Gt, true
	case Lt:
		return Ge, true
	case BitsClear:
		return BitsSet, true
	}
	return op, false
}

// lowJump is the comparison of the low words, once the high words have not
// decided (an array: static data, no init).
var lowJump = [...]uint16{Eq: unix.BPF_JEQ, Gt: unix.BPF_JGT, Ge: unix.BPF_JGE, BitsSet: unix.BPF_JSET}

// cond emits c: on to ok when it holds, to fail when not. The high words
// decide unless they are equal (for BitsSet: unless no bit is set there).
func (p *prog) cond(c Cond, ok, fail int) {
	hi, lo := uint32(c.Value>>32), uint32(c.Value)
	t, f, op := ok, fail, c.Op
	if pos, neg := negation(op); neg {
		t, f, op = fail, ok, pos
	}
	low := p.newLabel()
	p.ld(offArgs + 8*c.Arg + 4)
	switch op {
	case Eq:
		p.jumpTo(unix.BPF_JEQ, hi, low, f)
	case Gt, Ge:
		eqHi := p.newLabel()
		p.jumpTo(unix.BPF_JGT, hi, t, eqHi)
		p.place(eqHi)
		p.jumpTo(unix.BPF_JEQ, hi, low, f)
	case BitsSet:
		p.jumpTo(unix.BPF_JSET, hi, t, low)
	}
	p.place(low)
	p.ld(offArgs + 8*c.Arg)
	p.jumpTo(lowJump[op], lo, t, f)
}

// prog is a program under assembly, its jumps to labels not yet placed.
type prog struct {
	insns  []insn
	labels []int // label -> instruction index it is placed at, -1 until placed
}

type insn struct {
	unix.SockFilter
	jt, jf, ja int // labels, -1: a fixed offset already in SockFilter
}

func (p *prog) newLabel() int {
	p.labels = append(p.labels, -1)
	return len(p.labels) - 1
}

func (p *prog) place(l int) { p.labels[l] = len(p.insns) }

func (p *prog) emit(f unix.SockFilter, jt, jf, ja int) {
	p.insns = append(p.insns, insn{f, jt, jf, ja})
}

func (p *prog) ld(off uint32) {
	p.emit(unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}, -1, -1, -1)
}

func (p *prog) ret(v uint32) {
	p.emit(unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v}, -1, -1, -1)
}

// jump is a conditional jump by fixed offsets.
func (p *prog) jump(op uint16, k uint32, jt, jf uint8) {
	p.emit(unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k, Jt: jt, Jf: jf}, -1, -1, -1)
}

// jumpTo is a conditional jump to labels; -1 falls through.
func (p *prog) jumpTo(op uint16, k uint32, t, f int) {
	p.emit(unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k}, t, f, -1)
}

func (p *prog) ja(l int) {
	p.emit(unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA}, -1, -1, l)
}

func (p *prog) resolve() ([]unix.SockFilter, error) {
	if len(p.insns) > maxInsns {
		return nil, fmt.Errorf("%w: %d instructions, the kernel takes %d", ErrTooLong, len(p.insns), maxInsns)
	}
	out := make([]unix.SockFilter, len(p.insns))
	for i, in := range p.insns {
		f := in.SockFilter
		off := func(l int) (int, error) {
			to := p.labels[l]
			if to <= i {
				return 0, fmt.Errorf("assembling seccomp filter: jump %d to label %d at %d", i, l, to)
			}
			return to - i - 1, nil
		}
		if in.ja >= 0 {
			d, err := off(in.ja)
			if err != nil {
				return nil, err
			}
			f.K = uint32(d)
		}
		for _, j := range []struct {
			l   int
			dst *uint8
		}{{in.jt, &f.Jt}, {in.jf, &f.Jf}} {
			if j.l < 0 {
				continue
			}
			d, err := off(j.l)
			if err != nil {
				return nil, err
			}
			if d > 255 {
				return nil, fmt.Errorf("assembling seccomp filter: conditional jump of %d at %d", d, i)
			}
			*j.dst = uint8(d)
		}
		out[i] = f
	}
	return out, nil
}
