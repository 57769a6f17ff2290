package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/judge"
	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/term"
)

const judgeUsage = `Usage: sandbox judge [flags] PROBLEM SUBMISSION
       sandbox judge --verify [flags] PROBLEM

Compiles SUBMISSION (a source file, or a directory of them) in a sandbox of
its own and runs it over every test of PROBLEM, each test in a fresh sandbox
with the grade profile's isolation and the problem's limits, then checks the
output. PROBLEM is an ICPC/Kattis package (problem.yaml), a Polygon-style
directory (tests/NN and tests/NN.a) or a plain directory of *.in and *.ans
(or *.out) files, with limits from flags or problem.toml.

Verdicts (CLICS): AC WA PE TLE MLE OLE RTE CE JE. The submission's verdict is
the first failing test's; a table of the tests, then the verdict, go to
stdout (--json: one JSON object instead).

Exit status: 0 AC, 1 any other verdict, 2 bad usage (flags, a problem or
submission that cannot be read), 125 the runner failed or cannot do what was
asked here (-j beyond the CPUs, a compiler not installed).

Flags:
  --lang ID            the submission's language (default: from its extension)
  --languages FILE     a TOML table of languages added over the built-in ones
                       ('sandbox judge --show-languages' prints those)
  -j N                 run N tests at once, each pinned to a CPU of its own
  --all                run every test, not only up to the first failure
  --json               print the report as JSON (schema in the README)
  --time DUR           CPU time limit per test (overrides the problem's)
  --wall-time DUR      wall-clock limit per test (default 2 x time + 1s)
  --memory SIZE        memory limit per test
  --output-limit SIZE  output limit per test
  --checker SPEC       exact, tokens, floats[:ABS[:REL]], testlib:FILE,
                       testlib-ejudge:FILE, testlib-contester:FILE,
                       kattis:FILE, cms:FILE
  --config FILE        a plain problem's TOML (default PROBLEM/problem.toml)
  --meta-dir DIR       write an isolate-format meta file per test (NAME.meta)
  --feedback-dir DIR   keep each test's Kattis feedback directory here
  --profile NAME|FILE  the isolation each run starts from (default grade)
  --cache-dir DIR      keep compile caches (Go's) here between judges
  --uid-base N         first uid of the runs: submissions N+slot, checkers
                       N+500+slot, compilers N+999 (default: ids reserved
                       for this judge, which no other judge or run shares)
  --verify             run every submission under PROBLEM/submissions/ and
                       check each gets a verdict its folder allows
  -q                   no live lines on a terminal
  --run-dir DIR, --cgroup-root PATH   as for 'sandbox exec'

Examples:
  sandbox judge problems/aplusb solution.c
  sandbox judge -j 2 --json problems/aplusb solution.py | jq .verdict
  sandbox judge --time 2s --checker floats:1e-6 ./tests sol.cpp
  sandbox judge --verify problems/aplusb
`

// Exit statuses of `sandbox judge`.
const (
	judgeExitAC      = 0
	judgeExitVerdict = 1
	judgeExitUsage   = 2
	judgeExitRunner  = 125
)

func init() {
	commands["judge"] = &command{summary: "grade a submission over a problem's tests", usage: text(judgeUsage), run: runJudge}
}

type judgeFlags struct {
	lang, languages, checker, config, metaDir, feedbackDir, profile string
	cacheDir                                                        string
	runDir, cgroupRoot                                              string
	time, wall, memory, output                                      string
	parallel                                                        int
	uidBase                                                         uint
	all, jsonOut, verify, quiet, showLanguages                      bool
}

func (f *judgeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.lang, "lang", "", "")
	fs.StringVar(&f.languages, "languages", "", "")
	fs.StringVar(&f.checker, "checker", "", "")
	fs.StringVar(&f.config, "config", "", "")
	fs.StringVar(&f.metaDir, "meta-dir", "", "")
	fs.StringVar(&f.feedbackDir, "feedback-dir", "", "")
	fs.StringVar(&f.profile, "profile", "", "")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "")
	fs.StringVar(&f.runDir, "run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	fs.StringVar(&f.cgroupRoot, "cgroup-root", os.Getenv("SANDBOX_CGROUP_ROOT"), "")
	fs.StringVar(&f.time, "time", "", "")
	fs.StringVar(&f.wall, "wall-time", "", "")
	fs.StringVar(&f.memory, "memory", "", "")
	fs.StringVar(&f.output, "output-limit", "", "")
	fs.IntVar(&f.parallel, "j", 1, "")
	fs.UintVar(&f.uidBase, "uid-base", 0, "")
	fs.BoolVar(&f.all, "all", false, "")
	fs.BoolVar(&f.jsonOut, "json", false, "")
	fs.BoolVar(&f.verify, "verify", false, "")
	fs.BoolVar(&f.quiet, "q", false, "")
	fs.BoolVar(&f.showLanguages, "show-languages", false, "")
}

// parseInterleaved parses flags wherever they are among the positional
// arguments (as `sandbox judge PROBLEM SUB --json` is written).
func parseInterleaved(fs *flag.FlagSet, args []string, io stdio) (pos []string, code int, done bool) {
	for {
		if code, done := parseFlags(fs, args, commands["judge"].usage, io); done {
			if code != 0 {
				code = judgeExitUsage
			}
			return nil, code, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func runJudge(args []string, io stdio) int {
	var f judgeFlags
	fs := newFlagSet("judge", io)
	f.register(fs)
	pos, code, done := parseInterleaved(fs, args, io)
	if done {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(io.err, "sandbox judge: "+format+" (see 'sandbox judge --help')\n", a...)
		return judgeExitUsage
	}
	if f.showLanguages {
		io.out.Write(judge.BuiltinLanguages())
		return 0
	}
	switch {
	case f.verify && len(pos) != 1:
		return usageErr("--verify wants one argument, PROBLEM; got %d", len(pos))
	case !f.verify && len(pos) != 2:
		return usageErr("want PROBLEM and SUBMISSION; got %d arguments", len(pos))
	case f.parallel < 1:
		return usageErr("-j %d: want a number >= 1", f.parallel)
	case f.uidBase > 1<<31:
		return usageErr("--uid-base %d: want a uid from 1 to 2^31", f.uidBase)
	}
	lo := judge.LoadOptions{Checker: f.checker, Config: f.config}
	var l limits.Limits
	for _, s := range []struct{ flag, limit, v string }{
		{"time", "cpu-time", f.time}, {"wall-time", "wall-time", f.wall},
		{"memory", "memory", f.memory}, {"output-limit", "output-limit", f.output},
	} {
		if s.v == "" {
			continue
		}
		if err := l.Set(s.limit, s.v); err != nil {
			var fe *limits.FlagError
			if errors.As(err, &fe) {
				return usageErr("invalid --%s %s: %s", s.flag, fe.Value, fe.Reason)
			}
			return usageErr("--%s: %v", s.flag, err)
		}
	}
	lo.Time, lo.Wall, lo.Memory, lo.Output = l.CPUTime, l.WallTime, l.Memory, l.OutputLimit

	fail := func(err error) int {
		fmt.Fprintf(io.err, "sandbox judge: %v\n", err)
		if errors.Is(err, judge.ErrInvalid) {
			return judgeExitUsage
		}
		return judgeExitRunner
	}
	p, err := judge.Load(pos[0], lo)
	if err != nil {
		return fail(err)
	}
	var langFiles []string
	if f.languages != "" {
		langFiles = append(langFiles, f.languages)
	}
	langs, err := judge.LoadLanguages(langFiles...)
	if err != nil {
		return fail(err)
	}
	if f.lang != "" {
		if _, ok := langs[f.lang]; !ok {
			return usageErr("--lang %q: unknown language (known: %s)", f.lang, strings.Join(langs.IDs(), ", "))
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(io.err, "sandbox judge: needs root: each test runs as a uid of its own (no rootless mode yet)")
		return judgeExitRunner
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	live := !f.quiet && isTerminal(io.err)
	opts := judge.Options{Languages: langs, Lang: f.lang, Parallel: f.parallel, All: f.all, Profile: f.profile,
		UIDBase: uint32(f.uidBase), MetaDir: f.metaDir, FeedbackDir: f.feedbackDir, CacheDir: f.cacheDir, RunDir: f.runDir, CgroupRoot: f.cgroupRoot}
	if live {
		opts.Progress = liveLine(io)
	}
	j, err := judge.New(ctx, p, opts)
	if err != nil {
		return fail(err)
	}
	defer j.Close()

	if f.verify {
		return runVerify(ctx, j, f, io, live)
	}
	rep, err := j.Judge(ctx, pos[1])
	if live {
		fmt.Fprint(io.err, "\r\033[K")
	}
	if err != nil {
		return fail(err)
	}
	if f.jsonOut {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(err)
		}
	} else if err := rep.WriteTable(io.out); err != nil {
		return fail(err)
	}
	if rep.Verdict == judge.AC {
		return judgeExitAC
	}
	return judgeExitVerdict
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// liveLine prints, on a terminal, a line per test as it ends, and below
// them a status line naming the tests running now.
func liveLine(io stdio) func(t *judge.TestResult, done bool) {
	running := map[string]bool{}
	var order []string
	finished := 0
	return func(t *judge.TestResult, done bool) {
		fmt.Fprint(io.err, "\r\033[K")
		if done {
			delete(running, t.Name)
			finished++
			fmt.Fprintln(io.err, t.Line())
		} else {
			running[t.Name] = true
			order = append(order, t.Name)
		}
		var now []string
		for _, n := range order {
			if running[n] {
				now = append(now, n)
			}
		}
		if len(now) > 0 {
			fmt.Fprintf(io.err, "[%d done] running %s", finished, strings.Join(now, ", "))
		}
	}
}

func runVerify(ctx context.Context, j *judge.Judge, f judgeFlags, io stdio, live bool) int {
	vr, err := judge.Verify(ctx, j, func(s judge.VerifiedSubmission) {
		if live {
			fmt.Fprint(io.err, "\r\033[K")
		}
		if !f.jsonOut {
			fmt.Fprintln(io.out, s.Line())
		}
	})
	if live {
		fmt.Fprint(io.err, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox judge: %v\n", err)
		if errors.Is(err, judge.ErrInvalid) {
			return judgeExitUsage
		}
		return judgeExitRunner
	}
	if f.jsonOut {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(vr); err != nil {
			fmt.Fprintf(io.err, "sandbox judge: %v\n", err)
			return judgeExitRunner
		}
	} else {
		fmt.Fprintln(io.out, vr.Summary())
	}
	if vr.OK {
		return judgeExitAC
	}
	return judgeExitVerdict
}
