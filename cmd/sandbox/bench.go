package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/bench"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

const benchUsage = `Usage:
  sandbox bench [flags]                      run the standard suite
  sandbox bench [flags] -- CMD [ARGS...]     time CMD in identical fresh sandboxes
  sandbox bench compare [flags] OLD.json NEW.json

The suite measures what isolation costs on this machine, side by side:
  startup     a throwaway /bin/true: bare fork/exec, sandbox (CLI and Go API),
              bwrap, runc, crun, podman, and a VM (qemu, KVM when it works)
  throughput  sandboxes completed per second at concurrency 1, 2, 4, 8
  clone       a writable root from a 100 MB and a 1 GB tree: snapshot vs cp -a
              (and cp --reflink where the filesystem has reflinks)
  io          fsync'd sequential writes and random 4 KiB I/O on the overlay
              upper (tmpfs and disk) and on a bind mount, against the host
  memory      resident memory per idle sandbox, with 100 of them alive
  limits      how far from the limit the CPU-time and wall-time kills land
  judge       sandbox judge's cost per test (an a+b problem, 100 tests) against
              one bwrap start
Each backend is warmed up, then run in interleaved rounds (A B C A B C ...);
the number of runs follows from the time budget. A backend missing on this
host is reported as skipped, one that fails as failed, with its error
('make bench-deps' installs them all from Debian). Needs root.

Suite flags:
  -s, --scenario LIST   scenarios to run, comma-separated (default: all)
  --backend LIST        only these backends, comma-separated ("podman*" for a prefix)
  --require LIST        exit with status 1 if one of these backends is skipped or
                        failed (e.g. "sandbox*,snapshot" in CI)
  --budget DURATION     time for the measured rounds of all scenarios (default 6m)
  --smoke               the short version, for CI: small trees, few runs
  --warmup N            untimed runs of each backend first (default 2)
  --min-n N, --max-n N  bounds on the runs per backend (default 5, 300)
  --tmp DIR             where trees and disk-backed files go (default /var/tmp)
  --cgroup-root PATH    cgroups of the runs (default /sandbox-bench)
  --io-driver NAME      auto (fio when installed), fio or builtin (default auto)
  --idle N              idle sandboxes of the memory scenario (default 100)
  --kvm-timeout D       give up on a KVM guest after D and use TCG (default 10s)

Command flags (with -- CMD):
  --profile NAME|FILE   and every other 'sandbox exec' flag (-v, -w, -e,
                        --root, --memory, ...), but --json and --report
  --save NAME           keep this run as baseline NAME
  --against NAME        compare with baseline NAME; exit status 1 on a regression
  --baseline-dir DIR    where baselines live (default $SANDBOX_BENCH_DIR, else
                        ~/.local/share/sandbox/bench); a NAME with a slash or
                        ending in .json is a file path
  --show-output         pass CMD's output through (default: dropped)

Common flags:
  -n N                  runs of each backend (suite: instead of the budget;
                        command: default 30)
  --json FILE           write the report as JSON ("-" for stdout)
  --markdown FILE       write the report as Markdown tables ("-" for stdout)
  --chart FILE          write box plots per scenario as SVG
  --threshold P         a significant change beyond P is a regression (default 5%)
  --alpha A             significance level of the Mann-Whitney U test (default 0.05)
  -q, --quiet           no progress display (default: a live bar on a terminal,
                        one line per phase otherwise)

'bench compare' prints, per metric, the old and new medians and the change,
or "~" where a Mann-Whitney U test finds no significant difference (as
benchstat does), and exits with status 1 if a metric got worse beyond
--threshold: for CI.

Examples:
  sandbox bench --json bench.json --chart bench.svg
  sandbox bench -s startup,clone --backend bare,sandbox,bwrap -n 100
  sandbox bench -n 30 --profile build -v "$PWD:/src" -w /src --save main -- make
  sandbox bench -n 30 --profile build -v "$PWD:/src" -w /src --against main -- make
  sandbox bench compare old.json new.json
`

func init() {
	commands["bench"] = &command{
		summary: "measure what isolation costs, or time a command in sandboxes",
		usage:   text(benchUsage),
		run:     runBench,
	}
}

// benchFlags are the flags of `sandbox bench` in both of its modes.
type benchFlags struct {
	scenarios, backends, require      stringList
	budget, kvmTimeout                time.Duration
	smoke, quiet, showOutput          bool
	n, warmup, minN, maxN, idle       int
	tmp, cgroupRoot, ioDriver         string
	jsonFile, markdownFile, chartFile string
	save, against, baselineDir        string
	threshold                         string
	alpha                             float64
}

// suiteOnly and commandOnly are the flags that make sense in one mode.
var (
	benchSuiteOnly   = []string{"scenario", "s", "backend", "require", "budget", "smoke", "min-n", "max-n", "tmp", "cgroup-root", "io-driver", "idle", "kvm-timeout"}
	benchCommandOnly = []string{"save", "against", "baseline-dir", "show-output"}
)

// execFlagsSkipped are exec's flags that bench leaves out: its own --json
// takes a file, and a benchmark has no use for a terminal or extra fds.
var execFlagsSkipped = map[string]bool{"json": true, "report": true, "tty": true, "t": true, "preserve-fds": true, "cgroup-root": true}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.scenarios, "scenario", "")
	fs.Var(&f.scenarios, "s", "")
	fs.Var(&f.backends, "backend", "")
	fs.Var(&f.require, "require", "")
	fs.DurationVar(&f.budget, "budget", 0, "")
	fs.BoolVar(&f.smoke, "smoke", false, "")
	fs.IntVar(&f.n, "n", 0, "")
	fs.IntVar(&f.warmup, "warmup", -1, "")
	fs.IntVar(&f.minN, "min-n", 0, "")
	fs.IntVar(&f.maxN, "max-n", 0, "")
	fs.StringVar(&f.tmp, "tmp", "", "")
	fs.StringVar(&f.cgroupRoot, "cgroup-root", "", "")
	fs.StringVar(&f.ioDriver, "io-driver", "", "")
	fs.IntVar(&f.idle, "idle", 0, "")
	fs.DurationVar(&f.kvmTimeout, "kvm-timeout", 0, "")
	fs.StringVar(&f.jsonFile, "json", "", "")
	fs.StringVar(&f.markdownFile, "markdown", "", "")
	fs.StringVar(&f.chartFile, "chart", "", "")
	fs.StringVar(&f.save, "save", "", "")
	fs.StringVar(&f.against, "against", "", "")
	fs.StringVar(&f.baselineDir, "baseline-dir", "", "")
	fs.BoolVar(&f.showOutput, "show-output", false, "")
	fs.StringVar(&f.threshold, "threshold", "5%", "")
	fs.Float64Var(&f.alpha, "alpha", bench.DefaultCompareOptions.Alpha, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	fs.BoolVar(&f.quiet, "q", false, "")
}

func runBench(args []string, io stdio) int {
	if len(args) > 0 {
		switch args[0] {
		case "compare":
			return runBenchCompare(args[1:], io)
		case "io-driver": // run by the io scenario inside sandboxes; not for people
			return bench.IODriverMain(args[1:], io.out, io.err)
		}
	}
	var f benchFlags
	var ef execFlags
	fs := newFlagSet("bench", io)
	f.register(fs)
	// exec's flags too, for the command mode: the same names, values and
	// profile handling as 'sandbox exec'.
	execFS := flag.NewFlagSet("exec", flag.ContinueOnError)
	ef.register(execFS)
	execNames := map[string]bool{}
	execFS.VisitAll(func(fl *flag.Flag) {
		if !execFlagsSkipped[fl.Name] && fs.Lookup(fl.Name) == nil {
			fs.Var(fl.Value, fl.Name, fl.Usage)
			execNames[fl.Name] = true
		}
	})
	if code, done := parseFlags(fs, args, text(benchUsage), io); done {
		return code
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	commandMode := fs.NArg() > 0
	misplaced := func(names []string, set map[string]bool, where string) int {
		for n := range given {
			if set[n] || contains(names, n) {
				fmt.Fprintf(io.err, "sandbox bench: --%s applies %s (see 'sandbox bench --help')\n", n, where)
				return exitUsage
			}
		}
		return 0
	}
	threshold, err := bench.ParseThreshold(f.threshold)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox bench: %v\n", err)
		return exitUsage
	}
	copts := bench.CompareOptions{Alpha: f.alpha, Threshold: threshold}
	if f.alpha <= 0 || f.alpha >= 1 {
		fmt.Fprintf(io.err, "sandbox bench: --alpha %g: want a level between 0 and 1, e.g. 0.05\n", f.alpha)
		return exitUsage
	}
	if f.n < 0 {
		fmt.Fprintf(io.err, "sandbox bench: -n %d: must not be negative\n", f.n)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer stop()
	if commandMode {
		if code := misplaced(benchSuiteOnly, nil, "to the suite, not to a command"); code != 0 {
			return code
		}
		return benchCommand(ctx, fs, &f, &ef, copts, io)
	}
	if code := misplaced(benchCommandOnly, execNames, "to a command (sandbox bench [flags] -- CMD)"); code != 0 {
		return code
	}
	return benchSuite(ctx, &f, copts, io)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// splitList flattens repeated, comma-separated values.
func splitList(l stringList) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// progressFor is a live bar when w is a terminal, one line per phase
// otherwise, or nothing.
func progressFor(w io.Writer, quiet bool) bench.Progress {
	if quiet {
		return nil
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			width = 80
		}
		return bench.NewBar(f, width)
	}
	return bench.Lines{W: w}
}

func benchSuite(ctx context.Context, f *benchFlags, copts bench.CompareOptions, io stdio) int {
	cfg := bench.Config{
		Scenarios: splitList(f.scenarios), Backends: splitList(f.backends), Budget: f.budget, Smoke: f.smoke,
		N: f.n, MinN: f.minN, MaxN: f.maxN, TempDir: f.tmp, CgroupRoot: f.cgroupRoot, IODriver: f.ioDriver,
		Idle: f.idle, KVMTimeout: f.kvmTimeout, Progress: progressFor(io.err, f.quiet),
	}
	if f.warmup == 0 {
		cfg.Warmup = -1 // bench.Config's zero means the default
	} else if f.warmup > 0 {
		cfg.Warmup = f.warmup
	}
	if f.tmp != "" {
		abs, err := filepath.Abs(f.tmp)
		if err != nil {
			fmt.Fprintf(io.err, "sandbox bench: --tmp: %v\n", err)
			return exitUsage
		}
		cfg.TempDir = abs
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	if code := writeBenchOutputs(rep, f, io); code != 0 {
		return code
	}
	// Backends that must work: a broken sandbox fails CI's smoke run,
	// while crun refusing this host's cgroups does not.
	want := bench.Config{Backends: splitList(f.require)}
	bad := 0
	for _, r := range rep.Results {
		if len(want.Backends) > 0 && want.WantsBackend(r.Backend) && !r.OK() {
			fmt.Fprintf(io.err, "sandbox bench: required backend %s %s in %s: %s\n", r.Backend, r.Status, r.Key(), r.Error)
			bad++
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// writeBenchOutputs prints the table and writes the files asked for.
func writeBenchOutputs(rep *bench.Report, f *benchFlags, std stdio) int {
	toStdout := f.jsonFile == "-" || f.markdownFile == "-"
	if !toStdout {
		bench.WriteTable(std.out, rep)
	}
	write := func(path string, w func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		if path == "-" {
			return w(std.out)
		}
		return bench.WriteFile(path, w)
	}
	for _, o := range []struct {
		path string
		w    func(io.Writer) error
	}{
		{f.jsonFile, rep.WriteJSON},
		{f.markdownFile, func(w io.Writer) error { return bench.WriteMarkdown(w, rep) }},
		{f.chartFile, func(w io.Writer) error { return bench.WriteSVG(w, rep) }},
	} {
		if err := write(o.path, o.w); err != nil {
			fmt.Fprintf(std.err, "sandbox: writing %s: %v\n", o.path, err)
			return exitUsage
		}
	}
	return 0
}

func benchCommand(ctx context.Context, fs *flag.FlagSet, f *benchFlags, ef *execFlags, copts bench.CompareOptions, io stdio) int {
	spec, err := ef.resolve(fs, os.Environ())
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	dir := f.baselineDir
	if dir == "" {
		dir = bench.BaselineDir()
	}
	// A missing baseline is found before the runs, not after them.
	var old *bench.Report
	if f.against != "" {
		if old, err = bench.LoadBaseline(dir, f.against); err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
	}
	if f.save != "" {
		if _, err := bench.BaselinePath(dir, f.save); err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
	}
	cfg := bench.CommandConfig{Spec: *spec, N: f.n, Warmup: 1, Progress: progressFor(io.err, f.quiet)}
	if f.warmup >= 0 {
		cfg.Warmup = f.warmup
	}
	if f.showOutput {
		cfg.Output = io.err
	}
	rep, err := bench.RunCommand(ctx, cfg)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	if code := writeBenchOutputs(rep, f, io); code != 0 {
		return code
	}
	if f.save != "" {
		path, err := bench.SaveBaseline(dir, f.save, rep)
		if err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(io.err, "saved baseline %s (%s)\n", f.save, path)
	}
	if old != nil {
		fmt.Fprintf(io.out, "\nAgainst baseline %s (%s):\n", f.against, old.Started.Format(time.RFC3339))
		ds := bench.Compare(old, rep, copts)
		bench.WriteCompare(io.out, ds, copts)
		if bench.Regressions(ds) > 0 {
			return 1
		}
	}
	return 0
}

const benchCompareUsage = `Usage: sandbox bench compare [--threshold P] [--alpha A] [--json FILE] OLD.json NEW.json

Compares two reports of 'sandbox bench --json' (suite or command runs), per
metric: the old and new medians, and the change of the median, or "~" when a
Mann-Whitney U test finds no significant difference at --alpha (as benchstat
does). Exits with status 1 when a metric got worse, significantly and by more
than --threshold (time and memory up, throughput down); 0 otherwise; 125 on
bad input.

Flags:
  --threshold P   relative change beyond which a regression fails (default 5%)
  --alpha A       significance level (default 0.05)
  --json FILE     also write the comparison as JSON ("-" for stdout)

Example:
  sandbox bench compare main.json pr.json || echo "performance regression"
`

func runBenchCompare(args []string, io stdio) int {
	fs := newFlagSet("bench compare", io)
	threshold := fs.String("threshold", "5%", "")
	alpha := fs.Float64("alpha", bench.DefaultCompareOptions.Alpha, "")
	jsonFile := fs.String("json", "", "")
	if code, done := parseFlags(fs, args, text(benchCompareUsage), io); done {
		return code
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(io.err, "sandbox bench compare: want OLD.json and NEW.json, got %d argument(s) (see 'sandbox bench compare --help')\n", fs.NArg())
		return exitUsage
	}
	t, err := bench.ParseThreshold(*threshold)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox bench compare: %v\n", err)
		return exitUsage
	}
	if *alpha <= 0 || *alpha >= 1 {
		fmt.Fprintf(io.err, "sandbox bench compare: --alpha %g: want a level between 0 and 1, e.g. 0.05\n", *alpha)
		return exitUsage
	}
	opts := bench.CompareOptions{Alpha: *alpha, Threshold: t}
	var reps [2]*bench.Report
	for i, path := range fs.Args() {
		if reps[i], err = bench.ReadReport(path); err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
	}
	ds := bench.Compare(reps[0], reps[1], opts)
	if *jsonFile != "-" {
		bench.WriteCompare(io.out, ds, opts)
	}
	if *jsonFile != "" {
		err := writeJSONTo(*jsonFile, ds, io)
		if err != nil {
			fmt.Fprintf(io.err, "sandbox: writing %s: %v\n", *jsonFile, err)
			return exitUsage
		}
	}
	if bench.Regressions(ds) > 0 {
		return 1
	}
	return 0
}

func writeJSONTo(path string, v any, std stdio) error {
	w := func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if path == "-" {
		return w(std.out)
	}
	return bench.WriteFile(path, w)
}
