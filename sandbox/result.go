package sandbox

import (
	"fmt"
	"time"
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
	ExitRunnerFailed  = 125
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// Result is what one run did.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// ExitCode is CMD's exit code, or 126/127 when it could not be started;
	// -1 when CMD died by a signal.
	ExitCode int `json:"exit_code"`
	// Signal is the signal that killed CMD, 0 if none.
	Signal int `json:"signal"`
	// Wall is the wall-clock time from the container's start to its end.
	Wall time.Duration `json:"-"`
	// Message says in words what happened when that is not plain success,
	// e.g. "exec nosuch: not found".
	Message string `json:"message,omitempty"`
}

// ExitStatus is the status a shell would see: CMD's exit code, 128+N after
// death by signal N.
func (r *Result) ExitStatus() int {
	if r.Signal > 0 {
		return 128 + r.Signal
	}
	return r.ExitCode
}

// exitEvent is the init stage's last word on the control socket.
type exitEvent struct {
	ExitCode int    `json:"exit_code"`
	Signal   int    `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"` // set when CMD never ran
	// Unsupported marks an Error caused by a kernel feature the host lacks.
	Unsupported bool `json:"unsupported,omitempty"`
	Pid         int  `json:"pid,omitempty"` // CMD's pid in the sandbox
}

func (e *exitEvent) String() string {
	if e.Error != "" {
		return fmt.Sprintf("exit %d: %s", e.ExitCode, e.Error)
	}
	return fmt.Sprintf("exit %d signal %d", e.ExitCode, e.Signal)
}
