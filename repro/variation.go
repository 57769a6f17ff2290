package repro

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Variation names, as reprotest spells them.
const (
	Environment  = "environment"
	BuildPath    = "build_path"
	UserGroup    = "user_group"
	Home         = "home"
	DomainHost   = "domain_host"
	Locales      = "locales"
	ExecPath     = "exec_path"
	Timezone     = "timezone"
	Umask        = "umask"
	NumCPUs      = "num_cpus"
	FileOrdering = "fileordering"
	Time         = "time"
	Kernel       = "kernel"
	ASLR         = "aslr"
)

// All lists every variation, in reprotest's order.
var All = []string{Environment, BuildPath, Kernel, ASLR, NumCPUs, Time, UserGroup, FileOrdering,
	DomainHost, Home, Locales, ExecPath, Timezone, Umask}

// Settings of the experiment side of each variation.
const (
	captureEnvKey   = "SANDBOX_REPRO_CAPTURE_ENVIRONMENT"
	captureEnvValue = "i_capture_the_environment"
	variedHome      = "/nonexistent/second-build"
	variedHostname  = "i-capture-the-hostname"
	variedDomain    = "i-capture-the-domain"
	variedPathDir   = "/i_capture_the_path"
	controlTZ       = "UTC"
	variedTZ        = "GMT-14"
	controlUmask    = "0022"
	variedUmask     = "0002"
	controlLang     = "C.UTF-8"
	// DefaultLocale is the experiment's locale when Config.Locale is empty:
	// Estonian sorts ASCII letters unlike C (z after s, case folded).
	DefaultLocale = "et_EE.UTF-8"
	// variedPathRoot is where build_path puts the tree: another parent, and
	// another name, than the source's own.
	variedPathRoot = "/build/sandbox-repro-varied"
	// timeShift is how far the experiment's wall clock is ahead of the
	// control's (reprotest picks 180 to 540 days at random; a fixed shift
	// keeps bisection deterministic).
	timeShift = 398*24*time.Hour + 7*time.Hour + 13*time.Minute
)

// DefaultUserGroup is the experiment's identity when Config.UserGroup is
// nil: Debian's nobody and nogroup, which exist in every /etc/passwd, so
// id -un names them.
var DefaultUserGroup = sandbox.User{UID: 65534, GID: 65534}

// set is a set of variation names.
type set map[string]bool

func setOf(names ...string) set {
	s := set{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

// sorted lists s in All's order.
func (s set) sorted() []string {
	var out []string
	for _, n := range All {
		if s[n] {
			out = append(out, n)
		}
	}
	return out
}

func (s set) without(n string) set {
	out := set{}
	for k := range s {
		if k != n {
			out[k] = true
		}
	}
	return out
}

func (s set) minus(o set) set {
	out := set{}
	for k := range s {
		if !o[k] {
			out[k] = true
		}
	}
	return out
}

// name names a build by what it varies.
func (s set) name() string {
	if len(s) == 0 {
		return "control"
	}
	return strings.Join(s.sorted(), "+")
}

// ParseVary resolves --vary and --no-vary lists (each entry a name, a
// comma-separated list of names, or "all"; reprotest's "+name" and "-name"
// are accepted too) into the variations in force: every one when vary is
// empty, else only those named, less those in noVary. explicit is what
// vary named, so that a variation asked for by name that cannot take
// effect is refused rather than dropped.
func ParseVary(vary, noVary []string) (names []string, explicit []string, err error) {
	split := func(list []string) ([]string, []string, error) {
		var plus, minus []string
		for _, l := range list {
			for _, n := range strings.Split(l, ",") {
				n = strings.TrimSpace(n)
				neg := false
				switch {
				case strings.HasPrefix(n, "-"):
					n, neg = n[1:], true
				case strings.HasPrefix(n, "+"):
					n = n[1:]
				}
				if n == "" {
					continue
				}
				var ns []string
				if n == "all" {
					ns = All
				} else if slices.Contains(All, n) {
					ns = []string{n}
				} else {
					return nil, nil, fmt.Errorf("%w: unknown variation %q (want one of %s, or all)", ErrUsage, n, strings.Join(All, ", "))
				}
				if neg {
					minus = append(minus, ns...)
				} else {
					plus = append(plus, ns...)
				}
			}
		}
		return plus, minus, nil
	}
	plus, minus, err := split(vary)
	if err != nil {
		return nil, nil, err
	}
	noPlus, noMinus, err := split(noVary)
	if err != nil {
		return nil, nil, err
	}
	on := setOf(plus...)
	if len(plus) == 0 {
		on = setOf(All...)
	}
	for _, n := range append(minus, noPlus...) {
		delete(on, n)
	}
	for _, n := range noMinus { // --no-vary=-name: vary it after all
		on[n] = true
	}
	if len(on) == 0 {
		return nil, nil, fmt.Errorf("%w: no variation left to vary", ErrUsage)
	}
	return on.sorted(), setOf(plus...).minus(setOf(append(minus, noPlus...)...)).sorted(), nil
}
