package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/repro"
	"golang.org/x/term"
)

// Exit statuses of sandbox repro, as reprotest's.
const (
	reproSame      = 0
	reproDiffers   = 1
	reproBadUsage  = 2
	reproRunnerErr = 125
)

const reproUsage = `Usage: sandbox repro [flags] [--artifacts GLOB]... -- BUILD...

Checks that BUILD is reproducible: builds the source tree (the current
directory, or --source DIR) in a control sandbox and in an experiment that
varies everything below, each on its own copy-on-write layer of the tree (the
source is never written), and compares the artifacts the globs name. When they
differ it finds which variations cause it: the control again (a difference
there is nondeterminism), each variation alone, then the rest narrowed down.
SOURCE_DATE_EPOCH is the same in every build: the source's last git commit,
else its newest file.

Variations (reprotest's names; all on by default):
  environment   an extra variable
  build_path    the tree at another path
  user_group    another uid and gid (--user-group)
  home          HOME=/nonexistent/second-build
  domain_host   another hostname and domain name
  locales       LANG and LC_ALL another installed locale (--locale)
  exec_path     PATH with a directory appended
  timezone      TZ=UTC, then GMT-14
  umask         0022, then 0002
  num_cpus      every CPU, then one (a cpuset, or without root the CPU
                affinity: nproc says 1)
  fileordering  directory entries in the reverse order (a copy on a tmpfs; no FUSE)
  time          the wall clock 398 days later (libfaketime: dynamically linked
                programs only; a time namespace would move only the monotonic
                clocks, which builds do not embed)
  kernel        uname -r 2.6.x and -m i686 (setarch linux32 --uname-2.6)
  aslr          address randomisation off in the control, on in the experiment
A variation this host cannot make is dropped with a warning, or refused when
--vary names it.

Flags:
  --artifacts GLOB      artifacts to compare, relative to the tree (repeatable;
                        "*" per component, "**" any depth; a directory whole)
  --source DIR          the tree to build (default: the current directory)
  --vary NAME[,NAME]    vary only these ("all", or reprotest's -NAME and +NAME)
  --no-vary NAME[,NAME] do not vary these
  --no-bisect           say only whether the build is reproducible
  --json FILE           write the report (reproducible, culprits, per artifact
                        the hashes of each build) to FILE
  --user-group UID:GID  user_group's identity (default 65534:65534)
  --locale NAME         locales' locale (default et_EE.UTF-8)
  -e, --env KEY[=VALUE] set a variable in every build; KEY alone copies the
                        caller's (repeatable)
  -j, --jobs N          builds at once (default 1)
  --diffoscope PATH     describe differences with diffoscope (default: diffoscope
                        where installed); --no-diffoscope for the own summary
  --keep DIR            keep every build's layers and log in DIR (made; must
                        not exist)
  --work-dir DIR        where the builds' layers go (default $TMPDIR or /tmp)
  -q, --quiet           no progress on the terminal
  --run-dir DIR, --cgroup-root PATH   as for sandbox exec

Exit status: 0 reproducible, 1 not, 2 bad usage, 125 the check itself failed
(the control build included).

Examples:
  sandbox repro --artifacts 'out/*' -- make
  sandbox repro --vary build_path,time --json report.json --artifacts hello -- sh -c 'cc -o hello hello.c'
`

func init() {
	commands["repro"] = &command{summary: "check that a build is reproducible, and name what breaks it",
		usage: text(reproUsage), run: runRepro}
}

type reproFlags struct {
	artifacts, vary, noVary, env stringList
	source, jsonFile, userGroup  string
	locale, diffoscope           string
	keep, workDir                string
	runDir, cgroupRoot           string
	noBisect, noDiffoscope       bool
	quiet                        bool
	jobs                         int
}

func runRepro(args []string, io stdio) int {
	var f reproFlags
	fs := newFlagSet("repro", io)
	fs.Var(&f.artifacts, "artifacts", "")
	fs.Var(&f.vary, "vary", "")
	fs.Var(&f.noVary, "no-vary", "")
	fs.Var(&f.env, "env", "")
	fs.Var(&f.env, "e", "")
	fs.StringVar(&f.source, "source", "", "")
	fs.StringVar(&f.jsonFile, "json", "", "")
	fs.StringVar(&f.userGroup, "user-group", "", "")
	fs.StringVar(&f.locale, "locale", "", "")
	fs.StringVar(&f.diffoscope, "diffoscope", "", "")
	fs.BoolVar(&f.noDiffoscope, "no-diffoscope", false, "")
	fs.StringVar(&f.keep, "keep", "", "")
	fs.StringVar(&f.workDir, "work-dir", "", "")
	fs.StringVar(&f.runDir, "run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	fs.StringVar(&f.cgroupRoot, "cgroup-root", os.Getenv("SANDBOX_CGROUP_ROOT"), "")
	fs.BoolVar(&f.noBisect, "no-bisect", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	fs.BoolVar(&f.quiet, "q", false, "")
	fs.IntVar(&f.jobs, "jobs", 1, "")
	fs.IntVar(&f.jobs, "j", 1, "")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(io.out, reproUsage)
		return reproSame
	case err != nil:
		fmt.Fprintf(io.err, "sandbox repro: %v\nRun 'sandbox repro --help' for usage.\n", err)
		return reproBadUsage
	}
	cfg, err := f.config(fs.Args())
	if err != nil {
		fmt.Fprintf(io.err, "sandbox repro: %v\n", err)
		return reproBadUsage
	}
	if !f.quiet {
		if w, ok := io.err.(*os.File); ok && term.IsTerminal(int(w.Fd())) {
			cfg.Progress = func(p repro.Progress) { printProgress(w, p) }
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := repro.Check(ctx, cfg)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox repro: %v\n", err)
		if errors.Is(err, repro.ErrUsage) {
			return reproBadUsage
		}
		return reproRunnerErr
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(io.err, "sandbox repro: warning: %s\n", w)
	}
	fmt.Fprintln(io.out, rep.Message)
	for _, a := range rep.Artifacts {
		if !a.Reproducible && a.Diff != "" {
			fmt.Fprintf(io.out, "\n%s\n", indent(a.Diff))
		}
	}
	if rep.Reproducible {
		for _, a := range rep.Artifacts {
			if h, ok := a.Builds["control"]; ok {
				fmt.Fprintf(io.out, "%s  %s\n", h.SHA256, a.Path)
			}
		}
	}
	if f.jsonFile != "" {
		if err := writeJSON(f.jsonFile, rep); err != nil {
			fmt.Fprintf(io.err, "sandbox repro: writing report: %v\n", err)
			return reproRunnerErr
		}
	}
	if rep.Reproducible {
		return reproSame
	}
	return reproDiffers
}

func (f *reproFlags) config(build []string) (repro.Config, error) {
	cfg := repro.Config{Source: f.source, Build: build, Artifacts: f.artifacts, Bisect: !f.noBisect,
		Locale: f.locale, Jobs: f.jobs, KeepDir: f.keep, WorkDir: f.workDir, RunDir: f.runDir, CgroupRoot: f.cgroupRoot}
	if len(build) == 0 {
		return cfg, errors.New("no build command given (sandbox repro [flags] -- BUILD...)")
	}
	if len(f.artifacts) == 0 {
		return cfg, errors.New("no artifacts named: give --artifacts GLOB")
	}
	if f.jobs < 1 {
		return cfg, fmt.Errorf("invalid --jobs %d: want 1 or more", f.jobs)
	}
	var err error
	if cfg.Vary, cfg.Explicit, err = repro.ParseVary(f.vary, f.noVary); err != nil {
		return cfg, err
	}
	if f.userGroup != "" {
		if cfg.UserGroup, err = parseUser(f.userGroup); err != nil {
			return cfg, fmt.Errorf("invalid --user-group: %w", err)
		}
	}
	for _, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); ok {
			if k == "" {
				return cfg, fmt.Errorf("invalid --env %q: want KEY=VALUE or KEY", kv)
			}
			cfg.Env = append(cfg.Env, kv)
		} else if v, ok := os.LookupEnv(kv); ok {
			cfg.Env = append(cfg.Env, kv+"="+v)
		}
	}
	switch {
	case f.noDiffoscope:
	case f.diffoscope != "":
		p, err := exec.LookPath(f.diffoscope)
		if err != nil {
			return cfg, fmt.Errorf("invalid --diffoscope: %w", err)
		}
		cfg.Diffoscope = p
	default:
		cfg.Diffoscope, _ = exec.LookPath("diffoscope")
	}
	return cfg, nil
}

// printProgress is one line per build as it starts and as it ends.
func printProgress(w *os.File, p repro.Progress) {
	what := p.Name
	if p.Name == "experiment" || strings.HasPrefix(p.Name, "all but ") {
		what += " (" + strconv.Itoa(len(p.Varies)) + " variations)"
	}
	if !p.Done {
		fmt.Fprintf(w, "[%d] %s: building\n", p.N, what)
		return
	}
	verdict := "same as the control"
	switch {
	case p.Failed != "":
		verdict = "failed: " + p.Failed
	case p.Differs:
		verdict = "DIFFERS from the control"
	case p.Name == "control":
		verdict = "done"
	}
	fmt.Fprintf(w, "[%d] %s: %.2f s, %s\n", p.N, what, p.Wall.Seconds(), verdict)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// writeJSON writes v to file through a temporary name, so a reader never
// sees half a report.
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
