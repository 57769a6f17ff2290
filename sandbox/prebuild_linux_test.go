package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// TestSpareBuiltAhead: after two runs alike, the spare made for the next
// builds its container ahead, and a run alike gets it, with every mount
// of its plan; a run that differs gets a PID 1 that builds its own.
func TestSpareBuiltAhead(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "f"), []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(src string) (string, bool) {
		t.Helper()
		s := sh("cat /d/f; hostname; cat /proc/kcore 2>/dev/null | wc -c; touch /proc/sys/x 2>/dev/null || echo ro")
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		s.Mounts = []Mount{{Type: MountBind, Source: src, Destination: "/d"}}
		res, out, built := runSpared(t, s)
		if res.Status != StatusOK {
			t.Fatalf("%s %s", res.Status, res.Message)
		}
		return out, built
	}
	want := func(src string) string {
		return map[string]string{dir: "bound\n", other: "other\n"}[src] + DefaultHostname + "\n0\nro\n"
	}
	for i, tc := range []struct {
		src   string
		built bool
	}{
		{dir, false}, {dir, false}, {dir, true}, {dir, true}, {other, false}, {dir, false}, {dir, false}, {dir, true},
	} {
		out, built := run(tc.src)
		if out != want(tc.src) {
			t.Errorf("run %d: output %q, want %q", i+1, out, want(tc.src))
		}
		if built != tc.built {
			t.Errorf("run %d: built ahead %v, want %v", i+1, built, tc.built)
		}
	}
}

// TestSpareBuildFails: a spare whose build fails (a bind's source gone
// between the runs) is not PID 1: the run after gets one that builds its
// own, which finds the source made again.
func TestSpareBuildFails(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	run := func(script string) (*Result, bool, string) {
		t.Helper()
		s := sh(script)
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		s.Mounts = []Mount{
			{Type: MountBind, Source: dir, Destination: "/d"},
			{Type: MountBind, Source: sub, Destination: "/e"},
		}
		res, out, built := runSpared(t, s)
		return res, built, out
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// The same command line each time: only what the build reads counts,
	// and the script is not part of it.
	const script = "if [ -e /d/rm ]; then rm /d/rm; rmdir /d/sub; fi; echo ok"
	for i := 0; i < 2; i++ {
		if res, _, out := run(script); res.Status != StatusOK || out != "ok\n" {
			t.Fatalf("run %d: %s %q", i+1, res.Status, out)
		}
	}
	// The spare after this run builds with /d/sub gone, and fails.
	if err := os.WriteFile(filepath.Join(dir, "rm"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, _, out := run(script); res.Status != StatusOK || out != "ok\n" {
		t.Fatalf("the run that removes the source: %s %q", res.Status, out)
	}
	if _, err := os.Stat(sub); err == nil {
		t.Fatal("the run did not remove the bind's source")
	}
	// It builds with idle CPU time: wait for its end.
	ownNS, _ := os.Readlink("/proc/self/ns/pid")
	spare := func() bool {
		for _, c := range fixtures.ChildrenOf(os.Getpid()) {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.Pid))
			if c.Comm == "sandbox-zygote" && ns != ownNS && c.State != "Z" {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); spare(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the spare whose build fails is still there")
		}
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	res, built, out := run(script)
	if res.Status != StatusOK || out != "ok\n" {
		t.Errorf("after the failed build ahead: %s %q %s", res.Status, out, res.Message)
	}
	if built {
		t.Error("PID 1 is the spare whose build failed")
	}
}

// TestBuildInside: only a plan whose every mount and directory made is in
// the run's scratch tmpfs is kept for the next CLI run to build ahead.
func TestBuildInside(t *testing.T) {
	scratch := "/run/sandbox"
	first := stage.Step{Kind: stage.StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: scratch}
	for _, tc := range []struct {
		name  string
		steps []stage.Step
		want  bool
	}{
		{"the scratch tmpfs and the root's steps", []stage.Step{first,
			{Kind: stage.StepMount, Scratch: true, FSType: "overlay", Target: scratch + "/root", Mkdir: []string{scratch + "/u/0", scratch + "/w/0", scratch + "/root"}},
			{Kind: stage.StepBind, Source: "/etc", Target: "/etc"}, {Kind: stage.StepMask, Target: "/proc/kcore"}}, true},
		{"no steps", nil, false},
		{"no scratch tmpfs first", []stage.Step{{Kind: stage.StepBind, Source: "/etc", Target: "/etc"}}, false},
		{"a scratch step outside", []stage.Step{first, {Kind: stage.StepMount, Scratch: true, FSType: "tmpfs", Target: "/home/u/x"}}, false},
		{"a scratch step on the scratch", []stage.Step{first, {Kind: stage.StepMount, Scratch: true, FSType: "tmpfs", Target: scratch}}, false},
		{"a directory made outside", []stage.Step{first, {Kind: stage.StepMount, Scratch: true, FSType: "overlay", Target: scratch + "/root", Mkdir: []string{"/home/u/upper"}}}, false},
		{"a directory made through ..", []stage.Step{first, {Kind: stage.StepBind, Target: "/x", Mkdir: []string{scratch + "/../etc/x"}}}, false},
		{"a prefix that is not the directory", []stage.Step{first, {Kind: stage.StepBind, Target: "/x", Mkdir: []string{scratch + "-other/x"}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &stage.Config{Scratch: scratch, Rootfs: scratch + "/root", Steps: tc.steps}
			if got := buildInside(cfg); got != tc.want {
				t.Errorf("buildInside: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSpareRestFails: what a spare built ahead does after its word to the
// zygote (the hostname, loopback, the bounding set) failing is its PID
// 1's failure to report, as a PID 1 that built at its request reports it.
func TestSpareRestFails(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	// Longer than the kernel takes (64): sethostname fails with EINVAL.
	long := strings.Repeat("h", 65)
	for i := 0; i < 4; i++ {
		s := &Spec{Args: []string{"true"}, Hostname: long, RunDir: runDir, CgroupRoot: testCgroupRoot}
		c, err := Start(context.Background(), s)
		var res *Result
		built := false
		if err == nil {
			built = c.init.built
			res, err = c.Wait()
		}
		if err == nil && res.Status == StatusOK {
			t.Fatalf("run %d: a hostname of 65 bytes set", i+1)
		}
		msg := fmt.Sprint(err)
		if res != nil {
			msg += " " + res.Message
		}
		if !strings.Contains(msg, "setting hostname") {
			t.Errorf("run %d (built ahead %v): %s, want the hostname's failure", i+1, built, msg)
		}
		if want := i >= 2; built != want {
			t.Errorf("run %d: built ahead %v, want %v", i+1, built, want)
		}
	}
}

// TestSpareRunDirRemoved: a run directory removed while a spare builds
// its container ahead in it (a test's temporary one, at its cleanup)
// stays removed: the spare makes nothing of it again on the host.
func TestSpareRunDirRemoved(t *testing.T) {
	needSpares(t)
	base := t.TempDir()
	for i := 0; i < 30; i++ {
		runDir := filepath.Join(base, fmt.Sprint(i))
		for j := 0; j < 2; j++ {
			s := &Spec{Args: []string{"true"}, RunDir: runDir, CgroupRoot: testCgroupRoot}
			if res, err := Run(context.Background(), s); err != nil || res.Status != StatusOK {
				t.Fatalf("%v %v", err, res)
			}
		}
		// The spare after the second run builds from it now.
		if err := os.RemoveAll(runDir); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if ents, _ := os.ReadDir(base); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("run directories made again after their removal: %v", names)
	}
}

// TestSpareSourceReplaced: a spare built ahead binds what its plan's
// sources were when it built; one replaced since (a directory removed and
// made again, a file renamed over, as resolv.conf is) must not reach the
// run after. Its zygote finds the source changed and drops it; the run
// gets a PID 1 that binds the source as it is. The same sources left in
// place keep their spare.
func TestSpareSourceReplaced(t *testing.T) {
	needSpares(t)
	for _, tc := range []struct {
		name, dst string
		write     func(t *testing.T, src, content string)
	}{
		{"directory made again", "/d/f", func(t *testing.T, src, content string) {
			if err := os.RemoveAll(src); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "f"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"file renamed over", "/d", func(t *testing.T, src, content string) {
			if err := os.WriteFile(src+".new", []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(src+".new", src); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runDir := testRunDir(t)
			src := filepath.Join(t.TempDir(), "src")
			run := func() (string, bool) {
				t.Helper()
				s := sh("cat " + tc.dst)
				s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
				s.Mounts = []Mount{{Type: MountBind, Source: src, Destination: "/d"}}
				_, out, built := runSpared(t, s)
				// The next spare builds with idle CPU time: let it.
				time.Sleep(30 * time.Millisecond)
				return out, built
			}
			for i, replace := range []bool{true, true, true, false, true, false} {
				want := fmt.Sprintf("run %d\n", i)
				if replace {
					tc.write(t, src, want)
				}
				out, built := run()
				if !replace {
					want = fmt.Sprintf("run %d\n", i-1)
				}
				if out != want {
					t.Errorf("run %d: %q (built ahead %v), want %q", i, out, built, want)
				}
				// After two runs alike, a spare built for the next is
				// PID 1 only while its source stays as it was.
				if wantBuilt := i >= 2 && !replace; built != wantBuilt {
					t.Errorf("run %d: built ahead %v, want %v", i, built, wantBuilt)
				}
			}
		})
	}
}

// TestSpareMountsBack: a spare copied the host's mount table when it was
// made. A mount made and undone since (a container engine's, between two
// runs) leaves the table what the spare copied, and the spare is used; a
// mount still there is a table the spare lacks, and it is dropped, as it
// is when the table goes back to one without a mount it copied.
func TestSpareMountsBack(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	dir := t.TempDir()
	run := func() bool {
		t.Helper()
		s := sh("true")
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		res, _, built := runSpared(t, s)
		if res.Status != StatusOK {
			t.Fatalf("%s %s", res.Status, res.Message)
		}
		time.Sleep(30 * time.Millisecond) // the next spare's build, at idle CPU time
		return built
	}
	mount := func() {
		t.Helper()
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatal(err)
		}
	}
	unmount := func() {
		t.Helper()
		if err := unix.Unmount(dir, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	for i, step := range []struct {
		name  string
		do    func()
		built bool
	}{
		{"first", nil, false},
		{"second", nil, false},
		{"a mount made and undone", func() { mount(); unmount() }, true},
		{"twice", func() { mount(); unmount(); mount(); unmount() }, true},
		{"a mount left", mount, false},
		{"that mount undone", unmount, false},
		{"nothing since", nil, true},
	} {
		if step.do != nil {
			step.do()
		}
		if got := run(); got != step.built {
			t.Errorf("run %d (%s): built ahead %v, want %v", i+1, step.name, got, step.built)
		}
	}
}

// runSpared runs s to its end with its stdout and stderr as out, and says
// whether its PID 1 was a spare that built the container ahead; a
// runner's error fails the test.
func runSpared(t *testing.T, s *Spec) (res *Result, out string, built bool) {
	t.Helper()
	var b strings.Builder
	s.IO.Stdout, s.IO.Stderr = &b, &b
	c, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	built = c.init.built
	if res, err = c.Wait(); err != nil {
		t.Fatal(err)
	}
	return res, b.String(), built
}

// TestSpareStageAhead: a spare that built its container forks its exec
// stage before its request, which then holds none of the run's
// descriptors; PID 1 sends them. CMD must find what one forked by PID 1
// inherits: its stdin, stdout and stderr, the preserved descriptors in
// order and no other, and the runner's scheduling policy and CPUs (the
// spare built at the idle class, on other CPUs).
func TestSpareStageAhead(t *testing.T) {
	needSpares(t)
	runDir := testRunDir(t)
	// fd 3: a pipe's read end; fd 4: a file, read at an offset.
	const script = "read a; echo stdin=$a; read b <&3; echo fd3=$b; read c <&4; echo fd4=$c; echo err >&2; " +
		"ls /proc/self/fd | tr '\\n' ' '; echo; cut -d' ' -f41 /proc/self/stat; " +
		"grep Cpus_allowed_list /proc/self/status | tr -d '\\t'"
	want := "stdin=in\nfd3=piped\nfd4=second\n0 1 2 3 4 5 \n0\nCpus_allowed_list:" + cpusAllowed(t, "/proc/self/") + "\n"
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("first\nsecond\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ahead int
	for i := 0; i < 5; i++ {
		s := sh(script)
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		s.IO.Stdin = strings.NewReader("in\n")
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pw.WriteString("piped\n")
		pw.Close()
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		f.Seek(int64(len("first\n")), 0)
		s.IO.ExtraFiles = []*os.File{pr, f}
		res, out, built := runSpared(t, s)
		pr.Close()
		f.Close()
		if res.Status != StatusOK {
			t.Fatalf("run %d: %s %s", i+1, res.Status, res.Message)
		}
		// stdout and stderr are two pipes into the one builder: their
		// lines may come in either order.
		if strings.Count(out, "err\n") == 1 {
			out = strings.Replace(out, "err\n", "", 1)
		}
		if out != want {
			t.Errorf("run %d (built ahead %v): output\n%q, want\n%q", i+1, built, out, want)
		}
		if built {
			ahead++
		}
	}
	if ahead == 0 {
		t.Error("no run got a spare that built ahead")
	}
}

// TestStageLowNofile: a run's low RLIMIT_NOFILE does not keep the exec
// stage from taking the descriptors PID 1 sends it (the run's tasks
// files, and a spare's exec stage forked ahead its stdio too), whether
// PID 1 forked it or a spare did ahead: it sets its rlimits itself once
// they have come. (On cgroup v2, with no spares and no tasks files, it
// guards the same order.)
func TestStageLowNofile(t *testing.T) {
	needRoot(t)
	v, _ := limits.Version(limits.Limits{})
	runDir := testRunDir(t)
	var ahead int
	for i := 0; i < 4; i++ {
		s := sh("ulimit -n")
		s.RunDir, s.CgroupRoot = runDir, testCgroupRoot
		if err := s.Limits.Set("rlimit-nofile", "5"); err != nil {
			t.Fatal(err)
		}
		res, out, built := runSpared(t, s)
		if res.Status != StatusOK || out != "5\n" {
			t.Fatalf("run %d (built ahead %v): %s %q %s", i+1, built, res.Status, out, res.Message)
		}
		if built {
			ahead++
		}
	}
	if v == 1 && ahead == 0 { // a v2 run has no spare: its PID 1 is born in its group
		t.Error("no run got a spare that built ahead")
	}
}
