// Package judge grades submissions: it compiles a submission, runs it over
// a problem's tests, each in a fresh sandbox, checks every output and
// gives verdicts in the CLICS vocabulary. `sandbox judge` is its command
// line.
//
// # Why a package of its own
//
// The sandbox package runs one Spec and says how it ended (OK, RE, SG, TO,
// ML, OL, XX). Grading is a different boundary: problem formats (Kattis,
// Polygon, plain directories), languages and their compilers, checkers
// (built in, testlib, Kattis validators, CMS comparators), interactors
// wired to submissions, scores of groups, and the verdicts graders speak
// (AC, WA, PE, TLE, MLE, OLE, RTE, CE, JE). None of it belongs in the
// runner, and all of it is reached only through sandbox.Run and
// sandbox.Start, with the isolation of a profile ("grade" by default):
// this package never mounts, forks or touches a cgroup itself.
//
// # Vocabulary
//
//   - Problem: what Load reads from a directory (see Load for the
//     formats): limits, a Checker (or an Interactor), Groups of Tests.
//   - Test: an input and its answer; Group: tests scored together.
//   - Language: how a source is compiled and run, from a TOML table
//     (languages.toml, built in; users add their own).
//   - Judge: a prepared problem (checker and interactor compiled once);
//     Judge.Judge grades one submission and returns a Report.
//   - Slot: one of Options.Parallel lanes of tests. Slot s is pinned to
//     CPU Options.CPUs[s] (cgroup cpuset) and runs the submission as a uid
//     of its own, its checker or interactor as another, compilers as a
//     third: ids reserved from sandbox.UniqueIDs for the judge's life (or
//     UIDBase+s, UIDBase+500+s and UIDBase+999 when Options.UIDBase is
//     set). No two runs alive at once share a uid, across judges too.
//   - Verdict: a test's or a submission's judgement; a test's Status is the
//     runner's status its verdict came from.
//
// # Lifecycle of one submission
//
//  1. The submission (a file, or a directory of files) is copied into a
//     fresh box directory, given to the compile uid, and compiled in a
//     sandbox of its own with CompileLimits, the box at /box writable. A
//     compiler that fails, runs out of time or memory, or writes past its
//     limit gives CE, with its output capped at CompileOutputCap. The box
//     is then given back to root: the tests see it read-only. A language
//     with a cache (Go's build cache) gets a writable directory that
//     outlives the compile, the compile uid's alone, for the judge's
//     lifetime or in Options.CacheDir.
//  2. Each test runs in a fresh sandbox: the profile's isolation (no
//     network, its rlimits), the problem's time, wall, memory and output
//     limits, the slot's CPU and uid, /box read-only, stdin from the
//     test's input, stdout to a file of the judge's (through the output
//     limit's gate), stderr capped. The problem's directory and the judge's
//     working directory are hidden under empty read-only tmpfs mounts
//     wherever the run's root shows them (sandbox.Spec.ShowsHostPath), so
//     a submission cannot read an answer even where the root is the host's;
//     where it does not (a directory under /tmp, or out of the grade root's
//     paths), there is nothing to hide, and no mask, nor its mount point,
//     tells the submission that the directory exists.
//  3. A run that did not end well gets its verdict from the runner's status
//     (TO: TLE, ML: MLE, OL: OLE, RE and SG: RTE, XX: JE). One that did is
//     checked: in process for the built-in checkers, else by the checker
//     program in a sandbox of its own (CheckerLimits, its own uid), with the
//     test's data directory read-only at /judge/data0, the output at
//     /judge/out/output and a writable /judge/feedback/.
//  4. Interactive tests run the submission and the interactor at once, each
//     one's stdout the other's stdin (pipes handed to both sandboxes as
//     they are), the interactor with the time limits plus
//     InteractorMargin; Kattis's first-exit rule decides (see interact),
//     with the order of the ends read from each side's PID 1 exit (a
//     pidfd), not from when Wait returns.
//  5. Without Options.All, no test after the first failing one starts
//     (scoring problems run every test); the submission's verdict is the
//     first failing test's in judging order, AC when there is none.
//     Scores: see Group.
//
// # Invariants
//
//   - A submission never sees the problem's answers, other tests' outputs,
//     or anything of the judge's but its own box, read-only.
//   - Every run is a sandbox.Run; nothing of a test (directory, output,
//     process, cgroup) outlives it, and Close removes the judge's working
//     directory. Kattis feedback directories are kept only where
//     Options.FeedbackDir says.
//   - Judge's error is for the runner's failures (exit status 125 in the
//     CLI) and for bad input (ErrInvalid, exit status 2); every verdict,
//     CE and JE included, is in the Report.
//   - Built-in checkers read at most the output limit of output: the run
//     was killed past it.
package judge
