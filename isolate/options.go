package isolate

import (
	"fmt"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is what one invocation does to its box.
type Mode int

const (
	ModeNone Mode = iota
	ModeInit
	ModeRun
	ModeCleanup
	ModeVersion
	ModeHelp
)

// Options are isolate's command line as data: what the caller asked for,
// before it meets a box. Sizes are in KiB, as isolate takes them; a nil
// pointer is an option not given.
type Options struct {
	Mode  Mode
	BoxID int
	CG    bool

	Time, WallTime, ExtraTime time.Duration
	Mem, CGMem, Stack, FSize  *int64 // -m, --cg-mem, -k, -f
	Core                      *int64 // --core
	OpenFiles                 *int64 // -n; 0 is unlimited
	// Processes is -p: the most processes and threads; 0 is unlimited (-p
	// without a number). isolate's default is 1.
	Processes int64

	FullEnv       bool
	Env           []EnvRule
	Dirs          []DirRule // the caller's -d rules, in order
	NoDefaultDirs bool

	Stdin, Stdout, Stderr string // paths inside the box
	StderrToStdout        bool
	Meta                  string // host path
	Chdir                 string
	ShareNet              bool
	InheritFDs            bool
	SpecialFiles          bool
	AsUID, AsGID          *int

	Silent  bool
	Verbose int
	Wait    bool

	// Args is the command for --run.
	Args []string

	cgTiming bool // --cg-timing or --no-cg-timing was given

	// This implementation's own settings, outside isolate's option set:
	// where boxes live and which ids their users get (isolate's config
	// file holds these).
	BoxRoot            string
	FirstUID, FirstGID uint32
}

// Defaults outside isolate's options, as isolate's default configuration
// has them.
const (
	DefaultBoxRoot  = "/var/local/lib/isolate"
	DefaultFirstUID = 60000
	DefaultFirstGID = 60000
)

// Environment variables that set what isolate's config file would.
const (
	EnvBoxRoot  = "SANDBOX_ISOLATE_ROOT"
	EnvFirstUID = "SANDBOX_ISOLATE_FIRST_UID"
	EnvFirstGID = "SANDBOX_ISOLATE_FIRST_GID"
)

// defaultBoxRoot is DefaultBoxRoot for root. Without root, whose boxes
// cannot live there, it is a directory of the caller's own:
// $XDG_RUNTIME_DIR/sandbox-isolate, else sandbox-isolate-UID in the temp
// directory (refused at --init if someone else owns it).
func defaultBoxRoot(getenv func(string) string) string {
	if os.Geteuid() == 0 {
		return DefaultBoxRoot
	}
	if x := getenv("XDG_RUNTIME_DIR"); path.IsAbs(x) {
		return path.Join(x, "sandbox-isolate")
	}
	dir := getenv("TMPDIR")
	if !path.IsAbs(dir) {
		dir = "/tmp"
	}
	return path.Join(dir, "sandbox-isolate-"+strconv.Itoa(os.Geteuid()))
}

// MaxBoxID is the largest box id: Judge0 uses a submission's id modulo
// 2^31-1, CMS up to 65999.
const MaxBoxID = math.MaxInt32

// argKind says whether an option takes a value.
type argKind int

const (
	noArg argKind = iota
	reqArg
	optArg // only attached: -p60, --processes=60
)

type optDef struct {
	long  string
	short byte
	arg   argKind
	set   func(o *Options, v string, given bool) error
}

// ownOption says whether an option is ours, not isolate's: never matched
// by a prefix, so that isolate's abbreviations (--box for --box-id) mean
// what they mean to isolate.
func ownOption(name string) bool { return name == "box-root" }

func flag(f func(o *Options)) func(*Options, string, bool) error {
	return func(o *Options, _ string, _ bool) error { f(o); return nil }
}

func mode(m Mode) func(*Options, string, bool) error {
	return func(o *Options, _ string, _ bool) error {
		if o.Mode != ModeNone && o.Mode != m {
			return usageErrorf("only one of --init, --run, --cleanup, --version may be given")
		}
		o.Mode = m
		return nil
	}
}

func seconds_(name string, p func(*Options) *time.Duration) func(*Options, string, bool) error {
	return func(o *Options, v string, _ bool) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > 1e9 {
			return usageErrorf("invalid %s %q: want seconds, e.g. 1.5", name, v)
		}
		*p(o) = time.Duration(f * float64(time.Second))
		return nil
	}
}

func kib(name string, p func(*Options) **int64) func(*Options, string, bool) error {
	return func(o *Options, v string, _ bool) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/1024 {
			return usageErrorf("invalid %s %q: want a size in kilobytes", name, v)
		}
		*p(o) = &n
		return nil
	}
}

func str(p func(*Options) *string) func(*Options, string, bool) error {
	return func(o *Options, v string, _ bool) error { *p(o) = v; return nil }
}

func id(name string, p func(*Options) **int) func(*Options, string, bool) error {
	return func(o *Options, v string, _ bool) error {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return usageErrorf("invalid %s %q: want a number", name, v)
		}
		x := int(n)
		*p(o) = &x
		return nil
	}
}

// optDefs are isolate 2.x's options (isolate(1)), and --box-root, ours;
// made on first use, so that linking the package costs a `sandbox exec`
// start nothing.
var optDefs = sync.OnceValue(func() []optDef {
	return []optDef{
		{"box-id", 'b', reqArg, func(o *Options, v string, _ bool) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n > MaxBoxID {
				return usageErrorf("invalid box id %q: want 0 to %d", v, MaxBoxID)
			}
			o.BoxID = int(n)
			return nil
		}},
		{"cg", 0, noArg, flag(func(o *Options) { o.CG = true })},
		{"cg-mem", 0, reqArg, kib("--cg-mem", func(o *Options) **int64 { return &o.CGMem })},
		// Time is always the box's CPU time as a whole, measured by its control
		// group: what isolate measures either way for every process that ends
		// (its proxy, PID 1 of the box, reaps them all).
		{"cg-timing", 0, noArg, flag(func(o *Options) { o.cgTiming = true })},
		{"no-cg-timing", 0, noArg, flag(func(o *Options) { o.cgTiming = true })},
		{"chdir", 'c', reqArg, str(func(o *Options) *string { return &o.Chdir })},
		{"cleanup", 0, noArg, mode(ModeCleanup)},
		{"core", 0, reqArg, kib("--core", func(o *Options) **int64 { return &o.Core })},
		{"dir", 'd', reqArg, func(o *Options, v string, _ bool) error {
			r, err := ParseDirRule(v)
			if err != nil {
				return err
			}
			o.Dirs = append(o.Dirs, r)
			return nil
		}},
		{"no-default-dirs", 'D', noArg, flag(func(o *Options) { o.NoDefaultDirs = true })},
		{"env", 'E', reqArg, func(o *Options, v string, _ bool) error {
			r, err := ParseEnvRule(v)
			if err != nil {
				return err
			}
			o.Env = append(o.Env, r)
			return nil
		}},
		{"full-env", 'e', noArg, flag(func(o *Options) { o.FullEnv = true })},
		{"extra-time", 'x', reqArg, seconds_("-x/--extra-time", func(o *Options) *time.Duration { return &o.ExtraTime })},
		{"fsize", 'f', reqArg, kib("-f/--fsize", func(o *Options) **int64 { return &o.FSize })},
		{"help", 'h', noArg, mode(ModeHelp)},
		{"inherit-fds", 0, noArg, flag(func(o *Options) { o.InheritFDs = true })},
		{"init", 0, noArg, mode(ModeInit)},
		{"mem", 'm', reqArg, kib("-m/--mem", func(o *Options) **int64 { return &o.Mem })},
		{"meta", 'M', reqArg, str(func(o *Options) *string { return &o.Meta })},
		{"open-files", 'n', reqArg, kib("-n/--open-files", func(o *Options) **int64 { return &o.OpenFiles })},
		{"processes", 'p', optArg, func(o *Options, v string, given bool) error {
			if !given {
				o.Processes = 0
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > 4194303 {
				return usageErrorf("invalid -p/--processes %q: want 1 to 4194303, or no value for unlimited", v)
			}
			o.Processes = n
			return nil
		}},
		{"quota", 'q', reqArg, func(*Options, string, bool) error {
			return unsupportedf("-q/--quota: disk quotas are not supported (a box's files live on the host's filesystem; -f/--fsize bounds each file)")
		}},
		{"run", 0, noArg, mode(ModeRun)},
		{"share-net", 0, noArg, flag(func(o *Options) { o.ShareNet = true })},
		{"silent", 's', noArg, flag(func(o *Options) { o.Silent = true })},
		{"special-files", 0, noArg, flag(func(o *Options) { o.SpecialFiles = true })},
		{"stack", 'k', reqArg, kib("-k/--stack", func(o *Options) **int64 { return &o.Stack })},
		// The later of -r and --stderr-to-stdout wins, as in isolate.
		{"stderr", 'r', reqArg, func(o *Options, v string, _ bool) error { o.Stderr, o.StderrToStdout = v, false; return nil }},
		{"stderr-to-stdout", 0, noArg, flag(func(o *Options) { o.Stderr, o.StderrToStdout = "", true })},
		{"stdin", 'i', reqArg, str(func(o *Options) *string { return &o.Stdin })},
		{"stdout", 'o', reqArg, str(func(o *Options) *string { return &o.Stdout })},
		{"time", 't', reqArg, seconds_("-t/--time", func(o *Options) *time.Duration { return &o.Time })},
		{"tty-hack", 0, noArg, func(*Options, string, bool) error {
			return unsupportedf("--tty-hack: not supported (a box never gets the caller's terminal as its controlling tty)")
		}},
		{"print-cg-root", 0, noArg, func(*Options, string, bool) error {
			return unsupportedf("--print-cg-root: there is no one control group root; each run gets a group of its own under $SANDBOX_CGROUP_ROOT (default /sandbox) in every hierarchy it uses")
		}},
		{"verbose", 'v', noArg, flag(func(o *Options) { o.Verbose++ })},
		{"version", 0, noArg, mode(ModeVersion)},
		{"wait", 0, noArg, flag(func(o *Options) { o.Wait = true })},
		{"wall-time", 'w', reqArg, seconds_("-w/--wall-time", func(o *Options) *time.Duration { return &o.WallTime })},
		{"as-uid", 0, reqArg, id("--as-uid", func(o *Options) **int { return &o.AsUID })},
		{"as-gid", 0, reqArg, id("--as-gid", func(o *Options) **int { return &o.AsGID })},
		{"box-root", 0, reqArg, func(o *Options, v string, _ bool) error {
			if !path.IsAbs(v) {
				return usageErrorf("--box-root %q: want an absolute path", v)
			}
			o.BoxRoot = path.Clean(v)
			return nil
		}},
	}
})

// Parse reads isolate's command line as getopt_long does with isolate's
// option string: short options may be bundled (-sv) and take their value
// attached or as the next word (-b7, -b 7), long ones after "=" or as the
// next word, and a long option may be abbreviated to any unique prefix.
// -p/--processes takes its value only attached (-p60, --processes=60); alone
// it means unlimited. Words that are not options make the command, wherever
// they are (getopt permutes); after "--" every word does. getenv supplies
// this implementation's settings (EnvBoxRoot, ...).
func Parse(args []string, getenv func(string) string) (*Options, error) {
	o := &Options{Processes: 1, BoxRoot: defaultBoxRoot(getenv), FirstUID: DefaultFirstUID, FirstGID: DefaultFirstGID}
	if v := getenv(EnvBoxRoot); v != "" {
		if !path.IsAbs(v) {
			return nil, usageErrorf("$%s %q: want an absolute path", EnvBoxRoot, v)
		}
		o.BoxRoot = path.Clean(v)
	}
	for _, e := range []struct {
		name string
		p    *uint32
	}{{EnvFirstUID, &o.FirstUID}, {EnvFirstGID, &o.FirstGID}} {
		if v := getenv(e.name); v != "" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return nil, usageErrorf("$%s %q: want a positive number", e.name, v)
			}
			*e.p = uint32(n)
		}
	}
	i := 0
	for i < len(args) {
		a := args[i]
		i++
		switch {
		case a == "--":
			o.Args = append(o.Args, args[i:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			d, err := lookupLong(name)
			if err != nil {
				return nil, err
			}
			switch d.arg {
			case noArg:
				if hasVal {
					return nil, usageErrorf("option --%s takes no value", d.long)
				}
			case reqArg:
				if !hasVal {
					if i >= len(args) {
						return nil, usageErrorf("option --%s needs a value", d.long)
					}
					val, hasVal = args[i], true
					i++
				}
			}
			if err := d.set(o, val, hasVal); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				d := lookupShort(a[j])
				if d == nil {
					return nil, usageErrorf("unknown option -%c", a[j])
				}
				val, given := "", false
				switch d.arg {
				case reqArg:
					if j+1 < len(a) {
						val = a[j+1:]
					} else if i < len(args) {
						val = args[i]
						i++
					} else {
						return nil, usageErrorf("option -%c needs a value", a[j])
					}
					given, j = true, len(a)
				case optArg:
					if j+1 < len(a) {
						val, given, j = a[j+1:], true, len(a)
					}
				}
				if err := d.set(o, val, given); err != nil {
					return nil, err
				}
			}
		default:
			// getopt_long permutes, as isolate's option string asks: a
			// word that is not an option goes to the command, and options
			// after it are still isolate's. Hence "--run -- CMD ARGS".
			o.Args = append(o.Args, a)
		}
	}
	return o, o.check()
}

func lookupLong(name string) (*optDef, error) {
	var found []*optDef
	defs := optDefs()
	for i := range defs {
		d := &defs[i]
		if d.long == name {
			return d, nil
		}
		if strings.HasPrefix(d.long, name) && name != "" && !ownOption(d.long) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, usageErrorf("unknown option --%s", name)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = "--" + d.long
	}
	return nil, usageErrorf("option --%s is ambiguous (%s)", name, strings.Join(names, ", "))
}

func lookupShort(c byte) *optDef {
	defs := optDefs()
	for i := range defs {
		if defs[i].short == c {
			return &defs[i]
		}
	}
	return nil
}

// check is what isolate checks once every option is read.
func (o *Options) check() error {
	switch o.Mode {
	case ModeNone:
		return usageErrorf("no action given: want --init, --run or --cleanup")
	case ModeRun:
		if len(o.Args) == 0 {
			return usageErrorf("--run needs a command after --")
		}
	default:
		if len(o.Args) > 0 {
			return usageErrorf("unexpected argument %q: only --run takes a command", o.Args[0])
		}
	}
	if (o.CGMem != nil || o.cgTiming) && !o.CG {
		return usageErrorf("--cg-mem, --cg-timing and --no-cg-timing need --cg (control group mode)")
	}
	if uint64(o.FirstUID)+uint64(o.BoxID) >= math.MaxUint32 || uint64(o.FirstGID)+uint64(o.BoxID) >= math.MaxUint32 {
		return usageErrorf("box id %d: its uid or gid would be past 2^32-2", o.BoxID)
	}
	if (o.AsUID != nil || o.AsGID != nil) && os.Geteuid() != 0 {
		return usageErrorf("--as-uid and --as-gid need root")
	}
	if (o.AsUID == nil) != (o.AsGID == nil) {
		return usageErrorf("--as-uid and --as-gid go together")
	}
	return nil
}

// BoxUID and BoxGID are the identity the box's program runs as: the first
// uid and gid plus the box id, so that no two boxes share a user.
func (o *Options) BoxUID() uint32 { return o.FirstUID + uint32(o.BoxID) }
func (o *Options) BoxGID() uint32 { return o.FirstGID + uint32(o.BoxID) }

// BoxDir is the box's directory on the host, what --init prints.
func (o *Options) BoxDir() string { return path.Join(o.BoxRoot, strconv.Itoa(o.BoxID)) }

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}
