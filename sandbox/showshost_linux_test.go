package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestShowsHostPath(t *testing.T) {
	wd, err := os.Getwd() // the package directory: not in a private one
	if err != nil {
		t.Fatal(err)
	}
	// A symlink out of a private directory to a shown one is shown.
	link := filepath.Join(t.TempDir(), "to-etc")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	hostRoot := func(s Spec) Spec { s.HostRoot = MinimalHostRoot(); return s }
	own := func(s Spec) Spec { s.Root = "/some/root"; return s }
	base := Spec{Args: []string{"/box/solution"}, Dir: "/box"}
	bind := base
	bind.Mounts = []Mount{{Type: MountBind, Source: "/tmp/data", Destination: "/tmp/data"},
		{Type: MountBind, Source: "/tmp/box", Destination: "/box"}}
	tests := []struct {
		name string
		s    Spec
		p    string
		want bool
	}{
		{"host root, /srv", base, "/srv/problems", true},
		{"a relative path", hostRoot(base), "problems", true},
		{"host root, /tmp", base, "/tmp/problems", false},
		{"host root, /run", base, "/run/judge", false},
		{"host root, /var/run", base, "/var/run/judge", false},
		{"host root, /tmp through a symlink to /etc", base, filepath.Join(link, "x"), true},
		{"host root, the caller's directory kept in view", Spec{Args: []string{"/bin/true"}}, filepath.Join(os.TempDir(), "x"), os.TempDir() == wd},
		{"host root, CMD's file kept in view", Spec{Args: []string{"/tmp/go-build1/p.test"}, Dir: "/"}, "/tmp/go-build1", true},
		{"host root, CMD looked up on PATH", Spec{Args: []string{"sh"}, Dir: "/"}, "/tmp/x", true},
		{"host root, a bind at its own path", bind, "/tmp/data/answers", true},
		{"host root, a bind elsewhere", bind, "/tmp/box", false},
		{"host root of paths, /usr", hostRoot(base), "/usr/share/problems", true},
		{"host root of paths, /etc holds some", hostRoot(base), "/etc", true},
		{"host root of paths, /home", hostRoot(base), "/home/judge/problems", false},
		{"host root of paths, /tmp", hostRoot(base), "/tmp/sandbox-judge-1", false},
		{"a root of its own", own(base), "/usr/share/problems", false},
		{"a root of its own, a bind at its own path", own(bind), "/tmp/data", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.s.ShowsHostPath(tt.p)); diff != "" {
				t.Errorf("ShowsHostPath(%q) (-want +got):\n%s", tt.p, diff)
			}
		})
	}
}
