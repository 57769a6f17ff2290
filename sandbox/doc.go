// Package sandbox runs a command in a throwaway container made of kernel
// features alone, and reports how it ended.
//
// # Vocabulary
//
// A Spec is one run as plain data: the command, its environment, the root,
// mounts, identity and limits. It knows nothing of flags or files; the CLI
// and profiles resolve to it. A Container is a started run; a Result is how
// it ended. The runner is the calling process; the init stage is PID 1 of
// the sandbox; the exec stage is pid 2, which becomes CMD.
//
// # Lifecycle of one run
//
//  1. Start validates the Spec, makes the run directory
//     (<RunDir>/<id>, locked while the runner lives), and computes the init
//     stage's plan: every mount, device and mask as data (plan_linux.go).
//  2. It has the zygote clone PID 1 (stage.StartSpawn) in new mount, pid,
//     uts, ipc and (unless NetworkHost) net namespaces, as the runner's own
//     child (CLONE_PARENT), with a parent-death signal, born in the run's
//     cgroup on v2 (or takes one the zygote cloned ahead: see package
//     stage). It sends the plan over a socket, as a flat binary message
//     (stage.SendConfig), and PID 1 builds the container from it; on v1
//     the runner makes the groups meanwhile, on its other thread from
//     the moment the run directory is there. A spare cloned ahead may have
//     built the container already, from the build part of the plan
//     (stage.EncodeBuild: the mounts, the root, hostname, loopback) that
//     the runner said its next run would have: after two runs alike in
//     one process (AheadOfNext), or, for the CLI's exec, from the one the
//     last exec with the same run directory kept there (saveBuild); it is
//     PID 1 only of a run whose plan has that build part, which PID 1
//     checks field by field. Once whatever confines PID 1 is in place the runner lets it go
//     (stage.SendGo), and on v1 PID 1 moves itself into its groups first
//     thing, before it forks CMD's stage. The zygote is a
//     copy of the runner's process taken before the Go runtime started
//     (forked by a C constructor, or this binary exec'd once for a
//     process that did not fork one), single-threaded, with the runner's
//     arguments and environment wiped: PID 1 costs a clone, not the exec
//     of the runner's binary. The kernel memory of the new namespaces is
//     charged to the zygote's cgroup, not the run's: it is the runner's
//     cost of a sandbox, not CMD's, and the same for every run. After
//     HandOffInit (an OCI monitor) PID 1 is the runner's parent's child
//     instead, for the engine's subreaper to wait for: Wait sees its end
//     through its pidfd, and the Result's rusage (context switches) is
//     the one PID 1 reports, taken just before its report.
//  3. PID 1 performs the plan: mounts private, a size-capped tmpfs on the
//     run directory holding the upper layers (for a run to commit, the
//     root's upper is instead a tmpfs the runner made detached and handed
//     over as a descriptor, so that it outlives the namespace: see
//     commit_linux.go), the root (see Roots below), fresh /proc, a minimal
//     /dev with its own devpts, read-only /sys, private /tmp and /run
//     (where, with the host's root, the caller's working directory and
//     CMD's own file stay in view: visible_linux.go), the
//     Spec's mounts (binds nosuid and nodev), masked and read-only paths;
//     then pivot_root, hostname, loopback. Mount targets are resolved
//     inside the new root (openat2 RESOLVE_IN_ROOT), so no symlink in a
//     root can point a mount at the host. A bind's source is opened once
//     and what was opened is bound; with Mount.NoSymlinks (or
//     Spec.NoSymlinks, for every bind) it is opened with openat2
//     RESOLVE_NO_SYMLINKS, so a symlink in any component, planted by an
//     earlier stage of a pipeline, fails the setup instead of being
//     followed, and none can be swapped in between the check and the bind.
//  4. Let go, PID 1 unshares the cgroup namespace and forks the exec
//     stage, so CMD is pid 2, then runs the rest of the init stage, in C,
//     to its end: the Go runtime never starts inside the sandbox. A binary
//     built without cgo has no init stage: Start refuses, with
//     ErrUnsupported.
//  5. The exec stage sets the run's rlimits on itself (once every
//     descriptor PID 1 sends it has come: a low RLIMIT_NOFILE cannot
//     refuse them), enters the workdir (the caller's directory must be
//     had with the host's root: never a silent "/"), starts a session (and takes its
//     own pty with TTY), drops every capability not asked for from every
//     set, sets no_new_privs, marks every descriptor but 0, 1, 2 and
//     IO.ExtraFiles close-on-exec, and execs CMD. With IO.StartGate it
//     first waits, set up but for its seccomp filter, to read a byte from
//     the gate (an OCI runtime's start; EOF ends the run unstarted).
//  6. PID 1 forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
//     SIGWINCH to CMD, reaps every orphan, and when CMD ends reports its
//     status and exits; the kernel then kills whatever is left in the pid
//     namespace, and every mount, living only in the sandbox's mount
//     namespace, goes with it. On v1 PID 1 first kills and reaps what is
//     left itself and moves into the parent of the run's groups, so that
//     they are empty when it reports. Not when CMD may change its uid
//     (PID 1 has CMD's ids, and a process of another uid is the kernel's
//     to end) or trace PID 1 (CAP_SYS_PTRACE reaches PID 1's descriptors,
//     and the parent's tasks files would move CMD out of its groups).
//  7. Wait collects the report and the cgroup's numbers while PID 1's
//     exit tears the namespaces down (so that teardown, like the
//     namespaces' making, is the runner's cost and not the run's), removes
//     the cgroup and the run directory meanwhile when PID 1 has left the
//     groups (after PID 1 otherwise), waits for PID 1, and copies the
//     writable layer of a run to commit into the store and commits it.
//
// # Roots
//
// A run's root is one of:
//
//   - the host's: the host's "/" as the read-only lower layer of an
//     overlay, and each real filesystem mounted below it an overlay of its
//     own (overlayfs does not cross mounts). A submount that is a file, as
//     a container runtime binds /etc/hosts, /etc/resolv.conf and
//     /etc/hostname into a container, is bound read-only instead: overlayfs
//     layers only directories, and the sandbox must not write the
//     container's file. So the runner works inside docker, podman and CI
//     pods, read-only roots included. This is the default.
//   - Spec.Root, a directory, or Spec.Snapshot, a snapshot of a store: the
//     overlay's lower layers, and nothing of the host's tree.
//   - Spec.HostRoot, a root of host paths, as isolate's directory rules
//     make a box: an empty tmpfs holding only the paths it names, bound
//     read-only without following symlinks, a path that is a symlink made
//     again as the same symlink (merged /usr: /bin -> usr/bin), a missing
//     one left out. MinimalHostRoot is the list a grader wants (/usr, /bin,
//     /sbin, /lib*, a few /etc files); the grade profile sets it, and
//     `sandbox judge` and `sandbox isolate` get it through that profile. It
//     applies when Root and Snapshot are empty: those are roots of the
//     run's own already.
//
// Whatever the root, /proc, /dev, /sys, /tmp and /run are the runner's, and
// the Spec's mounts are made in it.
//
// # Invariants
//
//   - Nothing a run mounts is visible outside its mount namespace; the host
//     never sees a write to the root, /tmp or /run.
//   - A run leaves nothing behind on success, failure, cancellation or
//     SIGKILL of CMD. If the runner itself is killed, the parent-death signal
//     kills the sandbox, and GC removes the run directory it left.
//   - CMD never holds a capability it was not given, never gains one
//     (no_new_privs), cannot reach PID 1 through /proc/1 (PID 1 is not
//     dumpable), and holds no descriptor of the runner's but 0, 1, 2 and
//     IO.ExtraFiles.
//   - Every tmpfs of the run has a size and one inode per 4 KiB of it
//     (tmpfsInodes); every run has a pids limit (limits.DefaultPids unless
//     the Spec sets one); a limit the kernel would not apply (RLIMIT_NPROC
//     for root) is refused, not passed on.
//   - Run's error is for the runner's own failures (exit status 125);
//     how CMD ended, including 126 and 127 when it could not be started, is
//     in the Result.
//
// # Without root
//
// A caller without root (euid != 0) gets the same sandbox in a user
// namespace of its own (userns_linux.go): ids mapped by PID 1 itself (the
// caller alone, which lets a spare build ahead) or by newuidmap and
// newgidmap (the caller's subordinate ranges), a root split per host
// entry (rootfs_linux.go: overlayfs cannot take the host's "/" whole with
// its mounts locked below it), run state under
// $XDG_RUNTIME_DIR, and a cgroup only in the caller's delegated cgroup v2
// subtree (limits.FindDelegation). A limit that needs a controller the
// caller lacks is refused, naming it (enforce_linux.go); CPU time is then
// read from /proc. Result.EnforcedBy says what enforced each limit.
//
// The init and exec stages live in internal/stage, a package that imports
// only the standard library and x/sys/unix. Both are C, compiled by cgo,
// and the Go runtime never starts inside the sandbox: its start, and the
// init functions of every package the runner links, were nearly half the
// CPU a throwaway run costs. Any program that imports this package can be a
// runner: the stage package's C constructor turns the process into the
// init stage when it is re-executed as one, before main runs. Test
// binaries included.
//
// Seccomp policies (Seccomp, DefaultSeccomp) are data here; internal/seccomp
// assembles them into BPF, from syscall tables that are static data, so
// that linking the assembler costs a runner's start nothing.
package sandbox
