package judge

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/goccy/go-yaml"

	"github.com/sandbox-dev/sandbox/limits"
)

// Problem formats, as Load detects them.
const (
	FormatKattis  = "kattis"  // problem.yaml, data/{sample,secret}/*.in|.ans, output_validators/
	FormatPolygon = "polygon" // tests/NN and tests/NN.a, problem.xml, check.cpp
	FormatPlain   = "plain"   // *.in with *.ans or *.out, limits from flags or problem.toml
)

// Problem is a problem as the judge runs it: its tests in order, its
// limits and how an output is checked. It holds paths into the problem's
// directory, never the data itself.
type Problem struct {
	Dir    string // absolute, symlinks resolved
	Name   string
	Format string
	// Scoring problems give a score (groups and points); pass-fail ones a
	// verdict alone.
	Scoring     bool
	Interactive bool
	Limits      ProblemLimits
	Checker     Checker
	// Interactor is the program that talks to the submission in an
	// interactive problem (Kattis: the output validator; Polygon: the
	// testlib interactor). Its Kind is CheckKattis or CheckTestlib.
	Interactor *Checker
	// Groups in judging order: sample first, then secret ones.
	Groups []*Group
	// TimeMultiplier is Kattis's time_multiplier: with no time limit given,
	// Verify sets it to the slowest accepted submission's time times this.
	TimeMultiplier float64
	// TimeGiven is false when neither the problem nor the caller set a time
	// limit: Limits.Time is then DefaultTime, or what Verify computed.
	TimeGiven bool
	wallGiven bool
}

// ProblemLimits are one test's limits. Time is CPU time; Wall is derived
// from it unless set.
type ProblemLimits struct {
	Time   time.Duration
	Wall   time.Duration
	Memory int64
	Output int64
}

// Group is a set of tests scored together (a subtask). A test that is
// accepted scores its Points (or what its checker says, for checkers that
// give scores), one that is not scores 0; the group's score is the sum of
// its tests' scores (Aggregate "sum", Kattis's default) or their minimum
// ("min": all or nothing, as IOI subtasks are). The problem's score is
// the sum of its groups'.
type Group struct {
	Name      string
	Aggregate string // "sum" or "min"
	Tests     []*Test
}

// MaxScore is what the group gives when every test is accepted with its
// full points.
func (g *Group) MaxScore() float64 {
	var s float64
	for i, t := range g.Tests {
		switch {
		case g.Aggregate != "min":
			s += t.Points
		case i == 0 || t.Points < s:
			s = t.Points
		}
	}
	return s
}

// Test is one input and its answer.
type Test struct {
	Name   string // e.g. "secret/group1/03", unique in the problem
	Input  string
	Answer string // "" for an interactive test without one
	Group  *Group
	// Points is what the test scores when accepted.
	Points float64
}

// Tests returns every test in judging order.
func (p *Problem) Tests() []*Test {
	var ts []*Test
	for _, g := range p.Groups {
		ts = append(ts, g.Tests...)
	}
	return ts
}

// MaxScore is the sum of the groups' points.
func (p *Problem) MaxScore() float64 {
	var s float64
	for _, g := range p.Groups {
		s += g.MaxScore()
	}
	return s
}

// Default limits where neither the problem nor the caller sets one: the
// Kattis defaults for memory and output, one second of CPU.
const (
	DefaultTime   = time.Second
	DefaultMemory = 2048 << 20
	DefaultOutput = 8 << 20
)

// WallFor is the wall-clock limit that goes with a CPU time limit when none
// is given: enough for a program that is slowed by the machine's load, not
// enough for one that sleeps through its test.
func WallFor(cpu time.Duration) time.Duration { return 2*cpu + time.Second }

// LoadOptions are what the caller gives on top of (or instead of) what the
// problem's files say; a zero field leaves the problem's value.
type LoadOptions struct {
	Time, Wall     time.Duration
	Memory, Output int64
	// Config is a TOML file of the plain format's keys (see PlainConfig);
	// empty means DIR/problem.toml when it exists.
	Config string
	// Checker, when not empty, replaces the problem's: a CheckerSpec text.
	Checker string
}

// Load reads the problem in dir, detecting its format: problem.yaml makes
// it a Kattis package, a tests/ directory a Polygon one, *.in files a plain
// directory.
func Load(dir string, opts LoadOptions) (*Problem, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: problem %s: %w", ErrInvalid, dir, err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: problem %s: not a directory", ErrInvalid, dir)
	}
	p := &Problem{Dir: abs, Name: filepath.Base(abs)}
	switch {
	case exists(filepath.Join(abs, "problem.yaml")):
		err = p.loadKattis()
	case isDir(filepath.Join(abs, "tests")):
		err = p.loadPolygon()
	default:
		err = p.loadPlain(opts.Config)
	}
	if err != nil {
		return nil, err
	}
	if opts.Checker != "" {
		c, err := ParseCheckerSpec(opts.Checker, abs)
		if err != nil {
			return nil, err
		}
		p.Checker = *c
	}
	if opts.Time > 0 {
		p.Limits.Time = opts.Time
	}
	if opts.Wall > 0 {
		p.Limits.Wall = opts.Wall
	}
	if opts.Memory > 0 {
		p.Limits.Memory = opts.Memory
	}
	if opts.Output > 0 {
		p.Limits.Output = opts.Output
	}
	p.TimeGiven, p.wallGiven = p.Limits.Time > 0, p.Limits.Wall > 0
	if p.TimeGiven {
		p.SetTime(p.Limits.Time)
	} else {
		p.SetTime(DefaultTime)
	}
	if p.Limits.Memory == 0 {
		p.Limits.Memory = DefaultMemory
	}
	if p.Limits.Output == 0 {
		p.Limits.Output = DefaultOutput
	}
	if p.Interactor != nil {
		p.Interactor.isInteractor = true
	}
	if len(p.Tests()) == 0 {
		return nil, fmt.Errorf("%w: problem %s (%s format): no tests found", ErrInvalid, dir, p.Format)
	}
	if p.Interactive && p.Interactor == nil {
		return nil, fmt.Errorf("%w: problem %s: interactive, but no interactor found", ErrInvalid, dir)
	}
	return p, nil
}

// SetTime sets the CPU time limit and, unless one was given, the wall
// limit that goes with it.
func (p *Problem) SetTime(t time.Duration) {
	p.Limits.Time = t
	if !p.wallGiven {
		p.Limits.Wall = WallFor(t)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }
func isDir(path string) bool  { fi, err := os.Stat(path); return err == nil && fi.IsDir() }

// kattisYAML is the part of problem.yaml the judge reads: both the legacy
// format and the 2023-07 one (type as a list, limits.time_limit).
type kattisYAML struct {
	Name           any    `yaml:"name"`
	Type           any    `yaml:"type"`
	Validation     string `yaml:"validation"`
	ValidatorFlags string `yaml:"validator_flags"`
	Limits         struct {
		TimeMultiplier float64 `yaml:"time_multiplier"`
		TimeLimit      float64 `yaml:"time_limit"`
		Memory         int64   `yaml:"memory"` // MiB
		Output         int64   `yaml:"output"` // MiB
	} `yaml:"limits"`
}

func (p *Problem) loadKattis() error {
	p.Format = FormatKattis
	path := filepath.Join(p.Dir, "problem.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInvalid, path, err)
	}
	var y kattisYAML
	if err := yaml.Unmarshal(data, &y); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	if s, ok := y.Name.(string); ok && s != "" {
		p.Name = s
	}
	var types []string
	switch t := y.Type.(type) {
	case string:
		types = strings.Fields(t)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				types = append(types, s)
			}
		}
	}
	p.Scoring = slices.Contains(types, "scoring")
	p.Interactive = slices.Contains(types, "interactive")
	validation := strings.Fields(y.Validation)
	custom := len(validation) > 0 && validation[0] == "custom"
	if slices.Contains(validation, "interactive") {
		p.Interactive = true
		custom = true
	}
	if slices.Contains(validation, "score") {
		p.Scoring = true
	}
	if p.Interactive {
		custom = true
	}
	p.TimeMultiplier = y.Limits.TimeMultiplier
	if p.TimeMultiplier == 0 {
		p.TimeMultiplier = 5
	}
	if y.Limits.TimeLimit > 0 {
		p.Limits.Time = time.Duration(y.Limits.TimeLimit * float64(time.Second))
	} else if b, err := os.ReadFile(filepath.Join(p.Dir, ".timelimit")); err == nil {
		// DOMjudge's and BAPCtools' file: seconds.
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && v > 0 {
			p.Limits.Time = time.Duration(v * float64(time.Second))
		}
	}
	p.Limits.Memory = y.Limits.Memory << 20
	p.Limits.Output = y.Limits.Output << 20

	flags := strings.Fields(y.ValidatorFlags)
	if custom {
		src, err := kattisValidator(p.Dir)
		if err != nil {
			return err
		}
		c := Checker{Kind: CheckKattis, Source: src, Args: flags}
		if p.Interactive {
			p.Interactor = &c
		} else {
			p.Checker = c
		}
	} else {
		c, err := kattisDefault(flags)
		if err != nil {
			return fmt.Errorf("%w: %s: validator_flags: %w", ErrInvalid, path, err)
		}
		p.Checker = *c
	}

	// Samples are judged but score nothing unless their testdata.yaml
	// says otherwise; a secret test scores 1 (Kattis's accept_score).
	if err := p.kattisGroups(filepath.Join(p.Dir, "data", "sample"), "sample", groupRules{aggregate: "sum"}); err != nil {
		return err
	}
	if err := p.kattisGroups(filepath.Join(p.Dir, "data", "secret"), "secret", groupRules{accept: 1, aggregate: "sum"}); err != nil {
		return err
	}
	return nil
}

// kattisValidator finds the one program under output_validators/: a
// directory (a program of several files) or a single source file.
func kattisValidator(dir string) (string, error) {
	base := filepath.Join(dir, "output_validators")
	if !isDir(base) {
		base = filepath.Join(dir, "output_validator") // the 2023-07 name
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("%w: problem %s: custom validation, but no output_validators/: %w", ErrInvalid, dir, err)
	}
	var found []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			found = append(found, filepath.Join(base, e.Name()))
		}
	}
	if len(found) == 1 && isDir(found[0]) {
		return found[0], nil
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%w: problem %s: %s is empty", ErrInvalid, dir, base)
	}
	// Several files straight under output_validator/: one program.
	if base == filepath.Join(dir, "output_validator") || len(found) > 1 {
		return base, nil
	}
	return found[0], nil
}

// testdataYAML is a group's testdata.yaml: its points and how its tests'
// scores combine. accept_score (legacy) is each accepted test's score;
// max_score (2023-07) is the whole group's.
type testdataYAML struct {
	AcceptScore *float64 `yaml:"accept_score"`
	MaxScore    *float64 `yaml:"max_score"`
	GraderFlags string   `yaml:"grader_flags"`
	Aggregation string   `yaml:"aggregation"`
}

// groupRules are what testdata.yaml says, inherited by subgroups.
type groupRules struct {
	accept    float64
	total     *float64
	aggregate string
}

// kattisGroups adds the tests of dir (data/sample or data/secret) as one
// group, and each subdirectory as a group of its own, in name order.
func (p *Problem) kattisGroups(dir, name string, rules groupRules) error {
	if !isDir(dir) {
		return nil
	}
	rules.total = nil
	if err := readTestdata(dir, &rules); err != nil {
		return err
	}
	g := &Group{Name: name, Aggregate: rules.aggregate}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInvalid, dir, err)
	}
	var subs []string
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			subs = append(subs, e.Name())
		case strings.HasSuffix(e.Name(), ".in"):
			ans := strings.TrimSuffix(full, ".in") + ".ans"
			if !exists(ans) {
				if !p.Interactive {
					return fmt.Errorf("%w: %s: no %s", ErrInvalid, full, filepath.Base(ans))
				}
				ans = "" // an interactive test may come with none
			}
			g.Tests = append(g.Tests, &Test{Name: name + "/" + strings.TrimSuffix(e.Name(), ".in"), Input: full, Answer: ans, Group: g})
		}
	}
	sortTests(g.Tests)
	for _, t := range g.Tests {
		t.Points = rules.accept
		if rules.total != nil {
			t.Points = *rules.total
			if g.Aggregate != "min" {
				t.Points = *rules.total / float64(len(g.Tests))
			}
		}
	}
	if len(g.Tests) > 0 {
		p.Groups = append(p.Groups, g)
	}
	slices.SortFunc(subs, naturalCompare)
	for _, s := range subs {
		if err := p.kattisGroups(filepath.Join(dir, s), name+"/"+s, rules); err != nil {
			return err
		}
	}
	return nil
}

func readTestdata(dir string, r *groupRules) error {
	path := filepath.Join(dir, "testdata.yaml")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		path = filepath.Join(dir, "test_group.yaml") // the 2023-07 name
		data, err = os.ReadFile(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInvalid, path, err)
	}
	var y testdataYAML
	if err := yaml.Unmarshal(data, &y); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	for _, v := range []*float64{y.AcceptScore, y.MaxScore} {
		if v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return fmt.Errorf("%w: %s: score %v: want a number >= 0", ErrInvalid, path, *v)
		}
	}
	if y.AcceptScore != nil {
		r.accept = *y.AcceptScore
	}
	r.total = y.MaxScore
	flags := strings.Fields(y.GraderFlags + " " + y.Aggregation)
	switch {
	case slices.Contains(flags, "sum"):
		r.aggregate = "sum"
	case slices.Contains(flags, "min"):
		r.aggregate = "min"
	}
	return nil
}

// sortTests orders tests by name, numbers by value: 2 before 10.
func sortTests(ts []*Test) {
	slices.SortFunc(ts, func(a, b *Test) int { return naturalCompare(a.Name, b.Name) })
}

// naturalCompare compares strings with runs of digits compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseUint(da, 10, 64)
			nb, _ := strconv.ParseUint(db, 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// polygonXML is the part of Polygon's problem.xml the judge reads.
type polygonXML struct {
	Names []struct {
		Value string `xml:"value,attr"`
	} `xml:"names>name"`
	Testsets []struct {
		Name        string `xml:"name,attr"`
		TimeLimit   int64  `xml:"time-limit"`   // ms
		MemoryLimit int64  `xml:"memory-limit"` // bytes
		Tests       []struct {
			Points *float64 `xml:"points,attr"`
			Group  string   `xml:"group,attr"`
		} `xml:"tests>test"`
	} `xml:"judging>testset"`
	Checker struct {
		Source struct {
			Path string `xml:"path,attr"`
		} `xml:"source"`
	} `xml:"assets>checker"`
	Interactor struct {
		Source struct {
			Path string `xml:"path,attr"`
		} `xml:"source"`
	} `xml:"assets>interactor"`
}

func (p *Problem) loadPolygon() error {
	p.Format = FormatPolygon
	var px polygonXML
	xmlPath := filepath.Join(p.Dir, "problem.xml")
	if data, err := os.ReadFile(xmlPath); err == nil {
		if err := xml.Unmarshal(data, &px); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, xmlPath, err)
		}
	}
	if len(px.Names) > 0 && px.Names[0].Value != "" {
		p.Name = px.Names[0].Value
	}
	var points []*float64
	var groups []string
	for _, ts := range px.Testsets {
		if ts.Name != "" && ts.Name != "tests" {
			continue
		}
		p.Limits.Time = time.Duration(ts.TimeLimit) * time.Millisecond
		p.Limits.Memory = ts.MemoryLimit
		for _, t := range ts.Tests {
			points = append(points, t.Points)
			groups = append(groups, t.Group)
		}
	}
	find := func(xmlRel string, names ...string) string {
		if xmlRel != "" {
			if full := filepath.Join(p.Dir, filepath.FromSlash(xmlRel)); exists(full) {
				return full
			}
		}
		for _, n := range names {
			for _, d := range []string{p.Dir, filepath.Join(p.Dir, "files")} {
				if full := filepath.Join(d, n); exists(full) {
					return full
				}
			}
		}
		return ""
	}
	if src := find(px.Checker.Source.Path, "check.cpp", "check.c", "checker.cpp", "checker.c", "check.py"); src != "" {
		p.Checker = Checker{Kind: CheckTestlib, Source: src, Flavour: FlavourTestlib}
	} else {
		p.Checker = Checker{Kind: CheckTokens}
	}
	if src := find(px.Interactor.Source.Path, "interactor.cpp", "interactor.c", "interactor.py"); src != "" {
		p.Interactive = true
		p.Interactor = &Checker{Kind: CheckTestlib, Source: src, Flavour: FlavourTestlib}
	}

	dir := filepath.Join(p.Dir, "tests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInvalid, dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && digitPrefix(e.Name()) == e.Name() {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, naturalCompare)
	byName := map[string]*Group{}
	for i, n := range names {
		in := filepath.Join(dir, n)
		ans := in + ".a"
		if !exists(ans) {
			return fmt.Errorf("%w: %s: no %s.a", ErrInvalid, in, n)
		}
		gname := "tests"
		if i < len(groups) && groups[i] != "" {
			gname = groups[i]
		}
		g := byName[gname]
		if g == nil {
			g = &Group{Name: gname, Aggregate: "sum"}
			byName[gname] = g
			p.Groups = append(p.Groups, g)
		}
		t := &Test{Name: n, Input: in, Answer: ans, Group: g, Points: 1}
		if i < len(points) && points[i] != nil {
			p.Scoring = true
			t.Points = *points[i]
		}
		g.Tests = append(g.Tests, t)
	}
	return nil
}

// PlainConfig is the TOML file of a plain problem directory
// (DIR/problem.toml, or --config FILE). Every key is optional.
//
//	name = "aplusb"
//	time_limit = "1s"          # CPU time per test
//	wall_time_limit = "3s"     # default: 2 x time_limit + 1s
//	memory_limit = "256M"
//	output_limit = "8M"
//	checker = "tokens"         # a checker spec: exact, tokens, floats:1e-6,
//	                           # testlib:check.cpp, kattis:validator.c, cms:cmp.py
//	interactor = "kattis:interactor.c"   # makes the problem interactive
//	scoring = true             # report scores (each test worth 1)
type PlainConfig struct {
	Name          string `toml:"name"`
	TimeLimit     string `toml:"time_limit"`
	WallTimeLimit string `toml:"wall_time_limit"`
	MemoryLimit   string `toml:"memory_limit"`
	OutputLimit   string `toml:"output_limit"`
	Checker       string `toml:"checker"`
	Interactor    string `toml:"interactor"`
	Scoring       bool   `toml:"scoring"`
}

func (p *Problem) loadPlain(config string) error {
	p.Format = FormatPlain
	p.Checker = Checker{Kind: CheckTokens}
	if config == "" {
		if c := filepath.Join(p.Dir, "problem.toml"); exists(c) {
			config = c
		}
	}
	if config != "" {
		if err := p.readPlainConfig(config); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInvalid, p.Dir, err)
	}
	g := &Group{Name: "tests", Aggregate: "sum"}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".in")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		in := filepath.Join(p.Dir, e.Name())
		ans := filepath.Join(p.Dir, name+".ans")
		if !exists(ans) {
			ans = filepath.Join(p.Dir, name+".out")
		}
		if !exists(ans) {
			if !p.Interactive {
				return fmt.Errorf("%w: %s: no %s.ans or %s.out", ErrInvalid, in, name, name)
			}
			ans = ""
		}
		g.Tests = append(g.Tests, &Test{Name: name, Input: in, Answer: ans, Group: g, Points: 1})
	}
	sortTests(g.Tests)
	if len(g.Tests) > 0 {
		p.Groups = append(p.Groups, g)
	}
	return nil
}

func (p *Problem) readPlainConfig(path string) error {
	var c PlainConfig
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%w: %s: unknown key %q", ErrInvalid, path, und[0].String())
	}
	if c.Name != "" {
		p.Name = c.Name
	}
	p.Scoring = c.Scoring
	var l limits.Limits
	set := func(key, flag, v string) error {
		if v == "" {
			return nil
		}
		if err := l.Set(flag, v); err != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrInvalid, path, key, err)
		}
		return nil
	}
	if err := set("time_limit", "cpu-time", c.TimeLimit); err != nil {
		return err
	}
	if err := set("wall_time_limit", "wall-time", c.WallTimeLimit); err != nil {
		return err
	}
	if err := set("memory_limit", "memory", c.MemoryLimit); err != nil {
		return err
	}
	if err := set("output_limit", "output-limit", c.OutputLimit); err != nil {
		return err
	}
	p.Limits.Time, p.Limits.Wall, p.Limits.Memory, p.Limits.Output = l.CPUTime, l.WallTime, l.Memory, l.OutputLimit
	dir := filepath.Dir(path)
	if c.Checker != "" {
		ch, err := ParseCheckerSpec(c.Checker, dir)
		if err != nil {
			return fmt.Errorf("%s: checker: %w", path, err)
		}
		p.Checker = *ch
	}
	if c.Interactor != "" {
		ch, err := ParseCheckerSpec(c.Interactor, dir)
		if err != nil {
			return fmt.Errorf("%s: interactor: %w", path, err)
		}
		if ch.Kind != CheckKattis && ch.Kind != CheckTestlib {
			return fmt.Errorf("%w: %s: interactor %q: want kattis:FILE or testlib:FILE", ErrInvalid, path, c.Interactor)
		}
		p.Interactive, p.Interactor = true, ch
	}
	return nil
}
