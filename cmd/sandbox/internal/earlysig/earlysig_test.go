package earlysig

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "EARLYSIG_HELPER"

// TestMain is the helper too: the test binary run again as `X exec`,
// the way the CLI is, which catches the signals from its init.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

// helper sends itself each forwarded signal and exits 0 if every one came
// through Signals, which would have ended the process otherwise.
func helper() int {
	ch := Signals()
	if ch == nil {
		return 3
	}
	for _, s := range Forwarded {
		syscall.Kill(os.Getpid(), s.(syscall.Signal))
		select {
		case got := <-ch:
			if got != s {
				return 4
			}
		case <-time.After(5 * time.Second):
			return 5
		}
	}
	return 0
}

func TestCaughtAsExec(t *testing.T) {
	cmd := exec.Command(os.Args[0], "exec")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper run as `exec`: %v, %s (3: no channel; 4: another signal; 5: none came)", err, out)
	}
}

// Anyone else gets nil, and calls signal.Notify itself: this test binary
// (not started as `exec`) among them.
func TestNoneOtherwise(t *testing.T) {
	if ch := Signals(); ch != nil {
		t.Errorf("Signals() in a process not started as exec: %v, want nil", ch)
	}
}
