package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
)

// TestRootOptions: what an OCI runtime asks of a root of its own: read-only,
// nodev, noexec mounts, a tmpfs's mode, masked and read-only paths of its
// own besides the runner's.
func TestRootOptions(t *testing.T) {
	needRoot(t)
	t.Chdir("/")
	root := fixtures.Busybox(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755)
	tests := []struct {
		name   string
		spec   Spec
		script string
		want   string
	}{
		{"read-only root", Spec{ReadOnlyRoot: true}, "touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp", "ro\ntmp\n"},
		{"writable root", Spec{}, "touch /x && echo rw", "rw\n"},
		{"nodev root", Spec{NoDevRoot: true}, "mknod /null2 c 1 3 && (echo x > /null2) 2>/dev/null || echo closed; echo x > /dev/null && echo own", "closed\nown\n"},
		{"root with devices", Spec{}, "mknod /null2 c 1 3 && echo x > /null2 && echo opens", "opens\n"},
		{"noexec bind", Spec{Mounts: []Mount{{Type: MountBind, Source: dir, Destination: "/d", NoExec: true}}},
			"cat /d/run.sh >/dev/null && echo read; /d/run.sh 2>/dev/null || echo noexec", "read\nnoexec\n"},
		{"exec bind", Spec{Mounts: []Mount{{Type: MountBind, Source: dir, Destination: "/d"}}}, "/d/run.sh", "ran\n"},
		{"tmpfs mode", Spec{Mounts: []Mount{{Type: MountTmpfs, Destination: "/t", Mode: 0o750, NoExec: true}}},
			"stat -c %a /t; grep -c ' /t .*noexec' /proc/self/mountinfo", "750\n1\n"},
		{"masked and read-only paths", Spec{MaskedPaths: []string{"/etc/passwd", "/proc/kcore"}, ReadOnlyPaths: []string{"/etc"}},
			"wc -c < /etc/passwd; touch /etc/x 2>/dev/null || echo ro", "0\nro\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.Args, s.Root = []string{"sh", "-c", tt.script}, root
			s.CapAdd = []string{"CAP_MKNOD"}
			out, errs, res := run(t, &s)
			if diff := cmp.Diff(tt.want, out); diff != "" || res.Status != StatusOK {
				t.Errorf("%s: status %s (%s), stderr %q, output (-want +got):\n%s", tt.script, res.Status, res.Message, errs, diff)
			}
		})
	}
}

// TestRootInPlace: an OCI bundle's root is written in place, as runc does
// (the engine's container layer keeps the writes: podman commit), and
// read-only when asked; a disk limit, which could not bound it, is refused.
func TestRootInPlace(t *testing.T) {
	needRoot(t)
	t.Chdir("/")
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", fixtures.Busybox(t), root).CombinedOutput(); err != nil {
		t.Fatalf("copying the root: %v %s", err, out)
	}
	out, errs, res := run(t, &Spec{Root: root, RootInPlace: true, Args: []string{"sh", "-c", "echo kept > /kept && echo rw"}})
	if out != "rw\n" || res.Status != StatusOK {
		t.Fatalf("writing the root: %q %q %s (%s)", out, errs, res.Status, res.Message)
	}
	if b, err := os.ReadFile(filepath.Join(root, "kept")); err != nil || string(b) != "kept\n" {
		t.Errorf("the write is not in the root: %q %v", b, err)
	}
	if res.EnforcedBy["disk_bytes"] != ByNone {
		t.Errorf("disk_bytes enforced by %q, want %q: nothing bounds the root's writes", res.EnforcedBy["disk_bytes"], ByNone)
	}
	out, _, _ = run(t, &Spec{Root: root, RootInPlace: true, ReadOnlyRoot: true, Args: []string{"sh", "-c", "rm /kept 2>/dev/null || echo ro"}})
	if _, err := os.Stat(filepath.Join(root, "kept")); out != "ro\n" || err != nil {
		t.Errorf("a read-only root in place: %q, the file: %v", out, err)
	}
	spec := &Spec{Root: root, RootInPlace: true, Args: []string{"true"}, Limits: limits.Limits{Disk: 1 << 20}, RunDir: testRunDir(t), CgroupRoot: testCgroupRoot}
	if _, err := Run(context.Background(), spec); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a disk limit on a root in place: %v, want ErrUnsupported", err)
	}
}

// TestSeccompErrnoAndUnknownNames: an OCI profile's errnoRet, and the names
// of other architectures it carries, skipped only when asked.
func TestSeccompErrnoAndUnknownNames(t *testing.T) {
	needRoot(t)
	t.Chdir("/")
	policy := func(skip bool) *Seccomp {
		return &Seccomp{DefaultAction: "allow", SkipUnknown: skip, Rules: []SeccompRule{
			{Names: []string{"mkdir", "mkdirat"}, Action: "errno", Errno: 22},
			{Names: []string{"chown32"}, Action: "errno"},
		}}
	}
	out, _, res := run(t, &Spec{Args: []string{"sh", "-c", "mkdir /tmp/x 2>&1 | grep -c 'Invalid argument'"}, Seccomp: policy(true)})
	if out != "1\n" || res.Status != StatusOK {
		t.Errorf("mkdir under errno 22: %q, %s (%s)", out, res.Status, res.Message)
	}
	spec := &Spec{Args: []string{"true"}, Seccomp: policy(false), RunDir: testRunDir(t), CgroupRoot: testCgroupRoot}
	if _, err := Run(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "chown32") {
		t.Errorf("a name this architecture lacks, not skipped: %v, want an error naming it", err)
	}
}
