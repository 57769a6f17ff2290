// Package isolate is a drop-in for isolate(1), the sandbox of the IOI, CMS,
// Judge0 and many course graders: its command line, its boxes and their
// lifecycle, its meta files and exit statuses, with each run a throwaway
// sandbox.Run.
//
// # Why a package of its own
//
// isolate's callers do not speak Specs: they run `isolate --init`, copy
// files into the directory it prints, run `isolate --run` with options
// whose units (KiB, seconds), defaults (one process, 64 open files, no
// environment, no PATH search) and quirks (-p60 but not -p 60, rules that
// replace rules) are isolate's, and read a key:value file. Turning that into
// a Spec, holding box state between calls (a directory, a lock, a user per
// box) and translating a Result back is a boundary of its own; the sandbox
// package stays plain data in, Result out. The meta writer (meta.go) works
// from a plain struct and is the only one: `sandbox judge --meta-dir`
// writes its files with MetaFromResult and WriteMetaFile too.
//
// # Vocabulary
//
//   - Box: one sandbox slot, named by its id (-b). Its directory on the
//     host is <root>/<id> (root: DefaultBoxRoot, --box-root or
//     $SANDBOX_ISOLATE_ROOT), holding box/ (the program's /box and working
//     directory), tmp/ (its /tmp, emptied at each run) and root/ (the empty
//     read-only lower layer of its root filesystem).
//   - Box user: uid FirstUID+id, gid FirstGID+id (60000+id by default, as
//     isolate's configuration), the identity of the box's program, so that
//     no two boxes ever share a user. box/ is the box user's during a run
//     and the caller's between runs.
//   - Options: the command line as data (Parse, getopt_long's way: bundled
//     short options, abbreviated long ones, and permutation, so options
//     after the command are isolate's unless "--" comes first). DirRule and
//     EnvRule are -d and -E; DirRules and Environment apply isolate's
//     defaults and replacement rules.
//   - Meta: the meta file's keys as a struct; WriteMeta, MetaFromResult.
//
// # Lifecycle
//
//	--init     lock the box; remove it if it exists (isolate resets it);
//	           build <id> under a temporary name and rename it into place;
//	           print <root>/<id>
//	--run      lock the box (refuse, or wait with --wait); empty tmp/; give
//	           box/ to the box user; resolve the directory rules into
//	           mounts; open --stdin/--stdout/--stderr as the box user;
//	           sandbox.Start and Wait; write the meta file; give box/ back
//	           to whoever had it (the caller, or --as-uid at --init),
//	           without the fifos, sockets and symlinks the program left
//	           (unless --special-files); print the status line (unless
//	           --silent); exit 0, 1 or 2
//	--cleanup  lock the box; remove <id> and the lock file
//
// The lock is flock(2) on <root>/<id>.lock. --cleanup removes that file while
// holding it; whoever was waiting finds the file it locked unlinked and
// locks the new one, so two --init of one box never race.
//
// # From isolate's options to a Spec
//
//	-t, -w, -x        Limits.CPUTime, WallTime, ExtraTime (the sandbox kills at
//	                  limit+extra; the verdict is TO past the limit)
//	--cg-mem KiB      Limits.Memory: an OOM kill, reported as SG, exitsig 9 and
//	                  cg-oom-killed (CMS's memory verdict)
//	-p N              Limits.Pids = N+1 (the box's PID 1 counts in its group);
//	                  -p alone: no limit; default 1. On cgroup v1 the thread
//	                  that forks PID 1 into the group may still count there
//	                  when PID 1 forks the program; at -p1 and -p2 a start
//	                  lost to that is tried again (nothing of the program
//	                  ran) rather than the limit loosened
//	-m, -k, -f, -n,   RLIMIT_AS, STACK (default unlimited), FSIZE, NOFILE
//	--core            (default 64), CORE (default 0), in KiB
//	-E, -e            Spec.Env, from nothing but LIBC_FATAL_STDERR_=1
//	-d, -D            Spec.Root an empty directory, Spec.Mounts the rules'
//	                  binds and tmpfs; /proc and /dev the sandbox's own;
//	                  /sys hidden unless a rule asks for sysfs
//	-c                Spec.Dir (relative: below /box)
//	--share-net       Spec.Network host
//	-i, -o, -r        IO files opened from the host as the box user, below
//	                  the bind that holds the path, with RESOLVE_IN_ROOT
//	(the box)         Spec.User the box user, Spec.CgroupRoot and RunDir as for
//	                  'sandbox exec' ($SANDBOX_CGROUP_ROOT, $SANDBOX_RUN_DIR)
//
// A Spec mount carries read-only or not; isolate's binds are also nosuid
// and nodev (the sandbox's no_new_privs and device cgroup hold those
// anyway) and may be noexec or norec. When a rule asks for noexec or norec
// (Judge0 always passes -d /etc:noexec), --run re-executes itself in a new
// mount namespace, private from its first instruction, and there stages
// every bind with isolate's flags (open_tree, mount_setattr, move_mount
// onto .stage/ in the box directory); the sandbox's bind of a staged mount
// clones it with its flags. Nothing of it reaches the host's mount table.
//
// # Invariants
//
//   - Exit status 0: the program ended well; 1: RE, SG or TO; 2: the sandbox
//     failed or the command line was wrong, with status XX in the meta file
//     when one was asked for.
//   - Every meta line is "key:value\n"; message is one line.
//   - What a box's program leaves in box/ cannot turn the next call against
//     the host: stdio paths resolve inside their bind, chowning box/ skips
//     hard links, special files are removed after each run.
//   - A box's program never runs as another box's user, nor as the caller.
//
// # Where it differs from isolate
//
//   - /dev is the sandbox's minimal one, not the host's; a rule binding
//     another directory at /dev, /proc or /sys, the dev option elsewhere,
//     -q/--quota, --tty-hack and --print-cg-root are refused with the
//     reason.
//   - max-rss is the box's peak memory charge, the figure cg-mem reports (no
//     per-process peak is kept); time is always the box's CPU time as its
//     control group counts it, --cg or not (--no-cg-timing is accepted).
//   - The wall clock limit kills after -x too (isolate kills at -w exactly);
//     the verdict is the same.
//   - -m below the size of this binary plus 40 MiB is refused: the sandbox
//     sets rlimits on its PID 1, this binary, before the program replaces
//     it.
//   - Output files under -f are written through a pipe by the runner; the
//     process holding the pipe furthest down the tree gets SIGXFSZ.
//   - Without root (rootless_linux.go), the box user is a subordinate id of
//     the caller's, box ids are bounded by the caller's range, --cg needs a
//     delegated cgroup v2 subtree, -p is the box user's RLIMIT_NPROC,
//     noexec and norec binds are refused, and stdio files are opened as the
//     caller (before box/ is given away) rather than as the box user.
package isolate
