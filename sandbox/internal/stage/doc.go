// Package stage is what runs inside a sandbox before CMD: PID 1 (the init
// stage, which builds the container, reaps and forwards signals) and pid 2
// (the exec stage, which drops privileges, loads the seccomp filter and
// becomes CMD). The runner, package sandbox, plans; this package carries
// the plan out.
//
// It is a package of its own for the boundary between the two processes.
// PID 1 is the runner's binary re-executed. Without cgo it starts the Go
// runtime, and every package linked into a Go binary runs its init
// functions at each start, in import-path order as their imports allow:
// this one comes only after most of the runner's dependencies (protobuf,
// compression tables, seccomp syscall tables), a few milliseconds of CPU
// per run on a slow machine. Keep its imports to the standard library and
// x/sys/unix, and keep package-level work out of every package the runner
// links (compile a regexp on first use, not at init): the runner itself
// pays for it too.
//
// Where cgo is available, neither stage starts the Go runtime: the C
// constructor that runs before it (prefork_cgo_linux.go) forks the exec
// stage, which runs to the exec of CMD (execstage_cgo_linux.go), and then
// runs the init stage to the sandbox's end (initstage_cgo_linux.go). A Go
// runtime start plus the init functions of everything the runner links,
// once per stage, were most of what a throwaway sandbox costs: with PID 1
// in C too, `sandbox exec -- /bin/true` takes about half the CPU it did
// (62 ms down to 35 on a slow paravirtualized VM). Without cgo, PID 1 is
// the init stage in Go (initMain) and re-executes the binary as the exec
// stage in Go (execMain); the Go and C twins speak the same protocols, do
// the same things and word their errors alike, and must be kept so
// (TestWithoutCgo runs the same cases through both).
//
// Everything here is data in, actions out: Config and Step come from the
// runner as a flat binary message C can read (config_wire_linux.go), PID 1
// instructs the exec stage with another (wire_linux.go), and Exit goes back
// to the runner as JSON.
package stage
