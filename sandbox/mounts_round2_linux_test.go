package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
)

// TestBuildPlanHostRoot: a root of host paths is an empty tmpfs, a
// read-only bind without symlinks for each directory or file, the same
// symlink for a symlink, nothing for a path the host lacks.
func TestBuildPlanHostRoot(t *testing.T) {
	host := t.TempDir()
	for _, d := range []string{"usr/bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(host, "etc/hosts"), nil, 0o644)
	os.Symlink("usr/bin", filepath.Join(host, "bin"))
	p := func(s string) string { return filepath.Join(host, s) }
	spec := &Spec{Args: []string{"x"}, Limits: limits.Limits{Disk: 1 << 20}, NoSymlinks: true,
		HostRoot: &HostRoot{Paths: []string{p("usr"), p("bin"), p("lib32"), p("etc/hosts")}},
		Mounts:   []Mount{{Type: MountBind, Source: host, Destination: "/box", ReadOnly: true}}}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := buildPlan(spec, "/run/x", rootLayers{}, nil, "/")
	if err != nil {
		t.Fatal(err)
	}
	want := []stage.Step{
		{Kind: stage.StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: "/run/x", Flags: 6, Data: "size=1048576,nr_inodes=256,mode=0700"},
		{Kind: stage.StepMount, Scratch: true, Source: "/run/x/root", Target: "/run/x/root", Flags: 0x1000, Mkdir: []string{"/run/x/root"}}, // MS_BIND,
		{Kind: stage.StepBind, Source: p("usr"), Target: p("usr"), RO: true, NoSymlinks: true, Optional: true},
		{Kind: stage.StepSymlink, Source: "usr/bin", Target: p("bin")},
		{Kind: stage.StepBind, Source: p("etc/hosts"), Target: p("etc/hosts"), RO: true, NoSymlinks: true, Optional: true},
	}
	if diff := cmp.Diff(want, cfg.Steps[:len(want)]); diff != "" {
		t.Errorf("the root's steps (-want +got):\n%s", diff)
	}
	if got := cfg.Steps[len(want)]; got.Target != "/proc" {
		t.Errorf("after the root's steps: %+v, want /proc", got)
	}
	var box *stage.Step
	for i := range cfg.Steps {
		if cfg.Steps[i].Target == "/box" {
			box = &cfg.Steps[i]
		}
	}
	if box == nil || !box.NoSymlinks {
		t.Errorf("Spec.NoSymlinks did not reach the bind of /box: %+v", box)
	}

	// A root directory or a snapshot takes a host root's place.
	spec.Root = host
	cfg, err = buildPlan(spec, "/run/x", rootLayers{Lowers: []string{host}}, nil, "/")
	if err != nil {
		t.Fatal(err)
	}
	if st := cfg.Steps[1]; st.FSType != "overlay" {
		t.Errorf("with Root: %+v, want the root's overlay", st)
	}

	for _, bad := range []string{"usr", "/usr/../etc", "/"} {
		s := &Spec{Args: []string{"x"}, HostRoot: &HostRoot{Paths: []string{bad}}}
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("host root path %q: %v, want ErrInvalidSpec", bad, err)
		}
	}
}

// TestBindNoSymlinks: a bind without symlinks refuses a source with one in
// any component, last or not, and binds a source without one, directory or
// file; a bind that follows them follows them.
func TestBindNoSymlinks(t *testing.T) {
	needRoot(t)
	w := t.TempDir()
	os.MkdirAll(filepath.Join(w, "real/sub"), 0o755)
	os.WriteFile(filepath.Join(w, "real/sub/f"), []byte("real\n"), 0o644)
	os.Symlink("real", filepath.Join(w, "link"))
	os.Symlink("real/sub/f", filepath.Join(w, "flink"))
	tests := []struct {
		name       string
		source     string
		mount, all bool // Mount.NoSymlinks, Spec.NoSymlinks
		want       string
	}{
		{"a plain directory", "real/sub", true, false, "real\n"},
		{"a plain file", "real/sub/f", false, true, "real\n"},
		{"the last component a symlink", "flink", true, false, "symlink"},
		{"a directory on the way a symlink", "link/sub", true, false, "symlink"},
		{"every bind of the Spec", "link/sub", false, true, "symlink"},
		{"followed when asked to", "link/sub", false, false, "real\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(w, tt.source)
			dst := "/mnt/b"
			script := "cat /mnt/b/f"
			if !strings.HasSuffix(tt.source, "sub") {
				dst, script = "/mnt/f", "cat /mnt/f"
			}
			spec := sh(script)
			spec.NoSymlinks = tt.all
			spec.Mounts = []Mount{{Type: MountBind, Source: src, Destination: dst, ReadOnly: true, NoSymlinks: tt.mount}}
			spec.RunDir, spec.CgroupRoot = testRunDir(t), testCgroupRoot
			var out, errb bytes.Buffer
			spec.IO.Stdout, spec.IO.Stderr = &out, &errb
			_, err := Run(context.Background(), spec)
			if tt.want != "symlink" {
				if err != nil || out.String() != tt.want {
					t.Errorf("Run: %v, %q (stderr %q), want %q", err, out.String(), errb.String(), tt.want)
				}
				return
			}
			wantErr := "bind source " + src + ": a symlink in the path, not followed (no_symlinks): too many levels of symbolic links"
			if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("Run: %v\nwant ErrSetup with %q", err, wantErr)
			}
		})
	}
}

// TestHostRoot runs programs in MinimalHostRoot: the root holds what it
// names and nothing else of the host, merged-/usr symlinks and
// interpreters under /usr work, and the host paths are read-only.
func TestHostRoot(t *testing.T) {
	needRoot(t)
	spec := sh(`ls /; ls /etc | tr '\n' ' '; echo; readlink /bin; echo x | awk '{print "awk", $1}'
/bin/sh -c 'echo merged usr'
if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -c 'print("python3")'; else echo python3; fi
touch /usr/x 2>&1 | sed 's/.*: //'; touch /tmp/x && echo tmp writable`)
	spec.HostRoot = MinimalHostRoot()
	spec.Mounts = []Mount{{Type: MountTmpfs, Destination: "/box"}}
	out, errb, res := run(t, spec)
	if res.Status != StatusOK {
		t.Fatalf("%s: %s; %q %q", res.Status, res.Message, out, errb)
	}
	// What the host has of the list, and what the runner makes.
	top := map[string]bool{"box": true, "dev": true, "proc": true, "run": true, "sys": true, "tmp": true, "etc": true}
	var etc []string
	for _, p := range MinimalHostRoot().Paths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(p, "/etc/"); ok {
			etc = append(etc, rest)
		} else {
			top[p[1:]] = true
		}
	}
	var want []string
	for n := range top {
		want = append(want, n)
	}
	sort.Strings(want)
	sort.Strings(etc)
	wantOut := strings.Join(want, "\n") + "\n" + strings.Join(etc, " ") + " \n"
	if link, err := os.Readlink("/bin"); err == nil { // merged /usr: the same symlink inside
		wantOut += link + "\n"
	}
	wantOut += "awk x\nmerged usr\npython3\nRead-only file system\ntmp writable\n"
	if diff := cmp.Diff(wantOut, out); diff != "" {
		t.Errorf("in a root of host paths (-want +got):\n%s\nstderr %q", diff, errb)
	}
}
