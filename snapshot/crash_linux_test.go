package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("SNAPSHOT_HELPER"); mode != "" {
		if err := helperMain(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperMain runs in a child process: one store operation, killed by
// SIGKILL at the hook point SNAPSHOT_CRASH_AT (its SNAPSHOT_CRASH_AFTER-th
// passage), or an owner that holds snapshots until killed.
func helperMain(mode string) error {
	ctx := context.Background()
	if at := os.Getenv("SNAPSHOT_CRASH_AT"); at != "" {
		after, _ := strconv.Atoi(os.Getenv("SNAPSHOT_CRASH_AFTER"))
		n := 0
		testHook = func(p string) {
			if p == at {
				if n++; n >= after {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	maxLayers, _ := strconv.Atoi(os.Getenv("SNAPSHOT_MAX_LAYERS"))
	s, err := Open(Config{Root: os.Getenv("SNAPSHOT_STORE"), MaxLayers: maxLayers})
	if err != nil {
		return err
	}
	arg := os.Getenv("SNAPSHOT_ARG")
	switch mode {
	case "hold":
		if _, err := s.Prepare(ctx, "held", "base"); err != nil {
			return err
		}
		if _, err := s.View(ctx, "heldview", "base"); err != nil {
			return err
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		return nil
	case "commit":
		if _, err := s.Prepare(ctx, "w", "base"); err != nil {
			return err
		}
		info, err := s.Stat(ctx, "w")
		if err != nil {
			return err
		}
		// The upper is a plain directory: write into it as a mounted
		// overlay would.
		if err := os.WriteFile(filepath.Join(info.Path, "committed"), []byte("yes"), 0o644); err != nil {
			return err
		}
		return s.Commit(ctx, "c", "w")
	case "import":
		_, err := s.Import(ctx, "imp", arg, ImportOptions{})
		return err
	case "remove":
		return s.Remove(ctx, "victim")
	case "prepare":
		_, err := s.Prepare(ctx, "p", "base")
		return err
	}
	return fmt.Errorf("unknown mode %s", mode)
}

func helper(t *testing.T, mode, store string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SNAPSHOT_HELPER="+mode, "SNAPSHOT_STORE="+store)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// A process killed at every step of a commit, an import, a remove and a
// prepare leaves a store that lists, runs, and is clean after GC; what was
// being made is there whole or not at all.
func TestCrashConsistency(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	imgDir := t.TempDir()
	layers, imgWant := imageLayers(t)
	image := writeFile(t, filepath.Join(imgDir, "img.tar"), filesTar(t, ociImage(t, layers, []string{"gzip", ""})))
	dirSrc := richTree(t)
	dirWant := contents(fsTree(t, dirSrc, false))

	for _, tc := range []struct {
		mode, at  string
		after     int
		maxLayers int
		arg       string
		made      string            // the snapshot the operation makes
		want      map[string]string // its contents, if it was made
	}{
		{mode: "prepare", at: "prepare:mkdir"},
		{mode: "commit", at: "commit:renamed", made: "c"},
		{mode: "commit", at: "commit:recorded", made: "c"},
		{mode: "commit", at: "commit:flattened", maxLayers: 1, made: "c"},
		{mode: "commit", at: "commit:recorded", maxLayers: 1, made: "c"},
		{mode: "import", at: "import:entry", after: 10, arg: dirSrc, made: "imp"},
		{mode: "import", at: "import:built", arg: dirSrc, made: "imp"},
		{mode: "import", at: "import:renamed", arg: dirSrc, made: "imp"},
		{mode: "import", at: "import:entry", after: 5, arg: image, made: "imp"},
		{mode: "import", at: "import:renamed", after: 1, arg: image, made: "imp"},
		{mode: "import", at: "import:entry", after: 20, arg: image, made: "imp"}, // in the second layer
		{mode: "remove", at: "remove:moved", made: "victim"},
	} {
		t.Run(fmt.Sprintf("%s-%s-%d-%d", tc.mode, tc.at, tc.after, tc.maxLayers), func(t *testing.T) {
			s := newStore(t, Config{})
			importBase(t, s, "base", nil)
			baseWant := contents(exportTree(t, s, "base", false))
			want := tc.want
			switch tc.mode {
			case "commit":
				want = contents(exportTree(t, s, "base", false))
				want["committed"] = "file:yes"
			case "remove":
				importBase(t, s, "victim", nil)
				want = baseWant
			case "import":
				want = dirWant
				if tc.arg == image {
					want = imgWant
				}
			}
			cmd := helper(t, tc.mode, s.Root(), "SNAPSHOT_CRASH_AT="+tc.at, fmt.Sprint("SNAPSHOT_CRASH_AFTER=", tc.after),
				fmt.Sprint("SNAPSHOT_MAX_LAYERS=", tc.maxLayers), "SNAPSHOT_ARG="+tc.arg)
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper was not killed at %s: %v", tc.at, err)
			}

			// ls works, and a new run on base works, before any GC.
			if err := s.Walk(ctx, func(context.Context, Info) error { return nil }); err != nil {
				t.Fatal(err)
			}
			runOnce(t, s, "base")

			rep, err := s.GC(ctx, GCOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("gc: %+v", rep)
			if d := cmp.Diff(baseWant, contents(exportTree(t, s, "base", false))); d != "" {
				t.Errorf("base changed (-want +got):\n%s", d)
			}
			if tc.made != "" {
				if info, err := s.Stat(ctx, tc.made); err == nil {
					if d := cmp.Diff(want, contents(exportTree(t, s, tc.made, false))); d != "" {
						t.Errorf("%s is there but not whole (-want +got):\n%s", tc.made, d)
					}
					if info.Kind != KindCommitted {
						t.Errorf("%s is %s", tc.made, info.Kind)
					}
				} else if !errors.Is(err, ErrNotFound) {
					t.Fatal(err)
				}
			}
			// Everything left is either a whole snapshot or nothing.
			var names []string
			s.Walk(ctx, func(_ context.Context, i Info) error {
				names = append(names, i.Name+":"+string(i.Kind))
				return nil
			})
			for _, n := range names {
				if strings.HasSuffix(n, ":active") || strings.HasSuffix(n, ":view") {
					t.Errorf("after GC an abandoned %s remains", n)
				}
			}
			runOnce(t, s, "base")
			removeAll(t, s)
			if rep, err := s.GC(ctx, GCOptions{PruneLayers: true}); err != nil {
				t.Fatal(err)
			} else if rep.Dirs+rep.Records+len(rep.Snapshots) != 0 {
				t.Errorf("second GC still found debris: %+v", rep)
			}
			assertEmptyStore(t, s)
		})
	}
}

// runOnce is a throwaway run: prepare, mount, write, unmount, remove.
func runOnce(t *testing.T, s *Store, parent string) {
	t.Helper()
	ctx := context.Background()
	m, err := s.Prepare(ctx, "run", parent)
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, m, func(root string) {
		writeFile(t, filepath.Join(root, "scratch"), []byte("x"))
	})
	if err := s.Remove(ctx, "run"); err != nil {
		t.Fatal(err)
	}
}

// removeAll removes every snapshot, children first.
func removeAll(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		var names []string
		s.Walk(ctx, func(_ context.Context, i Info) error { names = append(names, i.Name); return nil })
		if len(names) == 0 {
			return
		}
		for _, n := range names {
			s.Remove(ctx, n)
		}
	}
	t.Fatal("could not remove all snapshots")
}

// Another process's active snapshot and view pin their parent and resist
// Remove while it lives; GC keeps them; once it is killed GC clears them.
func TestOwnerProcess(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "base", nil)
	cmd := helper(t, "hold", s.Root())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := s.Remove(ctx, "held"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("Remove(held) = %v, want ErrInUse naming pid %d", err, cmd.Process.Pid)
	}
	if err := s.Commit(ctx, "stolen", "held"); !errors.Is(err, ErrInUse) {
		t.Errorf("Commit(held) from another process = %v, want ErrInUse", err)
	}
	if err := s.Remove(ctx, "base"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "heldview") {
		t.Errorf("Remove(base) = %v, want ErrInUse naming the users", err)
	}
	rep, err := s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Snapshots) != 0 {
		t.Errorf("GC removed live snapshots: %+v", rep)
	}
	if i := mustStat(t, s, "held"); i.OwnerPID != cmd.Process.Pid {
		t.Errorf("OwnerPID = %d, want %d", i.OwnerPID, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	stdin.Close()
	rep, err = s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"held", "heldview"}, rep.Snapshots); d != "" {
		t.Errorf("GC after the owner died (-want +got):\n%s", d)
	}
	if err := s.Remove(ctx, "base"); err != nil {
		t.Fatal(err)
	}
	assertEmptyStore(t, s)
}
