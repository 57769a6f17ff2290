package repro

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sbfixtures "github.com/sandbox-dev/sandbox/fixtures"
	"golang.org/x/sys/unix"
)

// testCgroupRoot keeps the tests' cgroups apart from real runs.
var testCgroupRoot = fmt.Sprintf("/sandbox-test-repro-%d", os.Getpid())

func TestMain(m *testing.M) {
	if dir := os.Getenv(envRootlessCheck); dir != "" {
		os.Exit(rootlessCheck(dir))
	}
	code := m.Run()
	if sbfixtures.CgroupsLeft(testCgroupRoot, os.Stderr) {
		code = 1
	}
	if left, _ := filepath.Glob("/dev/shm/sandbox-repro-*"); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "fileordering copies left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the tests' checks run as root (TestFixturesRootless runs them as an unprivileged user)")
	}
}

// needHost skips where a tool the fixtures' variations need is missing.
func needHost(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"cc", "tar", "setarch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps installs it)", tool)
		}
	}
	if _, why := probeHost(DefaultLocale); len(why) > 0 {
		t.Skipf("variations this host cannot make (make deps installs faketime and locales-all): %v", why)
	}
}

// testConfig is a check of dir with the tests' run and work directories,
// whose work directory must be empty at the end.
func testConfig(t *testing.T, dir string, build ...string) Config {
	t.Helper()
	work := t.TempDir()
	run := t.TempDir()
	t.Cleanup(func() {
		for _, d := range []string{work, run} {
			if ents, _ := os.ReadDir(d); len(ents) > 0 {
				t.Errorf("%s not empty after the check: %v", d, ents)
			}
		}
	})
	if len(build) == 0 {
		build = []string{"sh", "build.sh"}
	}
	return Config{Source: dir, Build: build, Artifacts: []string{"out/*"}, Bisect: true, Jobs: 2,
		WorkDir: work, RunDir: run, CgroupRoot: testCgroupRoot}
}

// fixtures are the builds under testdata, with what must be found.
var fixtures = []struct {
	dir          string
	reproducible bool
	culprits     []string
}{
	{"reproducible", true, []string{}},
	{"date", false, []string{Time}},
	{"hostname", false, []string{DomainHost}},
	{"build_path", false, []string{BuildPath}},
	{"user", false, []string{UserGroup}},
	{"readdir", false, []string{FileOrdering}},
	{"umask", false, []string{Umask}},
	{"locale", false, []string{Locales}},
	{"cpus", false, []string{NumCPUs}},
	{"timezone", false, []string{Timezone}},
}

func TestFixtures(t *testing.T) {
	needRoot(t)
	needHost(t)
	for _, fx := range fixtures {
		t.Run(fx.dir, func(t *testing.T) {
			src, _ := filepath.Abs(filepath.Join("testdata", fx.dir))
			before := treeDigest(t, src)
			rep, err := Check(context.Background(), testConfig(t, src))
			if err != nil {
				t.Fatal(err)
			}
			checkFixture(t, rep, fx.reproducible, fx.culprits)
			if after := treeDigest(t, src); after != before {
				t.Errorf("the source tree changed:\n%s\nthen\n%s", before, after)
			}
		})
	}
}

// checkFixture checks a fixture's report: the verdict and culprits
// expected, every variation in force, a control hash for each artifact and
// a description of each that differs.
func checkFixture(t *testing.T, rep *Report, reproducible bool, culprits []string) {
	t.Helper()
	if rep.Reproducible != reproducible {
		t.Errorf("reproducible %v, want %v: %s", rep.Reproducible, reproducible, rep.Message)
	}
	if diff := cmp.Diff(culprits, rep.Culprits); diff != "" {
		t.Errorf("culprits (-want +got):\n%s\n%s", diff, rep.Message)
	}
	if len(rep.NotVaried) > 0 {
		t.Errorf("not varied: %v", rep.NotVaried)
	}
	for _, a := range rep.Artifacts {
		if _, ok := a.Builds["control"]; !ok || a.Builds["control"].SHA256 == "" {
			t.Errorf("artifact %s: no control hash: %+v", a.Path, a.Builds)
		}
		if !reproducible && !a.Reproducible && a.Diff == "" {
			t.Errorf("artifact %s differs, with no description", a.Path)
		}
	}
}

// treeDigest lists a tree's names, modes and sizes: what a build that
// wrote through to its source would change.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			fmt.Fprintf(&b, "%s %v %d\n", strings.TrimPrefix(p, dir), fi.Mode(), fi.Size())
		}
		return nil
	})
	return b.String()
}

// writeTree makes a source tree of files (name → contents).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBisection(t *testing.T) {
	needRoot(t)
	needHost(t)
	tests := []struct {
		name     string
		script   string
		vary     []string
		want     []string
		nondet   bool
		inReport string
	}{
		{"two variations only together", `mkdir -p out; if [ "$TZ" != UTC ] && [ "$(umask)" != 0022 ]; then echo both > out/x; else echo one > out/x; fi`,
			[]string{Home, Timezone, Umask}, []string{"timezone+umask"}, false, "timezone+umask (out/x differs)"},
		{"nondeterministic", `mkdir -p out; head -c 16 /dev/urandom > out/noise`,
			[]string{Home, Timezone}, []string{}, true, "with no variation at all (nondeterministic)"},
		{"a variation that breaks the build", `mkdir -p out; [ "$(id -u)" = "$CALLER" ] || exit 1; echo ok > out/x`,
			[]string{UserGroup, Home}, []string{UserGroup}, false, "user_group (the build failed: exited with status 1)"},
		{"two culprits and one innocent", `mkdir -p out; echo "$HOME" > out/home; echo "$TZ" > out/tz`,
			[]string{Home, Timezone, Umask}, []string{Home, Timezone}, false, "home (out/home differs), timezone (out/tz differs)"},
		{"only one variation in force", `mkdir -p out; echo "$TZ" > out/tz`,
			[]string{Timezone}, []string{Timezone}, false, "timezone (out/tz differs)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := writeTree(t, map[string]string{"build.sh": tt.script})
			cfg := testConfig(t, src)
			cfg.Vary = tt.vary
			cfg.Env = []string{fmt.Sprintf("CALLER=%d", os.Getuid())}
			rep, err := Check(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Reproducible || rep.Nondeterministic != tt.nondet {
				t.Errorf("reproducible %v nondeterministic %v: %s", rep.Reproducible, rep.Nondeterministic, rep.Message)
			}
			if diff := cmp.Diff(tt.want, rep.Culprits); diff != "" {
				t.Errorf("culprits (-want +got):\n%s", diff)
			}
			if !strings.Contains(rep.Message, tt.inReport) {
				t.Errorf("message %q does not say %q", rep.Message, tt.inReport)
			}
		})
	}
	t.Run("no bisection", func(t *testing.T) {
		src := writeTree(t, map[string]string{"build.sh": `mkdir -p out; echo "$TZ" > out/tz`})
		cfg := testConfig(t, src)
		cfg.Vary, cfg.Bisect = []string{Timezone, Home}, false
		rep, err := Check(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Reproducible || len(rep.Culprits) > 0 || len(rep.Builds) != 2 {
			t.Errorf("want two builds, not reproducible, no culprits: %+v", rep)
		}
	})
}

func TestCheckErrors(t *testing.T) {
	needRoot(t)
	needHost(t)
	src := writeTree(t, map[string]string{"build.sh": "mkdir -p out; echo x > out/x", "fail.sh": "echo broken >&2; exit 3"})
	tests := []struct {
		name  string
		edit  func(*Config)
		want  error
		words string
	}{
		{"control fails", func(c *Config) { c.Build = []string{"sh", "fail.sh"} }, ErrControlFailed, "status 3; its output ended with:\n  broken"},
		{"nothing matches", func(c *Config) { c.Artifacts = []string{"nothing/*"} }, ErrNoArtifacts, "nothing/*"},
		{"no build", func(c *Config) { c.Build = nil }, ErrUsage, "no build command"},
		{"no artifacts", func(c *Config) { c.Artifacts = nil }, ErrUsage, "no artifacts"},
		{"glob out of the tree", func(c *Config) { c.Artifacts = []string{"../x"} }, ErrUsage, "not relative to the tree"},
		{"bad glob", func(c *Config) { c.Artifacts = []string{"out/[x"} }, ErrUsage, "syntax error"},
		{"no source", func(c *Config) { c.Source = "/no/such/tree" }, ErrUsage, "source"},
		{"bad env", func(c *Config) { c.Env = []string{"=x"} }, ErrUsage, "KEY=VALUE"},
		{"unknown variation", func(c *Config) { c.Vary = []string{"moon_phase"} }, ErrUsage, "moon_phase"},
		{"asked for, unavailable", func(c *Config) {
			c.Vary, c.Explicit, c.Locale = []string{Locales}, []string{Locales}, "xx_XX.UTF-8"
		}, ErrUnavailable, "locales: locale xx_XX.UTF-8 is not installed"},
		{"keep dir exists", func(c *Config) { c.KeepDir = src }, ErrUsage, "keep directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, src)
			cfg.Vary = []string{Home}
			tt.edit(&cfg)
			_, err := Check(context.Background(), cfg)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %v, want %v saying %q", err, tt.want, tt.words)
			}
		})
	}
	t.Run("on by default and unavailable: dropped with the reason", func(t *testing.T) {
		cfg := testConfig(t, src)
		cfg.Vary, cfg.Locale = []string{Locales, Home}, "xx_XX.UTF-8"
		rep, err := Check(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{Locales: "locale xx_XX.UTF-8 is not installed"}, rep.NotVaried); diff != "" {
			t.Errorf("not varied (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{Home}, rep.Varied); diff != "" {
			t.Errorf("varied (-want +got):\n%s", diff)
		}
	})
	t.Run("cancelled: every build stopped and nothing left", func(t *testing.T) {
		slow := writeTree(t, map[string]string{"build.sh": "mkdir -p out; echo x > out/x; sleep 60"})
		cfg := testConfig(t, slow)
		cfg.Vary = []string{Home, Timezone, FileOrdering}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		begin := time.Now()
		if _, err := Check(ctx, cfg); err == nil || errors.Is(err, ErrUsage) {
			t.Errorf("a cancelled check: %v", err)
		}
		if took := time.Since(begin); took > 20*time.Second {
			t.Errorf("the check took %v to stop", took)
		}
	})
	t.Run("keep dir keeps the layers and logs", func(t *testing.T) {
		cfg := testConfig(t, src)
		cfg.Vary, cfg.KeepDir = []string{Home}, filepath.Join(t.TempDir(), "keep")
		rep, err := Check(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rep.Builds {
			if _, err := os.Stat(b.Log); err != nil {
				t.Errorf("build %s: log: %v", b.Name, err)
			}
		}
		ctl, _ := filepath.Glob(filepath.Join(cfg.KeepDir, "*-control"))
		if len(ctl) != 1 {
			t.Fatalf("control's directory: %v", ctl)
		}
		if b, err := os.ReadFile(filepath.Join(ctl[0], "upper", "out", "x")); err != nil || string(b) != "x\n" {
			t.Errorf("control's artifact in its kept layer: %q %v", b, err)
		}
	})
}

func TestParseVary(t *testing.T) {
	tests := []struct {
		name           string
		vary, noVary   []string
		want, explicit []string
		err            string
	}{
		{"default: all", nil, nil, All, nil, ""},
		{"only some", []string{"time,build_path", "umask"}, nil, []string{BuildPath, Time, Umask}, []string{BuildPath, Time, Umask}, ""},
		{"all less some", nil, []string{"time", "kernel,aslr"}, without(All, Time, Kernel, ASLR), nil, ""},
		{"reprotest's minus", []string{"-time"}, nil, without(All, Time), nil, ""},
		{"all then minus", []string{"all", "-umask"}, nil, without(All, Umask), without(All, Umask), ""},
		{"unknown", []string{"moon"}, nil, nil, nil, `unknown variation "moon"`},
		{"nothing left", []string{"time"}, []string{"time"}, nil, nil, "no variation left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, explicit, err := ParseVary(tt.vary, tt.noVary)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrUsage) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("vary (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.explicit, explicit); diff != "" {
				t.Errorf("explicit (-want +got):\n%s", diff)
			}
		})
	}
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, n := range all {
		keep := true
		for _, d := range drop {
			keep = keep && n != d
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

// TestLayers reads a tree through layers as overlayfs merges them:
// whiteouts hide lower entries, opaque directories hide lower directories.
func TestLayers(t *testing.T) {
	needRoot(t) // whiteouts are device nodes; the opaque mark a trusted xattr
	lower := writeTree(t, map[string]string{"a": "lower a", "gone": "x", "dir/old": "old", "opq/hidden": "h", "keep/k": "k"})
	upper := writeTree(t, map[string]string{"a": "upper a", "dir/new": "new", "opq/shown": "s"})
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("no trusted xattrs here: %v", err)
	}
	l := layers{upper: upper, lowers: []string{lower}}
	for _, c := range []struct{ rel, want string }{
		{"a", filepath.Join(upper, "a")}, {"gone", ""}, {"dir/old", filepath.Join(lower, "dir/old")},
		{"dir/new", filepath.Join(upper, "dir/new")}, {"opq/hidden", ""}, {"opq/shown", filepath.Join(upper, "opq/shown")},
		{"keep/k", filepath.Join(lower, "keep/k")}, {"a/x", ""}, {"none", ""},
	} {
		if got, err := l.lookup(c.rel); err != nil || got != c.want {
			t.Errorf("lookup(%s) = %q, %v; want %q", c.rel, got, err, c.want)
		}
	}
	for _, c := range []struct {
		glob string
		want []string
	}{
		{"*", []string{"a", "dir/new", "dir/old", "keep/k", "opq/shown"}},
		{"dir/*", []string{"dir/new", "dir/old"}},
		{"**/k", []string{"keep/k"}},
		{"**", []string{"a", "dir/new", "dir/old", "keep/k", "opq/shown"}},
		{"o*/*", []string{"opq/shown"}},
		{"gone", nil},
	} {
		got, err := l.glob(c.glob)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("glob(%s) (-want +got):\n%s", c.glob, diff)
		}
	}
}

func TestReorderedCopy(t *testing.T) {
	h, why := probeHost(DefaultLocale)
	if h.reorderDir == "" {
		t.Skip(why[FileOrdering])
	}
	src := writeTree(t, map[string]string{"d/a": "1", "d/b": "2", "d/c": "3", "d/e/f": "4"})
	dir, err := os.MkdirTemp(h.reorderDir, "sandbox-repro-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "tree")
	if err := reorderedCopy(src, dst, h.reverseCreation); err != nil {
		t.Fatal(err)
	}
	want, _ := readdirNames(filepath.Join(src, "d"))
	got, _ := readdirNames(filepath.Join(dst, "d"))
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copy's order is not the source's reversed (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "d/e/f")); err != nil || string(b) != "4" {
		t.Errorf("copied file: %q %v", b, err)
	}
}

func TestDescribeBytes(t *testing.T) {
	mkTar := func(names ...string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, n := range names {
			mode := int64(0o644)
			if strings.HasSuffix(n, "+x") {
				n, mode = strings.TrimSuffix(n, "+x"), 0o755
			}
			tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(n)), Format: tar.FormatUSTAR})
			tw.Write([]byte(n))
		}
		tw.Close()
		return b.Bytes()
	}
	ar := func(body string) []byte {
		return fmt.Appendf(nil, "!<arch>\n%-16s%-12s%-6s%-6s%-8s%-10d`\n%s", "a.o/", "0", "0", "0", "644", len(body), body)
	}
	tests := []struct {
		name string
		a, b []byte
		want string
	}{
		{"binary", []byte{0, 1, 2, 3}, []byte{0, 1, 9, 3}, "4 and 4 bytes; first difference at offset 2 (0x2)"},
		{"text", []byte("one\ntwo\nthree\n"), []byte("one\n2\nthree\n"), "text differs:\n2: -two\n2: +2"},
		{"tar order", mkTar("a", "b"), mkTar("b", "a"), "tar members in another order: [a b], then [b a]"},
		{"tar mode", mkTar("a", "b"), mkTar("a", "b+x"), "tar member b: mode=0644"},
		{"ar member", ar("\x00x"), ar("\x00y"), "ar member a.o: 2 and 2 bytes; first difference at offset 1 (0x1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeBytes(tt.a, tt.b); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want it to start with %q", got, tt.want)
			}
		})
	}
}

// TestHostileArtifacts: what a build leaves under the artifacts' globs is
// read without following it out of the tree, and a fifo does not hang the
// check.
func TestHostileArtifacts(t *testing.T) {
	needRoot(t)
	needHost(t)
	src := writeTree(t, map[string]string{"build.sh": "mkdir -p out && mkfifo out/fifo && ln -s /etc out/etc && ln -s /etc/shadow out/shadow && echo x > out/x"})
	cfg := testConfig(t, src)
	cfg.Vary, cfg.Artifacts = []string{Home}, []string{"out/**", "out/etc/*"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Check(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range rep.Artifacts {
		h := a.Builds["control"]
		got[a.Path] = fmt.Sprintf("symlink=%v special=%v size=%d", h.Symlink, h.Special, h.Size)
	}
	want := map[string]string{
		"out/etc":    "symlink=true special=false size=4",
		"out/fifo":   "symlink=false special=true size=0",
		"out/shadow": "symlink=true special=false size=11",
		"out/x":      "symlink=false special=false size=2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if !rep.Reproducible {
		t.Errorf("not reproducible: %s", rep.Message)
	}
}
