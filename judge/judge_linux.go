package judge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/isolate"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/profile"
	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// Judge runs submissions over one problem. New compiles the problem's
// checker or interactor once; Judge may then be called for any number of
// submissions, one at a time; Close removes what the judge made.
type Judge struct {
	p    *Problem
	opts Options
	prof *profile.Profile
	work string
	cpus []int
	// masks are host paths a submission must not see (the problem, the
	// judge's working directory): each gets an empty read-only tmpfs.
	masks []string

	checker    *program
	interactor *program
	seq        int
	// ids are the judge's reserved uids: the compiler's, then each
	// slot's submission's, then each slot's checker's.
	ids []*sandbox.ReservedID
}

// program is a built submission, checker or interactor: the host
// directory bound at /box and the command that runs it.
type program struct {
	box  string
	lang *Language
	run  []string
}

// New prepares a judge for p: its working directory, and the checker and
// interactor, compiled. A checker or interactor that does not compile is
// ErrInvalid naming the compiler's output: the problem is broken.
func New(ctx context.Context, p *Problem, opts Options) (_ *Judge, err error) {
	if opts.Languages == nil {
		if opts.Languages, err = LoadLanguages(); err != nil {
			return nil, err
		}
	}
	if opts.Parallel == 0 {
		opts.Parallel = 1
	}
	if opts.Profile == "" {
		opts.Profile = "grade"
	}
	j := &Judge{p: p, opts: opts}
	if opts.UIDBase == 0 {
		// Ids of the judge's own, held while it lives: no other judge,
		// isolate box or grade run of the host shares one.
		if err := j.reserveIDs(); err != nil {
			return nil, err
		}
	}
	if j.prof, err = profile.Load(opts.Profile); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	allowed, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	j.cpus = allowed
	if len(opts.CPUs) > 0 {
		for _, c := range opts.CPUs {
			if !slices.Contains(allowed, c) {
				return nil, fmt.Errorf("%w: CPU %d: this process may use only %v", ErrUnsupported, c, allowed)
			}
		}
		j.cpus = opts.CPUs
	}
	if opts.Parallel < 1 || opts.Parallel > len(j.cpus) {
		return nil, fmt.Errorf("%w: -j %d: each test runs on a CPU of its own, and this process may use %d (%v)",
			ErrUnsupported, opts.Parallel, len(j.cpus), j.cpus)
	}
	if opts.MetaDir != "" {
		if err := os.MkdirAll(opts.MetaDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: --meta-dir: %w", ErrInvalid, err)
		}
	}
	if opts.FeedbackDir != "" {
		if err := os.MkdirAll(opts.FeedbackDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: --feedback-dir: %w", ErrInvalid, err)
		}
	}
	if j.work, err = os.MkdirTemp(opts.TempDir, "sandbox-judge-"); err != nil {
		return nil, fmt.Errorf("making the judge's directory: %w", err)
	}
	defer func() {
		if err != nil {
			j.Close()
		}
	}()
	for _, d := range []string{p.Dir, j.work, opts.MetaDir, opts.FeedbackDir, opts.CacheDir} {
		if d != "" {
			if abs, err := filepath.Abs(d); err == nil {
				j.addMask(abs)
			}
		}
	}
	for _, c := range []struct {
		ch   *Checker
		dst  **program
		role string
	}{{&p.Checker, &j.checker, "checker"}, {p.Interactor, &j.interactor, "interactor"}} {
		if c.ch == nil || !c.ch.External() {
			continue
		}
		lang, err := opts.Languages.Detect(c.ch.Source, "")
		if err != nil {
			return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalid, c.role, c.ch.Source, err)
		}
		prog, run, err := j.build(ctx, c.ch.Source, lang, c.role)
		if err != nil {
			return nil, err
		}
		if run.Status != string(sandbox.StatusOK) {
			return nil, fmt.Errorf("%w: %s %s does not compile (%s): %s", ErrInvalid, c.role, c.ch.Source, run.Message, strings.TrimSpace(run.Output))
		}
		*c.dst = prog
	}
	return j, nil
}

// addMask hides dir from submissions, unless it is hidden already (below
// another mask, where no mount point could be made).
func (j *Judge) addMask(dir string) {
	under := func(d, parent string) bool {
		return d == parent || strings.HasPrefix(d, parent+"/") || parent == "/"
	}
	for _, m := range j.masks {
		if under(dir, m) {
			return
		}
	}
	kept := j.masks[:0]
	for _, m := range j.masks {
		if !under(m, dir) {
			kept = append(kept, m)
		}
	}
	j.masks = append(kept, dir)
}

// reserveIDs takes, from sandbox.UniqueIDs, a uid for each slot's
// submission and checker and one for the compiler.
func (j *Judge) reserveIDs() error {
	for i := 0; i < 2*j.opts.Parallel+1; i++ {
		r, err := sandbox.ReserveID()
		if err != nil {
			j.releaseIDs()
			return fmt.Errorf("reserving the judge's uids: %w", err)
		}
		j.ids = append(j.ids, r)
	}
	return nil
}

func (j *Judge) releaseIDs() {
	for _, r := range j.ids {
		r.Release()
	}
	j.ids = nil
}

// Close removes the judge's working directory and gives its uids back.
func (j *Judge) Close() error {
	j.releaseIDs()
	if j.work == "" {
		return nil
	}
	err := os.RemoveAll(j.work)
	j.work = ""
	return err
}

// Problem returns the problem the judge runs.
func (j *Judge) Problem() *Problem { return j.p }

// onlineCPUs lists the CPUs this process may run on.
func onlineCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the CPU affinity: %w", err)
	}
	var cpus []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// Judge compiles submission (a source file, or a directory of them) and
// runs it over every test. The error is for the runner's own failures;
// every verdict, CE and JE included, is in the Report.
func (j *Judge) Judge(ctx context.Context, submission string) (*Report, error) {
	p := j.p
	rep := &Report{Version: ReportVersion, Tests: []TestResult{},
		Problem: ProblemInfo{Name: p.Name, Dir: p.Dir, Format: p.Format, Type: "pass-fail", Interactive: p.Interactive,
			Checker: p.Checker.String(), TimeMs: msOf(p.Limits.Time), WallMs: msOf(p.Limits.Wall),
			MemoryBytes: p.Limits.Memory, OutputBytes: p.Limits.Output}}
	if p.Scoring {
		rep.Problem.Type = "scoring"
	}
	if p.Interactive {
		rep.Problem.Checker = "interactor " + p.Interactor.String()
	}
	abs, err := filepath.Abs(submission)
	if err != nil || !exists(abs) {
		return nil, fmt.Errorf("%w: submission %s: no such file", ErrInvalid, submission)
	}
	lang, err := j.opts.Languages.Detect(abs, j.opts.Lang)
	if err != nil {
		return nil, err
	}
	rep.Submission = SubmissionInfo{Path: abs, Language: lang.ID}
	if err := lang.Installed(); err != nil {
		return nil, err
	}
	j.seq++
	prog, crun, err := j.build(ctx, abs, lang, fmt.Sprintf("submission-%d", j.seq))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(prog.box))
	rep.Compile = crun
	if crun.Status != string(sandbox.StatusOK) {
		rep.Verdict, rep.Message = CE, crun.Message
		if crun.Output != "" {
			rep.Message += "\n" + crun.Output
		}
		j.score(rep)
		return rep, nil
	}
	results, err := j.runTests(ctx, prog)
	if err != nil {
		return nil, err
	}
	rep.Tests = results
	rep.Verdict = AC
	for _, t := range results {
		rep.MaxCPUMs = max(rep.MaxCPUMs, t.CPUMs)
		if t.Verdict != AC && rep.FailedTest == "" {
			rep.Verdict, rep.FailedTest = t.Verdict, t.Name
			if t.Verdict == JE {
				rep.Message = t.CheckerMessage
			}
		}
	}
	j.score(rep)
	return rep, nil
}

// score fills in the groups' and the submission's scores.
func (j *Judge) score(rep *Report) {
	if !j.p.Scoring {
		return
	}
	byName := map[string]*TestResult{}
	for i := range rep.Tests {
		byName[rep.Tests[i].Name] = &rep.Tests[i]
	}
	var total, maxTotal float64
	for _, g := range j.p.Groups {
		gr := GroupResult{Name: g.Name, Verdict: AC, MaxScore: g.MaxScore()}
		for i, t := range g.Tests {
			var s float64
			tr := byName[t.Name]
			if tr != nil && tr.Score != nil {
				s = *tr.Score
			}
			if tr == nil || tr.Verdict != AC {
				if gr.Verdict == AC {
					gr.Verdict = CE
					if tr != nil {
						gr.Verdict = tr.Verdict
					}
				}
			}
			switch {
			case g.Aggregate != "min":
				gr.Score += s
			case i == 0 || s < gr.Score:
				gr.Score = s
			}
		}
		total += gr.Score
		maxTotal += gr.MaxScore
		rep.Groups = append(rep.Groups, gr)
	}
	rep.Score, rep.MaxScore = &total, &maxTotal
}

// runTests runs the tests on Parallel slots. Without All (and for
// pass-fail problems), no test after the first failure starts.
func (j *Judge) runTests(ctx context.Context, prog *program) ([]TestResult, error) {
	tests := j.p.Tests()
	results := make([]*TestResult, len(tests))
	all := j.opts.All || j.p.Scoring
	var (
		mu       sync.Mutex
		next     int
		stopAt   = len(tests)
		firstErr error
		progMu   sync.Mutex
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(tests) || next > stopAt || firstErr != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	var wg sync.WaitGroup
	for slot := range j.opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				t := tests[i]
				if j.opts.Progress != nil {
					progMu.Lock()
					j.opts.Progress(&TestResult{Name: t.Name, Group: t.Group.Name, index: i}, false)
					progMu.Unlock()
				}
				tr, err := j.runTest(ctx, slot, i, t, prog)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("test %s: %w", t.Name, err)
						cancel()
					}
					mu.Unlock()
					return
				}
				results[i] = tr
				if tr.Verdict != AC && !all && i < stopAt {
					stopAt = i
				}
				mu.Unlock()
				if j.opts.Progress != nil {
					progMu.Lock()
					j.opts.Progress(tr, true)
					progMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	out := []TestResult{}
	for i, r := range results {
		if r != nil && i <= stopAt {
			out = append(out, *r)
		}
	}
	return out, nil
}

// testDir makes the directory of test i's files: out/ holds the
// submission's output (and an interactor's), feedback/ the Kattis
// feedback; with a checker or interactor program, both are its uid's, so
// that it can write there, and the directory is the test's own (fresh:
// remove it after). A built-in checker reads the output from memory
// (solve): there is no directory ("").
func (j *Judge) testDir(i int, checkerUID uint32) (dir string, err error) {
	if j.checker == nil && j.interactor == nil {
		return "", nil
	}
	return j.ownTestDir(i, checkerUID)
}

func (j *Judge) ownTestDir(i int, checkerUID uint32) (dir string, err error) {
	dir = filepath.Join(j.work, "tests", strconv.Itoa(i))
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("making the test's directory: %w", err)
	}
	fb := filepath.Join(dir, "feedback")
	if err := os.Mkdir(fb, 0o755); err != nil {
		return "", fmt.Errorf("making the feedback directory: %w", err)
	}
	for _, d := range []string{fb, out} {
		if err := os.Chown(d, int(checkerUID), int(checkerUID)); err != nil {
			return "", fmt.Errorf("handing the test's directory to the checker: %w", err)
		}
	}
	return dir, nil
}

func (j *Judge) submissionUID(slot int) uint32 {
	if j.ids != nil {
		return j.ids[1+slot].ID()
	}
	return j.opts.UIDBase + uint32(slot)
}

func (j *Judge) checkerUID(slot int) uint32 {
	if j.ids != nil {
		return j.ids[1+j.opts.Parallel+slot].ID()
	}
	return j.opts.UIDBase + 500 + uint32(slot)
}

func (j *Judge) compileUID() uint32 {
	if j.ids != nil {
		return j.ids[0].ID()
	}
	return j.opts.UIDBase + 999
}

// spec is a run's Spec with the profile's isolation: the program's /box
// read-only (or writable, for a compile), the masks, uid, limits and CPU.
func (j *Judge) spec(args []string, box string, boxWritable bool, uid uint32, l limits.Limits, env []string) (*sandbox.Spec, error) {
	s := &sandbox.Spec{RunDir: j.opts.RunDir, CgroupRoot: j.opts.CgroupRoot}
	if err := j.prof.Apply(s); err != nil {
		return nil, err
	}
	s.Args = args
	s.User = &sandbox.User{UID: uid, GID: uid}
	s.Dir = "/box"
	s.Env = append([]string{"PATH=" + SandboxPath, "HOME=/tmp", "LANG=C.UTF-8", "TZ=UTC"}, env...)
	for _, m := range j.masks {
		// A judge's directory under the sandbox's private /tmp, or out of
		// the root's paths, is out of sight already: a mask there would be
		// a mount (and a superblock to tear down) every run for nothing.
		if s.ShowsHostPath(m) {
			s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountTmpfs, Destination: m, ReadOnly: true, Size: 4096})
		}
	}
	s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: box, Destination: "/box", ReadOnly: !boxWritable})
	s.Limits = mergeLimits(s.Limits, l)
	return s, nil
}

// mergeLimits sets over the profile's limits what the run needs; the
// profile's rlimits (core, nofile) stay.
func mergeLimits(base, l limits.Limits) limits.Limits {
	base.CPUTime, base.WallTime, base.Memory, base.OutputLimit = l.CPUTime, l.WallTime, l.Memory, l.OutputLimit
	if l.ExtraTime > 0 || base.ExtraTime > l.CPUTime/2 {
		base.ExtraTime = l.ExtraTime
	}
	if l.Pids != nil {
		base.Pids = l.Pids
	}
	if l.Disk > 0 {
		base.Disk = l.Disk
	}
	if l.Cpuset != "" {
		base.Cpuset = l.Cpuset
	}
	if l.Rlimits.FSize != nil {
		base.Rlimits.FSize = l.Rlimits.FSize
	}
	return base
}

func (r RunLimits) limits() limits.Limits {
	pids := r.Pids
	fsize := limits.Rlimit{Soft: uint64(r.FileSize), Hard: uint64(r.FileSize)}
	return limits.Limits{CPUTime: r.CPU, WallTime: r.Wall, Memory: r.Memory, OutputLimit: r.Output, Pids: &pids,
		Disk: r.Disk, Rlimits: limits.Rlimits{FSize: &fsize}}
}

// build copies src into a fresh /box and compiles it there, in a sandbox
// of its own with CompileLimits. The error is for the runner's failures;
// a compilation error is the Run's status (not OK) and output.
func (j *Judge) build(ctx context.Context, src string, lang *Language, role string) (*program, *Run, error) {
	box := filepath.Join(j.work, role, "box")
	if err := os.MkdirAll(box, 0o755); err != nil {
		return nil, nil, fmt.Errorf("making %s's directory: %w", role, err)
	}
	name, err := copySource(src, box)
	if err != nil {
		return nil, nil, fmt.Errorf("copying %s: %w", role, err)
	}
	vars := map[string]string{"src": "/box/" + name, "exe": "/box/solution", "dir": "/box",
		"main": strings.TrimSuffix(name, filepath.Ext(name)), "memory_mb": memoryMB(j.p.Limits.Memory)}
	prog := &program{box: box, lang: lang, run: expand(lang.Run, vars)}
	if len(lang.Compile) == 0 {
		return prog, &Run{Status: string(sandbox.StatusOK)}, nil
	}
	uid := j.compileUID()
	if err := chownTree(box, int(uid)); err != nil {
		return nil, nil, fmt.Errorf("handing %s's directory to the compiler: %w", role, err)
	}
	s, err := j.spec(expand(lang.Compile, vars), box, true, uid, CompileLimits.limits(), lang.Env)
	if err != nil {
		return nil, nil, err
	}
	if lang.Cache != "" {
		dir, err := j.cacheDir(lang)
		if err != nil {
			return nil, nil, err
		}
		s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: lang.Cache})
	}
	out := &cappedBuffer{max: CompileOutputCap}
	s.IO = sandbox.IO{Stdout: out, Stderr: out}
	res, err := sandbox.Run(ctx, s)
	if err != nil {
		return nil, nil, fmt.Errorf("compiling %s: %w", role, err)
	}
	// The programs are the judge's again: the runs see /box read-only
	// anyway, and nothing of the compiler's uid stays writable.
	if err := chownTree(box, 0); err != nil {
		return nil, nil, fmt.Errorf("taking back %s's directory: %w", role, err)
	}
	run := runOf(res)
	run.Output = out.String()
	switch res.Status {
	case sandbox.StatusOK:
	case sandbox.StatusTime:
		run.Message = "compilation took too long: " + res.Message
	case sandbox.StatusMemory:
		run.Message = "the compiler ran out of memory: " + res.Message
	case sandbox.StatusOutput:
		run.Message = "the compiler's output went over its limit: " + res.Message
	default:
		run.Message = "compilation failed: " + res.Message
	}
	return prog, run, nil
}

// cacheDir is the host directory of lang's compile cache, owned by the
// compile uid (which only compilers run as).
func (j *Judge) cacheDir(lang *Language) (string, error) {
	base := j.opts.CacheDir
	if base == "" {
		base = filepath.Join(j.work, "cache")
	}
	dir := filepath.Join(base, lang.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the %s compile cache: %w", lang.ID, err)
	}
	if err := os.Chown(dir, int(j.compileUID()), int(j.compileUID())); err != nil {
		return "", fmt.Errorf("handing the %s compile cache to the compiler: %w", lang.ID, err)
	}
	return dir, nil
}

func runOf(res *sandbox.Result) *Run {
	return &Run{Status: string(res.Status), ExitCode: res.ExitCode, Signal: res.Signal, CPUMs: msOf(res.CPU),
		WallMs: msOf(res.Wall), MemoryB: res.MemoryPeak, Message: res.Message}
}

// copySource copies a source file, or a directory's regular files, into
// box, readable by all; it returns the name of the file the commands'
// {src} names (the directory's first file of a known extension).
func copySource(src, box string) (string, error) {
	if !isDir(src) {
		return filepath.Base(src), copyFile(src, filepath.Join(box, filepath.Base(src)))
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	first := ""
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(box, e.Name())); err != nil {
			return "", err
		}
		if first == "" && filepath.Ext(e.Name()) != "" && !strings.HasSuffix(e.Name(), ".h") {
			first = e.Name()
		}
	}
	if first == "" {
		return "", fmt.Errorf("%w: %s: no source file in it", ErrInvalid, src)
	}
	return first, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chownTree gives dir and everything below it to uid; symlinks are
// changed themselves, never followed.
func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// testLimits are a test's limits for the submission on slot's CPU.
func (j *Judge) testLimits(slot int, lang *Language) limits.Limits {
	l := j.p.Limits
	pids := int64(0)
	if lang != nil && lang.Pids > 0 {
		pids = lang.Pids
	}
	out := limits.Limits{CPUTime: l.Time, WallTime: l.Wall, Memory: l.Memory, OutputLimit: l.Output,
		Cpuset: strconv.Itoa(j.cpus[slot]), ExtraTime: min(l.Time/5, 200*time.Millisecond)}
	if pids > 0 {
		out.Pids = &pids
	}
	// A file written to /tmp may be as large as the output may.
	fsize := limits.Rlimit{Soft: uint64(max(l.Output, 16<<20)), Hard: uint64(max(l.Output, 16<<20))}
	out.Rlimits.FSize = &fsize
	return out
}

// runTest runs test i on slot: the submission, then the checker; or the
// submission and the interactor together.
func (j *Judge) runTest(ctx context.Context, slot, i int, t *Test, prog *program) (*TestResult, error) {
	dir, err := j.testDir(i, j.checkerUID(slot))
	if err != nil {
		return nil, err
	}
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	tr := &TestResult{Name: t.Name, Group: t.Group.Name, index: i}
	var res *sandbox.Result
	if j.p.Interactive {
		res, err = j.interact(ctx, slot, t, prog, dir, tr)
	} else {
		res, err = j.solve(ctx, slot, t, prog, dir, tr)
	}
	if err != nil {
		return nil, err
	}
	if j.opts.MetaDir != "" {
		// One writer for both: a judge's meta file is what `sandbox isolate
		// --cg -M` writes for the same run.
		meta := filepath.Join(j.opts.MetaDir, metaName(t.Name)+".meta")
		if err := isolate.WriteMetaFile(meta, isolate.MetaFromResult(res, res.CgroupVersion != 0)); err != nil {
			return nil, err
		}
	}
	if j.p.Scoring && tr.Score == nil {
		s := 0.0
		if tr.Verdict == AC {
			s = t.Points
		}
		tr.Score = &s
	}
	if j.opts.FeedbackDir != "" && j.keepsFeedback() {
		dst := filepath.Join(j.opts.FeedbackDir, metaName(t.Name))
		os.RemoveAll(dst)
		if err := os.Rename(filepath.Join(dir, "feedback"), dst); err != nil {
			return nil, fmt.Errorf("keeping the feedback directory: %w", err)
		}
		tr.Feedback = dst
	}
	return tr, nil
}

func (j *Judge) keepsFeedback() bool {
	return (j.checker != nil && j.p.Checker.Kind == CheckKattis) || (j.interactor != nil && j.p.Interactor.Kind == CheckKattis)
}

// metaName is a test's name as a file name.
func metaName(test string) string { return strings.ReplaceAll(test, "/", "_") }

func fill(tr *TestResult, res *sandbox.Result) {
	tr.Status, tr.ExitCode, tr.Signal = string(res.Status), res.ExitCode, res.Signal
	tr.CPUMs, tr.WallMs, tr.MemoryB, tr.Message = msOf(res.CPU), msOf(res.Wall), res.MemoryPeak, res.Message
}

// solve runs the submission on t's input, then judges its output.
func (j *Judge) solve(ctx context.Context, slot int, t *Test, prog *program, dir string, tr *TestResult) (*sandbox.Result, error) {
	in, err := os.Open(t.Input)
	if err != nil {
		return nil, fmt.Errorf("opening the input: %w", err)
	}
	defer in.Close()
	// A checker program reads the output from a file. A built-in one
	// reads it whole, so it is kept in memory: a file of the slot's that
	// each test truncated cost, on ext4, the allocation and write-out of
	// its blocks at every close (auto_da_alloc), and the submission's
	// output is no bigger in memory than the comparison makes it anyway.
	var out *os.File
	var mem *cappedBuffer
	var stdout io.Writer
	if j.p.Checker.External() {
		out, err = os.OpenFile(filepath.Join(dir, "out", "output"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("creating the output file: %w", err)
		}
		defer out.Close()
		// Not the *os.File itself: the output limit's gate counts what passes.
		stdout = struct{ io.Writer }{out}
	} else {
		// The gate stops the output at its limit; one byte more is room to
		// tell a cut from an end.
		mem = &cappedBuffer{max: int(min(j.p.Limits.Output, math.MaxInt32)) + 1}
		stdout = mem
	}
	s, err := j.spec(prog.run, prog.box, false, j.submissionUID(slot), j.testLimits(slot, prog.lang), prog.lang.Env)
	if err != nil {
		return nil, err
	}
	stderr := &cappedBuffer{max: 4 << 10}
	s.IO = sandbox.IO{Stdin: in, Stdout: stdout, Stderr: stderr}
	res, err := sandbox.Run(ctx, s)
	if err != nil {
		return nil, err
	}
	fill(tr, res)
	if tr.Verdict = fromStatus(res.Status); tr.Verdict != "" {
		if tr.Verdict == JE {
			tr.CheckerMessage = "the runner failed: " + res.Message
		}
		return res, nil
	}
	if mem != nil {
		if err := j.compare(t, mem.buf.Bytes(), tr); err != nil {
			return nil, err
		}
		return res, nil
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("writing the output file: %w", err)
	}
	if err := j.check(ctx, slot, t, dir, "output", tr); err != nil {
		return nil, err
	}
	return res, nil
}

// compare judges output with the problem's built-in checker.
func (j *Judge) compare(t *Test, output []byte, tr *TestResult) error {
	answer, err := os.ReadFile(t.Answer)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	tr.Verdict, tr.CheckerMessage = j.p.Checker.compare(output, answer)
	return nil
}

// check judges the output dir/out/name: in process for the built-in
// checkers, in a sandbox for the others.
func (j *Judge) check(ctx context.Context, slot int, t *Test, dir, name string, tr *TestResult) error {
	c := &j.p.Checker
	outPath := filepath.Join(dir, "out", name)
	if !c.External() {
		output, err := os.ReadFile(outPath)
		if err != nil {
			return fmt.Errorf("reading the output: %w", err)
		}
		return j.compare(t, output, tr)
	}
	data := j.dataMounts(t)
	in, ans := data.path(t.Input), data.path(t.Answer)
	var args []string
	var stdin io.Reader
	switch c.Kind {
	case CheckTestlib:
		args = []string{in, "/judge/out/" + name, ans}
	case CheckKattis:
		args = append([]string{in, ans, "/judge/feedback/"}, c.Args...)
		f, err := os.Open(outPath)
		if err != nil {
			return fmt.Errorf("opening the output: %w", err)
		}
		defer f.Close()
		stdin = f
	case CheckCMS:
		args = []string{in, ans, "/judge/out/" + name}
	}
	stdout, stderr := &cappedBuffer{max: 64 << 10}, &cappedBuffer{max: 64 << 10}
	s, err := j.checkerSpec(j.checker, args, slot, dir, data, CheckerLimits.limits())
	if err != nil {
		return err
	}
	s.IO = sandbox.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	res, err := sandbox.Run(ctx, s)
	if err != nil {
		return fmt.Errorf("running the checker: %w", err)
	}
	tr.Checker = runOf(res)
	tr.Checker.Output = strings.TrimSpace(stderr.String() + "\n" + stdout.String())
	tr.Verdict, tr.CheckerMessage, tr.Score = j.checkerVerdict(c, res, stdout.String(), stderr.String(), dir, t)
	return nil
}

// checkerVerdict reads a checker's (or interactor's) verdict from how it
// ended, by its kind's rules; score is set when the checker gave one.
func (j *Judge) checkerVerdict(c *Checker, res *sandbox.Result, stdout, stderr, dir string, t *Test) (Verdict, string, *float64) {
	if res.Status != sandbox.StatusOK && res.Status != sandbox.StatusRuntime {
		return JE, fmt.Sprintf("the %s did not end well: %s", c.role(), res.Message), nil
	}
	code := res.ExitCode
	switch c.Kind {
	case CheckKattis:
		msg := readSmall(filepath.Join(dir, "feedback", "judgemessage.txt"))
		if msg == "" {
			msg = strings.TrimSpace(stderr)
		}
		var score *float64
		if s := readSmall(filepath.Join(dir, "feedback", "score.txt")); s != "" && j.p.Scoring {
			if v, ok := firstNumber(s); ok {
				score = &v
			}
		}
		switch code {
		case 42:
			return AC, msg, score
		case 43:
			zero := 0.0
			if j.p.Scoring {
				score = &zero
			}
			return WA, msg, score
		}
		return JE, fmt.Sprintf("the %s exited with %d (want 42 or 43): %s", c.role(), code, msg), nil
	case CheckTestlib:
		msg := strings.TrimSpace(stderr)
		v, points, ok := testlibVerdict(c.Flavour, code)
		if !ok {
			return JE, fmt.Sprintf("the %s exited with %d, not a testlib (%s) code: %s", c.role(), code, c.flavour(), msg), nil
		}
		if v == JE {
			return JE, "the " + c.role() + " failed: " + msg, nil
		}
		if points {
			if p, ok := firstNumber(msg); ok {
				return v, msg, &p
			}
			return JE, "the " + c.role() + " gave points, but no number in its message: " + msg, nil
		}
		return v, msg, nil
	case CheckCMS:
		msg := strings.TrimSpace(stderr)
		if code != 0 {
			return JE, fmt.Sprintf("the %s exited with %d: %s", c.role(), code, msg), nil
		}
		f, ok := firstNumber(stdout)
		if !ok || f < 0 || f > 1 {
			return JE, fmt.Sprintf("the %s printed %q, not a score from 0 to 1", c.role(), strings.TrimSpace(stdout)), nil
		}
		s := f * t.Points
		if f >= 1 {
			return AC, msg, &s
		}
		return WA, msg, &s
	}
	return JE, "unknown checker kind " + string(c.Kind), nil
}

func (c *Checker) role() string {
	if c.isInteractor {
		return "interactor"
	}
	return "checker"
}

func (c *Checker) flavour() string {
	if c.Flavour == "" {
		return FlavourTestlib
	}
	return c.Flavour
}

// dataMounts binds the directories of a test's input and answer read-only
// at /judge/data0, /judge/data1: the checker reads them where they are.
type dataMounts struct{ dirs []string }

func (j *Judge) dataMounts(t *Test) *dataMounts {
	d := &dataMounts{}
	for _, f := range []string{t.Input, t.Answer} {
		if f == "" {
			continue
		}
		dir := filepath.Dir(f)
		found := false
		for _, e := range d.dirs {
			found = found || e == dir
		}
		if !found {
			d.dirs = append(d.dirs, dir)
		}
	}
	return d
}

func (d *dataMounts) path(f string) string {
	if f == "" {
		return "/dev/null"
	}
	for i, dir := range d.dirs {
		if filepath.Dir(f) == dir {
			return fmt.Sprintf("/judge/data%d/%s", i, filepath.Base(f))
		}
	}
	return "/dev/null"
}

// checkerSpec is the Spec of a checker or interactor run: its program at
// /box, the test's data, out/ and feedback/ under /judge.
func (j *Judge) checkerSpec(prog *program, args []string, slot int, dir string, data *dataMounts, l limits.Limits) (*sandbox.Spec, error) {
	l.Cpuset = strconv.Itoa(j.cpus[slot])
	s, err := j.spec(append(append([]string{}, prog.run...), args...), prog.box, false, j.checkerUID(slot), l, prog.lang.Env)
	if err != nil {
		return nil, err
	}
	for i, d := range data.dirs {
		s.Mounts = append(s.Mounts, sandbox.Mount{Type: sandbox.MountBind, Source: d, Destination: fmt.Sprintf("/judge/data%d", i), ReadOnly: true})
	}
	s.Mounts = append(s.Mounts,
		sandbox.Mount{Type: sandbox.MountBind, Source: filepath.Join(dir, "out"), Destination: "/judge/out"},
		sandbox.Mount{Type: sandbox.MountBind, Source: filepath.Join(dir, "feedback"), Destination: "/judge/feedback"})
	return s, nil
}

// readSmall reads the start of a small text file, "" if there is none.
func readSmall(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	return strings.TrimSpace(string(b))
}

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	dropped int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - b.buf.Len()
	if room >= len(p) {
		return b.buf.Write(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if b.dropped > 0 {
		s += fmt.Sprintf("\n[%d more bytes not shown]", b.dropped)
	}
	return s
}
