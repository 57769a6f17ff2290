package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeV2 is a cgroup2 hierarchy in a temp dir. Its mkdir plays the kernel:
// a new group gets the core interface files plus those of the controllers
// its parent's cgroup.subtree_control enables, with the kernel's defaults.
type fakeV2 struct {
	mount  string
	noSwap bool // as a kernel booted without swap accounting
	ioBFQ  bool // io.bfq.weight instead of io.weight
	mkdirs []string
	// devices are the groups the device filter was attached to.
	devices []string
}

func newFakeV2(t *testing.T, controllers string) *fakeV2 {
	t.Helper()
	f := &fakeV2{mount: t.TempDir()}
	writeFiles(t, f.mount, map[string]string{
		"cgroup.controllers":     controllers + "\n",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "1\n",
	})
	return f
}

func (f *fakeV2) fs() v2fs {
	return v2fs{mount: f.mount, mkdir: f.mkdir, devices: func(dir string) error {
		f.devices = append(f.devices, strings.TrimPrefix(dir, f.mount))
		return nil
	}}
}

func (f *fakeV2) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	f.mkdirs = append(f.mkdirs, strings.TrimPrefix(dir, f.mount))
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var enabled []string
	for _, c := range strings.Fields(string(b)) {
		enabled = append(enabled, strings.TrimPrefix(c, "+"))
	}
	files := map[string]string{
		"cgroup.controllers":     strings.Join(enabled, " ") + "\n",
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cgroup.events":          "populated 0\nfrozen 0\n",
		"cgroup.freeze":          "0\n",
		"cgroup.kill":            "",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
	}
	for _, c := range enabled {
		switch c {
		case "memory":
			files["memory.max"] = "max\n"
			files["memory.peak"] = "0\n"
			files["memory.events"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
			if !f.noSwap {
				files["memory.swap.max"] = "max\n"
			}
		case "pids":
			files["pids.max"] = "max\n"
			files["pids.peak"] = "0\n"
		case "cpu":
			files["cpu.max"] = "max 100000\n"
		case "cpuset":
			files["cpuset.cpus"] = "\n"
		case "io":
			files["io.stat"] = ""
			if f.ioBFQ {
				files["io.bfq.weight"] = "default 100\n"
			} else {
				files["io.weight"] = "default 100\n"
			}
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeV2) read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.mount, rel))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// groupFiles reads every file of a group, as name -> trimmed content.
func groupFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = strings.TrimSpace(string(b))
	}
	return out
}

func TestV2FakeNew(t *testing.T) {
	for _, tc := range []struct {
		name        string
		controllers string
		noSwap      bool
		ioBFQ       bool
		l           Limits
		// changed are the files whose content differs from the fake kernel's
		// defaults after New, and subtree the parent's subtree_control.
		changed map[string]string
		subtree string
	}{
		{
			name:        "accounting only",
			controllers: "cpuset cpu io memory pids",
			l:           Limits{},
			changed:     map[string]string{},
			subtree:     "+memory +pids +io",
		},
		{
			name:        "all limits",
			controllers: "cpuset cpu io memory hugetlb pids rdma misc",
			l:           Limits{Memory: 64 << 20, Pids: ptr[int64](32), CPUs: ptr(0.5), Cpuset: "0", IOWeight: 500},
			changed: map[string]string{
				"memory.max":      "67108864",
				"memory.swap.max": "0",
				"pids.max":        "32",
				"cpu.max":         "50000 100000",
				"cpuset.cpus":     "0",
				"io.weight":       "default 4950",
			},
			subtree: "+memory +pids +cpu +cpuset +io",
		},
		{
			name:        "no swap accounting, bfq",
			controllers: "cpu io memory pids",
			noSwap:      true,
			ioBFQ:       true,
			l:           Limits{Memory: 1 << 30, CPUs: ptr(1.5), IOWeight: 10},
			changed: map[string]string{
				"memory.max":    "1073741824",
				"cpu.max":       "150000 100000",
				"io.bfq.weight": "10",
			},
			subtree: "+memory +cpu +pids +io",
		},
		{
			name:        "io weight without io controller is skipped",
			controllers: "memory",
			l:           Limits{IOWeight: 100},
			changed:     map[string]string{},
			subtree:     "+memory",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeV2(t, tc.controllers)
			f.noSwap, f.ioBFQ = tc.noSwap, tc.ioBFQ
			g, err := newV2(f.fs(), "/sandbox-test/r1/run1", tc.l)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"/sandbox-test", "/sandbox-test/r1", "/sandbox-test/r1/run1"}, f.mkdirs); diff != "" {
				t.Errorf("mkdirs (-want +got):\n%s", diff)
			}
			// Every group gets the device filter: v2 has no devices controller.
			if diff := cmp.Diff([]string{"/sandbox-test/r1/run1"}, f.devices); diff != "" {
				t.Errorf("device filter attached to (-want +got):\n%s", diff)
			}
			for _, dir := range []string{"", "/sandbox-test"} {
				if got := f.read(t, dir+"/cgroup.subtree_control"); got != tc.subtree {
					t.Errorf("%s/cgroup.subtree_control = %q, want %q", dir, got, tc.subtree)
				}
			}
			// Compare against a twin made by the fake kernel alone.
			twin := filepath.Join(f.mount, "/sandbox-test/r1/twin")
			if err := f.mkdir(twin); err != nil {
				t.Fatal(err)
			}
			before, after := groupFiles(t, twin), groupFiles(t, g.dir)
			changed := map[string]string{}
			for name, v := range after {
				if before[name] != v {
					changed[name] = v
				}
			}
			for name := range before {
				if _, ok := after[name]; !ok {
					t.Errorf("New removed %s", name)
				}
			}
			if diff := cmp.Diff(tc.changed, changed); diff != "" {
				t.Errorf("files New wrote (-want +got):\n%s", diff)
			}
		})
	}
}

// TestV2DeviceFilter assembles the v2 device filter, as New does on a real
// hierarchy: the assembler dereferences every number, so a rule left with
// v1's implicit "any" crashed the runner on v2 (seen in vmtest's guests).
func TestV2DeviceFilter(t *testing.T) {
	rules := v2DeviceRules()
	if len(rules) != len(sandboxDevices)+1 || rules[0].Allow || rules[0].Type != "a" || *rules[0].Major != -1 || *rules[0].Minor != -1 {
		t.Fatalf("rules %+v: want deny-all first, then one allow per device", rules)
	}
	insts, license, err := cgroup2.DeviceFilter(rules)
	if err != nil || len(insts) == 0 || license == "" {
		t.Fatalf("DeviceFilter: %d instructions, %q, %v", len(insts), license, err)
	}
}

func TestV2FakeSubtreeAlreadyEnabled(t *testing.T) {
	f := newFakeV2(t, "cpu io memory pids")
	if _, err := newV2(f.fs(), "/sandbox/a", Limits{}); err != nil {
		t.Fatal(err)
	}
	// As the kernel shows them: names without "+". A second run must find
	// them enabled and write nothing (a write would overwrite this text).
	const enabled = "cpu io memory pids"
	for _, p := range []string{"cgroup.subtree_control", "sandbox/cgroup.subtree_control"} {
		writeFiles(t, filepath.Dir(filepath.Join(f.mount, p)), map[string]string{filepath.Base(p): enabled})
	}
	if _, err := newV2(f.fs(), "/sandbox/b", Limits{CPUs: ptr(1.0)}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"cgroup.subtree_control", "sandbox/cgroup.subtree_control"} {
		if got := f.read(t, p); got != enabled {
			t.Errorf("%s rewritten: %q", p, got)
		}
	}
}

func TestV2FakeErrors(t *testing.T) {
	t.Run("missing controller", func(t *testing.T) {
		f := newFakeV2(t, "memory")
		_, err := newV2(f.fs(), "/sandbox/a", Limits{Pids: ptr[int64](4)})
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
		if len(f.mkdirs) != 0 {
			t.Errorf("left %v behind", f.mkdirs)
		}
	})
	// Found by vmtest on Linux 6.12: a runner out of descriptors read no
	// controllers and said the host had none (ErrUnsupported), where the
	// truth is EMFILE. A directory in the file's place fails the read alike.
	for _, file := range []string{"cgroup.controllers", "sandbox/cgroup.subtree_control"} {
		t.Run("unreadable "+file, func(t *testing.T) {
			f := newFakeV2(t, "memory pids")
			if err := f.mkdir(filepath.Join(f.mount, "sandbox")); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(f.mount, file))
			if err := os.Mkdir(filepath.Join(f.mount, file), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := newV2(f.fs(), "/sandbox/a", Limits{Pids: ptr[int64](4)})
			if err == nil || errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.EISDIR) {
				t.Fatalf("err = %v, want the read's error (EISDIR), not ErrUnsupported", err)
			}
			if exists(filepath.Join(f.mount, "sandbox/a")) {
				t.Error("New left the group behind")
			}
		})
	}
	t.Run("device filter refused", func(t *testing.T) {
		f := newFakeV2(t, "memory pids")
		fsys := f.fs()
		fsys.devices = func(string) error { return unix.EPERM }
		if _, err := newV2(fsys, "/sandbox/a", Limits{}); !errors.Is(err, unix.EPERM) {
			t.Fatalf("err = %v, want the filter's EPERM: no run without it", err)
		}
		if exists(filepath.Join(f.mount, "sandbox/a")) {
			t.Error("New left the group behind")
		}
	})
	t.Run("exists", func(t *testing.T) {
		f := newFakeV2(t, "memory pids")
		if _, err := newV2(f.fs(), "/sandbox/a", Limits{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.mount, "sandbox/a/cgroup.procs"), []byte("42\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := newV2(f.fs(), "/sandbox/a", Limits{Memory: 1 << 20})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		if got := f.read(t, "sandbox/a/cgroup.procs"); got != "42" {
			t.Errorf("the existing group was touched: cgroup.procs = %q", got)
		}
		if got := f.read(t, "sandbox/a/memory.max"); got != "max" {
			t.Errorf("the existing group was touched: memory.max = %q", got)
		}
	})
	t.Run("failed write leaves nothing", func(t *testing.T) {
		f := newFakeV2(t, "memory pids")
		// pids.max as a directory makes the write fail after the mkdir.
		mkdir := f.mkdir
		fsys := v2fs{mount: f.mount, mkdir: func(p string) error {
			if err := mkdir(p); err != nil {
				return err
			}
			if filepath.Base(p) == "a" {
				os.Remove(filepath.Join(p, "pids.max"))
				return os.Mkdir(filepath.Join(p, "pids.max"), 0o755)
			}
			return nil
		}}
		_, err := newV2(fsys, "/sandbox/a", Limits{Pids: ptr[int64](4)})
		if err == nil {
			t.Fatal("New succeeded with an unwritable pids.max")
		}
		if exists(filepath.Join(f.mount, "sandbox/a")) {
			t.Error("New left the group behind")
		}
	})
}

func TestV2FakeLifecycle(t *testing.T) {
	f := newFakeV2(t, "cpu io memory pids")
	g, err := newV2(f.fs(), "/sandbox/run1", Limits{Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if g.Version() != 2 || g.Path() != "/sandbox/run1" {
		t.Errorf("Version, Path = %d, %q", g.Version(), g.Path())
	}

	if err := g.Attach(4242); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, "sandbox/run1/cgroup.procs"); got != "4242" {
		t.Errorf("cgroup.procs after Attach = %q", got)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	fd, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("OpenFD gave no directory: %v, mode %o", err, st.Mode)
	}
	unix.Close(fd)

	// CPUUsage keeps its descriptor and sees each new value.
	for _, usec := range []string{"1000", "2500000"} {
		writeFiles(t, g.dir, map[string]string{"cpu.stat": "usage_usec " + usec + "\nuser_usec 1\nsystem_usec 2\n"})
		got, err := g.CPUUsage()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := time.ParseDuration(usec + "us"); got != want {
			t.Errorf("CPUUsage = %v, want %v", got, want)
		}
	}

	writeFiles(t, g.dir, map[string]string{
		"cpu.stat":      "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\n",
		"memory.peak":   "1048576\n",
		"memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
		"pids.peak":     "3\n",
		"io.stat":       "8:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n",
	})
	s, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPUTotal: 3 * time.Millisecond, CPUUser: 2 * time.Millisecond, CPUSys: time.Millisecond,
		MemoryPeak: 1 << 20, MemoryLimitHits: 5, OOMKills: 1, PidsPeak: ptr[int64](3), IORead: 10, IOWrite: 20,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}

	if err := g.Kill(); err != nil {
		t.Errorf("Kill of an empty group: %v", err)
	}

	// A populated group cannot be deleted.
	writeFiles(t, g.dir, map[string]string{"cgroup.events": "populated 1\nfrozen 0\n", "cgroup.procs": "4242\n"})
	if err := g.Delete(); !errors.Is(err, ErrBusy) {
		t.Errorf("Delete of a populated group = %v, want ErrBusy", err)
	}
	writeFiles(t, g.dir, map[string]string{"cgroup.events": "populated 0\nfrozen 0\n", "cgroup.procs": ""})

	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	if exists(g.dir) {
		t.Error("Delete left the group")
	}
	if err := g.Delete(); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if _, err := g.CPUUsage(); !errors.Is(err, ErrNotFound) {
		t.Errorf("CPUUsage after Delete = %v, want ErrNotFound", err)
	}
	if _, err := g.OpenFD(); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenFD after Delete = %v, want ErrNotFound", err)
	}
	if _, err := g.Stats(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stats after Delete = %v, want ErrNotFound", err)
	}
}
