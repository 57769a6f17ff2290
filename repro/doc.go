// Package repro checks that a build is reproducible: it builds a source tree
// twice or more, each time in a fresh sandbox that varies one or more
// things a build should not depend on, compares the artifacts, and when
// they differ finds which variations cause it.
//
// It is a package of its own, beside sandbox, because everything here is a
// workflow on top of sandbox.Run that no single run knows of: copies of a
// tree (one copy-on-write layer per build), what each variation does to a
// Spec, reading artifacts back out of a layer, comparing them, and the
// bisection over many runs. The sandbox package stays about one run.
//
// # Vocabulary
//
// The source is the tree the builds start from (never written). A build is
// one sandbox run of the build command on its own layer of the source; the
// control build varies nothing, the experiment varies every variation in
// force, and bisection builds vary some of them. A variation (named as
// reprotest names them: environment, build_path, user_group, ...) is a
// pair of settings, the control's and the experiment's, of one thing the
// build can see. An artifact is a file under the tree that a glob names,
// after the build; two builds agree when every artifact has the same bytes
// (sha256 and size) in both.
//
// # Lifecycle of a check
//
//  1. Check probes the host once for what each variation needs (setarch,
//     libfaketime, a second locale, a second CPU, a tmpfs whose directory
//     order it can set). A variation asked for by name that cannot take
//     effect is refused with the reason (ErrUnavailable); one that is only
//     on by default is dropped, and the Report says why (NotVaried).
//  2. SOURCE_DATE_EPOCH is fixed for every build: the source's last git
//     commit, else its newest file's mtime.
//  3. Each build gets a work directory of its own with an upper and a work
//     directory; the sandbox mounts an overlay of the source (the lower
//     layer) at the build path, so the build's writes land in its upper
//     directory and the source is never touched. Nothing is mounted on the
//     host: the overlay lives in the sandbox's mount namespace.
//  4. After the build, the artifacts are read through the same layers
//     (upper over lower, whiteouts and opaque directories honoured) and
//     hashed.
//  5. The control and the experiment are compared. If they differ and
//     bisection is on, the control is built once more (a difference then
//     is nondeterminism, not a variation), then each variation alone, and,
//     where no single variation explains it, the variations together are
//     narrowed down to a minimal set.
//  6. Every work directory is removed, on success and on every failure
//     path, unless the caller keeps them (Config.KeepDir).
//
// # What each variation does (control → experiment)
//
//   - environment: nothing → SANDBOX_REPRO_CAPTURE_ENVIRONMENT set.
//   - build_path: the tree at the source's own path → at another path.
//   - user_group: the caller's uid and gid → Config.UserGroup (65534:65534
//     by default). The tree's directories are made the build user's first,
//     by a run as the build user with CAP_CHOWN on the same layers (files
//     stay the caller's: the build user can replace them, not write into
//     them).
//     Without root the build user is one of the caller's subordinate ids
//     (sandbox.CanRunAs says whether it can be had; else the variation is
//     dropped with the reason), which the caller can neither read nor
//     remove: after the build, whatever its outcome, another run as the
//     build user with CAP_CHOWN, in the same id map, chowns the build's
//     directory back to the caller.
//   - home: the caller's HOME → /nonexistent/second-build.
//   - domain_host: hostname "sandbox" and the host's domain name →
//     "i-capture-the-hostname" and "i-capture-the-domain" (Spec.Domainname).
//   - locales: LANG=C.UTF-8 → LANG and LC_ALL another installed locale
//     (et_EE.UTF-8 by default, whose collation differs from C's).
//   - exec_path: PATH → PATH with /i_capture_the_path appended.
//   - timezone: TZ=UTC → TZ=GMT-14.
//   - umask: 0022 → 0002.
//   - num_cpus: every CPU of the runner's → one (a cpuset: nproc says 1).
//     Without root and without a delegated cpuset controller, the CPU
//     affinity instead (taskset, as reprotest does): nproc says 1 alike, but
//     the build may widen its own mask again. Report.VariedBy says which.
//   - fileordering: the source's own directory order → the reverse, from
//     a copy of the tree on a tmpfs (whose readdir lists entries in an order
//     set by their creation, as ext4's hash order is not) used as the lower
//     layer; no FUSE. Files the build itself creates come in the order of
//     the upper layer's filesystem in every build: only the source's order
//     is varied (disorderfs shuffles both).
//   - time: the wall clock, through libfaketime (LD_PRELOAD, so static and
//     Go binaries never see it): the control's clock starts at
//     SOURCE_DATE_EPOCH, the experiment's 398 days 7 hours 13 minutes later,
//     in every process of the build anew, so that builds which do not vary
//     time agree to the second.
//     A time namespace is not used: it shifts only CLOCK_MONOTONIC and
//     CLOCK_BOOTTIME, which no build embeds.
//   - kernel: uname -r and -m as the host has them → 2.6.x and i686
//     (setarch linux32 --uname-2.6).
//   - aslr: address space randomisation off in the control (setarch -R, so
//     the other builds agree on addresses) → on.
//
// # Invariants
//
//   - The source is only ever a read-only lower layer: no build, and no
//     check, writes to it.
//   - Every build runs through sandbox.Run with a Spec alone: the caller's
//     privileges decide the rest (as root, or rootless where the sandbox
//     package can map another uid through a user namespace).
//   - Check's error is for failures of the check itself (exit status 125),
//     a Report for its outcome: reproducible or not, and why.
package repro
