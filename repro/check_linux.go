package repro

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// checker is one Check under way.
type checker struct {
	cfg        Config
	source     string // absolute, symlinks resolved
	variedPath string
	baseEnv    []string
	userGroup  sandbox.User
	host       *hostFacts
	on         set // the variations in force
	epoch      int64
	work       string // holds every build's directory
	reordered  string // the fileordering copy of the source, if any

	mu     sync.Mutex
	n      int
	builds map[string]*build // by name: a set of variations is built once
	order  []*build
	sem    chan struct{} // Config.Jobs places
}

// build is one build's outcome.
type build struct {
	name   string
	vary   set
	dir    string
	layers layers
	res    *sandbox.Result
	failed string          // why the build failed, "" if it did not
	hashes map[string]Hash // by artifact path
	log    string
	n      int // its number, in the order started
	wall   time.Duration
	done   chan struct{}
	err    error // the check's own failure during this build
}

// Check runs cfg's builds and compares them. Its error is for the check's
// own failures (bad Config: ErrUsage; ErrUnavailable; ErrControlFailed;
// the sandbox failing); how the builds compared is in the Report.
func Check(ctx context.Context, cfg Config) (_ *Report, err error) {
	c, rep, err := newChecker(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		// A failure can return while other builds still run: stop them,
		// and let each finish before its directory is removed.
		cancel()
		c.mu.Lock()
		started := slices.Clone(c.order)
		c.mu.Unlock()
		for _, b := range started {
			<-b.done
		}
		if cfg.KeepDir == "" {
			if rmErr := os.RemoveAll(c.work); rmErr != nil && err == nil {
				err = fmt.Errorf("removing work directory: %w", rmErr)
			}
		}
		if c.reordered != "" {
			os.RemoveAll(filepath.Dir(c.reordered))
		}
	}()
	if c.on[FileOrdering] {
		dir, err := os.MkdirTemp(c.host.reorderDir, "sandbox-repro-")
		if err != nil {
			return nil, fmt.Errorf("making the fileordering copy: %w", err)
		}
		c.reordered = filepath.Join(dir, "tree")
		if err := reorderedCopy(c.source, c.reordered, c.host.reverseCreation); err != nil {
			return nil, fmt.Errorf("making the fileordering copy in %s: %w", dir, err)
		}
	}

	all := c.on
	control, exp := c.start(ctx, set{}), c.start(ctx, all)
	if err := c.wait(control); err != nil {
		return nil, err
	}
	if control.failed != "" {
		return nil, fmt.Errorf("%w: %s%s", ErrControlFailed, control.failed, logTail(control.log))
	}
	if len(control.hashes) == 0 {
		return nil, fmt.Errorf("%w: nothing the control build made matches %s", ErrNoArtifacts, strings.Join(cfg.Artifacts, " "))
	}
	if err := c.wait(exp); err != nil {
		return nil, err
	}
	rep.Reproducible = !c.differs(control, exp)
	if !rep.Reproducible && cfg.Bisect {
		rep.Bisected = true
		if err := c.bisect(ctx, rep, control); err != nil {
			return nil, err
		}
	}
	c.finish(ctx, rep, control, exp)
	return rep, nil
}

func newChecker(cfg Config) (*checker, *Report, error) {
	if len(cfg.Build) == 0 || cfg.Build[0] == "" {
		return nil, nil, fmt.Errorf("%w: no build command given", ErrUsage)
	}
	if len(cfg.Artifacts) == 0 {
		return nil, nil, fmt.Errorf("%w: no artifacts named (--artifacts GLOB)", ErrUsage)
	}
	for _, g := range cfg.Artifacts {
		if _, err := (layers{}).glob(g); err != nil && errors.Is(err, ErrUsage) {
			return nil, nil, err
		}
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = 1
	}
	src := cfg.Source
	if src == "" {
		src = "."
	}
	if _, err := os.Stat(src); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, fmt.Errorf("%w: source %s: %v", ErrUsage, src, err)
	}
	abs, err := filepath.Abs(src)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: source: %w", ErrUsage, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("%w: source %s: not a directory", ErrUsage, src)
	}
	if strings.ContainsAny(abs, ",:") {
		return nil, nil, fmt.Errorf("%w: source %s: overlayfs cannot layer a path with ',' or ':'", ErrUsage, abs)
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, nil, fmt.Errorf("%w: environment entry %q: want KEY=VALUE", ErrUsage, kv)
		}
	}
	vary := cfg.Vary
	if vary == nil {
		vary = All
	}
	for _, v := range append(slices.Clone(vary), cfg.Explicit...) {
		if !slices.Contains(All, v) {
			return nil, nil, fmt.Errorf("%w: unknown variation %q", ErrUsage, v)
		}
	}
	c := &checker{cfg: cfg, source: abs, builds: map[string]*build{}, userGroup: DefaultUserGroup,
		sem: make(chan struct{}, cfg.Jobs)}
	if cfg.UserGroup != nil {
		c.userGroup = *cfg.UserGroup
	}
	locale := cfg.Locale
	if locale == "" {
		locale = DefaultLocale
	}
	var why map[string]string
	c.host, why = probeHost(locale)
	if uint32(os.Getuid()) == c.userGroup.UID && uint32(os.Getgid()) == c.userGroup.GID {
		why[UserGroup] = fmt.Sprintf("the caller already is %d:%d (choose another with --user-group)", c.userGroup.UID, c.userGroup.GID)
	} else if err := sandbox.CanRunAs(c.userGroup); err != nil {
		why[UserGroup] = err.Error()
	}
	c.variedPath = filepath.Join(variedPathRoot, filepath.Base(abs)+"-varied")
	rep := &Report{Version: ReportVersion, Culprits: []string{}, NotVaried: map[string]string{}}
	c.on = set{}
	for _, v := range vary {
		if r := why[v]; r != "" {
			if slices.Contains(cfg.Explicit, v) {
				return nil, nil, fmt.Errorf("%w: %s: %s", ErrUnavailable, v, r)
			}
			rep.NotVaried[v] = r
			continue
		}
		c.on[v] = true
	}
	if len(c.on) == 0 {
		return nil, nil, fmt.Errorf("%w: none of the variations can take effect here", ErrUnavailable)
	}
	rep.Varied = c.on.sorted()
	rep.VariedBy = map[string]string{}
	if c.on[NumCPUs] {
		rep.VariedBy[NumCPUs] = "cpuset"
		if c.host.taskset != "" {
			rep.VariedBy[NumCPUs] = "affinity (taskset): " + cpusetUnavailable()
		}
	}
	if c.on[Time] {
		rep.VariedBy[Time] = "libfaketime (" + c.host.faketime + "): the wall clock of dynamically linked programs"
	}
	if c.on[UserGroup] && sandbox.Rootless() {
		rep.VariedBy[UserGroup] = "a subordinate id of the caller's, through the user namespace"
	}
	c.epoch = sourceDateEpoch(abs)
	rep.SourceDateEpoch = c.epoch

	path := os.Getenv("PATH")
	if path == "" {
		path = sandbox.DefaultPath
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/"
	}
	c.baseEnv = []string{"PATH=" + path, "HOME=" + home, "LANG=" + controlLang, "LANGUAGE=en_US:en",
		"TZ=" + controlTZ, "SOURCE_DATE_EPOCH=" + strconv.FormatInt(c.epoch, 10)}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		c.baseEnv = sandbox.SetEnv(c.baseEnv, k, v)
	}

	if cfg.KeepDir != "" {
		if err := os.Mkdir(cfg.KeepDir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("%w: keep directory: %w", ErrUsage, err)
		}
		c.work = cfg.KeepDir
	} else {
		if c.work, err = os.MkdirTemp(cfg.WorkDir, "sandbox-repro-"); err != nil {
			return nil, nil, fmt.Errorf("making work directory: %w", err)
		}
	}
	if strings.ContainsAny(c.work, ",:") {
		if cfg.KeepDir == "" {
			os.Remove(c.work)
		}
		return nil, nil, fmt.Errorf("%w: work directory %s: overlayfs cannot take a layer whose path has ',' or ':'", ErrUsage, c.work)
	}
	return c, rep, nil
}

// sourceDateEpoch is the source's last git commit time, else the mtime of
// its newest file.
func sourceDateEpoch(dir string) int64 {
	cmd := exec.Command("git", "-C", dir, "log", "-1", "--format=%ct")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*")
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return n
		}
	}
	var newest int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Name() == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.ModTime().Unix() > newest {
				newest = fi.ModTime().Unix()
			}
		}
		return nil
	})
	if newest == 0 {
		newest = 1 // as reprotest: never the epoch itself, which some tools take for "unset"
	}
	return newest
}

// start begins the build that varies vary, unless it was begun already,
// and returns it; wait waits for it. At most Config.Jobs run at once.
func (c *checker) start(ctx context.Context, vary set) *build {
	name := vary.name()
	switch rest := c.on.minus(vary); {
	case len(vary) > 0 && len(rest) == 0 && len(c.on) > 1:
		name = "experiment"
	case len(vary) > 2 && len(rest) > 0 && len(rest) < len(vary):
		name = "all but " + rest.name()
	}
	c.mu.Lock()
	if b, ok := c.builds[vary.name()]; ok {
		c.mu.Unlock()
		return b
	}
	b := &build{name: name, vary: vary, done: make(chan struct{})}
	c.builds[vary.name()] = b
	c.order = append(c.order, b)
	c.mu.Unlock()
	go c.launch(ctx, b)
	return b
}

// again starts a second control build, whatever was built before.
func (c *checker) again(ctx context.Context) *build {
	b := &build{name: "control-again", vary: set{}, done: make(chan struct{})}
	c.mu.Lock()
	c.order = append(c.order, b)
	c.mu.Unlock()
	go c.launch(ctx, b)
	return b
}

// launch runs b when one of Config.Jobs places is free, then tells
// Progress how it compares with the control (waiting for the control
// only once its own place is given back).
func (c *checker) launch(ctx context.Context, b *build) {
	defer close(b.done)
	select {
	case c.sem <- struct{}{}:
		b.err = c.run(ctx, b)
		<-c.sem
	case <-ctx.Done():
		b.err = ctx.Err()
	}
	if b.err != nil || b.n == 0 {
		return
	}
	p := Progress{N: b.n, Name: b.name, Varies: b.vary.sorted(), Done: true, Wall: b.wall, Failed: b.failed}
	c.mu.Lock()
	ctl := c.builds[set{}.name()]
	c.mu.Unlock()
	if ctl != nil && ctl != b {
		<-ctl.done
		p.Differs = c.differs(ctl, b)
	}
	c.progress(p)
}

func (c *checker) wait(b *build) error {
	<-b.done
	return b.err
}

// run makes b's layers and runs it in a sandbox.
func (c *checker) run(ctx context.Context, b *build) (err error) {
	c.mu.Lock()
	c.n++
	n := c.n
	b.n = n
	c.mu.Unlock()
	dir := filepath.Join(c.work, fmt.Sprintf("%02d-%s", n, strings.NewReplacer("+", "-", " ", "-").Replace(b.name)))
	if len(dir) > 200 {
		dir = filepath.Join(c.work, fmt.Sprintf("%02d", n))
	}
	b.dir = dir
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{dir, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("making build directory: %w", err)
		}
	}
	lower := c.source
	bs := c.settings(b.vary)
	if bs.reorder {
		lower = c.reordered
	}
	// The merged tree's root takes the upper directory's owner and mode:
	// make them the source's.
	if fi, err := os.Stat(c.source); err == nil {
		if err := copyMeta(upper, fi); err != nil {
			return fmt.Errorf("making build directory: %w", err)
		}
	}
	b.layers = layers{upper: upper, lowers: []string{lower}}
	mounts := []sandbox.Mount{{Type: sandbox.MountOverlay, Lower: []string{lower}, Upper: upper, Work: work, Destination: bs.treePath}}
	b.log = filepath.Join(dir, "log")
	logf, err := os.Create(b.log)
	if err != nil {
		return fmt.Errorf("making build log: %w", err)
	}
	defer logf.Close()
	base := sandbox.Spec{Mounts: mounts, Seccomp: seccompPolicy(), RunDir: c.cfg.RunDir, CgroupRoot: c.cfg.CgroupRoot,
		IO: sandbox.IO{Stdout: logf, Stderr: logf}}

	c.progress(Progress{N: n, Name: b.name, Varies: b.vary.sorted()})
	begin := time.Now()
	if bs.user != nil {
		// The build user gets the tree's directories (in its own layer), so
		// it can write where the caller could: a run as the build user
		// itself, with CAP_CHOWN, so that rootless the ids are those of the
		// build's own user namespace map (uid 0's map is another).
		prep := base
		prep.Args = []string{"find", bs.treePath, "-xdev", "-type", "d", "-exec",
			"chown", fmt.Sprintf("%d:%d", bs.user.UID, bs.user.GID), "{}", "+"}
		prep.User = bs.user
		prep.CapAdd = chownCaps
		prep.Env = []string{"PATH=" + sandbox.DefaultPath}
		prep.Dir = "/"
		res, err := sandbox.Run(ctx, &prep)
		if err != nil {
			return fmt.Errorf("giving the tree to %d:%d: %w", bs.user.UID, bs.user.GID, err)
		}
		if res.Status != sandbox.StatusOK {
			return fmt.Errorf("giving the tree to %d:%d: %s%s", bs.user.UID, bs.user.GID, describe(res), logTail(b.log))
		}
	}
	given := bs.user == nil || !sandbox.Rootless()
	if !given {
		// Rootless, what the build user made belongs to one of the caller's
		// subordinate ids, which the caller can neither read (a 0600 file)
		// nor remove: give it back after the build, whatever its outcome.
		defer func() {
			if given {
				return
			}
			if gerr := c.giveBack(ctx, dir, bs.user); gerr != nil && err == nil {
				err = gerr
			}
		}()
	}
	spec := base
	// The umask is the shell's to set: the exec stage sets 022 for CMD.
	spec.Args = append(append([]string{"/bin/sh", "-c", "umask " + bs.umask + " && exec \"$@\"", "sh"}, bs.prefix...), c.cfg.Build...)
	spec.Env = bs.env
	spec.Dir = bs.treePath
	spec.User = bs.user
	spec.Hostname, spec.Domainname = bs.hostname, bs.domainname
	spec.Limits = limits.Limits{Cpuset: bs.cpuset}
	res, err := sandbox.Run(ctx, &spec)
	if err != nil {
		return fmt.Errorf("running build %s: %w", b.name, err)
	}
	b.res, b.wall = res, time.Since(begin)
	if res.Status != sandbox.StatusOK {
		b.failed = describe(res)
		return nil
	}
	if !given {
		given = true
		if err := c.giveBack(ctx, dir, bs.user); err != nil {
			return err
		}
	}
	return c.collect(b)
}

// chownCaps are what a run needs to chown a tree it does not own.
var chownCaps = []string{"CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_FOWNER"}

// giveBack makes everything under a rootless build's directory the
// caller's again, by a run as the build user (user, with CAP_CHOWN) in the
// same user namespace map as its build, where the caller's ids are its
// own. It runs even when ctx is done, so a cancelled check still removes
// its layers; chown -R follows no symlink the build left, and the
// directory is all it sees.
func (c *checker) giveBack(ctx context.Context, dir string, user *sandbox.User) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	const inside = "/sandbox-repro-build"
	var out bytes.Buffer
	spec := sandbox.Spec{Args: []string{"chown", "-R", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), inside}, User: user,
		CapAdd: chownCaps, Env: []string{"PATH=" + sandbox.DefaultPath}, Dir: "/",
		Mounts: []sandbox.Mount{{Type: sandbox.MountBind, Source: dir, Destination: inside, NoSymlinks: true}},
		RunDir: c.cfg.RunDir, CgroupRoot: c.cfg.CgroupRoot, IO: sandbox.IO{Stdout: &out, Stderr: &out}}
	res, err := sandbox.Run(ctx, &spec)
	if err == nil && res.Status != sandbox.StatusOK {
		err = fmt.Errorf("%s: %s", describe(res), strings.TrimSpace(out.String()))
	}
	if err != nil {
		return fmt.Errorf("giving %s back to the caller: %w", dir, err)
	}
	return nil
}

func (c *checker) progress(p Progress) {
	if c.cfg.Progress != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.cfg.Progress(p)
	}
}

func describe(res *sandbox.Result) string {
	if res.Message != "" {
		return res.Message
	}
	if res.Signal > 0 {
		return "killed by signal " + syscall.Signal(res.Signal).String()
	}
	return "exit status " + strconv.Itoa(res.ExitCode)
}

// logTail is the end of a build's log, for an error message.
func logTail(log string) string {
	b, err := os.ReadFile(log)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "; its output ended with:\n  " + strings.Join(lines, "\n  ")
}

// collect hashes b's artifacts, read through its layers.
func (c *checker) collect(b *build) error {
	b.hashes = map[string]Hash{}
	for _, g := range c.cfg.Artifacts {
		rels, err := b.layers.glob(g)
		if err != nil {
			return err
		}
		for _, rel := range rels {
			p, err := b.layers.lookup(rel)
			if err != nil || p == "" {
				return fmt.Errorf("reading artifact %s of build %s: %v", rel, b.name, err)
			}
			h, err := hashFile(p)
			if err != nil {
				return fmt.Errorf("reading artifact %s of build %s: %w", rel, b.name, err)
			}
			b.hashes[rel] = h
		}
	}
	return nil
}

// differing lists the artifacts whose bytes differ between a and b.
func differing(a, b *build) []string {
	var out []string
	for _, rel := range unionKeys(a.hashes, b.hashes) {
		ha, oka := a.hashes[rel]
		hb, okb := b.hashes[rel]
		if !oka || !okb || !ha.same(hb) {
			out = append(out, rel)
		}
	}
	return out
}

func (c *checker) differs(a, b *build) bool {
	return a.failed != "" || b.failed != "" || len(differing(a, b)) > 0
}

func unionKeys(ms ...map[string]Hash) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// bisect names the culprits: the control again (a difference there is
// nondeterminism), then each variation alone; what no variation explains
// alone is narrowed down to a minimal set that differs together.
func (c *checker) bisect(ctx context.Context, rep *Report, control *build) error {
	again := c.again(ctx)
	alone := map[string]*build{}
	if len(c.on) > 1 {
		for _, v := range c.on.sorted() {
			alone[v] = c.start(ctx, setOf(v))
		}
	}
	if err := c.wait(again); err != nil {
		return err
	}
	if c.differs(control, again) {
		rep.Nondeterministic = true
		for _, b := range alone {
			c.wait(b)
		}
		return nil
	}
	culprits := set{}
	for _, v := range c.on.sorted() {
		b, ok := alone[v]
		if !ok {
			culprits[v] = true // the only variation
			continue
		}
		if err := c.wait(b); err != nil {
			return err
		}
		if c.differs(control, b) {
			culprits[v] = true
		}
	}
	var combos []set
	rest := c.on.minus(culprits)
	if len(rest) > 1 {
		b := c.start(ctx, rest)
		if err := c.wait(b); err != nil {
			return err
		}
		if c.differs(control, b) {
			// Greedy narrowing: drop each variation that the difference
			// does not need; what is left differs only together.
			m := rest
			for _, v := range rest.sorted() {
				t := m.without(v)
				if len(t) == 0 {
					continue
				}
				tb := c.start(ctx, t)
				if err := c.wait(tb); err != nil {
					return err
				}
				if c.differs(control, tb) {
					m = t
				}
			}
			combos = append(combos, m)
		}
	}
	for _, v := range culprits.sorted() {
		rep.Culprits = append(rep.Culprits, v)
	}
	for _, m := range combos {
		rep.Culprits = append(rep.Culprits, m.name())
	}
	return nil
}

// finish fills the report: builds, artifacts, warnings, the message.
func (c *checker) finish(ctx context.Context, rep *Report, control, exp *build) {
	for _, b := range c.order {
		<-b.done
		br := BuildReport{Name: b.name, Varies: b.vary.sorted(), Failed: b.failed}
		if br.Varies == nil {
			br.Varies = []string{}
		}
		if b.res != nil {
			br.Status, br.ExitCode, br.WallMs = b.res.Status, b.res.ExitCode, b.res.Wall.Milliseconds()
		}
		if b != control {
			br.Differs = c.differs(control, b)
		}
		if c.cfg.KeepDir != "" {
			br.Log = b.log
		}
		rep.Builds = append(rep.Builds, br)
	}
	var hashMaps []map[string]Hash
	for _, b := range c.order {
		hashMaps = append(hashMaps, b.hashes)
	}
	epoch := time.Unix(c.epoch, 0)
	var late []string
	for _, rel := range unionKeys(hashMaps...) {
		ar := ArtifactReport{Path: rel, Reproducible: true, Builds: map[string]Hash{}}
		for _, b := range c.order {
			if b.failed != "" {
				continue
			}
			h, ok := b.hashes[rel]
			if !ok {
				h = Hash{Missing: true}
			}
			ar.Builds[b.name] = h
		}
		hc, okc := control.hashes[rel]
		he, oke := exp.hashes[rel]
		if exp.failed == "" && (!okc || !oke || !hc.same(he)) {
			ar.Reproducible = false
			if !okc {
				hc.Missing = true
			}
			if !oke {
				he.Missing = true
			}
			ar.Diff = describeDiff(ctx, c.cfg.Diffoscope, rel, hc, he)
		}
		if okc && !hc.Symlink && hc.mtime.After(epoch) {
			late = append(late, rel)
		}
		rep.Artifacts = append(rep.Artifacts, ar)
	}
	if len(late) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("mtime later than SOURCE_DATE_EPOCH (%s): %s (an archive or package that records it should clamp it)",
			epoch.UTC().Format(time.RFC3339), strings.Join(late, ", ")))
	}
	for _, v := range All {
		if r, ok := rep.NotVaried[v]; ok {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s not varied: %s", v, r))
		}
	}

	switch {
	case rep.Reproducible:
		rep.Message = "reproducible, varying " + strings.Join(rep.Varied, ", ")
	case rep.Nondeterministic:
		rep.Message = "not reproducible: " + whatDiffers(control, c.lastAgain()) + " with no variation at all (nondeterministic)"
	case !rep.Bisected:
		rep.Message = "not reproducible: " + whatDiffers(control, exp) + " (bisection off: which variation is not known)"
	case len(rep.Culprits) == 0:
		rep.Message = "not reproducible: " + whatDiffers(control, exp) + ", but no variation alone or together made it differ again (flaky)"
	default:
		var parts []string
		for _, name := range rep.Culprits {
			b := c.builds[name]
			if b == nil && len(rep.Culprits) == 1 {
				b = exp
			}
			if b == nil {
				parts = append(parts, name)
				continue
			}
			parts = append(parts, culpritText(name, differing(control, b), b.failed))
		}
		rep.Message = "not reproducible: " + strings.Join(parts, ", ")
	}
}

func (c *checker) lastAgain() *build {
	for i := len(c.order) - 1; i >= 0; i-- {
		if c.order[i].name == "control-again" {
			return c.order[i]
		}
	}
	return nil
}

func whatDiffers(control, b *build) string {
	if b == nil {
		return "the builds differ"
	}
	if b.failed != "" {
		return "the build " + b.name + " failed (" + b.failed + ")"
	}
	arts := differing(control, b)
	if len(arts) > 3 {
		return fmt.Sprintf("%s and %d more differ", strings.Join(arts[:3], ", "), len(arts)-3)
	}
	if len(arts) == 1 {
		return arts[0] + " differs"
	}
	return strings.Join(arts, ", ") + " differ"
}
