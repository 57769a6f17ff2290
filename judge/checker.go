package judge

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// CheckKind says how a test's output is judged.
type CheckKind string

const (
	// CheckExact: byte for byte; output with the same tokens but other
	// whitespace is PE.
	CheckExact CheckKind = "exact"
	// CheckTokens: the same whitespace-separated tokens.
	CheckTokens CheckKind = "tokens"
	// CheckFloats: tokens, numbers within an absolute or relative tolerance.
	CheckFloats CheckKind = "floats"
	// CheckTestlib: a testlib checker, `checker input output answer`; its
	// exit code is the verdict (see Flavour).
	CheckTestlib CheckKind = "testlib"
	// CheckKattis: a Kattis output validator, `validator input answer
	// feedback_dir [flags] < output`: 42 AC, 43 WA, anything else JE.
	CheckKattis CheckKind = "kattis"
	// CheckCMS: a CMS comparator, `checker input answer output`: a score
	// from 0 to 1 on stdout, a message on stderr.
	CheckCMS CheckKind = "cms"
)

// Testlib exit-code flavours, as testlib.h selects them at compile time.
const (
	FlavourTestlib   = "testlib"   // 0 OK, 1 WA, 2 PE, 3 FAIL, 4 dirt (PE), 7 points, 8 unexpected EOF (PE)
	FlavourEjudge    = "ejudge"    // 0 OK, 5 WA, 4 PE, 6 FAIL, 7 points
	FlavourContester = "contester" // 0xAC OK, 0xAB WA, 0xAA PE, 0xA3 FAIL, 0xA6 dirt (PE)
)

// Checker is how outputs are judged: a built-in comparison, or a program
// (Source: a file, or a directory holding one program) that the judge
// compiles and runs in a sandbox of its own for every test.
type Checker struct {
	Kind    CheckKind `json:"kind"`
	Source  string    `json:"source,omitempty"`
	Flavour string    `json:"flavour,omitempty"`
	// Args are passed after the checker's own arguments (Kattis's
	// validator_flags).
	Args []string `json:"args,omitempty"`
	// AbsTol and RelTol are CheckFloats' tolerances: a number is accepted
	// when within either.
	AbsTol float64 `json:"abs_tolerance,omitempty"`
	RelTol float64 `json:"rel_tolerance,omitempty"`
	// CaseInsensitive compares tokens ignoring case (Kattis's default
	// validator, unless case_sensitive).
	CaseInsensitive bool `json:"case_insensitive,omitempty"`
	// SpaceSensitive makes a whitespace difference WA (Kattis's
	// space_change_sensitive).
	SpaceSensitive bool `json:"space_sensitive,omitempty"`

	isInteractor bool // for messages
}

// External reports whether the checker is a program to compile and run.
func (c *Checker) External() bool {
	return c.Kind == CheckTestlib || c.Kind == CheckKattis || c.Kind == CheckCMS
}

// String is the checker as a spec (ParseCheckerSpec's input).
func (c *Checker) String() string {
	switch c.Kind {
	case CheckFloats:
		return fmt.Sprintf("floats:%g:%g", c.AbsTol, c.RelTol)
	case CheckTestlib:
		if c.Flavour != "" && c.Flavour != FlavourTestlib {
			return "testlib-" + c.Flavour + ":" + c.Source
		}
		return "testlib:" + c.Source
	case CheckKattis, CheckCMS:
		return string(c.Kind) + ":" + c.Source
	}
	return string(c.Kind)
}

// DefaultTolerance is CheckFloats' tolerance when the spec gives none.
const DefaultTolerance = 1e-6

// ParseCheckerSpec reads a checker given as text: exact, tokens, floats
// (floats:TOL for both tolerances, floats:ABS:REL), testlib:FILE,
// testlib-ejudge:FILE, testlib-contester:FILE, kattis:FILE, cms:FILE.
// Relative files are resolved against dir.
func ParseCheckerSpec(spec, dir string) (*Checker, error) {
	kind, arg, hasArg := strings.Cut(spec, ":")
	bad := func(why string) error {
		return fmt.Errorf("%w: checker %q: %s (want exact, tokens, floats[:ABS[:REL]], testlib[-ejudge|-contester]:FILE, kattis:FILE or cms:FILE)",
			ErrInvalid, spec, why)
	}
	file := func() (string, error) {
		if !hasArg || arg == "" {
			return "", bad("no program given")
		}
		if !filepath.IsAbs(arg) {
			arg = filepath.Join(dir, arg)
		}
		if !exists(arg) {
			return "", bad(arg + " does not exist")
		}
		return arg, nil
	}
	switch kind {
	case "exact", "tokens":
		if hasArg {
			return nil, bad("takes no argument")
		}
		return &Checker{Kind: CheckKind(kind)}, nil
	case "floats":
		c := &Checker{Kind: CheckFloats, AbsTol: DefaultTolerance, RelTol: DefaultTolerance}
		if hasArg {
			parts := strings.Split(arg, ":")
			if len(parts) > 2 {
				return nil, bad("too many tolerances")
			}
			var tols []float64
			for _, s := range parts {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, bad(fmt.Sprintf("tolerance %q: want a number >= 0", s))
				}
				tols = append(tols, v)
			}
			c.AbsTol, c.RelTol = tols[0], tols[0]
			if len(tols) == 2 {
				c.RelTol = tols[1]
			}
		}
		return c, nil
	case "testlib", "testlib-ejudge", "testlib-contester", "kattis", "cms":
		src, err := file()
		if err != nil {
			return nil, err
		}
		c := &Checker{Kind: CheckKind(kind), Source: src}
		if k, fl, ok := strings.Cut(kind, "-"); ok {
			c.Kind, c.Flavour = CheckKind(k), fl
		} else if kind == "testlib" {
			c.Flavour = FlavourTestlib
		}
		return c, nil
	}
	return nil, bad("unknown kind")
}

// kattisDefault is Kattis's default output validator with its flags:
// tokens, case-insensitive and whitespace-tolerant unless told otherwise,
// numbers within float tolerances when given.
func kattisDefault(flags []string) (*Checker, error) {
	c := &Checker{Kind: CheckTokens, CaseInsensitive: true}
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		switch f {
		case "case_sensitive":
			c.CaseInsensitive = false
		case "space_change_sensitive":
			c.SpaceSensitive = true
		case "float_tolerance", "float_absolute_tolerance", "float_relative_tolerance":
			if i+1 >= len(flags) {
				return nil, fmt.Errorf("%s: no value", f)
			}
			v, err := strconv.ParseFloat(flags[i+1], 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%s %q: want a number >= 0", f, flags[i+1])
			}
			i++
			c.Kind = CheckFloats
			switch f {
			case "float_tolerance":
				c.AbsTol, c.RelTol = v, v
			case "float_absolute_tolerance":
				c.AbsTol = v
			default:
				c.RelTol = v
			}
		default:
			return nil, fmt.Errorf("unknown flag %q", f)
		}
	}
	return c, nil
}

// compare judges output against answer with a built-in checker: the verdict
// (AC, WA or PE) and, when not AC, why.
func (c *Checker) compare(output, answer []byte) (Verdict, string) {
	if c.Kind == CheckExact && bytes.Equal(output, answer) {
		return AC, ""
	}
	if c.SpaceSensitive && !sameSpacing(output, answer) {
		return WA, "whitespace differs from the answer's"
	}
	out, ans := bytes.Fields(output), bytes.Fields(answer)
	for i := range min(len(out), len(ans)) {
		if ok, why := c.token(out[i], ans[i]); !ok {
			return WA, fmt.Sprintf("token %d: %s", i+1, why)
		}
	}
	switch {
	case len(out) < len(ans):
		return WA, fmt.Sprintf("output ends after %d tokens; the answer has %d (next: %s)", len(out), len(ans), quoteToken(ans[len(out)]))
	case len(out) > len(ans):
		return WA, fmt.Sprintf("output goes on after the answer's %d tokens: %s", len(ans), quoteToken(out[len(ans)]))
	}
	if c.Kind == CheckExact {
		return PE, "the right tokens, with other whitespace than the answer's"
	}
	return AC, ""
}

func (c *Checker) token(out, ans []byte) (bool, string) {
	if bytes.Equal(out, ans) || (c.CaseInsensitive && bytes.EqualFold(out, ans)) {
		return true, ""
	}
	if c.Kind == CheckFloats {
		if a, err := strconv.ParseFloat(string(ans), 64); err == nil {
			o, err := strconv.ParseFloat(string(out), 64)
			if err != nil {
				return false, fmt.Sprintf("expected the number %s, got %s", quoteToken(ans), quoteToken(out))
			}
			if withinTolerance(o, a, c.AbsTol, c.RelTol) {
				return true, ""
			}
			return false, fmt.Sprintf("expected %s, got %s (difference %.3g; tolerance %g absolute, %g relative)",
				quoteToken(ans), quoteToken(out), math.Abs(o-a), c.AbsTol, c.RelTol)
		}
	}
	return false, fmt.Sprintf("expected %s, got %s", quoteToken(ans), quoteToken(out))
}

// withinTolerance is Kattis's rule: within the absolute tolerance, or
// within the relative one of the answer's magnitude.
func withinTolerance(got, want, abs, rel float64) bool {
	if got == want {
		return true
	}
	if math.IsNaN(got) || math.IsNaN(want) || math.IsInf(got, 0) || math.IsInf(want, 0) {
		return false
	}
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Abs(want)
}

// sameSpacing compares the whitespace between tokens (and around them),
// run for run; trailing whitespace at the very end is ignored.
func sameSpacing(a, b []byte) bool {
	return bytes.Equal(bytes.TrimRight(a, " \t\r\n"), bytes.TrimRight(b, " \t\r\n"))
}

func quoteToken(t []byte) string {
	if len(t) > 40 {
		return strconv.Quote(string(t[:40])) + "..."
	}
	return strconv.Quote(string(t))
}

// testlibVerdict reads a testlib checker's exit code in its flavour; ok is
// false for a code the flavour does not define (a judge error).
func testlibVerdict(flavour string, code int) (v Verdict, points, ok bool) {
	type codes struct{ ok, wa, pe, fail, dirt, points, eof int }
	var t codes
	switch flavour {
	case FlavourEjudge:
		t = codes{0, 5, 4, 6, -1, 7, -1}
	case FlavourContester:
		t = codes{0xAC, 0xAB, 0xAA, 0xA3, 0xA6, -1, -1}
	default:
		t = codes{0, 1, 2, 3, 4, 7, 8}
	}
	switch code {
	case t.ok:
		return AC, false, true
	case t.wa:
		return WA, false, true
	case t.pe, t.dirt, t.eof:
		return PE, false, true
	case t.points:
		return AC, true, true
	case t.fail:
		return JE, false, true
	}
	return JE, false, false
}

// firstNumber is the first number in s, skipping a leading "points" word
// (testlib's quitp output) and anything that is not a number.
func firstNumber(s string) (float64, bool) {
	for _, f := range strings.Fields(s) {
		if v, err := strconv.ParseFloat(strings.TrimRight(f, ",;:"), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	}
	return 0, false
}
