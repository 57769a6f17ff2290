package isolate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Meta is one run as isolate's meta file describes it (-M FILE): plain
// data, so that other writers (`sandbox judge --meta-dir`) can fill one
// from their own results and write it with WriteMeta.
//
// Sizes are in KiB and times in seconds with millisecond precision, as
// isolate prints them. A field isolate would leave out is left out: no
// cg-mem without --cg (CgMem nil), no exitcode after a time limit
// (ExitCode nil), no status for a run that ended well.
type Meta struct {
	Time     time.Duration // "time": CPU time of everything in the box
	WallTime time.Duration // "time-wall"
	// MaxRSS is "max-rss" in KiB. isolate takes it from the box process's
	// rusage; here it is the box's peak memory charge, the same figure as
	// cg-mem (page cache included), since no per-process peak is kept.
	MaxRSS       int64
	CSWVoluntary int64  // "csw-voluntary"
	CSWForced    int64  // "csw-forced"
	CgMem        *int64 // "cg-mem" in KiB, with --cg only
	CgOOMKilled  bool   // "cg-oom-killed:1", with --cg only
	ExitCode     *int   // "exitcode"
	ExitSig      int    // "exitsig", 0 for none
	Killed       bool   // "killed:1": the sandbox ended the program
	// Status is "" (the program ended well), "RE", "SG", "TO" or "XX".
	Status  string
	Message string // "message", one line, for people
}

// Meta statuses, isolate's two letters.
const (
	MetaRuntimeError = "RE" // exited with a non-zero status
	MetaSignal       = "SG" // died on a signal
	MetaTimeout      = "TO" // a CPU or wall time limit was exceeded
	MetaInternal     = "XX" // the sandbox itself failed
)

// Messages isolate writes, which its callers match on: CMS tells a wall
// clock timeout from a CPU one by "wall" in the message, Judge0 an exec
// failure by "execve(...): ...".
const (
	msgTimeCPU  = "Time limit exceeded"
	msgTimeWall = "Time limit exceeded (wall clock)"
)

// WriteMeta writes m as isolate's meta file: one "key:value" line per key,
// in a fixed order, every line ending in a newline and none empty (CMS
// splits each line at its first colon and fails on a line without one).
func WriteMeta(w io.Writer, m *Meta) error {
	var b bytes.Buffer
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\n", k, v) }
	kv("time", seconds(m.Time))
	kv("time-wall", seconds(m.WallTime))
	kv("max-rss", m.MaxRSS)
	kv("csw-voluntary", m.CSWVoluntary)
	kv("csw-forced", m.CSWForced)
	if m.CgMem != nil {
		kv("cg-mem", *m.CgMem)
	}
	if m.CgOOMKilled {
		kv("cg-oom-killed", 1)
	}
	if m.ExitCode != nil {
		kv("exitcode", *m.ExitCode)
	}
	if m.ExitSig != 0 {
		kv("exitsig", m.ExitSig)
	}
	if m.Killed {
		kv("killed", 1)
	}
	if m.Status != "" {
		kv("status", m.Status)
	}
	if m.Message != "" {
		kv("message", oneLine(m.Message))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMetaFile writes m to path through a temporary file renamed into
// place, so a reader never sees half a file and a symlink planted at path
// is replaced, never followed. An existing file's owner is kept (Judge0
// creates the file and chowns it to itself before the run).
func WriteMetaFile(path string, m *Meta) error {
	var b bytes.Buffer
	if err := WriteMeta(&b, m); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing meta file: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if fi, serr := os.Lstat(path); err == nil && serr == nil && fi.Mode().IsRegular() {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			err = tmp.Chown(int(st.Uid), int(st.Gid))
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing meta file %s: %w", path, err)
	}
	return nil
}

// MetaFromResult describes a finished run as isolate would. cg says
// whether the caller asked for control groups (--cg), which decides
// whether cg-mem and cg-oom-killed are reported, as isolate does. The
// sandbox's own verdicts are translated into isolate's: an OOM kill is
// "SG" with cg-oom-killed (CMS infers a memory limit from exactly that),
// an exec failure is "XX" with isolate's execve message.
func MetaFromResult(res *sandbox.Result, cg bool) *Meta {
	m := &Meta{
		Time:         res.CPU,
		WallTime:     res.Wall,
		MaxRSS:       res.MemoryPeak / 1024,
		CSWVoluntary: res.CSWVoluntary,
		CSWForced:    res.CSWForced,
	}
	if cg {
		kib := res.MemoryPeak / 1024
		m.CgMem = &kib
		// The supervisor's memory kill (memory plus TCP buffers over the
		// limit) is a memory limit too: without the flag CMS would read a
		// plain signal, not MLE.
		m.CgOOMKilled = res.OOMKilled || res.Status == sandbox.StatusMemory
	}
	l := res.Limits
	switch {
	case res.Status == sandbox.StatusFailed:
		m.Status, m.Message = MetaInternal, res.Message
	case res.Status == sandbox.StatusTime:
		// isolate reports no exit status after a time limit, and killed:1
		// when it had to kill the program rather than see it end within
		// the extra time.
		m.Status, m.Message = MetaTimeout, msgTimeWall
		if l.CPUTime > 0 && res.CPU > l.CPUTime {
			m.Message = msgTimeCPU
		}
		m.Killed = res.Signal == int(syscall.SIGKILL)
	case res.Status == sandbox.StatusOutput:
		// isolate has no output limit (sandbox judge has): the runner
		// killed the program, which isolate's readers see as a signal.
		m.ExitSig, m.Killed = int(syscall.SIGKILL), true
		m.Status, m.Message = MetaSignal, "Output limit exceeded"
	case res.Signal > 0:
		m.ExitSig = res.Signal
		m.Status, m.Message = MetaSignal, fmt.Sprintf("Caught fatal signal %d", res.Signal)
	case execFailed(res):
		m.Status, m.Message = MetaInternal, execveMessage(res)
	default:
		code := res.ExitCode
		m.ExitCode = &code
		if code != 0 {
			m.Status, m.Message = MetaRuntimeError, fmt.Sprintf("Exited with error status %d", code)
		}
	}
	return m
}

// execFailed tells the exec stage's failure to start CMD (126, 127 with the
// stage's "exec NAME: reason") from CMD's own exit with those codes.
func execFailed(res *sandbox.Result) bool {
	return (res.ExitCode == sandbox.ExitNotFound || res.ExitCode == sandbox.ExitNotExecutable) &&
		strings.HasPrefix(res.Message, "exec ")
}

// execveMessage rewrites the exec stage's "exec ./x: no such file or
// directory" as isolate's `execve("./x"): No such file or directory`,
// the form Judge0 matches to report an exec format error.
func execveMessage(res *sandbox.Result) string {
	rest := strings.TrimPrefix(res.Message, "exec ")
	name, reason, ok := strings.Cut(rest, ": ")
	if !ok {
		return res.Message
	}
	switch reason {
	case "command not found":
		reason = "no such file or directory"
	}
	if reason != "" {
		reason = strings.ToUpper(reason[:1]) + reason[1:]
	}
	return fmt.Sprintf("execve(%q): %s", name, reason)
}

// ExitStatus is isolate's exit status for a meta file's status: 0 when the
// program ended well, 1 when it did not, 2 when the sandbox failed.
func ExitStatus(m *Meta) int {
	switch m.Status {
	case "":
		return 0
	case MetaInternal:
		return 2
	}
	return 1
}

func seconds(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\x00", " ")), " ")
}
