package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// resolveArgs parses exec's flags and resolves them as runExec does,
// without running anything.
func resolveArgs(t *testing.T, environ []string, args ...string) (*sandbox.Spec, error) {
	t.Helper()
	var f execFlags
	fs := newFlagSet("exec", stdio{})
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return f.resolve(fs, environ)
}

func TestProfileEqualsFlags(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	prof := filepath.Join(dir, "p.toml")
	os.WriteFile(prof, []byte(`
root = "./"
network = "host"
hostname = "box"
workdir = "/work"
user = "1000:100"
keep_env = true
env = ["A=1", "B=two words"]
cap_add = ["NET_RAW"]

[[mount]]
type = "bind"
source = "src"
destination = "/src"
read_only = true

[[mount]]
type = "tmpfs"
destination = "/scratch"
size = "16M"

[limits]
memory = "256M"
pids = 64
cpus = 1.5
cpuset = "0"
io-weight = 200
cpu-time = "2s"
wall-time = "5s"
extra-time = "500ms"
output-limit = "1M"
disk = "64M"
rlimit-nofile = "64:128"
rlimit-fsize = "16M"
`), 0o644)
	environ := []string{"PATH=/usr/bin:/bin", "HOME=/home/u", "SECRET=x"}
	fromProfile, err := resolveArgs(t, environ, "--profile", prof, "--", "make")
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := resolveArgs(t, environ, "--root", dir, "--network", "host", "--hostname", "box",
		"-w", "/work", "--user", "1000:100", "--keep-env", "-e", "A=1", "-e", "B=two words", "--cap-add", "NET_RAW",
		"-v", src+":/src:ro", "--tmpfs", "/scratch:16M",
		"--memory", "256M", "--pids", "64", "--cpus", "1.5", "--cpuset", "0", "--io-weight", "200",
		"--time", "2s", "--wall-time", "5s", "--extra-time", "0.5s", "--output-limit", "1M",
		"--disk", "64M", "--nofile", "64:128", "--fsize", "16M", "--", "make")
	if err != nil {
		t.Fatal(err)
	}
	// Binds come before tmpfs mounts on the command line; the profile
	// lists them in that order too.
	if diff := cmp.Diff(fromFlags, fromProfile); diff != "" {
		t.Errorf("profile and flags resolve differently (-flags +profile):\n%s", diff)
	}
	// Both sides must have taken every key, not dropped the same ones.
	l := fromProfile.Limits
	if l.CPUs == nil || *l.CPUs != 1.5 || l.Cpuset != "0" || l.IOWeight != 200 || l.ExtraTime != 500*time.Millisecond ||
		l.Rlimits.FSize == nil || l.Rlimits.FSize.Hard != 16<<20 || !slices.Contains(fromProfile.Env, "SECRET=x") {
		t.Errorf("profile lost keys: limits %+v, env %v", l, fromProfile.Env)
	}

	t.Run("flags override the profile", func(t *testing.T) {
		s, err := resolveArgs(t, environ, "--profile", prof, "--memory", "1G", "--network", "none", "-e", "A=flag", "--", "make")
		if err != nil {
			t.Fatal(err)
		}
		if s.Limits.Memory != 1<<30 || s.Network != "none" || !strings.Contains(strings.Join(s.Env, " "), "A=flag") {
			t.Errorf("memory %d network %q env %v", s.Limits.Memory, s.Network, s.Env)
		}
	})
	t.Run("built-in grade", func(t *testing.T) {
		s, err := resolveArgs(t, environ, "--profile", "grade", "--", "./solution")
		if err != nil {
			t.Fatal(err)
		}
		if s.Network != "none" || s.User == nil || !s.User.Unique || s.Limits.Pids == nil || s.Limits.CPUTime == 0 {
			t.Errorf("grade profile resolved to %+v", s)
		}
	})
}

func TestProfileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("network = \"none\"\n\n[limits]\nmemroy = \"64M\"\n"), 0o644)
	t.Chdir(dir)
	tests := []struct {
		name string
		args []string
	}{
		{"profile-unknown-key", []string{"exec", "--profile", "bad.toml", "--", "true"}},
		{"profile-unknown-builtin", []string{"exec", "--profile", "strict", "--", "true"}},
		{"profile-show-unknown", []string{"profile", "show", "strict"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", tt.args...)
			if got.Exit != 125 {
				t.Errorf("exit %d, want 125", got.Exit)
			}
			golden(t, tt.name, "stdout:\n"+got.Stdout+"stderr:\n"+got.Stderr)
		})
	}
}

func TestProfileCommand(t *testing.T) {
	for _, name := range []string{"list", "show-grade"} {
		t.Run(name, func(t *testing.T) {
			got := runSandbox(t, "", append([]string{"profile"}, strings.SplitN(name, "-", 2)...)...)
			if got.Exit != 0 || got.Stderr != "" {
				t.Errorf("exit %d stderr %q", got.Exit, got.Stderr)
			}
			golden(t, "profile-"+name, got.Stdout)
		})
	}
}
