package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// soakRuns is how many runs TestSoak makes in a row: SANDBOX_SOAK=N, 1000
// by default (in CI); `make soak` asks for 10000. It makes at most 1000 more
// at concurrency 16.
func soakRuns(t *testing.T) int {
	if testing.Short() {
		return 100
	}
	if v := os.Getenv("SANDBOX_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SANDBOX_SOAK=%q: want a positive number of runs", v)
		}
		return n
	}
	return 1000
}

// hostState is what a run could leak, as seen from the test process.
type hostState struct {
	fds    int
	rssKiB int
}

func readHostState() hostState {
	fds, _ := os.ReadDir("/proc/self/fd")
	st := hostState{fds: len(fds)}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			st.rssKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return st
}

// TestSoak makes many runs in a row and then many at concurrency 16, and
// checks that nothing leaked: mounts, cgroups, processes, descriptors, run
// directories, and that the caller's memory stayed flat.
func TestSoak(t *testing.T) {
	needRoot(t)
	n := soakRuns(t)
	runDir := testRunDir(t)
	spec := func(i int) *Spec {
		s := &Spec{Args: []string{"true"}, RunDir: runDir, CgroupRoot: testCgroupRoot}
		switch i % 4 {
		case 1:
			s.Args = []string{"sh", "-c", "exit 3"}
		case 2:
			s.Args = []string{"sh", "-c", "echo out; kill -9 $$"}
			s.IO.Stdout = &bytes.Buffer{}
		case 3:
			s.Args = []string{"sh", "-c", "sleep 100 & sleep 100 & exit 0"}
		}
		return s
	}
	warm := func() {
		for i := 0; i < 20; i++ {
			Run(context.Background(), spec(i))
		}
	}
	warm() // the first runs grow the runtime's pools: measure after them
	before := readHostState()
	goroutines := runtime.NumGoroutine()

	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := Run(context.Background(), spec(i)); err != nil {
			t.Fatalf("sequential run %d: %v", i, err)
		}
	}
	t.Logf("%d sequential runs in %v (%v a run)", n, time.Since(start).Round(time.Millisecond), (time.Since(start) / time.Duration(n)).Round(time.Microsecond))

	start = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, min(n, 1000))
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := Run(context.Background(), spec(i)); err != nil {
					errs <- fmt.Errorf("concurrent run %d: %w", i, err)
				}
			}
		}()
	}
	concurrent := min(n, 1000)
	for i := 0; i < concurrent; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d runs at concurrency 16 in %v", concurrent, time.Since(start).Round(time.Millisecond))

	after := readHostState()
	// Goroutines of a finished run end with it (a few may still be on
	// their way out).
	if g := runtime.NumGoroutine(); g > goroutines+4 {
		t.Errorf("goroutines: %d before, %d after", goroutines, g)
	}
	if m := mountsMentioning(runDir); len(m) > 0 {
		t.Errorf("mounts of the runs left on the host:\n%s", strings.Join(m, "\n"))
	}
	if after.fds > before.fds {
		t.Errorf("descriptors: %d before, %d after", before.fds, after.fds)
	}
	// The Go heap may settle at another size; a leak per run would grow
	// it with the number of runs.
	if grew := after.rssKiB - before.rssKiB; grew > 16<<10 {
		t.Errorf("RSS grew by %d KiB over %d runs (%d -> %d KiB)", grew, n+concurrent, before.rssKiB, after.rssKiB)
	}
	t.Logf("RSS %d KiB before, %d KiB after %d runs", before.rssKiB, after.rssKiB, n+concurrent)
	if ids, err := limits.List(testCgroupRoot); err != nil || len(ids) > 0 {
		t.Errorf("cgroups left: %d %v", len(ids), err)
	}
	if pids := hostProcesses("sleep 100"); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
	if pids := ourChildren(stage.InitArg0); len(pids) > 0 {
		t.Errorf("init processes left: %v", pids)
	}
}

// TestResourceFailures makes the runner's own resources fail: nothing
// half-made may stay behind, and the error must say what failed.
func TestResourceFailures(t *testing.T) {
	needRoot(t)
	t.Run("run directory full", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "sandbox-full-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		// A tmpfs with room for no new inode: the run directory cannot be made.
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "nr_inodes=1,size=64k"); err != nil {
			t.Skipf("mounting a tiny tmpfs: %v", err)
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		_, err = Run(context.Background(), &Spec{Args: []string{"true"}, RunDir: dir, CgroupRoot: testCgroupRoot})
		if err == nil || !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "run directory") {
			t.Errorf("Run with a full run directory: %v, want ENOSPC naming the run directory", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("left in the run directory: %v", ents)
		}
	})
	t.Run("cgroup creation fails half way", func(t *testing.T) {
		// A cpuset the kernel refuses after the group exists in some
		// hierarchies: CPU 0 only on a root that has CPU 0 taken away.
		root := testCgroupRoot + "-cpuset"
		cpusetRoot := filepath.Join("/sys/fs/cgroup/cpuset", root)
		if err := os.Mkdir(cpusetRoot, 0o755); err != nil {
			t.Skipf("needs the v1 cpuset hierarchy: %v", err)
		}
		defer limits.RemoveRoot(root)
		online, _ := os.ReadFile("/sys/fs/cgroup/cpuset/cpuset.cpus")
		os.WriteFile(filepath.Join(cpusetRoot, "cpuset.mems"), []byte("0"), 0o644)
		if strings.TrimSpace(string(online)) == "0" {
			t.Skip("needs two CPUs")
		}
		if err := os.WriteFile(filepath.Join(cpusetRoot, "cpuset.cpus"), []byte("1"), 0o644); err != nil {
			t.Skipf("restricting the test root's cpuset: %v", err)
		}
		runDir := testRunDir(t)
		s := &Spec{Args: []string{"true"}, RunDir: runDir, CgroupRoot: root}
		s.Limits.Cpuset = "0"
		_, err := Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "cgroup") {
			t.Errorf("Run with a cpuset its cgroup root lacks: %v, want an error naming the cgroup", err)
		}
		if ids, _ := limits.List(root); len(ids) > 0 {
			t.Errorf("half-made cgroups left: %v", ids)
		}
	})
	t.Run("too many open files", func(t *testing.T) {
		// Out of descriptors at every step of a run: each level of the
		// limit runs out at a different one (the run directory, the
		// sockets, the cgroup's files, the thread that enters it...).
		// Each run either works or fails with EMFILE, promptly, leaving
		// nothing; none may hang (a runner thread frozen in the run's
		// cgroup once did).
		var old unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
		defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		runDir := testRunDir(t)
		failed, worked := 0, 0
		for extra := 1; extra <= 24; extra++ {
			// Fill every hole below the highest open descriptor, so the
			// run gets exactly the numbers above it that the limit allows.
			var held []*os.File
			top := 0
			ents, _ := os.ReadDir("/proc/self/fd")
			for _, e := range ents {
				if n, err := strconv.Atoi(e.Name()); err == nil && n > top {
					top = n
				}
			}
			for {
				f, err := os.Open(os.DevNull)
				if err != nil {
					t.Fatal(err)
				}
				if int(f.Fd()) > top {
					f.Close()
					break
				}
				held = append(held, f)
			}
			lim := old
			lim.Cur = uint64(top + 1 + extra)
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
				t.Skip(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := Run(context.Background(), &Spec{Args: []string{"true"}, RunDir: runDir, CgroupRoot: testCgroupRoot})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("a run with %d descriptors to spare hangs", extra)
			}
			for _, f := range held {
				f.Close()
			}
			unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
			switch {
			case err == nil:
				worked++
			case errors.Is(err, unix.EMFILE):
				failed++
			default:
				t.Errorf("a run with %d descriptors to spare: %v, want success or EMFILE", extra, err)
			}
			if ids, _ := limits.List(testCgroupRoot); len(ids) > 0 {
				t.Fatalf("cgroups left by a run with %d descriptors to spare: %v", extra, ids)
			}
		}
		if failed == 0 || worked == 0 {
			t.Errorf("%d runs failed with EMFILE and %d worked: the levels missed the runner's needs", failed, worked)
		}
	})
}
