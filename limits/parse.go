package limits

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// valueError is a parse error before it knows which flag it belongs to;
// Limits.Set turns it into a *FlagError.
type valueError struct {
	kind   string // "size", "CPU count", ...
	value  string
	reason string
}

func (e *valueError) Error() string {
	return "invalid " + e.kind + " " + strconv.Quote(e.value) + ": " + e.reason
}

func (e *valueError) Unwrap() error { return ErrInvalid }

const sizeHint = "want bytes or a number with K, M, G or T, e.g. 256M, 1.5G"

// ParseSize parses a byte count: plain bytes ("1048576") or a number with a
// binary unit K, M, G or T ("512k", "256M", "1.5G"; case-insensitive, an
// optional trailing "B" or "iB" is accepted: "256MB", "256MiB" are 256M).
// Units are powers of 1024, as in docker, isolate and the kernel's own
// cgroup files.
func ParseSize(s string) (int64, error) {
	fail := func(reason string) (int64, error) {
		return 0, &valueError{kind: "size", value: s, reason: reason}
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return fail("empty (" + sizeHint + ")")
	}
	if t[0] == '-' {
		return fail("must not be negative")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	var mult float64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	case "t", "tb", "tib":
		mult = 1 << 40
	default:
		return fail("not a size (" + sizeHint + ")")
	}
	if num == "" {
		return fail("not a size (" + sizeHint + ")")
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || float64(n)*mult > math.MaxInt64 {
			return fail("too large")
		}
		return n * int64(mult), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return fail("not a size (" + sizeHint + ")")
	}
	b := f * mult
	if b >= math.MaxInt64 {
		return fail("too large")
	}
	if mult == 1 && b != math.Trunc(b) {
		return fail("not a whole number of bytes")
	}
	return int64(b), nil
}

// ParseCPUs parses a CPU bandwidth in CPUs ("1.5" = one and a half CPUs'
// worth of time per period). Range checks are Validate's.
func ParseCPUs(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, &valueError{kind: "CPU count", value: s, reason: "not a number (want e.g. 0.5, 1 or 1.5)"}
	}
	return f, nil
}

// ParseCpuset parses a CPU list as the kernel writes them ("0,1", "0-1",
// "0-3,6") and checks every CPU is online on this host. It returns the list
// in canonical form ("0,1" becomes "0-1").
func ParseCpuset(s string) (string, error) {
	return parseCpusetOn(s, realHost)
}

func parseCpusetOn(s string, h host) (string, error) {
	cpus, reason := parseCPUList(s)
	if reason == "" {
		reason = h.checkCPUs(cpus)
	}
	if reason != "" {
		return "", &valueError{kind: "cpuset", value: s, reason: reason}
	}
	return formatCPUList(cpus), nil
}

// ParseDuration parses a Go duration ("1.5s", "250ms", "2m") or a bare
// number of seconds ("2", "0.5"), the unit isolate and judges use.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		if math.Abs(f) > math.MaxInt64/float64(time.Second) {
			return 0, &valueError{kind: "duration", value: s, reason: "too large"}
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, &valueError{kind: "duration", value: s, reason: "not a duration (want e.g. 1.5s, 250ms, 2m or seconds)"}
	}
	return d, nil
}

// ParseRlimit parses "SOFT:HARD", or "N" for soft = hard = N. Each side is a
// count or a size (as ParseSize), or "unlimited" / "infinity".
func ParseRlimit(s string) (Rlimit, error) {
	soft, hard, two := strings.Cut(strings.TrimSpace(s), ":")
	parse := func(v string) (uint64, bool) {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "unlimited", "infinity", "inf", "-1":
			return Unlimited, true
		}
		n, err := ParseSize(v)
		return uint64(n), err == nil
	}
	fail := func() (Rlimit, error) {
		return Rlimit{}, &valueError{kind: "rlimit", value: s, reason: "want SOFT[:HARD], each a number, a size such as 64M, or unlimited"}
	}
	var r Rlimit
	var ok bool
	if r.Soft, ok = parse(soft); !ok {
		return fail()
	}
	r.Hard = r.Soft
	if two {
		if r.Hard, ok = parse(hard); !ok {
			return fail()
		}
	}
	return r, nil
}

// parseCPUList parses "0-3,6" into sorted unique CPU numbers; the reason is
// empty on success.
func parseCPUList(s string) ([]int, string) {
	const bad = "not a CPU list (want e.g. 0,1 or 0-3)"
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, bad
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(t, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, bad
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, bad
			}
		}
		if b-a > 1<<16 {
			return nil, bad
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	cpus := make([]int, 0, len(seen))
	for c := range seen {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	return cpus, ""
}

// formatCPUList is the inverse of parseCPUList, with ranges folded.
func formatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// host holds the facts Validate checks limits against, as functions so that
// tests can pretend to be another machine. A false ok means "unknown": the
// check is left to the kernel.
type host struct {
	onlineCPUs func() (cpus []int, ok bool)
	nrOpen     func() (n uint64, ok bool)
}

var realHost = host{onlineCPUs: onlineCPUsFact.get, nrOpen: nrOpenFact.get}

// factsTTL is how long a host fact read for Validate is used again. A
// run's limits are validated more than once on its way (the Spec, then
// the cgroup), and a judge's for every test: three reads of each file a
// test. Online CPUs and fs.nr_open change only by an administrator's
// hand; a limit that one made wrong within the window is still refused,
// by the kernel, when it is set.
const factsTTL = 100 * time.Millisecond

var (
	onlineCPUsFact = &recentFact[[]int]{read: readOnlineCPUs}
	nrOpenFact     = &recentFact[uint64]{read: readNrOpen}
)

// recentFact is a host fact, read again once factsTTL has passed.
type recentFact[T any] struct {
	read func() (T, bool)

	mu sync.Mutex
	at time.Time
	v  T
	ok bool
}

func (f *recentFact[T]) get() (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); f.at.IsZero() || now.Sub(f.at) >= factsTTL {
		f.v, f.ok = f.read()
		f.at = now
	}
	return f.v, f.ok
}

func readOnlineCPUs() ([]int, bool) {
	b, err := readControl("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, false
	}
	cpus, reason := parseCPUList(string(b))
	return cpus, reason == ""
}

func readNrOpen() (uint64, bool) {
	b, err := readControl("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// checkCPUs returns why cpus cannot be used here, or "".
func (h host) checkCPUs(cpus []int) string {
	online, ok := h.onlineCPUs()
	if !ok {
		return ""
	}
	on := map[int]bool{}
	for _, c := range online {
		on[c] = true
	}
	var missing []int
	for _, c := range cpus {
		if !on[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "CPU " + formatCPUList(missing) + " not online (this host has " + formatCPUList(online) + ")"
}
