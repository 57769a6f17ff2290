//go:build cgo

package stage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBuildPart: a config's build part (EncodeBuild) is what PID 1 builds
// from, all of it: a spare built from it is PID 1 of a config that differs
// in anything else (is_same_build), and of none that differs in any of it,
// whose build part also hashes differently (the zygote's choice of spare).
// The zygote's hash is the runner's (BuildHash).
func TestBuildPart(t *testing.T) {
	base := func() Config {
		return Config{
			Args: []string{"sh", "-c", "true"}, Env: []string{"PATH=/bin"}, Dir: "/work", CallerWd: "/home/u",
			Hostname: "h", Domainname: "example.org", UID: 1000, GID: 100, Caps: []int{21}, TTY: true,
			TTYRows: 24, TTYCols: 80, Loopback: true, Scratch: "/run/s", Rootfs: "/run/s/root", ExtraFiles: 1,
			SelfMap: &SelfMap{UID: 1000, HostUID: 1000, GID: 100, HostGID: 100},
			Steps: []Step{
				{Kind: StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: "/run/s", Data: "size=1g", Flags: unix.MS_NOSUID},
				{Kind: StepBind, Source: "/etc", Target: "/etc", RO: true, Mkdir: []string{"/a", "/b"}},
				{Kind: StepMknod, Target: "/dev/null", Major: 1, Minor: 3},
			},
			Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 4096}},
			Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6, K: 0x7fff0000}}, Names: map[int]string{250: "keyctl"}},
		}
	}
	b := base()
	build := EncodeBuild(&b)
	same, hash, ok := cSameBuild(build, EncodeConfig(&b)[4:])
	if !ok || !same {
		t.Fatalf("a config beside its own build part: same %v, ok %v", same, ok)
	}
	if want := BuildHash(build); hash != want {
		t.Errorf("the zygote's hash %#x, the runner's %#x", hash, want)
	}
	for _, tc := range []struct {
		name  string
		same  bool
		apply func(*Config)
	}{
		{"args", true, func(c *Config) { c.Args = []string{"other"} }},
		{"env", true, func(c *Config) { c.Env = nil }},
		{"dir", true, func(c *Config) { c.Dir = "/else" }},
		{"caller wd", true, func(c *Config) { c.CallerWd = "/" }},
		{"ids", true, func(c *Config) { c.UID, c.GID = 0, 0 }},
		{"caps", false, func(c *Config) { c.Caps = nil }},
		{"caps added", false, func(c *Config) { c.Caps = append(c.Caps, 12) }},
		{"tty", true, func(c *Config) { c.TTY, c.TTYRows = false, 0 }},
		{"extra files", true, func(c *Config) { c.ExtraFiles = 0 }},
		{"rlimits", true, func(c *Config) { c.Rlimits = nil }},
		{"seccomp", true, func(c *Config) { c.Seccomp = nil }},
		{"hostname", false, func(c *Config) { c.Hostname = "x" }},
		{"domain name", false, func(c *Config) { c.Domainname = "" }},
		{"loopback", false, func(c *Config) { c.Loopback = false }},
		{"scratch", false, func(c *Config) { c.Scratch = "/run/t" }},
		{"rootfs", false, func(c *Config) { c.Rootfs = "/run/s/r" }},
		{"a step less", false, func(c *Config) { c.Steps = c.Steps[:2] }},
		{"a step more", false, func(c *Config) { c.Steps = append(c.Steps, Step{Kind: StepMask, Target: "/proc/kcore"}) }},
		{"step kind", false, func(c *Config) { c.Steps[1].Kind = StepMount }},
		{"step source", false, func(c *Config) { c.Steps[1].Source = "/usr" }},
		{"step target", false, func(c *Config) { c.Steps[1].Target = "/usr" }},
		{"step fs", false, func(c *Config) { c.Steps[0].FSType = "ramfs" }},
		{"step data", false, func(c *Config) { c.Steps[0].Data = "size=2g" }},
		{"step mount flags", false, func(c *Config) { c.Steps[0].Flags = 0 }},
		{"step read-only", false, func(c *Config) { c.Steps[1].RO = false }},
		{"step optional", false, func(c *Config) { c.Steps[1].Optional = true }},
		{"step device", false, func(c *Config) { c.Steps[2].Minor = 5 }},
		{"step mkdir", false, func(c *Config) { c.Steps[1].Mkdir = []string{"/a"} }},
		{"step mkdir path", false, func(c *Config) { c.Steps[1].Mkdir = []string{"/a", "/c"} }},
		{"no own map", false, func(c *Config) { c.SelfMap = nil }},
		{"own map's uid", false, func(c *Config) { c.SelfMap = &SelfMap{UID: 0, HostUID: 1000, GID: 100, HostGID: 100} }},
		{"own map's host uid", false, func(c *Config) { c.SelfMap = &SelfMap{UID: 1000, HostUID: 1001, GID: 100, HostGID: 100} }},
		{"own map's gid", false, func(c *Config) { c.SelfMap = &SelfMap{UID: 1000, HostUID: 1000, GID: 0, HostGID: 100} }},
		{"own map's host gid", false, func(c *Config) { c.SelfMap = &SelfMap{UID: 1000, HostUID: 1000, GID: 100, HostGID: 101} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Steps = append([]Step(nil), c.Steps...)
			tc.apply(&c)
			same, _, ok := cSameBuild(build, EncodeConfig(&c)[4:])
			if !ok {
				t.Fatal("malformed")
			}
			if same != tc.same {
				t.Errorf("built ahead from the base's build part, PID 1 of this config: %v, want %v", same, tc.same)
			}
			if got := BuildHash(EncodeBuild(&c)) == BuildHash(build); got != tc.same {
				t.Errorf("its build part hashes as the base's: %v, want %v", got, tc.same)
			}
		})
	}
	// A whole config is not a build part, nor is a build part cut short.
	if _, _, ok := cSameBuild(EncodeConfig(&b), EncodeConfig(&b)[4:]); ok {
		t.Error("a whole config read as a build part")
	}
	if _, _, ok := cSameBuild(build[:len(build)-1], EncodeConfig(&b)[4:]); ok {
		t.Error("a build part cut short read as one")
	}
}

func TestBuildCacheInStep(t *testing.T) {
	if got := cBuildCache(); got != BuildCache {
		t.Errorf("the zygote reads %s, the runner writes %s", got, BuildCache)
	}
}

// TestReadBuild: the zygote builds ahead only from a build part its own
// user kept, in a directory only that user writes: what it says is
// mounted with the zygote's privileges. A file of another owner, one in
// another's directory or in one others may write, a file others may
// write, a symlink, a FIFO (which would block the zygote's start) and a
// file too long are not read.
func TestReadBuild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes files of another owner")
	}
	want := EncodeBuild(&Config{Hostname: "h", Scratch: "/run/s", Rootfs: "/run/s/root"})
	const other = 65534
	for _, tc := range []struct {
		name string
		read bool
		make func(t *testing.T, dir, file string)
	}{
		{"own, in an own private directory", true, nil},
		{"own, in a directory others may read", true, func(t *testing.T, dir, file string) { chmod(t, dir, 0o755) }},
		{"another's file", false, func(t *testing.T, dir, file string) { chown(t, file, other) }},
		{"in another's directory", false, func(t *testing.T, dir, file string) { chown(t, dir, other) }},
		{"in a directory its group may write", false, func(t *testing.T, dir, file string) { chmod(t, dir, 0o770) }},
		{"in a directory anyone may write", false, func(t *testing.T, dir, file string) { chmod(t, dir, 0o777) }},
		{"a file others may write", false, func(t *testing.T, dir, file string) { chmod(t, file, 0o622) }},
		{"a symlink to an own file", false, func(t *testing.T, dir, file string) {
			if err := os.Rename(file, file+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(BuildCache+".real", file); err != nil {
				t.Fatal(err)
			}
		}},
		{"a FIFO", false, func(t *testing.T, dir, file string) {
			os.Remove(file)
			if err := unix.Mkfifo(file, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"too long", false, func(t *testing.T, dir, file string) {
			if err := os.WriteFile(file, make([]byte, 64<<10+1), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, BuildCache)
			if err := os.WriteFile(file, want, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.make != nil {
				tc.make(t, dir, file)
			}
			got := cReadBuild(dir)
			if tc.read && !bytes.Equal(got, want) {
				t.Errorf("read %d bytes, want the %d kept", len(got), len(want))
			}
			if !tc.read && got != nil {
				t.Errorf("read %d bytes, want none", len(got))
			}
		})
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}
