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
// The program's shape, per rule:
//
//	ld  nr                 (skipped when A already holds it)
//	jeq n1, match          (a chunk of at most maxChunk names)
//	...
//	ja  next-chunk or next-rule
//	match: cond 1 (false: fail) ... cond k; ret action
//	fail:  ja next-rule
//
// Conditional jumps reach 255 instructions at most, so they only ever jump
// within a chunk; far jumps are ja, whose offset is 32 bits.
package seccomp
