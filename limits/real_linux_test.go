package limits

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the helper programs the real tests confine.
// Each waits for one byte on stdin, so that it can be attached first.
func TestMain(m *testing.M) {
	switch os.Getenv("LIMITS_TEST_HELPER") {
	case "hog":
		// Touch every page of a large allocation: the memory limit must
		// OOM-kill us before we get through it.
		os.Stdin.Read(make([]byte, 1))
		mb, _ := strconv.Atoi(os.Getenv("LIMITS_HOG_MB"))
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		os.Exit(0)
	case "io":
		// Write LIMITS_IO_MB to a file in LIMITS_IO_DIR and fsync it, then
		// read it back with O_DIRECT: both must reach the disk, so
		// io.stat has them whatever the page cache holds.
		os.Stdin.Read(make([]byte, 1))
		if err := ioHelper(os.Getenv("LIMITS_IO_DIR"), os.Getenv("LIMITS_IO_MB")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		b, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Cpus_allowed_list:") {
				fmt.Println(line)
			}
		}
		os.Exit(0)
	case "exec-ulimit":
		// A Go parent that execs after a prlimit from outside, as the
		// sandbox's init does.
		os.Stdout.WriteString("ready\n")
		os.Stdin.Read(make([]byte, 1))
		out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn").Output()
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.Write(out)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// requireVersion skips unless the process is root and New would use cgroup
// version v for limits needing memory, pids and cpu.
func requireVersion(t testing.TB, v int) *hostCgroups {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("real cgroup v%d test: needs root", v)
	}
	h, err := probeHost()
	if err != nil {
		t.Skipf("real cgroup v%d test: %v", v, err)
	}
	got, err := chooseVersion(h.mode, h.v2Controllers, []string{"memory", "pids", "cpu"})
	if err != nil || got != v {
		t.Skipf("real cgroup v%d test: this host's mode is %s, where New uses v%d (%v)", v, modeName(h.mode), got, err)
	}
	return h
}

func modeName(m cgroups.CGMode) string {
	return map[cgroups.CGMode]string{cgroups.Unavailable: "unavailable", cgroups.Legacy: "legacy", cgroups.Hybrid: "hybrid", cgroups.Unified: "unified"}[m]
}

// testRoot returns a fresh root below /sandbox-test and checks at the end
// that no hierarchy still has it.
func testRoot(t testing.TB, h *hostCgroups) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	root := "/sandbox-test/limits-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := RemoveRoot(root); err != nil {
			t.Errorf("RemoveRoot(%s): %v", root, err)
		}
		// Other packages' tests may share /sandbox-test: busy is fine.
		if err := RemoveRoot("/sandbox-test"); err != nil && !errors.Is(err, ErrBusy) {
			t.Errorf("RemoveRoot(/sandbox-test): %v", err)
		}
		for _, dir := range h.hierarchies() {
			if exists(filepath.Join(dir, root)) {
				t.Errorf("left %s behind", filepath.Join(dir, root))
			}
		}
	})
	return root
}

// helper is a started process waiting for a byte on stdin. Its output goes
// to a file, not a pipe: a pipe would keep cmd.Wait waiting for whatever
// children the helper leaves holding it.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *os.File
}

func startHelper(t testing.TB, cmd *exec.Cmd) *helper {
	t.Helper()
	h := &helper{cmd: cmd}
	var err error
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if h.out, err = os.CreateTemp(t.TempDir(), "out"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.out.Close() })
	cmd.Stdout, cmd.Stderr = h.out, h.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return h
}

func (h *helper) output() string {
	b, _ := os.ReadFile(h.out.Name())
	return string(b)
}

func (h *helper) release(t testing.TB) {
	t.Helper()
	if _, err := h.stdin.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
}

func (h *helper) wantKilled(t testing.TB) {
	t.Helper()
	err := h.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper ended with %v (output %q), want killed by SIGKILL", err, h.output())
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v (output %q), want killed by SIGKILL", err, h.output())
	}
}

func hogCmd(mb int) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LIMITS_TEST_HELPER=hog", "LIMITS_HOG_MB="+strconv.Itoa(mb))
	return cmd
}

// spinCmd is a shell that forks a sleeper and then spins, so that Kill has
// more than one process to kill.
func spinCmd() *exec.Cmd {
	return exec.Command("/bin/sh", "-c", "read x; sleep 1000 & while :; do :; done")
}

func readTrim(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

var realLimits = Limits{Memory: 64 << 20, Pids: ptr[int64](32), CPUs: ptr(0.5)}

func TestV1Real(t *testing.T) {
	h := requireVersion(t, 1)
	root := testRoot(t, h)
	cg, err := New(root, "run1", realLimits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Kill(); cg.Delete() })
	if cg.Version() != 1 || cg.Path() != root+"/run1" {
		t.Fatalf("Version, Path = %d, %q", cg.Version(), cg.Path())
	}
	dir := func(ctrl string) string { return filepath.Join(h.v1[ctrl], ctrl, root, "run1") }

	t.Run("limit files", func(t *testing.T) {
		want := map[string]string{
			"memory/memory.limit_in_bytes": "67108864",
			"pids/pids.max":                "32",
			"cpu/cpu.cfs_quota_us":         "50000",
			"cpu/cpu.cfs_period_us":        "100000",
		}
		if h.memsw {
			want["memory/memory.memsw.limit_in_bytes"] = "67108864"
		}
		if exists(filepath.Join(dir("memory"), tcpLimitFile)) {
			// TCP accounting on, the memory limit its limit.
			want["memory/"+tcpLimitFile] = "67108864"
		}
		got := map[string]string{}
		for f := range want {
			ctrl, name, _ := strings.Cut(f, "/")
			got[f] = readTrim(t, filepath.Join(dir(ctrl), name))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("limit files (-want +got):\n%s", diff)
		}
		for _, ctrl := range []string{"memory", "cpuacct", "cpu", "pids", "freezer", "devices"} {
			if _, mounted := h.v1[ctrl]; mounted && !isDir(dir(ctrl)) {
				t.Errorf("no group in the %s hierarchy", ctrl)
			}
		}
		if _, mounted := h.v1["devices"]; mounted {
			// Deny all, then the sandbox's own /dev: the kernel lists the rules.
			want := "c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\nc 136:* rwm"
			if got := readTrim(t, filepath.Join(dir("devices"), "devices.list")); got != want {
				t.Errorf("devices.list:\n%s\nwant:\n%s", got, want)
			}
		}
		for _, ctrl := range []string{"cpuset", "blkio"} {
			if exists(filepath.Join("/sys/fs/cgroup", ctrl, root, "run1")) {
				t.Errorf("group made in the %s hierarchy, which these limits do not need", ctrl)
			}
		}
	})

	t.Run("exists, list, load", func(t *testing.T) {
		if _, err := New(root, "run1", Limits{}); !errors.Is(err, ErrExists) {
			t.Errorf("New of an existing id = %v, want ErrExists", err)
		}
		if got := readTrim(t, filepath.Join(dir("memory"), "memory.limit_in_bytes")); got != "67108864" {
			t.Errorf("the failed New touched the group: memory.limit_in_bytes = %s", got)
		}
		ids, err := List(root)
		if err != nil || !cmp.Equal(ids, []string{"run1"}) {
			t.Errorf("List = %v, %v; want [run1]", ids, err)
		}
		l, err := Load(root, "run1")
		if err != nil {
			t.Fatal(err)
		}
		if l.Version() != 1 || l.Path() != cg.Path() {
			t.Errorf("Load: Version, Path = %d, %q", l.Version(), l.Path())
		}
		if _, err := Load(root, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load of a missing id = %v, want ErrNotFound", err)
		}
		if _, err := cg.OpenFD(); !errors.Is(err, ErrUnsupported) {
			t.Errorf("OpenFD on v1 = %v, want ErrUnsupported", err)
		}
	})

	exerciseReal(t, cg, !h.memsw, func(pid int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		// "N:cpu,cpuacct:/path": co-mounted controllers in any order
		// (systemd's layout puts cpu first, which vmtest's v1 guest has).
		in := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) == 3 && f[2] == root+"/run1" {
				for _, c := range strings.Split(f[1], ",") {
					in[c] = true
				}
			}
		}
		for _, ctrl := range []string{"memory", "cpuacct", "cpu", "pids"} {
			if !in[ctrl] {
				t.Errorf("pid %d not in %s:%s/run1:\n%s", pid, ctrl, root, b)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := cg.Delete(); err != nil {
			t.Fatal(err)
		}
		for _, d := range h.hierarchies() {
			if exists(filepath.Join(d, root, "run1")) {
				t.Errorf("Delete left %s", filepath.Join(d, root, "run1"))
			}
		}
		if err := cg.Delete(); err != nil {
			t.Errorf("second Delete = %v", err)
		}
		if _, err := Load(root, "run1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load after Delete = %v, want ErrNotFound", err)
		}
		if _, err := cg.Stats(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stats after Delete = %v, want ErrNotFound", err)
		}
		if _, err := cg.CPUUsage(); !errors.Is(err, ErrNotFound) {
			t.Errorf("CPUUsage after Delete = %v, want ErrNotFound", err)
		}
		if ids, err := List(root); err != nil || len(ids) != 0 {
			t.Errorf("List after Delete = %v, %v", ids, err)
		}
	})
}

func TestV1RealCpusetAndIOWeight(t *testing.T) {
	h := requireVersion(t, 1)
	root := testRoot(t, h)
	cg, err := New(root, "run1", Limits{Cpuset: "0", IOWeight: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Delete()
	dir := filepath.Join(h.v1["cpuset"], "cpuset", root, "run1")
	if got := readTrim(t, filepath.Join(dir, "cpuset.cpus")); got != "0" {
		t.Errorf("cpuset.cpus = %q, want 0", got)
	}
	if got := readTrim(t, filepath.Join(dir, "cpuset.mems")); got == "" {
		t.Error("cpuset.mems is empty: no task could join the group")
	}
	if _, ok := h.v1["blkio"]; ok {
		blkio := filepath.Join(h.v1["blkio"], "blkio", root, "run1")
		if !isDir(blkio) {
			t.Error("--io-weight did not join the blkio hierarchy")
		}
		for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
			if exists(filepath.Join(blkio, f)) {
				if got := readTrim(t, filepath.Join(blkio, f)); !strings.HasSuffix(got, "500") {
					t.Errorf("%s = %q, want 500", f, got)
				}
				break
			}
		}
	}
	cmd := exec.Command("/bin/sh", "-c", "read x; grep Cpus_allowed_list /proc/self/status")
	sh := startHelper(t, cmd)
	if err := cg.Attach(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	sh.release(t)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(sh.output()); !cmp.Equal(got, []string{"Cpus_allowed_list:", "0"}) {
		t.Errorf("child in --cpuset 0 reports %q", got)
	}
}

// exerciseReal runs the OOM, CPU, pids and Kill checks on a group made
// with realLimits; checkIn checks a pid landed in the group.
//
// Limit hits are not checked where wantHits is false: on v1 with swap
// accounting, recent kernels count failures only on the memory counter,
// which the equal memsw limit pre-empts (see doc.go).
func exerciseReal(t *testing.T, cg Cgroup, wantHits bool, checkIn func(pid int)) {
	t.Run("oom", func(t *testing.T) {
		hog := startHelper(t, hogCmd(256))
		if err := cg.Attach(hog.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		checkIn(hog.cmd.Process.Pid)
		hog.release(t)
		hog.wantKilled(t)
		s, err := cg.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.OOMKills < 1 {
			t.Errorf("OOMKills = %d, want >= 1 (stats %+v)", s.OOMKills, s)
		}
		if wantHits && s.MemoryLimitHits < 1 {
			t.Errorf("MemoryLimitHits = %d, want >= 1", s.MemoryLimitHits)
		}
		if lo, hi := int64(64<<20)*9/10, int64(64<<20)*11/10; s.MemoryPeak < lo || s.MemoryPeak > hi {
			t.Errorf("MemoryPeak = %d, want within 10%% of %d", s.MemoryPeak, 64<<20)
		}
	})

	t.Run("cpu and kill", func(t *testing.T) {
		spin := startHelper(t, spinCmd())
		if err := cg.Attach(spin.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		u0, err := cg.CPUUsage()
		if err != nil {
			t.Fatal(err)
		}
		spin.release(t)
		start := time.Now()
		u := u0
		for u-u0 < 100*time.Millisecond && time.Since(start) < 10*time.Second {
			time.Sleep(10 * time.Millisecond)
			if u, err = cg.CPUUsage(); err != nil {
				t.Fatal(err)
			}
		}
		if u-u0 < 100*time.Millisecond {
			t.Fatalf("CPUUsage grew by %v in %v of a busy loop", u-u0, time.Since(start))
		}
		// The quota (0.5 CPU) bounds usage from above whatever the load:
		// at most half the wall time plus one 100ms period of slack.
		u1, t1 := u, time.Now()
		time.Sleep(600 * time.Millisecond)
		u2, _ := cg.CPUUsage()
		if used, wall := u2-u1, time.Since(t1); used > wall/2+100*time.Millisecond {
			t.Errorf("used %v of CPU in %v with --cpus 0.5", used, wall)
		}
		s, err := cg.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.CPUTotal < u2 || s.CPUUser+s.CPUSys == 0 {
			t.Errorf("Stats CPU = %v total, %v user, %v sys; CPUUsage said %v", s.CPUTotal, s.CPUUser, s.CPUSys, u2)
		}

		if err := cg.Kill(); err != nil {
			t.Fatal(err)
		}
		spin.wantKilled(t)
		if err := cg.Kill(); err != nil {
			t.Errorf("Kill of an empty group: %v", err)
		}
	})

	t.Run("pids limit", func(t *testing.T) {
		// 40 sleepers against --pids 32: a fork fails and the shell gives up.
		sh := startHelper(t, exec.Command("/bin/sh", "-c", "read x; i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done; echo forked all"))
		if err := cg.Attach(sh.cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		sh.release(t)
		done := make(chan error, 1)
		go func() { done <- sh.cmd.Wait() }()
		// A hang is no progress for 10s, not a slow machine: under
		// emulation with --cpus 0.5 each fork and exec takes a second.
		last, since := -1, time.Now()
	wait:
		for {
			select {
			case err := <-done:
				if err == nil || strings.Contains(sh.output(), "forked all") {
					t.Errorf("shell ended with %v, output %q; want a failed fork", err, sh.output())
				}
				break wait
			case <-time.After(time.Second):
				if n := countProcs(t, cg); n != last {
					last, since = n, time.Now()
				} else if time.Since(since) > 10*time.Second {
					cg.Kill()
					t.Fatalf("shell stuck at %d processes in the group for 10s, output %q", n, sh.output())
				}
			}
		}
		if n := countProcs(t, cg); n > 32 || n < 20 {
			t.Errorf("%d sleepers left in a group with --pids 32, want 20..31", n)
		}
		if err := cg.Kill(); err != nil {
			t.Fatal(err)
		}
		if n := countProcs(t, cg); n != 0 {
			t.Errorf("%d processes left after Kill", n)
		}
	})
}

func countProcs(t testing.TB, cg Cgroup) int {
	t.Helper()
	var dir string
	switch g := cg.(type) {
	case *v1Group:
		dir = g.dirs["memory"]
	case *v2Group:
		dir = g.dir
	}
	pids, err := readProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(pids)
}

func TestV2Real(t *testing.T) {
	h := requireVersion(t, 2)
	root := testRoot(t, h)
	cg, err := New(root, "run1", realLimits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Kill(); cg.Delete() })
	dir := filepath.Join(h.v2Mount, root, "run1")
	want := map[string]string{"memory.max": "67108864", "pids.max": "32", "cpu.max": "50000 100000"}
	if exists(filepath.Join(dir, "memory.swap.max")) {
		want["memory.swap.max"] = "0"
	}
	got := map[string]string{}
	for f := range want {
		got[f] = readTrim(t, filepath.Join(dir, f))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("limit files (-want +got):\n%s", diff)
	}

	// CLONE_INTO_CGROUP: the child starts in the group.
	fd, err := cg.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/cat", "/proc/self/cgroup")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.Output()
	syscall.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "0::"+root+"/run1\n") {
		t.Errorf("child started with CgroupFD is in %q, want %s/run1", out, root)
	}

	exerciseReal(t, cg, true, func(pid int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "0::"+root+"/run1\n") {
			t.Errorf("pid %d not in %s/run1: %s", pid, root, b)
		}
	})
	if s, err := cg.Stats(); err != nil || (s.PidsPeak != nil && *s.PidsPeak < 20) {
		t.Errorf("Stats = %+v, %v; want PidsPeak >= 20 where the kernel has pids.peak", s, err)
	}
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(dir) {
		t.Errorf("Delete left %s", dir)
	}
}

func ioHelper(dir, mbs string) error {
	mb, _ := strconv.Atoi(mbs)
	name := filepath.Join(dir, "io")
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer os.Remove(name)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for i := 0; i < mb; i++ {
		if _, err := f.Write(chunk); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// O_DIRECT wants an aligned buffer: an anonymous mapping is.
	buf, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return fmt.Errorf("reading %s with O_DIRECT: %w", name, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// TestV2RealCpusetAndIO checks, on a real cgroup2 hierarchy, cpuset.cpus
// and the I/O weight as written, a child born in the group with
// CLONE_INTO_CGROUP bound to the cpuset, and io.stat's bytes for what it
// wrote and read on a block device (vmtest's guests have a virtio disk
// under TMPDIR).
func TestV2RealCpusetAndIO(t *testing.T) {
	h := requireVersion(t, 2)
	var st unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC || st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		t.Skipf("%s is not on a block device (filesystem type %#x): no block I/O to account", os.TempDir(), st.Type)
	}
	root := testRoot(t, h)
	cg, err := New(root, "run2", Limits{Cpuset: "0", IOWeight: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Kill(); cg.Delete() })
	dir := filepath.Join(h.v2Mount, root, "run2")
	if got := readTrim(t, filepath.Join(dir, "cpuset.cpus")); got != "0" {
		t.Errorf("cpuset.cpus = %q, want 0", got)
	}
	switch {
	case exists(filepath.Join(dir, "io.weight")):
		// runc's mapping of 500: 1 + (500-10)*9999/990.
		if got := readTrim(t, filepath.Join(dir, "io.weight")); got != "default 4950" {
			t.Errorf("io.weight = %q, want default 4950", got)
		}
	case exists(filepath.Join(dir, "io.bfq.weight")):
		if got := readTrim(t, filepath.Join(dir, "io.bfq.weight")); !strings.HasSuffix(got, "500") {
			t.Errorf("io.bfq.weight = %q, want 500", got)
		}
	default:
		t.Log("this kernel has neither io.weight nor io.bfq.weight: the weight is skipped, as documented")
	}

	fd, err := cg.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	const mb = 8
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LIMITS_TEST_HELPER=io", "LIMITS_IO_DIR="+t.TempDir(), "LIMITS_IO_MB="+strconv.Itoa(mb))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	hp := startHelper(t, cmd)
	syscall.Close(fd)
	hp.release(t)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("io helper: %v: %s", err, hp.output())
	}
	if got := strings.Fields(hp.output()); !cmp.Equal(got, []string{"Cpus_allowed_list:", "0"}) {
		t.Errorf("child born in --cpuset 0 reports %q", got)
	}
	s, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.IOWrite < mb<<20 || s.IORead < mb<<20 {
		t.Errorf("io.stat: read %d, wrote %d bytes; want both >= %d (io.stat: %q)", s.IORead, s.IOWrite, mb<<20, readTrim(t, filepath.Join(dir, "io.stat")))
	}
}

// TestV2RealDevices: v2 has no devices controller; New's BPF device
// filter must keep a process of the group from opening a device node
// outside the sandbox's own /dev, wherever the node lies.
func TestV2RealDevices(t *testing.T) {
	h := requireVersion(t, 2)
	root := testRoot(t, h)
	// The filter costs no descriptor past New: one leaked per run before
	// (the program's, left to a finalizer).
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	before := fds()
	for i := 0; i < 5; i++ {
		g, err := New(root, fmt.Sprintf("fd%d", i), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after > before {
		t.Errorf("open descriptors: %d before 5 groups, %d after", before, after)
	}
	cg, err := New(root, "run3", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Kill(); cg.Delete() })
	dir := t.TempDir()
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"mem", 1, 1}, {"null", 1, 3}} {
		if err := unix.Mknod(filepath.Join(dir, n.name), unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := cg.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read x; (: < mem) 2>/dev/null && echo mem opened; (: < null) && echo null opened")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	sh := startHelper(t, cmd)
	syscall.Close(fd)
	sh.release(t)
	cmd.Wait()
	if got := strings.TrimSpace(sh.output()); got != "null opened" {
		t.Errorf("in the group: %q, want only the null device (1:3) opened, not mem (1:1)", got)
	}
}

func TestApplyRlimits(t *testing.T) {
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	pid := sleeper.Process.Pid

	r := Rlimits{
		NoFile: &Rlimit{100, 200},
		FSize:  &Rlimit{1 << 20, 2 << 20},
		Core:   &Rlimit{0, 0},
		AS:     &Rlimit{1 << 40, 1 << 40},
	}
	if err := ApplyRlimits(pid, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Settings() {
		got, err := readRlimit(pid, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Rlimit{s.Limit.Cur, s.Limit.Max}); got != want {
			t.Errorf("rlimit %s of pid %d = %v, want %v", s.Name, pid, got, want)
		}
	}

	err := ApplyRlimits(pid, Rlimits{Stack: &Rlimit{2, 1}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("setting rlimit stack to 2:1 on pid %d", pid)) {
		t.Errorf("ApplyRlimits(soft > hard) = %v", err)
	}

	if diff := cmp.Diff([]string{"nofile", "fsize", "core", "as"}, names(r.Settings())); diff != "" {
		t.Errorf("Settings order (-want +got):\n%s", diff)
	}
}

func names(s []RlimitSetting) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

// readRlimit reads one limit of pid from /proc/<pid>/limits, an
// independent witness of what prlimit did.
func readRlimit(pid int, name string) (Rlimit, error) {
	row := map[string]string{
		"nofile": "Max open files", "fsize": "Max file size", "stack": "Max stack size",
		"core": "Max core file size", "nproc": "Max processes", "as": "Max address space",
	}[name]
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return Rlimit{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), row); ok {
			fs := strings.Fields(rest)
			conv := func(s string) uint64 {
				if s == "unlimited" {
					return Unlimited
				}
				n, _ := strconv.ParseUint(s, 10, 64)
				return n
			}
			return Rlimit{conv(fs[0]), conv(fs[1])}, nil
		}
	}
	return Rlimit{}, fmt.Errorf("no %q in /proc/%d/limits", row, pid)
}

// TestApplyRlimitsGoExec checks the integration path: a Go process limited
// from outside passes the limit on to what it execs, instead of restoring
// the RLIMIT_NOFILE it started with.
func TestApplyRlimitsGoExec(t *testing.T) {
	// Start the helper with soft < hard, so that its runtime raises the
	// soft limit and remembers the old one to restore on exec.
	cmd := exec.Command("/bin/sh", "-c", `ulimit -Sn 512 && exec "$0"`, os.Args[0])
	cmd.Env = append(os.Environ(), "LIMITS_TEST_HELPER=exec-ulimit")
	h := startHelper(t, cmd)
	if !waitFor(10*time.Second, func() bool { return strings.HasPrefix(h.output(), "ready") }) {
		t.Fatalf("helper not ready: %q", h.output())
	}
	if got, err := readRlimit(cmd.Process.Pid, "nofile"); err != nil || got.Soft != got.Hard-1 {
		t.Logf("helper's runtime did not raise its soft limit (%v, %v): the restore path is not exercised", got, err)
	}
	if err := ApplyRlimits(cmd.Process.Pid, Rlimits{NoFile: &Rlimit{1000, 2000}}); err != nil {
		t.Fatal(err)
	}
	h.release(t)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v (output %q)", err, h.output())
	}
	if got := strings.Fields(h.output()); !cmp.Equal(got, []string{"ready", "1000", "2000"}) {
		t.Errorf("helper output %q, want ulimit -Sn, -Hn of the exec'd shell to be 1000, 2000", got)
	}
}

// TestV1NewFailsHalfWay makes group creation fail with ENOMEM once the
// group exists in some hierarchies, and once in all of them: the error
// names the group and keeps the errno, and no hierarchy keeps the group.
func TestV1NewFailsHalfWay(t *testing.T) {
	h := requireVersion(t, 1)
	for _, point := range []string{"claimed", "created"} {
		t.Run(point, func(t *testing.T) {
			root := testRoot(t, h)
			testFail = func(p string) error {
				if p == point {
					return unix.ENOMEM
				}
				return nil
			}
			defer func() { testFail = nil }()
			pids := int64(16)
			_, err := New(root, "half", Limits{Memory: 64 << 20, Pids: &pids})
			if !errors.Is(err, unix.ENOMEM) || !strings.Contains(err.Error(), root+"/half") {
				t.Errorf("New failing at %s: %v, want ENOMEM naming %s/half", point, err, root)
			}
			for _, dir := range h.hierarchies() {
				if _, err := os.Stat(filepath.Join(dir, root, "half")); err == nil {
					t.Errorf("half-made group left in %s", dir)
				}
			}
		})
	}
}

// A run's cpuset group comes from the root group's (which is given
// clone_children once): and where the root has lost it since (made again
// by another runner), the run's group is still made whole.
func TestV1RealCpusetFromRoot(t *testing.T) {
	h := requireVersion(t, 1)
	if _, ok := h.v1["cpuset"]; !ok {
		t.Skip("no v1 cpuset hierarchy here")
	}
	root := testRoot(t, h)
	dir := func(id string) string { return filepath.Join(h.v1["cpuset"], "cpuset", root, id) }
	for i, spoil := range []func(){
		func() {},
		func() {
			if err := os.WriteFile(filepath.Join(dir(""), "cgroup.clone_children"), []byte("0"), 0); err != nil {
				t.Fatal(err)
			}
		},
	} {
		spoil()
		id := fmt.Sprintf("run%d", i)
		cg, err := New(root, id, Limits{Cpuset: "0"})
		if err != nil {
			t.Fatal(err)
		}
		if got := readTrim(t, filepath.Join(dir(id), "cpuset.cpus")); got != "0" {
			t.Errorf("%s: cpuset.cpus = %q, want 0", id, got)
		}
		if got := readTrim(t, filepath.Join(dir(id), "cpuset.mems")); got == "" {
			t.Errorf("%s: cpuset.mems is empty: no task could join the group", id)
		}
		if err := cg.Delete(); err != nil {
			t.Fatal(err)
		}
		if got := readTrim(t, filepath.Join(dir(""), "cgroup.clone_children")); i == 0 && got != "1" {
			t.Errorf("the root's clone_children after the first run = %q, want 1", got)
		}
	}
}

// Version's light probe and the full one say the same of the host, in
// either order: a run asks Version first (sandbox.Prepare), then makes its
// group from the full probe.
func TestProbeModeAgrees(t *testing.T) {
	reset := func() {
		probeMu.Lock()
		probed, probedModes = nil, nil
		probeMu.Unlock()
	}
	t.Cleanup(reset)
	for _, modeFirst := range []bool{true, false} {
		reset()
		var light, full *hostCgroups
		var err1, err2 error
		if modeFirst {
			light, err1 = probeMode()
			full, err2 = probeHost()
		} else {
			full, err2 = probeHost()
			light, err1 = probeMode()
		}
		if err1 != nil || err2 != nil {
			t.Skipf("no cgroups here: %v, %v", err1, err2)
		}
		want := hostCgroups{mode: full.mode, v2Mount: full.v2Mount, v2Controllers: full.v2Controllers}
		got := hostCgroups{mode: light.mode, v2Mount: light.v2Mount, v2Controllers: light.v2Controllers}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(hostCgroups{})); diff != "" {
			t.Errorf("mode probe first %v: (-full +light)\n%s", modeFirst, diff)
		}
		if full.mode != cgroups.Unified && full.mode != cgroups.Unavailable && full.v1 == nil {
			t.Errorf("mode probe first %v: the full probe has no v1 table on a %v host", modeFirst, full.mode)
		}
	}
}
