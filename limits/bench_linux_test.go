package limits

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// requireRealCgroups skips unless New can run for real here.
func requireRealCgroups(b *testing.B) *hostCgroups {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	h, err := probeHost()
	if err != nil {
		b.Skip(err)
	}
	return h
}

// BenchmarkCgroupLifecycle times what each run pays for its cgroup: New,
// Attach of a started child, and Delete once the child is gone (the
// design's "cgroup create + attach + remove"). Starting and reaping the
// child are not timed. The per-phase metrics add Kill+Stats on the emptied
// group, the rest of a run's cgroup work.
func BenchmarkCgroupLifecycle(b *testing.B) {
	h := requireRealCgroups(b)
	for _, bc := range []struct {
		name string
		l    Limits
	}{
		{"accounting", Limits{}},
		{"memory+pids", Limits{Memory: 64 << 20, Pids: ptr[int64](32)}},
		{"memory+pids+cpus+cpuset", Limits{Memory: 64 << 20, Pids: ptr[int64](32), CPUs: ptr(0.5), Cpuset: "0"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			root := testRoot(b, h)
			var newT, attachT, deleteT, killStatsT time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				child := exec.Command("sleep", "10")
				if err := child.Start(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()

				t0 := time.Now()
				cg, err := New(root, fmt.Sprintf("b%d", i), bc.l)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := cg.Attach(child.Process.Pid); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()

				b.StopTimer()
				child.Process.Kill()
				child.Wait()
				t3 := time.Now()
				if _, err := cg.Stats(); err != nil {
					b.Fatal(err)
				}
				if err := cg.Kill(); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				b.StartTimer()

				if err := cg.Delete(); err != nil {
					b.Fatal(err)
				}
				t5 := time.Now()
				newT += t1.Sub(t0)
				attachT += t2.Sub(t1)
				killStatsT += t4.Sub(t3)
				deleteT += t5.Sub(t4)
			}
			n := float64(b.N)
			b.ReportMetric(float64(newT.Nanoseconds())/n, "new-ns/op")
			b.ReportMetric(float64(attachT.Nanoseconds())/n, "attach-ns/op")
			b.ReportMetric(float64(deleteT.Nanoseconds())/n, "delete-ns/op")
			b.ReportMetric(float64(killStatsT.Nanoseconds())/n, "stats+kill-ns/op")
		})
	}
}

// BenchmarkCPUUsage times the supervisor's per-millisecond poll.
func BenchmarkCPUUsage(b *testing.B) {
	h := requireRealCgroups(b)
	root := testRoot(b, h)
	cg, err := New(root, "cpu", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer cg.Delete()
	if _, err := cg.CPUUsage(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cg.CPUUsage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCgroupPerRun is what a run pays for its cgroup, the way the
// sandbox uses it on v1: New, the forking thread entering the group (so the
// child is born in it), Stats and Delete after the child exits. "bare" is
// the same fork, exec and wait of /bin/true without any of it; the
// difference is the cgroup's cost per run.
func BenchmarkCgroupPerRun(b *testing.B) {
	h := requireRealCgroups(b)
	if h.v2Mount != "" && h.mode == cgroups.Unified {
		b.Skip("v2 starts children in the group with CLONE_INTO_CGROUP: see BenchmarkCgroupLifecycle")
	}
	run := func(b *testing.B) {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			run(b)
		}
	})
	b.Run("in-cgroup", func(b *testing.B) {
		root := testRoot(b, h)
		for i := 0; b.Loop(); i++ {
			cg, err := New(root, fmt.Sprintf("r%d", i), Limits{Memory: 64 << 20, Pids: ptr[int64](32)})
			if err != nil {
				b.Fatal(err)
			}
			child := exec.Command("/bin/true")
			if err := startInGroup(cg, child.Start); err != nil {
				b.Fatal(err)
			}
			child.Wait()
			if _, err := cg.Stats(); err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// startInGroup calls start (which forks a process) so that the process is
// born in cg, on v1 without moving it afterwards (as PID 1 does, writing "0" to the tasks files): start
// runs on an OS thread of its own that has entered cg and that ends when
// start returns, leaving nothing of the caller's in the group. A process so
// forked can have no parent-death signal (the forking thread's end would
// fire it). On v2 start runs as it is: pass OpenFD to clone3 instead.
func startInGroup(cg Cgroup, start func() error) error {
	if cg.Version() != 1 {
		return start()
	}
	tasks, err := cg.OpenTasks()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range tasks {
			f.Close()
		}
	}()
	tid, err := onDisposableThread(func() error {
		for _, f := range tasks {
			if _, err := f.Write([]byte("0")); err != nil {
				return err
			}
		}
		return start()
	})
	if err != nil {
		// The caller's next step is to kill and delete the group. A
		// thread of ours that is still on its way out of the group would
		// be frozen there, and with it the runtime: wait until it is gone.
		waitThreadGone(tid, time.Second)
	}
	return err
}

// waitThreadGone waits (at most max) for thread tid of this process to end.
func waitThreadGone(tid int, max time.Duration) {
	p := "/proc/self/task/" + strconv.Itoa(tid)
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
}

// onDisposableThread runs f on an OS thread that ends when f returns. Go
// never ends the main thread (it parks a locked one forever instead), so a
// goroutine that finds itself there holds it while a second try starts:
// that one cannot land on the held thread.
func onDisposableThread(f func() error) (tid int, err error) {
	type result struct {
		tid int
		err error
	}
	errc := make(chan result, 1)
	var try func(started chan struct{})
	try = func(started chan struct{}) {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if started != nil {
			close(started)
		}
		if unix.Gettid() == unix.Getpid() {
			next := make(chan struct{})
			go try(next)
			<-next
			runtime.UnlockOSThread()
			return
		}
		errc <- result{unix.Gettid(), f()}
	}
	go try(nil)
	r := <-errc
	return r.tid, r.err
}
