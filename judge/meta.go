package judge

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// MetaFields are the keys of an isolate meta file (isolate(1), "META
// FILES"), as CMS and Judge0 parse them. A zero field is left out, as
// isolate leaves out what does not apply; ExitCode is written only when
// Exited.
type MetaFields struct {
	Time         float64 // CPU seconds (isolate's run time)
	TimeWall     float64 // wall-clock seconds
	MaxRSS       int64   // KiB
	CgMem        int64   // KiB, the control group's peak
	CgOOMKilled  bool
	CSWVoluntary int64
	CSWForced    int64
	Exited       bool // the program exited (rather than died of a signal)
	ExitCode     int
	ExitSig      int
	Killed       bool   // the sandbox killed it (a time limit)
	Status       string // "", RE, SG, TO or XX
	Message      string
}

// WriteMeta writes r in isolate's format: one "key:value" line per key,
// in isolate's order.
func WriteMeta(w io.Writer, r MetaFields) error {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\n", k, v) }
	if r.CgMem > 0 {
		kv("cg-mem", r.CgMem)
	}
	if r.CgOOMKilled {
		kv("cg-oom-killed", 1)
	}
	kv("csw-forced", r.CSWForced)
	kv("csw-voluntary", r.CSWVoluntary)
	if r.Exited {
		kv("exitcode", r.ExitCode)
	}
	if r.ExitSig != 0 {
		kv("exitsig", r.ExitSig)
	}
	if r.Killed {
		kv("killed", 1)
	}
	if r.MaxRSS > 0 {
		kv("max-rss", r.MaxRSS)
	}
	if r.Message != "" {
		kv("message", strings.ReplaceAll(r.Message, "\n", " "))
	}
	if r.Status != "" {
		kv("status", r.Status)
	}
	kv("time", fmt.Sprintf("%.3f", r.Time))
	kv("time-wall", fmt.Sprintf("%.3f", r.TimeWall))
	_, err := io.WriteString(w, b.String())
	return err
}

// metaOf is a run's meta file in isolate's terms. isolate has no memory or
// output status: a memory kill is SG with cg-oom-killed (as CMS reads it),
// an output kill SG with SIGKILL; the message says which. max-rss is the
// cgroup's peak too: the sandbox measures no separate resident set.
func metaOf(res *sandbox.Result) MetaFields {
	m := MetaFields{Time: res.CPU.Seconds(), TimeWall: res.Wall.Seconds(), CgMem: res.MemoryPeak >> 10, MaxRSS: res.MemoryPeak >> 10,
		CgOOMKilled: res.OOMKilled, CSWVoluntary: res.CSWVoluntary, CSWForced: res.CSWForced}
	switch res.Status {
	case sandbox.StatusOK:
		m.Exited, m.ExitCode = true, 0
	case sandbox.StatusRuntime:
		m.Exited, m.ExitCode, m.Status = true, res.ExitCode, "RE"
		m.Message = fmt.Sprintf("Exited with error status %d", res.ExitCode)
	case sandbox.StatusSignal:
		m.ExitSig, m.Status = res.Signal, "SG"
		m.Message = fmt.Sprintf("Caught fatal signal %d", res.Signal)
	case sandbox.StatusTime:
		m.Status, m.Killed = "TO", true
		m.Message = "Time limit exceeded"
		if res.Limits.WallTime > 0 && res.Wall > res.Limits.WallTime && (res.Limits.CPUTime == 0 || res.CPU <= res.Limits.CPUTime) {
			m.Message = "Time limit exceeded (wall clock)"
		}
	case sandbox.StatusMemory, sandbox.StatusOutput:
		m.Status, m.Killed, m.ExitSig = "SG", true, 9
		m.Message = res.Message
	default:
		m.Status, m.Message = "XX", res.Message
	}
	return m
}

// writeMetaFile writes res's meta file at path, through a temporary file
// renamed into place.
func writeMetaFile(path string, res *sandbox.Result) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing the meta file: %w", err)
	}
	err = WriteMeta(f, metaOf(res))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path+".meta")
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the meta file: %w", err)
	}
	return nil
}
