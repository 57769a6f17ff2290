// Package stage is what runs inside a sandbox before CMD: PID 1 (the init
// stage, which builds the container, reaps and forwards signals) and pid 2
// (the exec stage, which drops privileges, loads the seccomp filter and
// becomes CMD). The runner, package sandbox, plans; this package carries
// the plan out.
//
// It is a package of its own for the boundary between the two processes.
// PID 1 is the runner's binary re-executed, and every package linked into
// a Go binary runs its init functions at each start, in import-path order
// as their imports allow: this one comes only after most of the runner's
// dependencies (protobuf, compression tables, seccomp syscall tables), a
// few milliseconds of CPU per run on a slow machine. Keep its imports to
// the standard library and x/sys/unix, and keep package-level work out of
// every package the runner links (compile a regexp on first use, not at
// init).
//
// The exec stage never starts the Go runtime where cgo is available: the C
// constructor that forks it before the runtime starts (prefork_cgo_linux.go)
// runs it to the exec of CMD (execstage_cgo_linux.go). That saves a third of
// the CPU a throwaway sandbox costs. Without cgo, PID 1 re-executes the binary as
// the exec stage, in Go (execMain), which speaks the same protocol.
//
// Everything here is data in, actions out: Config and Step come from the
// runner as JSON; Exit goes back. PID 1 instructs the exec stage with a
// flat binary message that C can read (wire_linux.go).
package stage
