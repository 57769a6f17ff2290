package seccomp

import (
	"errors"
	"math/rand"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// call is the part of struct seccomp_data a filter reads.
type call struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// run interprets prog on c as the kernel would.
func run(t *testing.T, prog []unix.SockFilter, c call) Action {
	t.Helper()
	act, _ := runSteps(t, prog, c)
	return act
}

// runSteps is run, and how many instructions it took.
func runSteps(t *testing.T, prog []unix.SockFilter, c call) (Action, int) {
	t.Helper()
	act, steps, err := Eval(prog, Data{Nr: c.nr, Arch: c.arch, Args: c.args})
	if err != nil {
		t.Fatal(err)
	}
	return act, steps
}

// want is what rules mean, evaluated directly.
func want(a *Arch, rules []Rule, def Action, c call) Action {
	enosys := Errno(unix.ENOSYS)
	if c.arch != a.Audit || (a.X32 && c.nr >= x32Bit) {
		return enosys
	}
	for _, r := range rules {
		named := false
		for _, nr := range r.Syscalls {
			named = named || nr == c.nr
		}
		if !named {
			continue
		}
		all := true
		for _, cd := range r.Conds {
			v := c.args[cd.Arg]
			ok := map[Op]bool{Eq: v == cd.Value, Ne: v != cd.Value, Gt: v > cd.Value, Ge: v >= cd.Value,
				Lt: v < cd.Value, Le: v <= cd.Value, BitsSet: v&cd.Value != 0, BitsClear: v&cd.Value == 0}[cd.Op]
			all = all && ok
		}
		if all {
			return r.Action
		}
	}
	return def
}

var amd64 = &Arch{Name: "x86_64", Audit: unix.AUDIT_ARCH_X86_64, X32: true}

func TestAssembleCases(t *testing.T) {
	const keyctl, clone, personality, read = 250, 56, 135, 0
	eperm, enosys := Errno(unix.EPERM), Errno(unix.ENOSYS)
	rules := []Rule{
		{Syscalls: []uint32{keyctl, 248}, Action: eperm},
		{Syscalls: []uint32{personality}, Conds: []Cond{{0, Eq, 0}}, Action: Allow},
		{Syscalls: []uint32{personality}, Conds: []Cond{{0, Eq, 0xffffffff}}, Action: Allow},
		{Syscalls: []uint32{personality}, Action: eperm},
		{Syscalls: []uint32{clone}, Conds: []Cond{{0, BitsSet, unix.CLONE_NEWUSER}}, Action: eperm},
		{Syscalls: []uint32{read}, Conds: []Cond{{2, Gt, 1 << 40}}, Action: Notify},
	}
	prog, err := Assemble(amd64, rules, Allow)
	if err != nil {
		t.Fatal(err)
	}
	native := func(nr uint32, args ...uint64) call {
		c := call{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
		copy(c.args[:], args)
		return c
	}
	tests := []struct {
		name string
		c    call
		want Action
	}{
		{"keyctl", native(keyctl), eperm},
		{"add_key", native(248), eperm},
		{"write", native(1), Allow},
		{"i386 ABI", call{nr: 1, arch: unix.AUDIT_ARCH_I386}, enosys},
		{"x32 ABI", native(x32Bit | 1), enosys},
		{"personality 0", native(personality, 0), Allow},
		{"personality query", native(personality, 0xffffffff), Allow},
		{"personality 0 in the high word", native(personality, 1<<32), eperm},
		{"personality linux32", native(personality, 8), eperm},
		{"clone of a thread", native(clone, unix.CLONE_VM|unix.CLONE_THREAD), Allow},
		{"clone of a user namespace", native(clone, unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), eperm},
		{"small read", native(read, 0, 0, 4096), Allow},
		{"huge read", native(read, 0, 0, 1<<41), Notify},
		{"read at the bound", native(read, 0, 0, 1<<40), Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, prog, tt.c); got != tt.want {
				t.Errorf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestAssembleSteps bounds what a filter costs the kernel to attach: it
// runs the program for every syscall number, to cache the ones it always
// allows, so a number's way through it must be a search, not a test of
// every name the rules list (the default policy's 55 names, tested in
// turn, made its attach take 0.21 ms here; as a tree, 0.10 ms).
func TestAssembleSteps(t *testing.T) {
	tests := []struct {
		name     string
		rules    []Rule
		def      Action
		maxSteps int
	}{
		{"a deny list of 60", []Rule{{Syscalls: spread(60, 7), Action: Errno(unix.EPERM)}}, Allow, 16},
		{"an allow list of 350", []Rule{{Syscalls: spread(350, 2), Action: Allow}}, Errno(unix.EPERM), 22},
		{"two lists", []Rule{
			{Syscalls: spread(40, 11), Action: Errno(unix.EPERM)},
			{Syscalls: spread(40, 5), Action: Errno(unix.ENOSYS)},
		}, Allow, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := Assemble(amd64, tt.rules, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0
			for nr := range uint32(1000) {
				c := call{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
				act, steps := runSteps(t, prog, c)
				if w := want(amd64, tt.rules, tt.def, c); act != w {
					t.Fatalf("syscall %d: got %#x, want %#x", nr, act, w)
				}
				worst = max(worst, steps)
			}
			if worst > tt.maxSteps {
				t.Errorf("a syscall takes %d instructions to decide (program of %d), want at most %d", worst, len(prog), tt.maxSteps)
			}
		})
	}
}

// TestAssembleLastNumber: a rule may name the largest number there is
// (on an architecture without x32's marked numbers), and its span ends
// the tree without wrapping around to 0.
func TestAssembleLastNumber(t *testing.T) {
	a := &Arch{Name: "aarch64", Audit: unix.AUDIT_ARCH_AARCH64}
	eperm := Errno(unix.EPERM)
	prog, err := Assemble(a, []Rule{{Syscalls: []uint32{1<<32 - 1}, Action: eperm}}, Allow)
	if err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]Action{0: Allow, 5: Allow, 1<<32 - 2: Allow, 1<<32 - 1: eperm} {
		if got := run(t, prog, call{nr: nr, arch: a.Audit}); got != want {
			t.Errorf("syscall %#x: got %#x, want %#x", nr, got, want)
		}
	}
}

// spread is n syscall numbers, every step-th.
func spread(n, step int) []uint32 {
	var s []uint32
	for i := range n {
		s = append(s, uint32(i*step))
	}
	return s
}

// TestAssembleRandom checks programs of random rules against what the
// rules mean, on calls aimed at the values the rules compare with (and
// either side of them, in both words).
func TestAssembleRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	values := func() uint64 {
		switch rng.Intn(4) {
		case 0:
			return uint64(rng.Intn(4))
		case 1:
			return uint64(rng.Intn(4)) << 32
		case 2:
			return uint64(rng.Intn(4))<<32 | uint64(rng.Intn(4))
		}
		return rng.Uint64()
	}
	actions := []Action{Allow, Notify, Errno(unix.EPERM), Errno(unix.ENOSYS)}
	for round := 0; round < 300; round++ {
		var rules []Rule
		for range rng.Intn(6) + 1 {
			r := Rule{Action: actions[rng.Intn(len(actions))]}
			// Mostly a few names among a few numbers, so that rules name
			// the same syscalls; now and then hundreds of them, spread
			// wide, so that the tree's halves are farther apart than a
			// conditional jump reaches.
			n, spread := rng.Intn(4)+1, 8
			if rng.Intn(10) == 0 {
				n, spread = 200+rng.Intn(400), 1000
			}
			for range n {
				r.Syscalls = append(r.Syscalls, uint32(rng.Intn(spread)))
			}
			for range rng.Intn(3) {
				r.Conds = append(r.Conds, Cond{Arg: uint32(rng.Intn(6)), Op: Op(rng.Intn(8)), Value: values()})
			}
			rules = append(rules, r)
		}
		def := actions[rng.Intn(len(actions))]
		prog, err := Assemble(amd64, rules, def)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for range 200 {
			c := call{nr: uint32(rng.Intn(9)), arch: unix.AUDIT_ARCH_X86_64}
			switch rng.Intn(4) {
			case 0: // a name of a rule, or one either side of it
				r := rules[rng.Intn(len(rules))]
				c.nr = r.Syscalls[rng.Intn(len(r.Syscalls))] + uint32(rng.Intn(3)) - 1
			case 1:
				c.nr = uint32(rng.Intn(1100))
			}
			if rng.Intn(20) == 0 {
				c.arch = unix.AUDIT_ARCH_I386
			}
			for i := range c.args {
				c.args[i] = values()
				if r := rules[rng.Intn(len(rules))]; len(r.Conds) > 0 && rng.Intn(2) == 0 {
					cd := r.Conds[rng.Intn(len(r.Conds))]
					c.args[cd.Arg] = cd.Value + uint64(rng.Intn(3)) - 1
				}
			}
			if got, want := run(t, prog, c), want(amd64, rules, def, c); got != want {
				t.Fatalf("round %d: %+v on rules %+v (default %#x): got %#x, want %#x", round, c, rules, def, got, want)
			}
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	// Six conditions on each of 600 syscalls: a block of tests apiece.
	var long []Rule
	for i := range 600 {
		long = append(long, Rule{Syscalls: []uint32{uint32(i)}, Action: Allow,
			Conds: []Cond{{0, Eq, 1}, {1, Eq, 1}, {2, Eq, 1}, {3, Eq, 1}, {4, Eq, 1}, {5, Eq, 1}}})
	}
	tests := []struct {
		name  string
		rules []Rule
		want  error
	}{
		{"no syscalls", []Rule{{Action: Allow}}, nil},
		{"argument 6", []Rule{{Syscalls: []uint32{1}, Conds: []Cond{{6, Eq, 0}}}}, nil},
		{"too long", long, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Assemble(amd64, tt.rules, Allow)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Assemble: %v, want an error (%v)", err, tt.want)
			}
		})
	}
}

// TestTable checks the generated table of this architecture against
// x/sys/unix's constants, which the compiler knows for it.
func TestTable(t *testing.T) {
	a, err := Native()
	if errors.Is(err, ErrArch) {
		t.Skip("no table for this architecture")
	}
	names := make([]string, len(a.table))
	for i, s := range a.table {
		names[i] = s.name
	}
	if !sort.StringsAreSorted(names) {
		t.Error("table is not sorted by name")
	}
	got := map[string]uint32{}
	for _, n := range []string{"read", "write", "keyctl", "clone", "clone3", "mount", "umount2", "personality",
		"io_uring_setup", "quotactl_fd", "mount_setattr", "openat2", "unshare", "setns"} {
		nr, ok := a.Number(n)
		if !ok {
			t.Errorf("no %s in the table", n)
		}
		got[n] = nr
	}
	want := map[string]uint32{"read": unix.SYS_READ, "write": unix.SYS_WRITE, "keyctl": unix.SYS_KEYCTL,
		"clone": unix.SYS_CLONE, "clone3": unix.SYS_CLONE3, "mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
		"personality": unix.SYS_PERSONALITY, "io_uring_setup": unix.SYS_IO_URING_SETUP,
		"quotactl_fd": unix.SYS_QUOTACTL_FD, "mount_setattr": unix.SYS_MOUNT_SETATTR, "openat2": unix.SYS_OPENAT2,
		"unshare": unix.SYS_UNSHARE, "setns": unix.SYS_SETNS}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("syscall numbers (-x/sys/unix +table):\n%s", diff)
	}
	if _, ok := a.Number("frobnicate"); ok {
		t.Error("frobnicate found")
	}
}
