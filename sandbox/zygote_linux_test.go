package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const zygoteThreadEnv = "SANDBOX_TEST_ZYGOTE_THREAD"

// zygoteThreadMain is a fresh process whose first Start (which execs its
// zygote) runs on a locked thread that then ends, as a caller's
// LockOSThread'ed goroutine would: the sandbox must live on.
func zygoteThreadMain() int {
	spec := &Spec{Args: []string{"sh", "-c", "sleep 0.3; echo alive"}, RunDir: os.Getenv(zygoteThreadEnv),
		CgroupRoot: testCgroupRoot}
	var out strings.Builder
	spec.IO.Stdout = &out
	started := make(chan *Container)
	var try func(hold chan struct{})
	try = func(hold chan struct{}) {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if unix.Gettid() == unix.Getpid() {
			// Go never ends the main thread: hold it, try on another.
			go try(hold)
			<-hold
			return
		}
		c, err := Start(context.Background(), spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(125)
		}
		close(hold)
		started <- c
	}
	go try(make(chan struct{}))
	c := <-started
	time.Sleep(50 * time.Millisecond) // the locked thread is gone by now
	res, err := c.Wait()
	if err != nil || res.Status != StatusOK || out.String() != "alive\n" {
		fmt.Fprintf(os.Stderr, "after the starting thread ended: %v %s %s %q\n", err, res.Status, res.Message, out.String())
		return 1
	}
	return 0
}

// TestZygoteOutlivesStartingThread: the zygote a process execs on its
// first Start is the parent (for the parent-death signal) of every PID 1 it
// clones, through the thread that started it; that thread must not be one
// Go may end.
func TestZygoteOutlivesStartingThread(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), zygoteThreadEnv+"="+testRunDir(t))
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%v: %s", err, out)
	}
}
