package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON report. It changes only when a
// field changes meaning or goes away; fields may be added within a version.
const SchemaVersion = 1

// Report kinds.
const (
	KindSuite   = "suite"   // the standard suite: scenarios x backends
	KindCommand = "command" // a user's command run in identical sandboxes
)

// Report is one run of the suite or of a user command: what `--json FILE`
// writes and `bench compare` reads. docs/bench.md documents the schema.
type Report struct {
	Version int       `json:"version"`
	Kind    string    `json:"kind"`
	Started time.Time `json:"started"`
	// DurationS is the wall time of the whole run, setup included.
	DurationS float64 `json:"duration_s"`
	Host      Host    `json:"host"`
	// Method is how the numbers were taken.
	Method Method `json:"method"`
	// Config is the suite's configuration, defaults filled in (KindSuite).
	Config *Config `json:"config,omitempty"`
	// Command is the user's command (KindCommand).
	Command []string `json:"command,omitempty"`
	Results []Result `json:"results"`
	// Targets are the suite's goals judged against Results (KindSuite).
	Targets []Target `json:"targets,omitempty"`
	// Notes are things a reader of the numbers should know: approximations
	// made, setup steps that failed for a whole scenario.
	Notes []string `json:"notes,omitempty"`
}

// Host is what the numbers depend on.
type Host struct {
	Kernel string `json:"kernel"`
	// CgroupMode is "v1", "hybrid" (v1 controllers and a cgroup2 mount
	// without them) or "v2".
	CgroupMode  string `json:"cgroup_mode"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model,omitempty"`
	MemoryBytes int64  `json:"memory_bytes"`
	// Accelerator is the VM backend's: "kvm", "tcg", or "" when no VM ran.
	Accelerator string `json:"accelerator,omitempty"`
	// Filesystem is the type of the filesystem holding the benchmark's
	// trees and disk-backed files, e.g. "ext4".
	Filesystem string `json:"filesystem,omitempty"`
	GoVersion  string `json:"go_version"`
	// LoadStart and LoadEnd are the 1-minute load average when the run
	// began and ended: other work on the machine is noise in every number.
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
	// Tools are the versions of the programs measured against.
	Tools map[string]string `json:"tools,omitempty"`
}

// Method is how the suite measured.
type Method struct {
	Warmup int `json:"warmup"` // untimed runs of each backend before the rounds
	// BudgetS is the time the suite aimed to spend measuring; the number of
	// runs of each backend follows from it and the backend's cost.
	BudgetS float64 `json:"budget_s"`
	MinN    int     `json:"min_n"`
	MaxN    int     `json:"max_n"`
	// FixedN, when set, is the number of runs of every backend.
	FixedN int `json:"fixed_n,omitempty"`
	// Interleaved: rounds run every backend once (A B C A B C ...), so
	// drift over time hits each alike.
	Interleaved bool `json:"interleaved"`
}

// Status of a result.
type Status string

const (
	StatusOK      Status = "ok"
	StatusSkipped Status = "skipped" // the backend is not installed or not applicable here
	StatusFailed  Status = "failed"  // it is there but did not work; Error says why
)

// Directions in which a metric gets better.
const (
	Lower  = "lower"
	Higher = "higher"
)

// Result is one metric of one backend in one scenario.
type Result struct {
	Scenario string `json:"scenario"`
	// Group splits a scenario into comparable sets: "c=2" in throughput,
	// "1GB" in clone, "seqwrite" in io. Ratios are taken within a group.
	Group   string `json:"group,omitempty"`
	Backend string `json:"backend"`
	Metric  string `json:"metric"`
	Unit    string `json:"unit"`
	Better  string `json:"better"` // Lower or Higher
	Status  Status `json:"status"`
	Error   string `json:"error,omitempty"`
	// Note says what the row really measures when that differs from its
	// name (an approximation), or which tool drove it.
	Note    string    `json:"note,omitempty"`
	Samples []float64 `json:"samples,omitempty"`
	Summary *Summary  `json:"summary,omitempty"`
	// Bare and Sandbox name this group's reference backends, and the
	// ratios are this row's median over theirs.
	Bare           string   `json:"bare,omitempty"`
	Sandbox        string   `json:"sandbox,omitempty"`
	RatioToBare    *float64 `json:"ratio_to_bare,omitempty"`
	RatioToSandbox *float64 `json:"ratio_to_sandbox,omitempty"`
}

// result makes a result row.
func result(scenario, group, backend, metric, unit, better string) *Result {
	return &Result{Scenario: scenario, Group: group, Backend: backend, Metric: metric, Unit: unit, Better: better, Status: StatusOK}
}

// skipOrFail marks r skipped (ErrMissing) or failed with err.
func skipOrFail(r *Result, err error) {
	r.Error = err.Error()
	if errors.Is(err, ErrMissing) || errors.Is(err, ErrNotApplicable) {
		r.Status = StatusSkipped
	} else {
		r.Status = StatusFailed
	}
}

// Key identifies a result across reports: scenario/group/backend/metric.
func (r *Result) Key() string {
	parts := []string{r.Scenario}
	if r.Group != "" {
		parts = append(parts, r.Group)
	}
	return strings.Join(append(parts, r.Backend, r.Metric), "/")
}

// OK reports whether r has numbers.
func (r *Result) OK() bool { return r.Status == StatusOK && r.Summary != nil }

// Find returns the result with the given scenario, group, backend and
// metric, or nil.
func (rep *Report) Find(scenario, group, backend, metric string) *Result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Scenario == scenario && r.Group == group && r.Backend == backend && r.Metric == metric {
			return r
		}
	}
	return nil
}

// finish summarises every result with samples and computes the ratios.
func (rep *Report) finish() {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Status == StatusOK && len(r.Samples) > 0 {
			s := Summarize(r.Samples)
			r.Summary = &s
		} else if r.Status == StatusOK {
			r.Status, r.Error = StatusFailed, "no samples"
		}
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		r.RatioToBare, r.RatioToSandbox = nil, nil
		if !r.OK() {
			continue
		}
		ratio := func(ref string) *float64 {
			if ref == "" {
				return nil
			}
			o := rep.Find(r.Scenario, r.Group, ref, r.Metric)
			if o == nil || !o.OK() || o.Summary.Median == 0 {
				return nil
			}
			v := r.Summary.Median / o.Summary.Median
			return &v
		}
		r.RatioToBare, r.RatioToSandbox = ratio(r.Bare), ratio(r.Sandbox)
	}
}

// WriteJSON writes rep, indented, to w.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteFile writes rep as JSON to path ("-" is stdout), atomically: a
// temporary file beside path renamed into place.
func (rep *Report) WriteFile(path string) error {
	if path == "-" {
		return rep.WriteJSON(os.Stdout)
	}
	return WriteFile(path, rep.WriteJSON)
}

// WriteFile writes a file through write, atomically (a temporary file
// beside path renamed into place), readable by everyone: reports are for
// people.
func WriteFile(path string, write func(io.Writer) error) error {
	return writeAtomic(path, write)
}

// ReadReport reads a JSON report.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("reading report %s: %w: %w", path, ErrBadReport, err)
	}
	if rep.Version != SchemaVersion {
		return nil, fmt.Errorf("reading report %s: %w: schema version %d, want %d", path, ErrBadReport, rep.Version, SchemaVersion)
	}
	// Summaries are recomputed from the samples, so that a report edited
	// or written by another tool cannot disagree with itself.
	rep.finish()
	return &rep, nil
}

// writeAtomic writes a file through a temporary one renamed into place, so
// a reader never sees half of it.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
