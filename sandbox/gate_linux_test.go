package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
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
