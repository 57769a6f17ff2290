// Package stage is what runs inside a sandbox before CMD: PID 1 (the init
// stage, which builds the container, reaps and forwards signals) and pid 2
// (the exec stage, which drops privileges, waits at the start gate when
// the runner gave one (SpawnRequest.Gate), loads the seccomp filter and
// becomes CMD). The runner, package sandbox, plans; this package carries
// the plan out.
//
// It is a package of its own for the boundary between the two processes.
// Both stages are C, with one implementation each, in this directory's .c
// and .h files (one file per concern, as crun's libcrun). PID 1 is cloned
// by the zygote (zygote.c): a copy of the runner's process taken by the C
// constructor (prefork.c) before the Go runtime starts, where a program
// wants one (sandbox_zygote_wanted: the CLI's subcommands that run
// sandboxes), or else this binary exec'd as ZygoteArg0 on the first
// StartSpawn. PID 1 forks the exec stage, which runs to the exec of CMD
// (execstage.c), and then runs the init stage to the sandbox's end
// (initstage.c, reading the plan in config.c, performing it in mounts.c,
// reporting the exit in report.c). cgo compiles them with -Wall -Wextra
// (make test adds -Werror). A Go runtime start plus the init functions of
// everything the runner links, once per stage, were most of what a
// throwaway sandbox costs; an exec of the runner's binary for PID 1 (its
// static libc start probing the CPU with cpuid, which traps in a VM) was
// most of what was left. A binary built without cgo has no stages
// (Available is false) and the runner refuses to start, naming why: runc,
// crun and bwrap need a C compiler too. Keep this package's imports to the
// standard library and x/sys/unix, and keep package-level work out of
// every package the runner links (compile a regexp on first use, not at
// init): the runner pays for it at every start.
//
// # The zygote
//
// One per runner process, single-threaded, serving one request at a time
// over a SOCK_SEQPACKET socket (zygote.h): PID 1's descriptors, its
// namespaces' clone flags, and its cgroup (a v2 directory for
// CLONE_INTO_CGROUP, or v1 tasks files PID 1 writes "0" to, which moves
// a thread without the kernel-wide lock that moving another process
// takes). It keeps nothing of the caller's: no descriptor but its socket,
// "/" as its working directory, the arguments and environment blanked. It
// ends when the runner's end of the socket closes, and with a
// parent-death signal besides when the constructor forked it. A sibling
// zygote (SiblingZygote, or sandbox_zygote_wanted's ZYGOTE_SIBLING: an
// OCI monitor's) is the runner's parent's child, and so is the PID 1 it
// makes (Config.HandedOff): neither has a parent-death signal, and it
// ends after its first PID 1.
//
// # Spares
//
// The zygote clones PID 1 ahead of its request where it can guess the
// namespaces the request will name (a spare, zygote.c): when the runner
// says a request follows (Ahead, which sandbox.Prepare and Start send for
// runs on cgroup v1, whose PID 1 moves into its groups itself, or has
// none without root: a v2 PID 1 is born in its group, which a spare
// cannot be), once a runner has asked twice, when each PID 1 reports
// (AheadOfNext), and, for a program that names them (sandbox_zygote_spare: the CLI's exec and
// judge), with a default run's namespaces as soon as the constructor has
// forked the zygote, while the Go runtime starts. A hint whose namespaces
// differ from a spare's has it dropped and one that fits made. A spare is
// made with idle CPU time only (SCHED_IDLE), and away from the CPU of the
// runner that asked (the kernel does not preempt the clone, one long
// system call, for an idle-class task's sake), holds nothing but its socket,
// and is PID 1 once the request is forwarded to it: the clone, the
// kernel making the namespaces, is then off the runner's path. One whose
// copy of the mount table is out of date (the zygote polls its
// /proc/self/mounts, and after a change compares the table with the one
// the spare copied, line for line: mounts made and undone between two
// runs leave it usable), or whose namespaces do not fit the request, is
// killed, and the runner, its parent, reaps it. A rootless runner's
// spares have a user namespace among their namespaces, get their id maps
// as any PID 1 does once cloned (or map them themselves: SelfMap), and
// are made at the zygote's own priority: without CAP_SYS_NICE the idle
// class is a way with no way
// back. So none is made for it while its sandboxes run (its runs ask for
// none when a PID 1 reports). The constructor's spare, made where none of
// the runner's sandboxes runs yet and the runner's next PID 1, is made at
// the zygote's priority too.
//
// # Built ahead
//
// A spare may also build its container before the request: the mounts,
// pivot_root, hostname and loopback (is_build), from a build part
// (EncodeBuild: the plan's steps, root, hostname, domain name and
// loopback, and nothing of the run's arguments, environment or ids).
// Without root, only a build whose user namespace maps the caller's own
// ids alone (Config.SelfMap), which its PID 1 writes itself first: no
// other map can be written before the runner knows the spare's pid. A
// hint carries one when the process's last two requests had the same
// build part (AheadOfNext: a loop of one command line); the constructor's
// spare reads one from the run directory that the CLI's exec names
// (sandbox_zygote_build_dir), kept there by the last exec (BuildCache:
// the file of the zygote's own user, in a directory only that user
// writes, or it is not read: zy_read_build). A
// request names its build part's hash (SpawnRequest.Build, FNV-1a); a
// spare built from another is dropped, and so is one whose build resolved
// a host path (a bind's source, an overlay's layer) that now names
// another file (a directory removed and made again, a file renamed over:
// the zygote stats each, sources_same), one whose build failed ends (and
// the request gets a PID 1 cloned then, which builds and fails or not as
// the host now is), and the PID 1 of one built ahead compares the config
// it is sent with what it built, field by field (is_same_build), and
// fails the run if they differ. The zygote hands over a spare built ahead
// only once its word says it is built. Its build keeps the spare's class
// and CPUs, off the runner's, until then; the constructor's is built while
// the Go runtime starts, and a CLI run of the same command line as the
// last finds its PID 1's build done. A spare built ahead, PID 1 of a pid
// namespace of its own, also forks its exec stage before the request
// (sandbox_stage_ahead), once its CPUs and policy are the runner's again:
// the fork is off the path, and PID 1 sends that exec stage what one it
// forked would inherit (0, 1, 2, the preserved descriptors, the start
// gate) as the request comes. Dropped, the spare takes it along: its pid
// namespace ends with it.
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
