package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/snapshot"
)

// busyboxStore is a store in a temporary directory holding the busybox
// root as committed snapshot "base".
func busyboxStore(t *testing.T) string {
	t.Helper()
	root := fixtures.Busybox(t)
	dir := t.TempDir()
	st, err := snapshot.Open(snapshot.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Import(context.Background(), "base", root, snapshot.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Every run's own snapshot is gone: only committed ones remain.
		st, err := snapshot.Open(snapshot.Config{Root: dir})
		if err != nil {
			t.Error(err)
			return
		}
		defer st.Close()
		st.Walk(context.Background(), func(_ context.Context, i snapshot.Info) error {
			if i.Kind != snapshot.KindCommitted {
				t.Errorf("left in the store: %s (%s)", i.Name, i.Kind)
			}
			return nil
		})
	})
	return dir
}

func TestSnapshotRoot(t *testing.T) {
	needRoot(t)
	store := busyboxStore(t)
	on := func(name, script string) *Spec {
		return &Spec{Snapshot: &SnapshotRoot{Store: store, Name: name}, Args: []string{"sh", "-c", script}}
	}

	t.Run("concurrent runs see only their own writes", func(t *testing.T) {
		var wg sync.WaitGroup
		outs := make([]string, 16)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, _, _ := run(t, on("base", fmt.Sprintf("echo %d > /etc/shared; sleep 0.2; cat /etc/shared", i)))
				outs[i] = out
			}()
		}
		wg.Wait()
		for i, out := range outs {
			if want := fmt.Sprintf("%d\n", i); out != want {
				t.Errorf("run %d read %q from the path all runs wrote", i, out)
			}
		}
		if out, _, _ := run(t, on("base", "cat /etc/shared 2>/dev/null; true")); out != "" {
			t.Errorf("the snapshot kept a run's write: %q", out)
		}
	})

	t.Run("commit", func(t *testing.T) {
		s := on("base", "echo installed > /etc/tool; rm /bin/vi")
		s.Snapshot.Commit = "base+tool"
		_, _, res := run(t, s)
		if res.Status != StatusOK || res.Committed != "base+tool" {
			t.Fatalf("commit run: %s, committed %q (%s)", res.Status, res.Committed, res.Message)
		}
		if out, _, _ := run(t, on("base+tool", "cat /etc/tool; test -e /bin/vi || echo no-vi")); out != "installed\nno-vi\n" {
			t.Errorf("run on the committed snapshot: %q", out)
		}
		if out, _, _ := run(t, on("base", "cat /etc/tool 2>/dev/null; test -e /bin/vi && echo vi")); out != "vi\n" {
			t.Errorf("the parent changed: %q", out)
		}
		st, err := snapshot.Open(snapshot.Config{Root: store})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Remove(context.Background(), "base"); !errors.Is(err, snapshot.ErrHasChildren) {
			t.Errorf("removing the parent of a snapshot: %v, want ErrHasChildren", err)
		}
		info, err := st.Stat(context.Background(), "base+tool")
		if err != nil || info.Parent != "base" {
			t.Errorf("committed snapshot: %+v %v", info, err)
		}
	})

	t.Run("commit only on success", func(t *testing.T) {
		for _, tt := range []struct {
			always    bool
			committed string
		}{{false, ""}, {true, "failed-always"}} {
			s := on("base", "echo x > /etc/x; exit 3")
			s.Snapshot.Commit, s.Snapshot.CommitAlways = "failed", tt.always
			if tt.always {
				s.Snapshot.Commit = "failed-always"
			}
			_, _, res := run(t, s)
			if diff := cmp.Diff(tt.committed, res.Committed); diff != "" || res.ExitCode != 3 {
				t.Errorf("always=%v: exit %d, committed (-want +got):\n%s", tt.always, res.ExitCode, diff)
			}
		}
	})

	t.Run("commit name taken", func(t *testing.T) {
		s := on("base", "true")
		s.Snapshot.Commit = "base"
		s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
		if _, err := Run(context.Background(), s); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("committing over an existing snapshot: %v", err)
		}
	})

	t.Run("no such snapshot", func(t *testing.T) {
		s := on("nosuch", "true")
		s.RunDir, s.CgroupRoot = testRunDir(t), testCgroupRoot
		if _, err := Run(context.Background(), s); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("root snapshot that does not exist: %v", err)
		}
	})
}
