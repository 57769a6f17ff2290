// Package seccomp assembles seccomp filters: classic BPF programs that
// give each syscall an action (allow, fail with an errno, notify the
// supervisor) by its number and, optionally, its arguments.
//
// It is a package of its own for what a run must not pay for. Every
// package the runner links runs its init functions at every start, and a
// syscall table built as Go maps at init (as a general seccomp library
// does, for every architecture it knows) costs each `sandbox exec` about a
// millisecond on a slow machine. Here the tables are static data, sorted
// arrays the linker lays out (ztables_linux_*.go, generated from
// golang.org/x/sys/unix by mktables.go), and nothing runs until a filter
// is assembled.
//
// Vocabulary: a Rule names syscalls by number, with Conds on their
// arguments that must all hold, and an Action. Rules are tried in order and
// the first match wins; a syscall no rule matches gets the default action.
// Assemble turns rules into a program for one Arch. In front of the rules,
// every program refuses with ENOSYS a call made through another ABI than
// the native one (i386 through int 0x80, x32 on x86_64): the rules' numbers
// mean other syscalls there.
//
// The program's shape: the syscall number is looked up in a binary search
// tree over spans of numbers that go the same way, whose leaves return
// (the default action, or a rule's without conditions) or jump to a block
// that tests, for the numbers of that span, the conditions of each rule
// naming them, in order:
//
//	ld  nr
//	jge n_mid, right       (a tree node; the left half follows)
//	...
//	ret action             (a leaf: a span that needs no conditions)
//	ja  block              (a leaf: a span whose rules have conditions)
//	block: cond 1 (false: next rule) ... cond k; ret action
//	       ...
//	       ret default
//
// Why a tree: as the kernel attaches a filter it runs it for every
// syscall number, to cache the numbers it always allows, and a program
// that tests the names one by one makes that loop as long as the list for
// every number it does not name: the default policy's 55 names took 0.21
// ms to attach that way, 0.10 ms as a tree. Conditional jumps reach 255
// instructions at most: a tree node whose left half is longer jumps to the
// right half through a ja, whose offset is 32 bits.
package seccomp
