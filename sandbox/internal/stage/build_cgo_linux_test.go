//go:build cgo

package stage

import (
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
