// Package hostcheck is the host doctor behind `sandbox check`: it says,
// before a run fails, whether this host can give a sandbox what it needs,
// and whether a root fits this kernel.
//
// It is a package of its own for its boundary: it reads the host as a
// tree of files (/proc, /sys, /etc: a Host's Root, "/" for the real one, a
// fake tree in the tests) and tries things for real through Probes (a user
// namespace, an overlay mount, a cgroup with a limit written, a seccomp
// filter, a pidfd, a sandbox run), each of which a test replaces; the
// sandbox, limits and snapshot packages know nothing of it.
//
// # Vocabulary
//
// A Check is one thing a run may need, with a Status: OK, WARN (works, with
// a caveat or a cost: timing noise for graders and benchmarks, a feature the
// runner falls back from) or FAIL (missing). Needed checks are those a
// default run cannot do without: a FAIL among them means the default run
// does not work here, and so does a failed real run (the "run" check). Each
// check that is not OK says why and, where there is one, the command that
// fixes it.
//
// A RootReport says whether a root (a directory, or a snapshot's layers)
// fits this host: the ELF machine of its binaries against the host's (and
// any binfmt_misc handler that would run them), the oldest kernel its libc
// supports (the ELF ABI-tag note) against the running one, whether its
// binaries call into the vsyscall page and whether this host has one, and
// its distribution next to the host's.
//
// Report and RootReport are plain data with JSON tags: `sandbox check
// --json` prints them (schema version 1, documented in cmd/sandbox's
// check help).
package hostcheck
