package limits

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3"
	"github.com/google/go-cmp/cmp"
)

func TestChooseVersion(t *testing.T) {
	all := []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}
	for _, tc := range []struct {
		name string
		mode cgroups.CGMode
		v2   []string
		need []string
		want int
		err  error
	}{
		{name: "unified", mode: cgroups.Unified, v2: all, need: []string{"memory", "pids", "cpu"}, want: 2},
		{name: "unified lacking a controller", mode: cgroups.Unified, v2: []string{"memory"}, need: []string{"memory", "pids"}, err: ErrUnsupported},
		{name: "legacy", mode: cgroups.Legacy, need: []string{"memory"}, want: 1},
		{name: "hybrid, empty v2 (this machine)", mode: cgroups.Hybrid, v2: nil, need: []string{"memory"}, want: 1},
		{name: "hybrid, v2 lacks one", mode: cgroups.Hybrid, v2: []string{"memory"}, need: []string{"memory", "cpu"}, want: 1},
		{name: "hybrid, v2 has all", mode: cgroups.Hybrid, v2: []string{"memory", "pids", "cpu"}, need: []string{"memory", "cpu"}, want: 2},
		{name: "unavailable", mode: cgroups.Unavailable, need: []string{"memory"}, err: ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseVersion(tc.mode, tc.v2, tc.need)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("chooseVersion error = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("chooseVersion = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRequiredControllers(t *testing.T) {
	l := Limits{Pids: ptr[int64](1), CPUs: ptr(1.0), Cpuset: "0", Memory: 1 << 30, IOWeight: 100}
	if diff := cmp.Diff([]string{"memory", "pids", "cpu", "cpuset"}, v2Required(l)); diff != "" {
		t.Errorf("v2Required (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"memory"}, v2Required(Limits{Memory: 1 << 30})); diff != "" {
		t.Errorf("v2Required of memory only (-want +got):\n%s", diff)
	}
	req, opt := v1Controllers(l)
	if diff := cmp.Diff([]string{"memory", "cpuacct", "pids", "cpu", "cpuset"}, req); diff != "" {
		t.Errorf("v1 required (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"freezer", "devices", "blkio"}, opt); diff != "" {
		t.Errorf("v1 optional (-want +got):\n%s", diff)
	}
	if _, opt := v1Controllers(Limits{}); !cmp.Equal(opt, []string{"freezer", "devices"}) {
		t.Errorf("v1 optional without an I/O weight = %v, want [freezer devices]", opt)
	}
}

func TestParseMountinfoV1(t *testing.T) {
	const mountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
35 33 0:30 / /sys/fs/cgroup/systemd rw,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 33 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
37 33 0:32 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory
38 33 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
39 33 0:34 / /sys/fs/cgroup/pids rw,nosuid shared:15 master:1 - cgroup cgroup rw,pids
40 99 0:32 / /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
`
	got := parseMountinfoV1(strings.NewReader(mountinfo))
	want := map[string]string{
		"cpu":     "/sys/fs/cgroup/cpu,cpuacct",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory":  "/sys/fs/cgroup/memory",
		"pids":    "/sys/fs/cgroup/pids",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMountinfoV1 (-want +got):\n%s", diff)
	}
}

func TestUsableV1(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"memory", "cpu,cpuacct", "net_cls,net_prio"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As distros do: cpu and cpuacct reach the co-mounted hierarchy by symlink.
	for _, l := range []string{"cpu", "cpuacct"} {
		if err := os.Symlink("cpu,cpuacct", filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	got := usableV1(map[string]string{
		"memory":  filepath.Join(root, "memory"),
		"cpu":     filepath.Join(root, "cpu,cpuacct"),
		"cpuacct": filepath.Join(root, "cpu,cpuacct"),
		"blkio":   filepath.Join(root, "io,blkio"), // no blkio symlink: unusable
	})
	want := map[string]string{"memory": root, "cpu": root, "cpuacct": root}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usableV1 (-want +got):\n%s", diff)
	}
}
