package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

func TestParseMountinfo(t *testing.T) {
	text := `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
28 27 0:25 / /mnt/with\040space ro,nosuid - tmpfs tools ro
29 27 8:1 / /home rw master:2 - xfs /dev/sdb1 rw
`
	f := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(f, []byte(text), 0o644)
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	got, err := parseMountinfo(fh)
	if err != nil {
		t.Fatal(err)
	}
	want := []hostMount{{"/proc", "proc"}, {"/", "ext4"}, {"/mnt/with space", "tmpfs"}, {"/home", "xfs"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMountinfo (-want +got):\n%s", diff)
	}
}

// TestHostMountsChange: the mount table kept between runs is read again
// once the caller's table changes (a mount made, then removed), so a run
// never plans from a stale one.
func TestHostMountsChange(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	has := func() bool {
		t.Helper()
		ms, err := readHostMounts()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Point == dir {
				return true
			}
		}
		return false
	}
	steps := []struct {
		name    string
		change  func() error
		mounted bool
	}{
		{"before", func() error { return nil }, false},
		{"unchanged", func() error { return nil }, false},
		{"mounted", func() error { return unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m") }, true},
		{"still mounted", func() error { return nil }, true},
		{"unmounted", func() error { return unix.Unmount(dir, 0) }, false},
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := has(); got != st.mounted {
			t.Errorf("%s: %s in the mount table = %v, want %v", st.name, dir, got, st.mounted)
		}
	}
}

func TestLayeredSubmounts(t *testing.T) {
	tests := []struct {
		name   string
		mounts []hostMount
		want   []string
	}{
		{"root only", []hostMount{{"/", "ext4"}}, nil},
		{"real filesystems, parents first",
			[]hostMount{{"/", "ext4"}, {"/home/u/work", "ext4"}, {"/home", "xfs"}, {"/srv", "btrfs"}},
			[]string{"/home", "/home/u/work", "/srv"}},
		{"kernel views and replaced paths are skipped",
			[]hostMount{{"/", "ext4"}, {"/proc", "proc"}, {"/sys/fs/cgroup", "tmpfs"}, {"/dev/shm", "tmpfs"},
				{"/tmp", "tmpfs"}, {"/run/user/0", "tmpfs"}, {"/mnt/bpf", "bpf"}, {"/data", "ext4"}},
			[]string{"/data"}},
		{"run directory is skipped", []hostMount{{"/", "ext4"}, {"/var/lib/sbx/run", "tmpfs"}}, nil},
		{"stacked mounts counted once", []hostMount{{"/", "ext4"}, {"/opt", "ext4"}, {"/opt", "xfs"}}, []string{"/opt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := layeredSubmounts(tt.mounts, "/var/lib/sbx/run")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("layeredSubmounts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildPlan(t *testing.T) {
	spec := &Spec{
		Args: []string{"make"}, Env: []string{"PATH=/bin"}, Hostname: "h", Limits: limits.Limits{Disk: 1 << 20},
		Mounts: []Mount{
			{Type: MountBind, Source: "/src", Destination: "/work", ReadOnly: true},
			{Type: MountTmpfs, Destination: "/scratch", Size: 4096},
		},
		User: &User{UID: 1000, GID: 100}, CapAdd: []string{"net_raw"},
	}
	cfg, err := buildPlan(spec, "/run/sandbox/ID", rootLayers{Lowers: []string{"/"}}, []hostMount{{"/", "ext4"}, {"/home", "xfs"}}, "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range cfg.Steps {
		got = append(got, strings.Join(strings.Fields(st.Kind+" "+st.FSType+" "+st.Target+" "+st.Data), " "))
	}
	want := []string{
		"mount tmpfs /run/sandbox/ID size=1048576,nr_inodes=256,mode=0700",
		"mount overlay /run/sandbox/ID/root lowerdir=/,upperdir=/run/sandbox/ID/u/0,workdir=/run/sandbox/ID/w/0",
		"mount overlay /home lowerdir=/home,upperdir=/run/sandbox/ID/u/1,workdir=/run/sandbox/ID/w/1",
		"mount proc /proc",
		"mount tmpfs /dev mode=755,size=65536k,nr_inodes=16384",
		"mknod /dev/null", "mknod /dev/zero", "mknod /dev/full", "mknod /dev/random", "mknod /dev/urandom", "mknod /dev/tty",
		"mount devpts /dev/pts newinstance,ptmxmode=0666,mode=0620",
		"symlink /dev/ptmx",
		"mount tmpfs /dev/shm mode=1777,size=65536k,nr_inodes=16384",
		"mount mqueue /dev/mqueue",
		"symlink /dev/fd", "symlink /dev/stdin", "symlink /dev/stdout", "symlink /dev/stderr",
		"mount sysfs /sys",
		"mount tmpfs /tmp mode=1777,size=1048576,nr_inodes=256",
		"mount tmpfs /run mode=755,size=65536k,nr_inodes=16384",
		"bind /work",
		"mount tmpfs /scratch mode=1777,size=4096,nr_inodes=64",
	}
	for _, p := range maskedPaths {
		want = append(want, "mask "+p)
	}
	for _, p := range readOnlyPaths {
		want = append(want, "readonly "+p)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan steps (-want +got):\n%s", diff)
	}
	if cfg.UID != 1000 || cfg.GID != 100 || !cmp.Equal(cfg.Caps, []int{13}) || cfg.Hostname != "h" || !cfg.Loopback {
		t.Errorf("identity: uid %d gid %d caps %v hostname %q loopback %v", cfg.UID, cfg.GID, cfg.Caps, cfg.Hostname, cfg.Loopback)
	}

	t.Run("snapshot layers with the store's upper", func(t *testing.T) {
		cfg, err := buildPlan(&Spec{Args: []string{"x"}}, "/run/x", rootLayers{Lowers: []string{"/s/2/fs", "/s/1/fs"},
			Upper: "/s/3/fs", Work: "/s/3/work", Options: []string{"index=off"}}, nil, "/")
		if err != nil {
			t.Fatal(err)
		}
		st := cfg.Steps[1]
		want := stage.Step{Kind: stage.StepMount, Scratch: true, FSType: "overlay", Source: "/s/2/fs", Target: "/run/x/root",
			Data: "lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/3/fs,workdir=/s/3/work,index=off", Mkdir: []string{"/run/x/root"}}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Errorf("root overlay (-want +got):\n%s", diff)
		}
	})
	t.Run("overlay-unsafe paths are refused", func(t *testing.T) {
		if _, err := buildPlan(&Spec{Args: []string{"x"}}, "/run/x", rootLayers{Lowers: []string{"/a,b"}}, nil, "/"); err == nil {
			t.Error("a lower path with a comma was accepted")
		}
	})
}

func TestCallerView(t *testing.T) {
	top, err := os.MkdirTemp("/tmp", "sandbox-view-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	proj, odd, bin := filepath.Join(top, "proj"), filepath.Join(top, "a,b"), filepath.Join(top, "bin")
	for _, d := range []string{proj, odd, bin} {
		os.Mkdir(d, 0o755)
	}
	prog := filepath.Join(bin, "prog.test")
	os.WriteFile(prog, nil, 0o755)
	scratch := filepath.Join(top, "runs", "ID")
	overlay := func(dir string) stage.Step {
		return stage.Step{Kind: stage.StepMount, FSType: "overlay", Source: dir, Target: dir,
			Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "lowerdir=" + dir + ",upperdir=" + scratch + "/u/wd,workdir=" + scratch + "/w/wd",
			Mkdir: []string{scratch + "/u/wd", scratch + "/w/wd"}}
	}
	bindRO := func(p string) stage.Step { return stage.Step{Kind: stage.StepBind, Source: p, Target: p, RO: true} }
	tests := []struct {
		name string
		args []string
		wd   string
		want []stage.Step
	}{
		{"nothing hidden", []string{"/bin/true"}, "/usr/bin", nil},
		{"working directory under /tmp", []string{"make"}, proj, []stage.Step{overlay(proj)}},
		{"CMD under /tmp, explicit workdir", []string{prog}, "", []stage.Step{bindRO(prog)}},
		{"CMD under /tmp, found through PATH", []string{"prog.test"}, "/", []stage.Step{bindRO(prog)}},
		{"CMD inside the shown directory", []string{"./bin/prog.test"}, top, []stage.Step{overlay(top)}},
		{"CMD relative to an explicit workdir", []string{"./prog.test"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Spec{Args: tt.args, Env: []string{"PATH=/usr/bin:" + bin}}
			got, err := callerView(s, scratch, tt.wd)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("callerView (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a working directory overlayfs cannot carry", func(t *testing.T) {
		if _, err := callerView(&Spec{Args: []string{"true"}}, scratch, odd); err == nil || !strings.Contains(err.Error(), odd) {
			t.Errorf("callerView in %s: %v, want an error naming it", odd, err)
		}
	})
	t.Run("working directory in the run directory", func(t *testing.T) {
		os.MkdirAll(scratch, 0o755)
		if _, err := callerView(&Spec{Args: []string{"x"}}, scratch, scratch); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("callerView in the run directory: %v, want ErrInvalidSpec", err)
		}
	})
	t.Run("planned after the private /tmp and /run, before the Spec's mounts", func(t *testing.T) {
		s := &Spec{Args: []string{"x"}, Mounts: []Mount{{Type: MountTmpfs, Destination: "/scratch"}}}
		cfg, err := buildPlan(s, scratch, rootLayers{Lowers: []string{"/"}}, []hostMount{{"/", "ext4"}}, proj)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, st := range cfg.Steps {
			if st.Target == "/tmp" || st.Target == "/run" || st.Target == proj || st.Target == "/scratch" {
				order = append(order, st.Target)
			}
		}
		if diff := cmp.Diff([]string{"/tmp", "/run", proj, "/scratch"}, order); diff != "" || !cfg.CallerWdRequired {
			t.Errorf("order (-want +got):\n%s\nCallerWdRequired %v", diff, cfg.CallerWdRequired)
		}
		cfg, _ = buildPlan(s, scratch, rootLayers{Lowers: []string{"/srv/root"}}, nil, proj)
		if cfg.CallerWdRequired {
			t.Errorf("a root of its own requires the caller's directory")
		}
	})
}
