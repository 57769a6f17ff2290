// Package stage is what runs inside a sandbox before CMD: PID 1 (the init
// stage, which builds the container, reaps and forwards signals) and pid 2
// (the exec stage, which drops privileges, waits at the start gate when
// the runner gave one (_SANDBOX_INIT_GATE), loads the seccomp filter and
// becomes CMD). The runner, package sandbox, plans; this package carries
// the plan out.
//
// It is a package of its own for the boundary between the two processes.
// PID 1 is the runner's binary re-executed, and both stages are C, with one
// implementation each, in this directory's .c and .h files (one file per
// concern, as crun's libcrun): the constructor that runs before the Go
// runtime (prefork.c) forks the exec stage, which runs to the exec of CMD
// (execstage.c), and then runs the init stage to the sandbox's end
// (initstage.c, reading the plan in config.c, performing it in mounts.c,
// reporting the exit in report.c). cgo compiles them with -Wall -Wextra
// (make test adds -Werror). A Go runtime start plus the init functions of
// everything the runner links, once per stage, were most of what a
// throwaway sandbox costs. A binary built without cgo has no stages
// (Available is false) and the runner refuses to start, naming why: runc,
// crun and bwrap need a C compiler too. Keep this package's imports to the
// standard library and x/sys/unix, and keep package-level work out of
// every package the runner links (compile a regexp on first use, not at
// init): the runner pays for it at every start.
//
// # PID 1's privileges
//
// PID 1 builds the container as the runner's root. Before it lets the exec
// stage go, it gives up everything it does not need to reap and forward:
// every capability in every set (bounding and ambient included), the
// runner's ids for CMD's (so it can still signal CMD), no_new_privs, and a
// seccomp filter of its own that allows only the syscalls of its loop
// (initFilter). A CMD that can trace it (given CAP_SYS_PTRACE) finds no
// more there than it holds itself.
//
// Everything here is data in, actions out: Config and Step come from the
// runner as a flat binary message C can read (config_wire_linux.go), PID 1
// instructs the exec stage with another (encode_exec), and Exit goes back
// to the runner as JSON.
package stage
