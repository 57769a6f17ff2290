package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/cmd/sandbox/internal/earlysig"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/profile"
	"github.com/sandbox-dev/sandbox/sandbox"
	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// exitUsage is the status for the runner's own failures, bad flags included.
const exitUsage = sandbox.ExitRunnerFailed

const execUsage = `Usage: sandbox exec [flags] [--] CMD [ARGS...]

Runs CMD in a fresh container: new mount, pid, uts, ipc, net and cgroup
namespaces; the host's / (or --root DIR) as the read-only lower layer of an
overlay whose writable layer is a tmpfs that vanishes with the run; fresh /proc,
a minimal /dev, read-only /sys, a private /tmp and /run (where the caller's
directory and CMD's own file stay in view); all capabilities dropped and
no_new_privs set; only PATH, HOME, TERM, LANG=C.UTF-8 and TZ=UTC in the
environment. CMD's exit status is sandbox's: 128+N if CMD died by signal N,
125 if the runner failed, 126 if CMD cannot be executed, 127 if not found.

Flags:
  --profile NAME|FILE   start from a profile: a built-in (test, build, grade; see
                        'sandbox profile show NAME') or a TOML file; flags override it
  --root NAME|DIR       use snapshot NAME of the store (see 'sandbox snapshot'), or
                        the tree at DIR, as the root instead of the host's /
  --commit NEW          keep the run's changes as snapshot NEW over --root NAME
                        (when CMD exits 0; --commit-always whatever its status)
  --store DIR           the snapshot store (default /var/lib/sandbox, or $SANDBOX_STORE;
                        without root $XDG_DATA_HOME/sandbox)
  -v, --bind SRC:DST[:OPTS]
                        bind host path SRC at DST (repeatable); OPTS, comma-
                        separated: ro (read-only), nosymlinks (refuse an SRC
                        with a symlink in it instead of following it)
  --no-symlinks         every bind refuses an SRC with a symlink in it (the
                        grade profile's default; --no-symlinks=false to follow)
  --tmpfs DST[:SIZE]    mount an empty tmpfs at DST (repeatable)
  --network MODE        "none" (own namespace, loopback only; default) or "host"
  -e, --env KEY[=VALUE] set a variable; KEY alone copies the caller's (repeatable)
  --env-file FILE       read KEY=VALUE lines from FILE (repeatable; # comments)
  --keep-env            start from the caller's whole environment
  -w, --workdir DIR     working directory, created if missing (default: the
                        caller's, in view even under the private /tmp and /run,
                        or exit status 125 if it cannot be had; with --root,
                        the caller's if that root has it, else /)
  --hostname NAME       hostname inside (default "sandbox")
  --user UID[:GID]      run as UID (a number or a host user name) and GID
                        (default: the caller's); "unique": an id of the
                        run's own, shared with no account and no other run
  --cap-add CAP         keep capability CAP, e.g. NET_RAW (repeatable)
  --seccomp POLICY      syscall filter: "default" (refuses keyctl, bpf, perf,
                        io_uring, mount, kexec, nested user namespaces, foreign
                        ABIs, ... with EPERM), "unconfined", or a TOML file of
                        rules (allow, errno, enosys, kill: a kill is reported
                        with the syscall's name)
  --preserve-fds N      pass the caller's descriptors 3..3+N-1 on to CMD
  -t, --tty             give CMD a terminal of its own (default: when stdin and
                        stdout are terminals; -t=false to refuse one)
  --run-dir DIR         where run state lives (default /run/sandbox, or
                        $SANDBOX_RUN_DIR; without root $XDG_RUNTIME_DIR/sandbox)
  --cgroup-root PATH    cgroup under which each run gets its group (default
                        /sandbox, or $SANDBOX_CGROUP_ROOT)

Limits (sizes take K, M, G; times take ms, s, m or bare seconds):
%s
Report:
  --json                print the run report (one JSON object) to stderr at the
                        end, on a line of its own (graders: --report FILE,
                        which CMD cannot write)
  --report FILE         write the run report to FILE
  --report-dir DIR      write the run report to DIR, named after CMD: a Go test
                        binary by its package (DIR/github.com/you/mod/pkg.json;
                        a relative DIR from the module's root), python3 -m MOD
                        by MOD, else CMD's base name; see 'sandbox report'
  The report's status is OK, RE (non-zero exit), SG (signal), TO (time limit),
  ML (memory limit), OL (output limit) or XX (runner failure); the exit status
  stays CMD's.

Examples:
  sandbox exec -- go test ./...
  sandbox exec -v "$PWD:/src" -w /src -- make
  sandbox exec --network host -e GOFLAGS=-mod=mod -- go build ./...
  sandbox exec --root /srv/rootfs/debian --tmpfs /scratch:64M -- sh
  echo data | sandbox exec -- sha256sum
  sandbox exec --memory 256M --pids 64 --time 2s --wall-time 5s --report r.json -- ./solution
  sandbox exec --profile grade -v ./submission:/box:ro --report r.json -- ./solution
`

// limitUsage lists the limit flags, with the short names users of isolate
// and ulimit know beside the long ones.
func limitUsage() string {
	alias := map[string]string{}
	for a, n := range limitAliases {
		alias[n] = a
	}
	var b strings.Builder
	for _, f := range limits.Flags() {
		name := "--" + f.Name
		if a, ok := alias[f.Name]; ok {
			name = "--" + a + ", " + name
		}
		fmt.Fprintf(&b, "  %s V\n        %s\n", name, f.Usage)
	}
	return b.String()
}

func init() {
	commands["exec"] = &command{
		summary: "run a command in a throwaway sandbox",
		usage:   func() string { return fmt.Sprintf(execUsage, limitUsage()) },
		run:     runExec,
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// optBool is a boolean flag that remembers whether it was given.
type optBool struct{ set, value bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.value) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	b.set, b.value = true, x
	return nil
}

// execFlags are exec's flags as given, before they become a Spec.
type execFlags struct {
	root, network, workdir, hostname, user, runDir, cgroupRoot string
	binds, tmpfs, env, envFiles, caps                          stringList
	keepEnv, jsonReport                                        bool
	preserveFDs                                                int
	tty, noSymlinks                                            optBool
	report, reportDir, profile, store, commit, seccomp         string
	commitAlways                                               bool
	// limits are name=value settings in command-line order, applied over
	// the defaults (and, later, a profile's).
	limits [][2]string
}

// limitAliases are the short names users know from isolate and ulimit.
var limitAliases = map[string]string{
	"time": "cpu-time", "nofile": "rlimit-nofile", "fsize": "rlimit-fsize", "stack": "rlimit-stack",
	"core": "rlimit-core", "nproc": "rlimit-nproc", "as": "rlimit-as",
}

func (f *execFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.root, "root", "", "")
	fs.Var(&f.binds, "bind", "")
	fs.Var(&f.binds, "v", "")
	fs.Var(&f.tmpfs, "tmpfs", "")
	fs.Var(&f.noSymlinks, "no-symlinks", "")
	fs.StringVar(&f.network, "network", sandbox.NetworkNone, "")
	fs.Var(&f.env, "env", "")
	fs.Var(&f.env, "e", "")
	fs.Var(&f.envFiles, "env-file", "")
	fs.BoolVar(&f.keepEnv, "keep-env", false, "")
	fs.StringVar(&f.workdir, "workdir", "", "")
	fs.StringVar(&f.workdir, "w", "", "")
	fs.StringVar(&f.hostname, "hostname", sandbox.DefaultHostname, "")
	fs.StringVar(&f.user, "user", "", "")
	fs.Var(&f.caps, "cap-add", "")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "")
	fs.Var(&f.tty, "tty", "")
	fs.Var(&f.tty, "t", "")
	fs.StringVar(&f.runDir, "run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	fs.StringVar(&f.cgroupRoot, "cgroup-root", os.Getenv("SANDBOX_CGROUP_ROOT"), "")
	fs.StringVar(&f.report, "report", "", "")
	fs.StringVar(&f.reportDir, "report-dir", "", "")
	fs.StringVar(&f.profile, "profile", "", "")
	fs.StringVar(&f.store, "store", "", "")
	fs.StringVar(&f.seccomp, "seccomp", "default", "")
	fs.StringVar(&f.commit, "commit", "", "")
	fs.BoolVar(&f.commitAlways, "commit-always", false, "")
	fs.BoolVar(&f.jsonReport, "json", false, "")
	for _, lf := range limits.Flags() {
		name := lf.Name
		fs.Func(name, lf.Usage, func(v string) error { f.limits = append(f.limits, [2]string{name, v}); return nil })
	}
	for alias, name := range limitAliases {
		fs.Func(alias, "", func(v string) error { f.limits = append(f.limits, [2]string{name, v}); return nil })
	}
}

// newFlagSet makes a FlagSet for a subcommand; parseFlags reports its
// errors.
func newFlagSet(name string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("sandbox "+name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args; done is true when the command should return code
// at once: help was asked for (printed to stdout), or a flag was wrong (the
// flag package has said which, on stderr).
func parseFlags(fs *flag.FlagSet, args []string, usage func() string, io stdio) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(io.out, usage())
		return 0, true
	case err != nil:
		fmt.Fprintf(io.err, "%s: %v\nRun '%s --help' for usage.\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	return 0, false
}

func runExec(args []string, io stdio) int {
	var f execFlags
	fs := newFlagSet("exec", io)
	f.register(fs)
	if code, done := parseFlags(fs, args, commands["exec"].usage, io); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(io.err, "sandbox exec: no command given (see 'sandbox exec --help')")
		return exitUsage
	}
	rep := reportTo{file: f.report, stderr: f.jsonReport}
	if f.reportDir != "" {
		wd, _ := os.Getwd()
		rep.dirFile = reportDirPath(f.reportDir, fs.Args(), wd)
	}
	spec, err := f.resolve(fs, os.Environ())
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		if err := rep.write(nil, err, io); err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
		}
		return exitUsage
	}
	if rep.stderr {
		// The report follows CMD's stderr: on a line of its own, whatever
		// CMD wrote last.
		io.err = sandbox.ReportStream(io.err)
	}
	// A Go test binary's coverage data and profiles, for the go command.
	// (The working directory only then: os.Getwd is two system calls.)
	var outs []sandbox.Mount
	if isGoTest(fs.Args()) {
		wd, _ := os.Getwd()
		outs, err = goTestOutputs(fs.Args(), wd)
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	spec.Mounts = append(spec.Mounts, outs...)
	spec.IO = sandbox.IO{Stdin: io.in, Stdout: io.out, Stderr: io.err}
	for i := 0; i < f.preserveFDs; i++ {
		spec.IO.ExtraFiles = append(spec.IO.ExtraFiles, os.NewFile(uintptr(3+i), "fd"+strconv.Itoa(3+i)))
	}
	spec.TTY = f.tty.value
	if !f.tty.set && io.in != nil && term.IsTerminal(int(io.in.Fd())) {
		if out, ok := io.out.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
			spec.TTY = true
		}
	}
	return execute(spec, io, rep)
}

// reportTo says where the run report goes.
type reportTo struct {
	file    string // --report FILE
	dirFile string // the file in --report-dir DIR
	stderr  bool   // --json
}

// write puts the report where asked. A runner failure gets a report too
// (status XX), so that a grader always finds one.
func (r reportTo) write(res *sandbox.Result, runErr error, io stdio) error {
	if r.file == "" && r.dirFile == "" && !r.stderr {
		return nil
	}
	if res == nil {
		res = &sandbox.Result{Status: sandbox.StatusFailed, ExitCode: sandbox.ExitRunnerFailed}
	}
	if runErr != nil && res.Message == "" {
		res.Message = runErr.Error()
	}
	if r.stderr {
		if err := sandbox.WriteReport(io.err, res); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	b = append(b, '\n')
	if r.file != "" {
		if err := writeFileAtomic(r.file, b); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if r.dirFile != "" {
		if err := os.MkdirAll(filepath.Dir(r.dirFile), 0o755); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
		if err := writeFileAtomic(r.dirFile, b); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes a temporary file beside path and renames it into
// place, so a reader never sees half a report.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// execute runs spec with the caller's terminal and signals wired to it.
func execute(spec *sandbox.Spec, io stdio, rep reportTo) int {
	if spec.TTY && io.in != nil && term.IsTerminal(int(io.in.Fd())) {
		if w, h, err := term.GetSize(int(io.in.Fd())); err == nil {
			spec.TTYSize = sandbox.WindowSize{Rows: uint16(h), Cols: uint16(w)}
		}
		if old, err := term.MakeRaw(int(io.in.Fd())); err == nil {
			defer term.Restore(int(io.in.Fd()), old)
		}
	}
	// Signals are caught before the sandbox starts, so that none sent while
	// it starts kills the runner without reaching CMD; PID 1 is cloned
	// meanwhile.
	sandbox.Prepare(spec)
	sigs := earlysig.Signals()
	if sigs == nil {
		c := make(chan os.Signal, 8)
		signal.Notify(c, earlysig.Forwarded...)
		sigs = c
	}
	// Never stopped: the process ends with the run, and a signal that
	// comes once CMD has ended is caught and dropped, so it cannot cut the
	// report short. (signal.Stop is a round trip with the runtime's signal
	// thread per signal: 0.3 ms of every run's end.)

	c, err := sandbox.Start(context.Background(), spec)
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		if err := rep.write(nil, err, io); err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
		}
		return exitUsage
	}
	go func() {
		for s := range sigs {
			if s == unix.SIGWINCH && spec.TTY {
				if w, h, err := term.GetSize(int(io.in.Fd())); err == nil {
					c.Resize(sandbox.WindowSize{Rows: uint16(h), Cols: uint16(w)})
				}
				continue
			}
			c.Signal(s)
		}
	}()
	res, err := c.Wait()
	if werr := rep.write(res, err, io); werr != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", werr)
		if err == nil {
			return exitUsage
		}
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	if res.ExitCode == sandbox.ExitNotFound || res.ExitCode == sandbox.ExitNotExecutable {
		if res.Message != "" {
			fmt.Fprintf(io.err, "sandbox: %s\n", res.Message)
		}
	}
	return res.ExitStatus()
}

// resolve turns a profile (if --profile names one) and the flags the user
// gave into a Spec: the profile first, then each flag given overrides it or,
// for repeatable flags (mounts, capabilities, env), adds to it. environ is
// the caller's environment.
func (f *execFlags) resolve(fs *flag.FlagSet, environ []string) (*sandbox.Spec, error) {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	s := &sandbox.Spec{Args: fs.Args(), RunDir: f.runDir, CgroupRoot: f.cgroupRoot, Limits: limits.DefaultLimits()}
	var prof *profile.Profile
	if f.profile != "" {
		var err error
		if prof, err = profile.Load(f.profile); err != nil {
			return nil, fmt.Errorf("--profile: %w", err)
		}
		if err := prof.Apply(s); err != nil {
			return nil, fmt.Errorf("--profile: %w", err)
		}
	}
	var err error
	if given["root"] {
		s.Root, s.HostRoot = f.root, nil // a root given replaces the profile's of host paths
	}
	if f.noSymlinks.set {
		s.NoSymlinks = f.noSymlinks.value
	}
	if err := f.resolveRoot(s); err != nil {
		return nil, err
	}
	if given["network"] {
		s.Network = f.network
	}
	if given["hostname"] {
		s.Hostname = f.hostname
	}
	if given["workdir"] || given["w"] {
		if !filepath.IsAbs(f.workdir) {
			return nil, fmt.Errorf("--workdir %q: must be an absolute path", f.workdir)
		}
		s.Dir = filepath.Clean(f.workdir)
	}
	if given["user"] {
		if s.User, err = parseUser(f.user); err != nil {
			return nil, err
		}
	}
	s.CapAdd = append(s.CapAdd, f.caps...)
	switch f.seccomp {
	case "default":
	case "unconfined":
		s.Seccomp = &sandbox.Seccomp{Unconfined: true}
	default:
		if s.Seccomp, err = profile.LoadSeccomp(f.seccomp); err != nil {
			return nil, fmt.Errorf("--seccomp: %w", err)
		}
	}
	if f.preserveFDs < 0 {
		return nil, fmt.Errorf("--preserve-fds %d: must not be negative", f.preserveFDs)
	}
	for _, b := range f.binds {
		m, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, m)
	}
	for _, t := range f.tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, m)
	}
	for _, kv := range f.limits {
		if err := s.Limits.Set(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	keepEnv, profEnv := f.keepEnv, []string(nil)
	if prof != nil {
		keepEnv, profEnv = keepEnv || prof.KeepEnv, prof.Env
	}
	if s.Env, err = f.environment(environ, keepEnv, profEnv); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveRoot decides what s.Root names: a snapshot in the store (looked
// up first, for a bare name), else a directory. --commit needs a snapshot.
func (f *execFlags) resolveRoot(s *sandbox.Spec) error {
	root := s.Root
	if root != "" && !strings.Contains(root, "/") && snapshot.ValidateName(root) == nil {
		st, err := snapshot.Open(snapshot.Config{Root: f.store})
		if err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		_, err = st.Stat(context.Background(), root)
		st.Close()
		if err == nil {
			s.Root = ""
			s.Snapshot = &sandbox.SnapshotRoot{Store: f.store, Name: root, Commit: f.commit, CommitAlways: f.commitAlways}
			return nil
		}
		if !errors.Is(err, snapshot.ErrNotFound) {
			return fmt.Errorf("--root %s: %w", root, err)
		}
	}
	if f.commit != "" || f.commitAlways {
		return fmt.Errorf("--commit: needs --root NAME of a snapshot in the store (see 'sandbox snapshot ls'), not %q", root)
	}
	if root != "" {
		abs, err := filepath.Abs(root)
		if err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		if _, err := os.Stat(abs); err != nil {
			if strings.Contains(root, "/") {
				return fmt.Errorf("--root %s: no such directory", root)
			}
			return fmt.Errorf("--root %s: no snapshot of that name in the store, and no such directory", root)
		}
		s.Root = abs
	}
	return nil
}

// environment composes CMD's environment: the hermetic set (or the
// caller's whole environment), the profile's entries, --env-file, then -e.
func (f *execFlags) environment(environ []string, keepEnv bool, profEnv []string) ([]string, error) {
	env := sandbox.HermeticEnv(environ)
	if keepEnv {
		env = append([]string(nil), environ...)
	}
	for _, kv := range profEnv {
		k, v, _ := strings.Cut(kv, "=")
		env = sandbox.SetEnv(env, k, v)
	}
	set := func(kv, where string) error {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return fmt.Errorf("%s %q: want KEY=VALUE", where, kv)
		}
		if !ok { // KEY alone: the caller's value, if any
			for _, e := range environ {
				if ek, ev, _ := strings.Cut(e, "="); ek == k {
					v, ok = ev, true
				}
			}
			if !ok {
				return nil
			}
		}
		env = sandbox.SetEnv(env, k, v)
		return nil
	}
	for _, file := range f.envFiles {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--env-file: %w", err)
		}
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := set(line, fmt.Sprintf("--env-file %s:%d:", file, n)); err != nil {
				fh.Close()
				return nil, err
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--env-file %s: %w", file, err)
		}
	}
	for _, kv := range f.env {
		if err := set(kv, "--env"); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// parseBind reads SRC:DST[:OPTS], OPTS a comma-separated list of ro, rw
// and nosymlinks; a relative SRC is taken from the caller's working
// directory, as docker does for -v ./dir:/dst.
func parseBind(v string) (sandbox.Mount, error) {
	parts := strings.Split(v, ":")
	m := sandbox.Mount{Type: sandbox.MountBind}
	const form = "want SRC:DST or SRC:DST:OPTS, OPTS a comma-separated list of ro, rw, nosymlinks"
	switch len(parts) {
	case 3:
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro", "rw":
				m.ReadOnly = o == "ro"
			case "nosymlinks":
				m.NoSymlinks = true
			default:
				return m, fmt.Errorf("--bind %q: unknown option %q: %s", v, o, form)
			}
		}
	case 2:
	default:
		return m, fmt.Errorf("--bind %q: %s", v, form)
	}
	if parts[0] == "" || parts[1] == "" {
		return m, fmt.Errorf("--bind %q: %s", v, form)
	}
	// A relative SRC is taken from the working directory as the kernel
	// names it (not $PWD, which may go through symlinks): the caller
	// trusts the directory it is in, and with nosymlinks only the
	// relative part is checked, not the way the caller came.
	src := parts[0]
	if !filepath.IsAbs(src) {
		wd, err := unix.Getwd()
		if err != nil {
			return m, fmt.Errorf("--bind %q: %w", v, err)
		}
		src = filepath.Join(wd, src)
	}
	src = filepath.Clean(src)
	if _, err := os.Stat(src); err != nil {
		return m, fmt.Errorf("--bind %q: source: %w", v, errors.Unwrap(err))
	}
	if !filepath.IsAbs(parts[1]) {
		return m, fmt.Errorf("--bind %q: destination must be an absolute path", v)
	}
	m.Source, m.Destination = src, filepath.Clean(parts[1])
	return m, nil
}

// parseTmpfs reads DST[:SIZE].
func parseTmpfs(v string) (sandbox.Mount, error) {
	dst, size, hasSize := strings.Cut(v, ":")
	m := sandbox.Mount{Type: sandbox.MountTmpfs, Destination: filepath.Clean(dst)}
	if !filepath.IsAbs(dst) {
		return m, fmt.Errorf("--tmpfs %q: destination must be an absolute path", v)
	}
	if hasSize {
		n, err := limits.ParseSize(size)
		if err != nil {
			return m, fmt.Errorf("--tmpfs %q: %w", v, err)
		}
		m.Size = n
	}
	return m, nil
}

// parseUser reads "unique" (an id of the run's own), or UID[:GID], each a
// number or a name from the host's user and group databases.
func parseUser(v string) (*sandbox.User, error) {
	if v == "unique" {
		return &sandbox.User{Unique: true}, nil
	}
	us, gs, hasGroup := strings.Cut(v, ":")
	u := &sandbox.User{}
	if n, err := strconv.ParseUint(us, 10, 32); err == nil {
		u.UID, u.GID = uint32(n), uint32(n)
		if pw, err := user.LookupId(us); err == nil {
			if g, err := strconv.ParseUint(pw.Gid, 10, 32); err == nil {
				u.GID = uint32(g)
			}
		}
	} else {
		pw, err := user.Lookup(us)
		if err != nil {
			return nil, fmt.Errorf("--user %q: no such user", v)
		}
		uid, _ := strconv.ParseUint(pw.Uid, 10, 32)
		gid, _ := strconv.ParseUint(pw.Gid, 10, 32)
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(gs, 10, 32); err == nil {
			u.GID = uint32(n)
		} else if g, err := user.LookupGroup(gs); err == nil {
			n, _ := strconv.ParseUint(g.Gid, 10, 32)
			u.GID = uint32(n)
		} else {
			return nil, fmt.Errorf("--user %q: no such group %q", v, gs)
		}
	}
	return u, nil
}
