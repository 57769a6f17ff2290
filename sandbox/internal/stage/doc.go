// Package stage is what runs inside a sandbox before CMD: PID 1 (the init
// stage, which builds the container, reaps and forwards signals) and pid 2
// (the exec stage, which drops privileges, loads the seccomp filter and
// becomes CMD). The runner, package sandbox, plans; this package carries
// the plan out.
//
// It is a package of its own for the boundary between the two processes
// and for speed: both stages are the runner's binary re-executed, and every
// package linked into a Go binary runs its init functions at each start.
// This one imports nothing but the standard library and x/sys/unix, so Go
// initializes it among the first packages, and its init function turns the
// process into a stage (and exits) before the runner's heavier dependencies
// (protobuf, compression tables, seccomp syscall tables: a millisecond of
// CPU at every start) are initialized at all. Keep it that way: a new
// import here costs every run.
//
// Everything here is data in, actions out: Config and Step come from the
// runner as JSON; Exit goes back.
package stage
