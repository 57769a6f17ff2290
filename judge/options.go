package judge

import "time"

// Options are how a Judge runs, beyond what the problem says.
type Options struct {
	Languages Languages // nil: the built-in table
	// Lang forces a language id; empty detects it from the file's extension.
	Lang string
	// Parallel is how many tests run at once, each pinned to a CPU of its
	// own; 0 means 1.
	Parallel int
	// CPUs are the CPUs slot 0, 1, ... are pinned to; empty means every
	// CPU this process may run on, in order.
	CPUs []int
	// All runs every test, not only up to the first that fails.
	All bool
	// Profile is the profile each run's isolation comes from; empty means
	// the built-in "grade".
	Profile string
	// UIDBase, when set, is the first of the uids the judge's runs get:
	// slot s's submission runs as UIDBase+s, its checker or interactor as
	// UIDBase+500+s, compilers as UIDBase+999; judges running at the same
	// time on one host then need bases of their own. 0 (the default)
	// reserves ids of sandbox.UniqueIDs instead, held while the judge
	// lives, which no other judge, isolate box or grade run shares.
	UIDBase uint32
	// MetaDir, when set, gets an isolate-format meta file per test
	// (NAME.meta, with "/" in the test's name as "_").
	MetaDir string
	// FeedbackDir, when set, keeps each test's Kattis feedback directory
	// (FeedbackDir/NAME/); else the feedback is read and thrown away.
	FeedbackDir string
	// CacheDir keeps the languages' compile caches (CacheDir/LANG) between
	// judges; empty means a cache for this judge's compiles alone.
	CacheDir string
	// RunDir and CgroupRoot are passed to every sandbox.Spec.
	RunDir, CgroupRoot string
	// TempDir is where the judge's working directory is made; "" is
	// os.TempDir().
	TempDir string
	// Progress, when set, is called as each test starts (done false) and
	// ends (done true), from the goroutine that ran it, one call at a time.
	Progress func(t *TestResult, done bool)
}

// Limits of the judge's own runs: compiles, checkers and interactors.
var (
	CompileLimits = RunLimits{CPU: 60 * time.Second, Wall: 120 * time.Second, Memory: 2 << 30, Pids: 256, Output: 1 << 20, FileSize: 512 << 20, Disk: 1 << 30}
	CheckerLimits = RunLimits{CPU: 10 * time.Second, Wall: 20 * time.Second, Memory: 1 << 30, Pids: 64, Output: 1 << 20, FileSize: 64 << 20, Disk: 256 << 20}
	// InteractorMargin is what the interactor gets on top of the
	// submission's time limits, so that it does not race the submission.
	InteractorMargin = time.Second
	// CompileOutputCap is how much of a compiler's output CE reports.
	CompileOutputCap = 64 << 10
)

// RunLimits are the limits of one of the judge's own runs.
type RunLimits struct {
	CPU, Wall                      time.Duration
	Memory, Output, FileSize, Disk int64
	Pids                           int64
}
