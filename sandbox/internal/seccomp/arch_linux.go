package seccomp

import "sort"

// Arch is what a filter checks a syscall against: the audit architecture
// the kernel reports for native calls, and the table of syscall numbers.
type Arch struct {
	Name string
	// Audit is AUDIT_ARCH_* of native calls (seccomp_data.arch).
	Audit uint32
	// X32 is set on x86_64, where numbers with bit 30 set are the x32
	// ABI's, reported with the native audit architecture.
	X32 bool

	table []syscall // sorted by name
}

type syscall struct {
	name string
	nr   uint32
}

// x32Bit marks an x32 syscall number on x86_64 (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// Native is the architecture the binary was built for.
func Native() (*Arch, error) {
	if native.table == nil {
		return nil, ErrArch
	}
	return &native, nil
}

// Number is the syscall's number on a, if a has one of that name.
func (a *Arch) Number(name string) (uint32, bool) {
	i := sort.Search(len(a.table), func(i int) bool { return a.table[i].name >= name })
	if i < len(a.table) && a.table[i].name == name {
		return a.table[i].nr, true
	}
	return 0, false
}
