package limits

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDirectV1 makes groups with this package's v1 controllers and with
// containerd's, each over a tree of empty control files, and compares what
// they wrote: the plain descriptors must write what containerd would.
func TestDirectV1(t *testing.T) {
	files := map[string][]string{
		"memory": {"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes",
			"memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes", "memory.oom_control", "memory.swappiness"},
		"cpu":     {"cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"},
		"pids":    {"pids.max"},
		"cpuacct": {},
		"freezer": {},
	}
	mem, swap, pids := int64(64<<20), int64(64<<20), int64(32)
	quota, period, shares := int64(50000), uint64(100000), uint64(512)
	swappiness := uint64(0)
	for _, tc := range []struct {
		name string
		ctrl string
		res  specs.LinuxResources
	}{
		{"memory and swap", "memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem, Swap: &swap}}},
		{"memory alone", "memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}}},
		{"no memory limit", "memory", specs.LinuxResources{}},
		{"memory with what containerd writes", "memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem, Swappiness: &swappiness}}},
		{"pids", "pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}},
		{"no pids limit", "pids", specs.LinuxResources{}},
		{"cpu quota", "cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}},
		{"cpu shares, containerd's", "cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period}}},
		{"cpu, CPUs only (cpuset's)", "cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}},
		{"cpuacct", "cpuacct", specs.LinuxResources{}},
		{"freezer", "freezer", specs.LinuxResources{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			made := func(ours bool) map[string]string {
				root := t.TempDir()
				dir := filepath.Join(root, tc.ctrl, "sandbox", "run")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, f := range files[tc.ctrl] {
					if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var s cgroup1.Subsystem
				if ours {
					s = v1Subsystem(tc.ctrl, root)
				} else {
					s = map[string]func(string) cgroup1.Subsystem{
						"memory":  func(r string) cgroup1.Subsystem { return cgroup1.NewMemory(r) },
						"cpu":     func(r string) cgroup1.Subsystem { return cgroup1.NewCpu(r) },
						"pids":    func(r string) cgroup1.Subsystem { return cgroup1.NewPids(r) },
						"cpuacct": func(r string) cgroup1.Subsystem { return cgroup1.NewCpuacct(r) },
						"freezer": func(r string) cgroup1.Subsystem { return cgroup1.NewFreezer(r) },
					}[tc.ctrl](root)
				}
				res := tc.res
				if _, err := cgroup1.New(cgroup1.StaticPath("/sandbox/run"), &res,
					cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return []cgroup1.Subsystem{s}, nil })); err != nil {
					t.Fatalf("creating the group (ours %v): %v", ours, err)
				}
				got := map[string]string{}
				ents, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
					got[e.Name()] = string(b)
				}
				return got
			}
			if diff := cmp.Diff(made(false), made(true)); diff != "" {
				t.Errorf("files written (-containerd +ours):\n%s", diff)
			}
		})
	}
	t.Run("a missing parent is made", func(t *testing.T) {
		root := t.TempDir()
		res := specs.LinuxResources{}
		s := v1Subsystem("cpuacct", root)
		if _, err := cgroup1.New(cgroup1.StaticPath("/a/b/c"), &res,
			cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return []cgroup1.Subsystem{s}, nil })); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(root, "cpuacct", "a", "b", "c")); err != nil || !fi.IsDir() {
			t.Errorf("the group: %v", err)
		}
	})
	t.Run("a control file that is not there is an error", func(t *testing.T) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "pids", "run"), 0o755)
		res := specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}
		s := v1Subsystem("pids", root)
		if _, err := cgroup1.New(cgroup1.StaticPath("/run"), &res,
			cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return []cgroup1.Subsystem{s}, nil })); err == nil {
			t.Error("a pids limit written where pids.max is missing: no error")
		}
	})
}
