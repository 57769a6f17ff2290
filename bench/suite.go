package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order the suite runs them.
const (
	ScenarioStartup    = "startup"
	ScenarioThroughput = "throughput"
	ScenarioClone      = "clone"
	ScenarioIO         = "io"
	ScenarioMemory     = "memory"
	ScenarioLimits     = "limits"
	ScenarioJudge      = "judge"
)

// Scenarios lists every scenario, in the order the suite runs them.
func Scenarios() []string {
	return []string{ScenarioStartup, ScenarioThroughput, ScenarioClone, ScenarioIO, ScenarioMemory, ScenarioLimits, ScenarioJudge}
}

// Config is one run of the suite. The zero value is the standard suite;
// Defaults fills in what is left empty. In JSON, durations are in
// nanoseconds and sizes in bytes.
type Config struct {
	// Scenarios to run (names from Scenarios); empty means all.
	Scenarios []string `json:"scenarios,omitempty"`
	// Backends, when set, keeps only the backends named (e.g. "bare",
	// "sandbox", "bwrap"); a name ending in "*" matches a prefix.
	Backends []string `json:"backends,omitempty"`
	// Budget is the time the measured rounds of all scenarios may take,
	// shared among them by weight; setup and warm-up come on top.
	Budget time.Duration `json:"budget"`
	// Smoke is the short version for CI: small trees, few runs, few idle
	// sandboxes, short VM timeouts. Every backend still runs.
	Smoke bool `json:"smoke,omitempty"`
	// N, when > 0, runs every backend exactly N times (the budget is then
	// ignored).
	N int `json:"n,omitempty"`
	// Warmup is the untimed runs of each backend before the rounds; 0 means
	// the default, negative none (one run still learns a backend's cost).
	Warmup int `json:"warmup"`
	// MinN and MaxN bound the runs a backend gets from the budget.
	MinN int `json:"min_n"`
	MaxN int `json:"max_n"`
	// Sandbox is the sandbox CLI binary the sandbox backends run: startup
	// cost includes the runner's own start. The CLI passes os.Executable().
	Sandbox string `json:"sandbox"`
	// TempDir holds the trees, stores, bundles and disk-backed files; it
	// should be on the disk whose speed matters (default /var/tmp).
	TempDir string `json:"temp_dir"`
	// CgroupRoot is where the sandbox, runc, crun and podman make their
	// cgroups (default /sandbox-bench); removed at the end.
	CgroupRoot string `json:"cgroup_root"`
	// CloneSizes are the sizes of the trees the clone scenario copies.
	CloneSizes []int64 `json:"clone_sizes"`
	// Concurrency levels of the throughput scenario.
	Concurrency []int `json:"concurrency"`
	// Window is how long one throughput sample counts completions.
	Window time.Duration `json:"window"`
	// IODriver is "auto" (fio when installed, else the built-in driver),
	// "fio" or "builtin".
	IODriver string `json:"io_driver"`
	// IOSize is the file size of the io scenario's runs.
	IOSize int64 `json:"io_size"`
	// Idle is how many idle sandboxes the memory scenario keeps alive.
	Idle int `json:"idle"`
	// KVMTimeout bounds the KVM probe boot: past it the guest is taken to
	// hang and the VM falls back to TCG. VMTimeout bounds any one boot.
	KVMTimeout time.Duration `json:"kvm_timeout"`
	VMTimeout  time.Duration `json:"vm_timeout"`
	// Progress, when set, hears how the run goes.
	Progress Progress `json:"-"`
}

// weights share the budget among the scenarios.
var weights = map[string]float64{
	ScenarioStartup: 0.36, ScenarioThroughput: 0.20, ScenarioClone: 0.10,
	ScenarioIO: 0.18, ScenarioMemory: 0.02, ScenarioLimits: 0.10, ScenarioJudge: 0.04,
}

// Defaults returns c with empty fields set: the standard suite, or with
// Smoke the short one.
func (c Config) Defaults() Config {
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Smoke {
		setD(&c.Budget, 15*time.Second)
		set(&c.Warmup, 1)
		set(&c.MinN, 2)
		set(&c.MaxN, 10)
		set(&c.Idle, 10)
		setD(&c.KVMTimeout, 3*time.Second)
		setD(&c.Window, 250*time.Millisecond)
		if c.Concurrency == nil {
			c.Concurrency = []int{1, 2}
		}
		if c.CloneSizes == nil {
			c.CloneSizes = []int64{8 << 20, 32 << 20}
		}
		if c.IOSize == 0 {
			c.IOSize = 8 << 20
		}
	}
	setD(&c.Budget, 6*time.Minute)
	set(&c.Warmup, 2)
	c.Warmup = max(c.Warmup, 0)
	set(&c.MinN, 5)
	set(&c.MaxN, 300)
	set(&c.Idle, 100)
	setD(&c.KVMTimeout, 10*time.Second)
	setD(&c.VMTimeout, 60*time.Second)
	setD(&c.Window, time.Second)
	if c.CloneSizes == nil {
		c.CloneSizes = []int64{100 << 20, 1 << 30}
	}
	if c.Concurrency == nil {
		c.Concurrency = []int{1, 2, 4, 8}
	}
	if c.IOSize == 0 {
		c.IOSize = 128 << 20
	}
	if c.IODriver == "" {
		c.IODriver = "auto"
	}
	if c.TempDir == "" {
		c.TempDir = "/var/tmp"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sandbox-bench"
	}
	return c
}

// Validate reports what is wrong with c (after Defaults).
func (c Config) Validate() error {
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios(), s) {
			return fmt.Errorf("%w: unknown scenario %q (want one of %s)", ErrInvalid, s, strings.Join(Scenarios(), ", "))
		}
	}
	switch c.IODriver {
	case "auto", "fio", "builtin":
	default:
		return fmt.Errorf("%w: io driver %q: want auto, fio or builtin", ErrInvalid, c.IODriver)
	}
	if c.N < 0 || c.MinN < 1 || c.MaxN < c.MinN {
		return fmt.Errorf("%w: runs: n %d, min %d, max %d", ErrInvalid, c.N, c.MinN, c.MaxN)
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return fmt.Errorf("%w: concurrency %d: must be at least 1", ErrInvalid, n)
		}
	}
	if c.Idle < 1 {
		return fmt.Errorf("%w: idle sandboxes %d: must be at least 1", ErrInvalid, c.Idle)
	}
	return nil
}

// wants reports whether the scenario is selected.
func (c Config) wants(scenario string) bool {
	return len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, scenario)
}

// WantsBackend reports whether the backend is selected by c.Backends.
func (c Config) WantsBackend(name string) bool { return c.wantsBackend(name) }

func (c Config) wantsBackend(name string) bool {
	if len(c.Backends) == 0 {
		return true
	}
	for _, b := range c.Backends {
		if p, ok := strings.CutSuffix(b, "*"); ok && strings.HasPrefix(name, p) || b == name {
			return true
		}
	}
	return false
}

// sizeName is a size as a group name: 100MB, 1GB, 8MB.
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMB", n>>20)
	}
	return fmt.Sprintf("%dKB", n>>10)
}
