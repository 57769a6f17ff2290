package profile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// withLimits returns the default limits with name=value pairs set, as a
// profile's [limits] would.
func withLimits(t *testing.T, kv ...string) limits.Limits {
	t.Helper()
	l := limits.DefaultLimits()
	for i := 0; i < len(kv); i += 2 {
		if err := l.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestNames(t *testing.T) {
	if diff := cmp.Diff([]string{"build", "grade", "test"}, Names()); diff != "" {
		t.Errorf("Names() (-want +got):\n%s", diff)
	}
	if _, ok := Builtin("nope"); ok {
		t.Error(`Builtin("nope") found something`)
	}
	if _, ok := Builtin("../profile"); ok {
		t.Error(`Builtin("../profile") found something`)
	}
}

// TestBuiltins checks that every built-in parses, applies to a Spec whose
// limits validate on this host, and sets what its use needs.
func TestBuiltins(t *testing.T) {
	want := map[string]*sandbox.Spec{
		"test": {
			Args:    []string{"true"},
			Network: sandbox.NetworkNone,
			Limits:  withLimits(t, "pids", "4096", "disk", "4G"),
		},
		"build": {
			Args:     []string{"true"},
			Network:  sandbox.NetworkNone,
			Hostname: "build",
			Limits:   withLimits(t, "memory", "4G", "pids", "2048", "disk", "4G", "wall-time", "1h"),
		},
		"grade": {
			Args:    []string{"true"},
			Network: sandbox.NetworkNone,
			User:    &sandbox.User{Unique: true},
			Dir:     "/box",
			// A root of its own, as the sandbox package lists it; binds
			// follow no symlinks.
			HostRoot:   sandbox.MinimalHostRoot(),
			NoSymlinks: true,
			Limits: withLimits(t, "pids", "64", "memory", "256M", "cpu-time", "2s", "wall-time", "5s",
				"extra-time", "500ms", "output-limit", "1M", "disk", "64M", "rlimit-fsize", "16M",
				"rlimit-core", "0", "rlimit-nofile", "64"),
		},
	}
	wantEnv := map[string][]string{
		"build": {"SOURCE_DATE_EPOCH=0", "TZ=UTC", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PYTHONHASHSEED=0"},
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			text, ok := Builtin(name)
			if !ok || !strings.HasPrefix(string(text), "# ") {
				t.Fatalf("Builtin(%q): want commented TOML text, got %q, %v", name, text, ok)
			}
			p, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != name || p.Description == "" {
				t.Errorf("Name %q, Description %q: want %q and a description", p.Name, p.Description, name)
			}
			s := &sandbox.Spec{Args: []string{"true"}}
			if err := p.Apply(s); err != nil {
				t.Fatal(err)
			}
			if err := s.Limits.Validate(); err != nil {
				t.Errorf("Limits.Validate: %v", err)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Spec.Validate: %v", err)
			}
			if diff := cmp.Diff(want[name], s); diff != "" {
				t.Errorf("applied Spec (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantEnv[name], p.Env); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
		})
	}
	if len(want) != len(Names()) {
		t.Errorf("test covers %d built-ins, there are %d", len(want), len(Names()))
	}
}

// goodProfile uses every key, both spellings, inline and [[ ]] mounts, and
// limits as strings, integers and floats.
const goodProfile = `# a profile of one's own
description = "everything"
root = "./rootfs"
network = "host"
hostname = "box-1.example"
workdir = "/work/../src/"
user = "1000"
keep-env = true
env = [
  "A=1",   # comments inside arrays
  "B=x=y",
]
cap_add = ["NET_RAW", "cap_sys_ptrace"]
mount = [{ type = "tmpfs", destination = "/scratch", size = 1048576 }]

[limits]
memory = "256M"
pids = 64
cpus = 0.5
cpu_time = 2
wall-time = "5s"
rlimit-nofile = "64:128"
rlimit-stack = "unlimited"
`

const goodMounts = `
[[mount]]
type = "bind"
source = "data"
destination = "/data/"
read-only = true

[[mount]]
type = "tmpfs"
destination = "/data/tmp"
size = "64M"
`

func TestParseGood(t *testing.T) {
	// Two files, since TOML allows no top-level "mount" array alongside
	// [[mount]] tables.
	p, err := Parse("/etc/sandbox/good.toml", []byte(goodProfile))
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Name:        "/etc/sandbox/good.toml",
		Description: "everything",
		Root:        "/etc/sandbox/rootfs",
		Network:     sandbox.NetworkHost,
		Hostname:    "box-1.example",
		Workdir:     "/src",
		User:        &sandbox.User{UID: 1000, GID: 1000},
		KeepEnv:     true,
		Env:         []string{"A=1", "B=x=y"},
		CapAdd:      []string{"NET_RAW", "cap_sys_ptrace"},
		Mounts:      []sandbox.Mount{{Type: sandbox.MountTmpfs, Destination: "/scratch", Size: 1 << 20}},
		Limits: withLimits(t, "memory", "256M", "pids", "64", "cpus", "0.5", "cpu-time", "2s", "wall-time", "5s",
			"rlimit-nofile", "64:128", "rlimit-stack", "unlimited"),
		LimitKeys: []string{"memory", "pids", "cpus", "cpu-time", "wall-time", "rlimit-nofile", "rlimit-stack"},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Profile (-want +got):\n%s", diff)
	}

	// Apply onto a Spec the CLI has started: what the profile does not set
	// stays, mounts and capabilities add up.
	s := &sandbox.Spec{
		Args:       []string{"make"},
		Env:        []string{"PATH=/bin"},
		CgroupRoot: "/sandbox-test",
		Mounts:     []sandbox.Mount{{Type: sandbox.MountTmpfs, Destination: "/first"}},
		CapAdd:     []string{"CHOWN"},
	}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	wantSpec := &sandbox.Spec{
		Args:       []string{"make"},
		Env:        []string{"PATH=/bin"},
		Dir:        "/src",
		Hostname:   "box-1.example",
		User:       &sandbox.User{UID: 1000, GID: 1000},
		Root:       "/etc/sandbox/rootfs",
		Mounts:     []sandbox.Mount{{Type: sandbox.MountTmpfs, Destination: "/first"}, {Type: sandbox.MountTmpfs, Destination: "/scratch", Size: 1 << 20}},
		Network:    sandbox.NetworkHost,
		CapAdd:     []string{"CHOWN", "NET_RAW", "cap_sys_ptrace"},
		Limits:     want.Limits,
		CgroupRoot: "/sandbox-test",
	}
	if diff := cmp.Diff(wantSpec, s); diff != "" {
		t.Errorf("applied Spec (-want +got):\n%s", diff)
	}

	p, err = Parse("profiles/mounts.toml", []byte(goodMounts))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wantMounts := []sandbox.Mount{
		{Type: sandbox.MountBind, Source: filepath.Join(wd, "profiles/data"), Destination: "/data", ReadOnly: true},
		{Type: sandbox.MountTmpfs, Destination: "/data/tmp", Size: 64 << 20},
	}
	if diff := cmp.Diff(wantMounts, p.Mounts); diff != "" {
		t.Errorf("Mounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(limits.DefaultLimits(), p.Limits); diff != "" || p.LimitKeys != nil {
		t.Errorf("a profile without [limits]: LimitKeys %q, Limits (-want +got):\n%s", p.LimitKeys, diff)
	}
}

func TestParseErrors(t *testing.T) {
	const sizeHint = "not a size (want bytes or a number with K, M, G or T, e.g. 256M, 1.5G)"
	tests := []struct {
		name, profile, want string
	}{
		{"unknown top-level key", `
network = "none"
netwrok = "host"
`, `p.toml:3: unknown key "netwrok"`},
		{"unknown limit", `
network = "none"

[limits]
pids = 64
memroy = "1G"
`, `p.toml:6: unknown key "limits.memroy"`},
		{"unknown key in the second mount", `
[[mount]]
type = "tmpfs"
destination = "/a"

[[mount]]
type = "bind"
sorce = "/srv"
destination = "/b"
`, `p.toml:8: unknown key "mount.sorce"`},
		{"wrong type", `
hostname = "x"
network = 3
`, `p.toml:3: key "network": want a string, got integer`},
		{"float for a string", "hostname = 1.5\n", `p.toml:1: key "hostname": want a string, got float`},
		{"datetime for a string", "workdir = 2024-01-01\n", `p.toml:1: key "workdir": want a string, got datetime`},
		{"array for a string", "network = [\"none\"]\n", `p.toml:1: key "network": want a string, got array`},
		{"table for a string", "user = { uid = 1 }\n", `p.toml:1: key "user": want a string, got table`},
		{"string for an array", "env = \"A=1\"\n", `p.toml:1: key "env": want an array of strings, got string`},
		{"string for a boolean", "keep_env = \"yes\"\n", `p.toml:1: key "keep_env": want a boolean, got string`},
		{"mount entry not a table", "mount = [1]\n", `p.toml:1: key "mount": entry 1: want a table, got integer`},
		{"negative tmpfs size", "[[mount]]\ntype = \"tmpfs\"\ndestination = \"/a\"\nsize = -1\n", `p.toml:4: key "mount.size": -1: must not be negative`},
		{"float tmpfs size", "[[mount]]\ntype = \"tmpfs\"\ndestination = \"/a\"\nsize = 1.5\n", `p.toml:4: key "mount.size": want a size (a string such as "64M", or a whole number of bytes), got float`},
		{"mount without destination", "[[mount]]\ntype = \"tmpfs\"\n", `p.toml:1: key "mount": missing "destination"`},
		{"empty bind source", "[[mount]]\ntype = \"bind\"\nsource = \"\"\ndestination = \"/a\"\n", `p.toml:3: key "mount.source": empty`},
		{"quoted unknown key", "\"net work\" = 1\n", `p.toml:1: unknown key "\"net work\""`},
		{"wrong type in a mount", `
[[mount]]
type = "tmpfs"
destination = "/a"
read_only = "yes"
`, `p.toml:5: key "mount.read_only": want a boolean, got string`},
		{"wrong type of limit", `
[limits]
memory = true
`, `p.toml:3: key "limits.memory": want a string or a number, got boolean`},
		{"limits not a table", `
limits = "strict"
`, `p.toml:2: key "limits": want a table, got string`},
		{"mount not an array", `
[mount]
type = "tmpfs"
`, `p.toml:2: key "mount": want an array of tables ([[mount]]), got table`},
		{"bad limit value", `
# comment

[limits]
pids = 64
cpu-time = "2s"

memory = "banana"
`, `p.toml:8: limits.memory: invalid --memory "banana": ` + sizeHint},
		{"bad limit number", `
[limits]
pids = 0
`, `p.toml:3: limits.pids: invalid --pids 0: must be at least 1`},
		{"limit in both spellings", `
[limits]
cpu-time = 1
cpu_time = 2
`, `p.toml:4: key "limits.cpu_time": already set as "limits.cpu-time"`},
		{"relative destination", `
[[mount]]
type = "bind"
source = "/srv"
destination = "box"
`, `p.toml:5: key "mount.destination": "box": not an absolute path`},
		{"relative destination, inline", `
mount = [
  { type = "tmpfs", destination = "/a" },
  { type = "tmpfs", destination = "b" },
]
`, `p.toml:2: key "mount.destination": "b": not an absolute path`},
		{"mount over the root", `
[[mount]]
type = "tmpfs"
destination = "/"
`, `p.toml:4: key "mount.destination": "/": cannot mount over the root`},
		{"mount without type", `
network = "none"
[[mount]]
destination = "/a"
`, `p.toml:3: key "mount": missing "type" ("bind" or "tmpfs")`},
		{"bad mount type", `
[[mount]]
type = "overlay"
destination = "/a"
`, `p.toml:3: key "mount.type": want "bind" or "tmpfs", got "overlay"`},
		{"bind without source", `
[[mount]]
type = "bind"
destination = "/a"
`, `p.toml:2: key "mount": a bind needs a "source"`},
		{"tmpfs with source", `
[[mount]]
type = "tmpfs"
source = "/srv"
destination = "/a"
`, `p.toml:4: key "mount.source": only a bind has a source`},
		{"bind with size", `
[[mount]]
type = "bind"
source = "/srv"
destination = "/a"
size = "1M"
`, `p.toml:6: key "mount.size": only a tmpfs has a size`},
		{"bad tmpfs size", `
[[mount]]
type = "tmpfs"
destination = "/a"
size = "big"
`, `p.toml:5: key "mount.size": invalid size "big": ` + sizeHint},
		{"bad user", `
user = "nobody"
`, `p.toml:2: key "user": "nobody": want "unique" or UID[:GID] as numbers, e.g. "65534:65534" (names depend on the host's user database)`},
		{"bad group", `
user = "1000:staff"
`, `p.toml:2: key "user": "1000:staff": want "unique" or UID[:GID] as numbers, e.g. "65534:65534" (names depend on the host's user database)`},
		{"uid -1", `
user = "4294967295"
`, `p.toml:2: key "user": "4294967295": want "unique" or UID[:GID] as numbers, e.g. "65534:65534" (names depend on the host's user database)`},
		{"bad network", `
network = "bridge"
`, `p.toml:2: key "network": want "none" or "host", got "bridge"`},
		{"bad hostname", `
hostname = "my host"
`, `p.toml:2: key "hostname": "my host": want 1 to 64 letters, digits, '-', '.' or '_'`},
		{"relative workdir", `
workdir = "src"
`, `p.toml:2: key "workdir": "src": not an absolute path`},
		{"bare root", `
root = "debian"
`, `p.toml:2: key "root": "debian": want an absolute path, or one starting with ./ or ../ (relative to the profile's directory)`},
		{"bad env entry", `
env = [
  "A=1",
  "B",
]
`, `p.toml:2: key "env": entry 2 "B": want KEY=VALUE`},
		{"env not strings", `
env = ["A=1", 2]
`, `p.toml:2: key "env": entry 2: want a string, got integer`},
		{"bad capability", `
cap_add = ["NET_RAW", "FLY"]
`, `p.toml:2: key "cap_add": entry 2: unknown capability "FLY"`},
		{"key in both spellings", `
keep_env = true
keep-env = false
`, `p.toml:3: key "keep-env": already set as "keep_env"`},
		{"NUL in a string", `
hostname = "a\u0000b"
`, `p.toml:2: key "hostname": "a\x00b": contains a NUL byte`},
		{"syntax error", `
network = "none"
hostname =
`, `p.toml:3: expected value but found '\n' instead`},
		{"duplicate key", `
network = "none"
network = "host"
`, `p.toml:3: Key 'network' has already been defined.`},
		{"several problems, in line order", `
network = "bridge"

[limits]
memory = "banana"

[[mount]]
type = "tmpfs"
destination = "tmp"
`, `p.toml:2: key "network": want "none" or "host", got "bridge"
p.toml:5: limits.memory: invalid --memory "banana": ` + sizeHint + `
p.toml:9: key "mount.destination": "tmp": not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.toml", []byte(tt.profile))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a profile with its error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestErrorDetails(t *testing.T) {
	_, err := Parse("grade.toml", []byte("[limits]\n\nmemory = \"banana\"\n"))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if diff := cmp.Diff(&Error{File: "grade.toml", Line: 3, Key: "limits.memory"}, pe,
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("*Error (-want +got):\n%s", diff)
	}
	var fe *limits.FlagError
	if !errors.As(err, &fe) || fe.Flag != "memory" {
		t.Errorf("error %v: want a *limits.FlagError for memory", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine.toml")
	content := "[[mount]]\ntype = \"bind\"\nsource = \"../shared\"\ndestination = \"/shared\"\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []sandbox.Mount{{Type: sandbox.MountBind, Source: filepath.Join(filepath.Dir(dir), "shared"), Destination: "/shared"}}
	if diff := cmp.Diff(want, p.Mounts); diff != "" {
		t.Errorf("Mounts of %s (-want +got):\n%s", file, diff)
	}
	if p.Name != file {
		t.Errorf("Name = %q, want %q", p.Name, file)
	}

	if _, err := Load("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf(`Load("nope") = %v, want ErrNotFound`, err)
	} else if got, want := err.Error(), `loading profile "nope": no such profile (built-in profiles: build, grade, test; a file's name needs a slash or the .toml suffix)`; got != want {
		t.Errorf("Load(\"nope\"):\n got %s\nwant %s", got, want)
	}
	if _, err := Load("missing.toml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(`Load("missing.toml") = %v, want fs.ErrNotExist`, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("\nnetwork = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || err.Error() != bad+`:2: key "network": want a string, got integer` {
		t.Errorf("Load(%s) = %v", bad, err)
	}

	for in, want := range map[string]bool{"grade": false, "grade.toml": true, "./grade": true, "/etc/p": true, "test": false} {
		if got := IsPath(in); got != want {
			t.Errorf("IsPath(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestApply(t *testing.T) {
	p, err := Load("grade")
	if err != nil {
		t.Fatal(err)
	}
	// An empty profile changes nothing but the limits, which become the
	// defaults.
	empty, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox.Spec{Args: []string{"x"}, Network: sandbox.NetworkHost, Hostname: "h", Dir: "/d", User: &sandbox.User{UID: 1}}
	before := *s
	before.Limits = limits.DefaultLimits()
	if err := empty.Apply(s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&before, s); diff != "" {
		t.Errorf("Spec after an empty profile (-want +got):\n%s", diff)
	}

	// The Spec shares nothing with the profile.
	s = &sandbox.Spec{}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	*s.Limits.Pids = 1
	s.Limits.Rlimits.NoFile.Soft = 1
	s.User.Unique = false
	if *p.Limits.Pids != 64 || p.Limits.Rlimits.NoFile.Soft != 64 || !p.User.Unique {
		t.Errorf("changing the Spec changed the profile: pids %d, nofile %v, user %v", *p.Limits.Pids, p.Limits.Rlimits.NoFile, p.User)
	}

	// A profile built by hand with a bad limit is refused, naming it.
	hand := &Profile{Name: "hand", Limits: limits.Limits{CPUTime: -time.Second}}
	err = hand.Apply(&sandbox.Spec{})
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "applying profile hand: ") {
		t.Errorf("Apply of a bad profile = %v, want ErrInvalid naming it", err)
	}
	if err := p.Apply(nil); err == nil {
		t.Error("Apply(nil) succeeded")
	}
}

// TestHostRootAndNoSymlinks: a root of host paths and binds that follow no
// symlink, as a profile sets them and as Apply puts them in a Spec.
func TestHostRootAndNoSymlinks(t *testing.T) {
	p, err := Parse("/etc/sandbox/p.toml", []byte(`
host-root = ["/usr", "/lib64/", "/etc/ld.so.cache"]
no_symlinks = true

[[mount]]
type = "bind"
source = "/srv/w/build"
destination = "/box"
no-symlinks = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&sandbox.HostRoot{Paths: []string{"/usr", "/lib64", "/etc/ld.so.cache"}}, p.HostRoot); diff != "" {
		t.Errorf("HostRoot (-want +got):\n%s", diff)
	}
	wantMounts := []sandbox.Mount{{Type: sandbox.MountBind, Source: "/srv/w/build", Destination: "/box", NoSymlinks: true}}
	if diff := cmp.Diff(wantMounts, p.Mounts); diff != "" || !p.NoSymlinks {
		t.Errorf("NoSymlinks %v, Mounts (-want +got):\n%s", p.NoSymlinks, diff)
	}

	// Either kind of root replaces the other.
	s := &sandbox.Spec{Args: []string{"true"}, Root: "/srv/rootfs"}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	if s.Root != "" || s.HostRoot == nil || !s.NoSymlinks || &s.HostRoot.Paths[0] == &p.HostRoot.Paths[0] {
		t.Errorf("applied: Root %q, HostRoot %v (shared: %v), NoSymlinks %v", s.Root, s.HostRoot,
			s.HostRoot != nil && &s.HostRoot.Paths[0] == &p.HostRoot.Paths[0], s.NoSymlinks)
	}
	withRoot := &Profile{Name: "r", Root: "/srv/rootfs", Limits: p.Limits}
	if err := withRoot.Apply(s); err != nil {
		t.Fatal(err)
	}
	if s.Root != "/srv/rootfs" || s.HostRoot != nil {
		t.Errorf("root over a host root: Root %q, HostRoot %v", s.Root, s.HostRoot)
	}

	for _, tt := range []struct{ name, profile, want string }{
		{"both roots", "root = \"/srv/rootfs\"\nhost_root = [\"/usr\"]\n",
			`p.toml:2: key "host_root": a root of host paths and root "/srv/rootfs": want one of them`},
		{"relative host path", "host_root = [\"/usr\", \"lib\"]\n",
			`p.toml:1: key "host_root": entry 2 "lib": want an absolute host path other than /`},
		{"the host's / itself", "host_root = [\"/\"]\n",
			`p.toml:1: key "host_root": entry 1 "/": want an absolute host path other than /`},
		{"no_symlinks not a boolean", "no_symlinks = 1\n", `p.toml:1: key "no_symlinks": want a boolean, got integer`},
		{"no_symlinks on a tmpfs", "[[mount]]\ntype = \"tmpfs\"\ndestination = \"/a\"\nno_symlinks = true\n",
			`p.toml:1: key "mount": only a bind has "no_symlinks"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.toml", []byte(tt.profile))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse: %v\nwant %s", err, tt.want)
			}
		})
	}
}
