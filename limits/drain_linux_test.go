package limits

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDrain: Kill's wait. A process that has not begun its exit after the
// kill bound is stuck where SIGKILL does not reach: ErrBusy then, as
// before. One already in its exit is waited for up to the exit bound: the
// kernel finishes it, even if slowly (vmtest on 6.12: a killed run's last
// process unmounting its overlay waited seconds on the disk's writeback,
// and `sandbox gc` failed at the 3 s bound that this test's "exiting
// slowly" case failed at before).
func TestDrain(t *testing.T) {
	bounds := drainBounds{kill: 20 * time.Millisecond, exit: 500 * time.Millisecond}
	for _, tc := range []struct {
		name     string
		lingers  time.Duration // how long the process stays in the group
		exiting  bool          // whether it has begun its exit
		wantBusy bool
	}{
		{name: "gone at once", lingers: 0},
		{name: "gone within the kill bound", lingers: 5 * time.Millisecond},
		{name: "exiting slowly", lingers: 200 * time.Millisecond, exiting: true},
		{name: "stuck, not exiting", lingers: time.Hour, wantBusy: true},
		{name: "exiting past the exit bound", lingers: time.Hour, exiting: true, wantBusy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			procs := func() ([]int, error) {
				if time.Since(start) >= tc.lingers {
					return nil, nil
				}
				return []int{1 << 30}, nil // no such pid: describeProcs copes
			}
			// The kill bound runs from drain's first kill, not from start:
			// a guest under TCG can stall this goroutine for tens of
			// milliseconds between the two, which made every kill of drain's
			// first 20 ms look late (vmtest on 6.12: "killed 7 times").
			var firstKill time.Time
			var lateKills int
			kill := func([]int) {
				if firstKill.IsZero() {
					firstKill = time.Now()
				}
				if time.Since(firstKill) > bounds.kill {
					lateKills++
				}
			}
			err := drain(procs, kill, bounds, func(int) bool { return tc.exiting })
			if got := errors.Is(err, ErrBusy); got != tc.wantBusy {
				t.Fatalf("drain = %v, want busy %v", err, tc.wantBusy)
			}
			if lateKills > 1 {
				t.Errorf("killed %d times past the kill bound", lateKills)
			}
			took := time.Since(start)
			if tc.wantBusy && !tc.exiting && took > bounds.exit/2 {
				t.Errorf("a stuck process was waited for %v, past the kill bound %v", took, bounds.kill)
			}
		})
	}
}

// TestProcExiting reads PF_EXITING from /proc/PID/stat: not set for a
// live process, set for one that has exited (a zombie), and a pid that is
// gone counts as exiting.
func TestProcExiting(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	pid := cmd.Process.Pid
	// Not reaped until the end: a zombie, which has been through do_exit.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got := map[string]bool{"self": procExiting(os.Getpid()), "zombie": procExiting(pid)}
	cmd.Wait()
	got["gone"] = procExiting(pid)
	if diff := cmp.Diff(map[string]bool{"self": false, "zombie": true, "gone": true}, got); diff != "" {
		t.Errorf("procExiting (-want +got):\n%s", diff)
	}
	if d := describeProcs([]int{os.Getpid()}); !strings.Contains(d, "not exiting") {
		t.Errorf("describeProcs(self) = %q", d)
	}
}
