package limits

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limits is the part of a run's spec about quotas. The zero value limits
// nothing; DefaultLimits is what a run gets unless told otherwise.
type Limits struct {
	// Memory is the memory limit in bytes, 0 = unlimited. No swap is allowed
	// beyond it (v1: memory.memsw.limit_in_bytes = Memory where the host
	// accounts swap; v2: memory.swap.max = 0).
	Memory int64 `json:"memory,omitempty" toml:"memory,omitempty"`
	// Pids is the most processes and threads alive at once; nil = none
	// here, DefaultPids in a sandbox (which gives every run one). A
	// pointer because 0 is an error, not "unlimited".
	Pids *int64 `json:"pids,omitempty" toml:"pids,omitempty"`
	// CPUs is the CPU bandwidth in CPUs (a CFS quota of CPUs*100ms per 100ms
	// period); nil = unlimited. A pointer because 0 is an error.
	CPUs *float64 `json:"cpus,omitempty" toml:"cpus,omitempty"`
	// Cpuset is the CPUs the sandbox may run on ("0,1", "0-1"); "" = all.
	Cpuset string `json:"cpuset,omitempty" toml:"cpuset,omitempty"`
	// IOWeight is the relative block I/O weight, 10..1000 (docker's
	// --blkio-weight range); 0 = the host's default. Applied where the host
	// has a weight file (blkio.weight / blkio.bfq.weight on v1, io.weight /
	// io.bfq.weight on v2) and skipped elsewhere: a weight is a hint, not a
	// confinement.
	IOWeight int `json:"io_weight,omitempty" toml:"io_weight,omitempty"`

	// CPUTime, WallTime and ExtraTime are enforced by the sandbox supervisor
	// (polling Cgroup.CPUUsage and a clock); this package only carries and
	// validates them. 0 = no limit. ExtraTime is the grace given after a time
	// limit before the kill, so a verdict can be TO while the program still
	// gets to finish writing.
	CPUTime   time.Duration `json:"cpu_time,omitempty" toml:"cpu_time,omitempty"`
	WallTime  time.Duration `json:"wall_time,omitempty" toml:"wall_time,omitempty"`
	ExtraTime time.Duration `json:"extra_time,omitempty" toml:"extra_time,omitempty"`
	// OutputLimit caps stdout+stderr in bytes, enforced by the supervisor;
	// 0 = unlimited.
	OutputLimit int64 `json:"output_limit,omitempty" toml:"output_limit,omitempty"`
	// Disk is the size in bytes of the tmpfs holding the run's writable
	// layer, mounted by the sandbox; 0 = the sandbox's default.
	Disk int64 `json:"disk,omitempty" toml:"disk,omitempty"`

	Rlimits Rlimits `json:"rlimits,omitempty" toml:"rlimits,omitempty"`
}

// Rlimits are the setrlimit(2) limits of the sandbox's init process,
// inherited by everything it starts. A nil field leaves the limit as the
// init process got it.
type Rlimits struct {
	NoFile *Rlimit `json:"nofile,omitempty" toml:"nofile,omitempty"` // RLIMIT_NOFILE, open files
	FSize  *Rlimit `json:"fsize,omitempty" toml:"fsize,omitempty"`   // RLIMIT_FSIZE, bytes per file written
	Stack  *Rlimit `json:"stack,omitempty" toml:"stack,omitempty"`   // RLIMIT_STACK, bytes
	Core   *Rlimit `json:"core,omitempty" toml:"core,omitempty"`     // RLIMIT_CORE, bytes of core dumps
	// NProc is RLIMIT_NPROC. The kernel counts it per user across the whole
	// host and ignores it for root (and CAP_SYS_RESOURCE, CAP_SYS_ADMIN):
	// a sandbox refuses it there. Use Limits.Pids to bound a sandbox.
	NProc *Rlimit `json:"nproc,omitempty" toml:"nproc,omitempty"`
	AS    *Rlimit `json:"as,omitempty" toml:"as,omitempty"` // RLIMIT_AS, bytes of address space
}

// Unlimited is RLIM_INFINITY.
const Unlimited = math.MaxUint64

// Rlimit is a soft and hard limit. As text (in JSON, TOML and flags) it is
// "SOFT:HARD", with "unlimited" for Unlimited.
type Rlimit struct {
	Soft uint64
	Hard uint64
}

func (r Rlimit) String() string {
	f := func(v uint64) string {
		if v == Unlimited {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	return f(r.Soft) + ":" + f(r.Hard)
}

func (r Rlimit) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Rlimit) UnmarshalText(b []byte) error {
	v, err := ParseRlimit(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Default rlimits. NoFile's hard limit is systemd's default for services:
// high enough for builds that raise their soft limit (Go, Java, bazel), and
// below the kernel's default fs.nr_open (1048576), which setrlimit cannot
// exceed. Core is 0 so that a crashing program does not write a core file
// into the sandbox (or, with a host core_pattern pipe, out of it).
var (
	defaultNoFile = Rlimit{Soft: 1024, Hard: 524288}
	defaultCore   = Rlimit{Soft: 0, Hard: 0}
)

// DefaultLimits is what a run gets unless told otherwise: the default
// rlimits and nothing else, so builds and tests behave as on the host
// (package sandbox adds DefaultPids where Pids is nil).
// NoFile's hard limit is capped at the caller's own: raising a hard limit
// needs CAP_SYS_RESOURCE, which a runner may lack (rootless, or root in a
// container), and a default must never make a run fail.
func DefaultLimits() Limits {
	nofile, core := defaultNoFile, defaultCore
	if hard, ok := hardNoFile(); ok && hard < nofile.Hard {
		nofile.Hard, nofile.Soft = hard, min(nofile.Soft, hard)
	}
	return Limits{Rlimits: Rlimits{NoFile: &nofile, Core: &core}}
}

// hardNoFile is the calling process's hard RLIMIT_NOFILE.
func hardNoFile() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Max), true
}

// Flag describes one limit as a command-line flag (and profile key).
type Flag struct {
	Name  string // flag name without dashes, e.g. "memory", "rlimit-nofile"
	Usage string
}

// field ties a flag to its Limits field: how to set it from text and how to
// check it. Set and Validate both go through this table, so a value is
// judged the same whether it came from a flag, a profile or a JSON spec.
type field struct {
	name, usage string
	set         func(l *Limits, v string) error
	check       func(l *Limits, h host) *FlagError
}

// Flags lists the limits settable with Set, in the order a CLI should show
// them.
func Flags() []Flag {
	out := make([]Flag, len(fields))
	for i, f := range fields {
		out[i] = Flag{Name: f.name, Usage: f.usage}
	}
	return out
}

// Set parses value for the named flag ("memory", "--pids", "io_weight":
// dashes and underscores are alike) and stores it, or returns a *FlagError
// naming the flag. It is meant for flags and profile values alike.
func (l *Limits) Set(name, value string) error {
	return l.set(name, value, realHost)
}

func (l *Limits) set(name, value string, h host) error {
	key := strings.ReplaceAll(strings.TrimLeft(name, "-"), "_", "-")
	for _, f := range fields {
		if f.name != key {
			continue
		}
		old := *l
		if err := f.set(l, value); err != nil {
			*l = old
			var ve *valueError
			if errors.As(err, &ve) {
				return &FlagError{Flag: f.name, Value: quoteValue(value), Reason: ve.reason}
			}
			return &FlagError{Flag: f.name, Value: quoteValue(value), Reason: err.Error()}
		}
		if fe := f.check(l, h); fe != nil {
			*l = old
			fe.Value = quoteValue(value)
			return fe
		}
		return nil
	}
	return fmt.Errorf("setting limit %q: no such limit: %w", name, ErrInvalid)
}

// quoteValue shows a flag's value as the user wrote it: bare when it is a
// plain number, quoted otherwise (so that "" and "1 G" stay visible).
func quoteValue(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}

// Validate checks every limit against its range and this host (online CPUs
// for CPUs and Cpuset, fs.nr_open for NoFile). It returns all problems
// joined, each a *FlagError naming its flag and wrapping ErrInvalid.
func (l Limits) Validate() error {
	return l.validate(realHost)
}

func (l Limits) validate(h host) error {
	var errs []error
	for _, f := range fields {
		if fe := f.check(&l, h); fe != nil {
			errs = append(errs, fe)
		}
	}
	return errors.Join(errs...)
}

// DefaultPids is the pids limit of a run that sets none: room for a
// parallel build's compilers and a JVM's threads, far below a host's
// pid_max (32768 by default), so that a fork bomb ends there and not at
// the host's last pid.
const DefaultPids = 4096

const (
	minMemory   = 1 << 20
	maxPids     = 4194304 // PID_MAX_LIMIT on 64-bit
	minCPUs     = 0.01    // a 1ms quota per 100ms period, the kernel's minimum
	cfsPeriodUS = 100000
)

func flagErr(name string, value any, reason string) *FlagError {
	return &FlagError{Flag: name, Value: fmt.Sprint(value), Reason: reason}
}

func sizeField(name, usage string, p func(*Limits) *int64, min int64, minReason string) field {
	return field{
		name: name, usage: usage,
		set: func(l *Limits, v string) error {
			n, err := ParseSize(v)
			if err != nil {
				return err
			}
			*p(l) = n
			return nil
		},
		check: func(l *Limits, _ host) *FlagError {
			n := *p(l)
			switch {
			case n < 0:
				return flagErr(name, n, "must not be negative")
			case n > 0 && n < min:
				return flagErr(name, n, minReason)
			}
			return nil
		},
	}
}

func durationField(name, usage string, p func(*Limits) *time.Duration) field {
	return field{
		name: name, usage: usage,
		set: func(l *Limits, v string) error {
			d, err := ParseDuration(v)
			if err != nil {
				return err
			}
			*p(l) = d
			return nil
		},
		check: func(l *Limits, _ host) *FlagError {
			if d := *p(l); d < 0 {
				return flagErr(name, d, "must not be negative")
			}
			return nil
		},
	}
}

func rlimitField(name, usage string, p func(*Rlimits) **Rlimit) field {
	return field{
		name: "rlimit-" + name, usage: usage,
		set: func(l *Limits, v string) error {
			r, err := ParseRlimit(v)
			if err != nil {
				return err
			}
			*p(&l.Rlimits) = &r
			return nil
		},
		check: func(l *Limits, h host) *FlagError {
			r := *p(&l.Rlimits)
			if r == nil {
				return nil
			}
			if r.Soft > r.Hard {
				return flagErr("rlimit-"+name, r, "soft limit above hard limit")
			}
			if name == "nofile" {
				if max, ok := h.nrOpen(); ok && r.Hard > max {
					return flagErr("rlimit-"+name, r, fmt.Sprintf("hard limit above the host's fs.nr_open (%d)", max))
				}
			}
			return nil
		},
	}
}

var fields = []field{
	sizeField("memory", "memory limit, e.g. 256M or 1.5G, no swap beyond it (0 = unlimited)",
		func(l *Limits) *int64 { return &l.Memory }, minMemory, "must be at least 1M (0 = unlimited)"),
	{
		name: "pids", usage: "most processes and threads alive at once (default 4096)",
		set: func(l *Limits, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return &valueError{kind: "count", value: v, reason: "not a whole number"}
			}
			l.Pids = &n
			return nil
		},
		check: func(l *Limits, _ host) *FlagError {
			switch {
			case l.Pids == nil:
			case *l.Pids < 1:
				return flagErr("pids", *l.Pids, "must be at least 1")
			case *l.Pids > maxPids:
				return flagErr("pids", *l.Pids, fmt.Sprintf("must be at most %d", maxPids))
			}
			return nil
		},
	},
	{
		name: "cpus", usage: "CPU bandwidth in CPUs, e.g. 0.5 or 1.5 (a CFS quota over a 100ms period)",
		set: func(l *Limits, v string) error {
			f, err := ParseCPUs(v)
			if err != nil {
				return err
			}
			l.CPUs = &f
			return nil
		},
		check: func(l *Limits, h host) *FlagError {
			if l.CPUs == nil {
				return nil
			}
			f := *l.CPUs
			v := strconv.FormatFloat(f, 'g', -1, 64)
			switch {
			case math.IsNaN(f) || math.IsInf(f, 0):
				return flagErr("cpus", v, "not a number")
			case f <= 0:
				return flagErr("cpus", v, "must be greater than 0")
			case f < minCPUs:
				return flagErr("cpus", v, "must be at least 0.01")
			}
			if online, ok := h.onlineCPUs(); ok && f > float64(len(online)) {
				return flagErr("cpus", v, fmt.Sprintf("must be at most %d (the CPUs online on this host)", len(online)))
			}
			return nil
		},
	},
	{
		name: "cpuset", usage: "CPUs to run on, e.g. 0,1 or 0-1 (default: all)",
		set: func(l *Limits, v string) error {
			l.Cpuset = v
			return nil
		},
		check: func(l *Limits, h host) *FlagError {
			if l.Cpuset == "" {
				return nil
			}
			if _, err := parseCpusetOn(l.Cpuset, h); err != nil {
				return flagErr("cpuset", strconv.Quote(l.Cpuset), err.(*valueError).reason)
			}
			return nil
		},
	},
	{
		name: "io-weight", usage: "relative block I/O weight, 10..1000, where the host supports it (0 = default)",
		set: func(l *Limits, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return &valueError{kind: "weight", value: v, reason: "not a whole number"}
			}
			l.IOWeight = n
			return nil
		},
		check: func(l *Limits, _ host) *FlagError {
			if w := l.IOWeight; w != 0 && (w < 10 || w > 1000) {
				return flagErr("io-weight", w, "must be between 10 and 1000 (0 = default)")
			}
			return nil
		},
	},
	durationField("cpu-time", "CPU time limit, e.g. 2s or 1.5 (seconds; 0 = none)", func(l *Limits) *time.Duration { return &l.CPUTime }),
	durationField("wall-time", "wall-clock time limit, e.g. 10s (0 = none)", func(l *Limits) *time.Duration { return &l.WallTime }),
	durationField("extra-time", "grace after a time limit before the kill, e.g. 500ms", func(l *Limits) *time.Duration { return &l.ExtraTime }),
	sizeField("output-limit", "most bytes of output (stdout+stderr), e.g. 64M (0 = unlimited)",
		func(l *Limits) *int64 { return &l.OutputLimit }, 1, ""),
	sizeField("disk", "size of the writable tmpfs, e.g. 1G (0 = default)",
		func(l *Limits) *int64 { return &l.Disk }, 1, ""),
	rlimitField("nofile", "RLIMIT_NOFILE as SOFT[:HARD] (default 1024:524288)", func(r *Rlimits) **Rlimit { return &r.NoFile }),
	rlimitField("fsize", "RLIMIT_FSIZE as SOFT[:HARD], sizes allowed, e.g. 64M", func(r *Rlimits) **Rlimit { return &r.FSize }),
	rlimitField("stack", "RLIMIT_STACK as SOFT[:HARD], e.g. 8M:unlimited", func(r *Rlimits) **Rlimit { return &r.Stack }),
	rlimitField("core", "RLIMIT_CORE as SOFT[:HARD] (default 0)", func(r *Rlimits) **Rlimit { return &r.Core }),
	rlimitField("nproc", "RLIMIT_NPROC as SOFT[:HARD] (per user, host-wide; refused for root; prefer --pids)", func(r *Rlimits) **Rlimit { return &r.NProc }),
	rlimitField("as", "RLIMIT_AS as SOFT[:HARD], e.g. 1G", func(r *Rlimits) **Rlimit { return &r.AS }),
}
