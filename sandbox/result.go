package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
)

// Status is a run's verdict, with the names isolate's users know.
type Status string

const (
	StatusOK      Status = "OK" // CMD exited 0
	StatusRuntime Status = "RE" // CMD exited non-zero (126 and 127 included)
	StatusSignal  Status = "SG" // CMD was killed by a signal
	StatusTime    Status = "TO" // a CPU or wall time limit was hit
	StatusMemory  Status = "ML" // the memory limit was hit (OOM kill)
	StatusOutput  Status = "OL" // the output limit was hit
	StatusFailed  Status = "XX" // the runner itself failed
)

// Exit codes the runner itself uses, as timeout(1) and env(1) do.
const (
	ExitRunnerFailed  = stage.ExitRunnerFailed
	ExitNotExecutable = stage.ExitNotExecutable
	ExitNotFound      = stage.ExitNotFound
)

// ReportVersion is the version of the JSON report (Result's JSON form). It
// changes only when a field changes meaning or goes away; new fields may be
// added within a version.
const ReportVersion = 1

// Result is what one run did and used. Its JSON form is the run report
// documented in the README.
type Result struct {
	ID     string
	Status Status
	// ExitCode is CMD's exit code, or 126/127 when it could not be started;
	// -1 when CMD died by a signal.
	ExitCode int
	// Signal is the signal that killed CMD, 0 if none.
	Signal int
	// Wall is the time from the container's start to its end.
	Wall time.Duration
	// CPU time of everything in the sandbox, from the cgroup.
	CPU, CPUUser, CPUSys time.Duration
	// MemoryPeak is the most memory the sandbox had charged at once, from
	// the cgroup (page cache and tmpfs included).
	MemoryPeak int64
	OOMKilled  bool
	// PidsPeak is nil where the cgroup does not track it.
	PidsPeak        *int64
	IORead, IOWrite int64
	// Context switches of CMD and every process it left to PID 1.
	CSWVoluntary, CSWForced int64
	// OutputBytes is what CMD wrote to stdout and stderr and the runner
	// passed on; nil when CMD wrote straight into the caller's files.
	OutputBytes *int64
	// CgroupVersion is 1 or 2: which hierarchy the numbers come from; 0
	// for a rootless run without a cgroup (CPU and memory from rusage).
	CgroupVersion int
	// EnforcedBy says, per limit, what enforced it (ByCgroup, ...).
	EnforcedBy Enforcement
	// UserNamespace is how a rootless run's ids were mapped (IDMapSingle,
	// IDMapSubuid); empty for root.
	UserNamespace string
	// Limits are the limits the run had.
	Limits limits.Limits
	// Refused names the syscall for which the seccomp filter killed a
	// process of the sandbox (a "kill" rule), if it did.
	Refused string
	// Committed names the snapshot the run's changes were committed as.
	Committed string
	// Message says in words what happened when that is not plain success,
	// e.g. "memory limit 64 MiB exceeded; killed by the OOM killer".
	Message string
}

// ExitStatus is the status a shell would see: CMD's exit code, 128+N after
// death by signal N.
func (r *Result) ExitStatus() int {
	if r.Signal > 0 {
		return 128 + r.Signal
	}
	return r.ExitCode
}

// report is the JSON schema of a Result: times in milliseconds, sizes in
// bytes, snake_case names.
type report struct {
	Version         int          `json:"version"`
	ID              string       `json:"id"`
	Status          Status       `json:"status"`
	ExitCode        int          `json:"exit_code"`
	Signal          int          `json:"signal"`
	WallMs          float64      `json:"wall_ms"`
	CPUMs           float64      `json:"cpu_ms"`
	CPUUserMs       float64      `json:"cpu_user_ms"`
	CPUSysMs        float64      `json:"cpu_sys_ms"`
	MemoryPeakBytes int64        `json:"memory_peak_bytes"`
	OOMKilled       bool         `json:"oom_killed"`
	PidsPeak        *int64       `json:"pids_peak"`
	IOReadBytes     int64        `json:"io_read_bytes"`
	IOWriteBytes    int64        `json:"io_write_bytes"`
	CSWVoluntary    int64        `json:"csw_voluntary"`
	CSWForced       int64        `json:"csw_forced"`
	OutputBytes     *int64       `json:"output_bytes"`
	CgroupVersion   int          `json:"cgroup_version"`
	UserNamespace   string       `json:"user_namespace"`
	Limits          reportLimits `json:"limits"`
	EnforcedBy      Enforcement  `json:"enforced_by"`
	RefusedSyscall  string       `json:"refused_syscall,omitempty"`
	Committed       string       `json:"committed,omitempty"`
	Message         string       `json:"message"`
}

// reportLimits are the limits in force, 0 or null meaning none.
type reportLimits struct {
	MemoryBytes      int64          `json:"memory_bytes"`
	Pids             *int64         `json:"pids"`
	CPUs             *float64       `json:"cpus"`
	Cpuset           string         `json:"cpuset"`
	CPUTimeMs        float64        `json:"cpu_time_ms"`
	WallTimeMs       float64        `json:"wall_time_ms"`
	ExtraTimeMs      float64        `json:"extra_time_ms"`
	OutputLimitBytes int64          `json:"output_limit_bytes"`
	DiskBytes        int64          `json:"disk_bytes"`
	Rlimits          limits.Rlimits `json:"rlimits"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON writes the run report.
func (r *Result) MarshalJSON() ([]byte, error) {
	l := r.Limits
	return json.Marshal(report{
		Version: ReportVersion, ID: r.ID, Status: r.Status, ExitCode: r.ExitCode, Signal: r.Signal,
		WallMs: ms(r.Wall), CPUMs: ms(r.CPU), CPUUserMs: ms(r.CPUUser), CPUSysMs: ms(r.CPUSys),
		MemoryPeakBytes: r.MemoryPeak, OOMKilled: r.OOMKilled, PidsPeak: r.PidsPeak,
		IOReadBytes: r.IORead, IOWriteBytes: r.IOWrite, CSWVoluntary: r.CSWVoluntary, CSWForced: r.CSWForced,
		OutputBytes: r.OutputBytes, CgroupVersion: r.CgroupVersion, UserNamespace: userNSName(r.UserNamespace),
		EnforcedBy: r.EnforcedBy, RefusedSyscall: r.Refused, Committed: r.Committed, Message: r.Message,
		Limits: reportLimits{
			MemoryBytes: l.Memory, Pids: l.Pids, CPUs: l.CPUs, Cpuset: l.Cpuset,
			CPUTimeMs: ms(l.CPUTime), WallTimeMs: ms(l.WallTime), ExtraTimeMs: ms(l.ExtraTime),
			OutputLimitBytes: l.OutputLimit, DiskBytes: l.Disk, Rlimits: l.Rlimits,
		},
	})
}

// bytesText is n in the largest binary unit that divides it, as people
// write limits: 64 MiB, 1 GiB, 1500 B.
func bytesText(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n >= 1024 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d %s", n, units[i])
}

// ReportStream wraps the stream a run report will be appended to after
// CMD's own output (stderr, for `sandbox exec --json`), so that WriteReport
// can start the report on a line of its own: a CMD that ends its output
// with a report of its own, and no newline, must not make the last line of
// the stream its forgery. A stream so wrapped is copied through a pipe, not
// handed to CMD, as the runner must see its last byte.
func ReportStream(w io.Writer) io.Writer { return &lineEnd{w: w} }

// lineEnd remembers whether what passed through it ended a line.
type lineEnd struct {
	w       io.Writer
	mu      sync.Mutex
	partial bool // bytes written since the last newline
}

func (l *lineEnd) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.mu.Lock()
		l.partial = p[n-1] != '\n'
		l.mu.Unlock()
	}
	return n, err
}

// WriteReport appends the run report, one JSON object on a line of its own,
// to w.
func WriteReport(w io.Writer, res *Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if l, ok := w.(*lineEnd); ok {
		l.mu.Lock()
		if l.partial {
			b = append([]byte{'\n'}, b...)
		}
		l.mu.Unlock()
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// userNSName is the report's user_namespace: "none" for a run as root.
func userNSName(kind string) string {
	if kind == "" {
		return "none"
	}
	return kind
}
