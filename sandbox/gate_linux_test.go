package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartGate holds CMD before its exec until the gate gives a byte, as
// an OCI runtime's create and start do; EOF fails the run and CMD never
// runs. CMD holds no gate of its own.
func TestStartGate(t *testing.T) {
	needRoot(t)
	t.Chdir("/")
	mark := filepath.Join(t.TempDir(), "ran")
	start := func(t *testing.T) (*Container, *os.File, *bytes.Buffer) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		spec := &Spec{Args: []string{"sh", "-c", "ls /proc/self/fd; touch " + mark},
			Mounts: []Mount{{Type: MountBind, Source: filepath.Dir(mark), Destination: filepath.Dir(mark)}},
			RunDir: testRunDir(t), CgroupRoot: testCgroupRoot,
			IO: IO{Stdout: &out, StartGate: r}}
		c, err := Start(context.Background(), spec)
		r.Close()
		if err != nil {
			w.Close()
			t.Fatal(err)
		}
		return c, w, &out
	}
	t.Run("released", func(t *testing.T) {
		c, w, out := start(t)
		time.Sleep(200 * time.Millisecond)
		if _, err := os.Stat(mark); err == nil {
			t.Fatal("CMD ran before the gate opened")
		}
		w.Write([]byte{1})
		w.Close()
		res, err := c.Wait()
		if err != nil || res.Status != StatusOK {
			t.Fatalf("Wait: %v, %+v", err, res)
		}
		// ls's own directory descriptor is 3: nothing else is held.
		if got := out.String(); got != "0\n1\n2\n3\n" {
			t.Errorf("CMD's descriptors: %q, want 0 1 2 and ls's own 3", got)
		}
		if _, err := os.Stat(mark); err != nil {
			t.Errorf("CMD did not run after the gate opened: %v", err)
		}
		os.Remove(mark)
	})
	t.Run("in its groups when Start returns", func(t *testing.T) {
		// An engine told the pid (an OCI runtime's create) looks for the
		// container's OOM events and usage in the groups it is in then:
		// conmon missed OOMs when PID 1 moved in only after Start.
		c, w, _ := start(t)
		defer func() { w.Close(); c.Wait() }()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.ID) {
			t.Errorf("PID 1's groups when Start returns:\n%s\nwant the run's, %s", b, c.ID)
		}
	})
	t.Run("closed", func(t *testing.T) {
		c, w, _ := start(t)
		w.Close()
		res, err := c.Wait()
		if !errors.Is(err, ErrSetup) {
			t.Errorf("Wait after EOF on the gate: %v, %+v; want ErrSetup", err, res)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Error("CMD ran though the gate closed")
		}
	})
}
