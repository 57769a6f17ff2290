package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/fixtures"
	"golang.org/x/sys/unix"
)

// needPodman is podman's path, for a test that builds the binary and
// starts containers as root: skipped without root, with -short or without
// podman.
func needPodman(t *testing.T) string {
	t.Helper()
	needRoot(t)
	if testing.Short() {
		t.Skip("builds the binary and starts containers: skipped with -short")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (make deps installs it)")
	}
	return podman
}

// TestInPodman runs the static sandbox binary where CI jobs run it: inside
// a container, `podman run --privileged`, on an image made here from
// busybox (no registry). The container has files bound below its root
// (/etc/hosts, /etc/hostname), read-only with --read-only: a run must start
// there, by default and under the grade profile, and must not write the
// container's files.
func TestInPodman(t *testing.T) {
	podman := needPodman(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build the static binary")
	}
	base := t.TempDir()
	// As `make build` links it: a container's image has no libc to offer.
	bins := map[string]string{"cgo": filepath.Join(base, "sandbox")}
	for kind, bin := range bins {
		build := buildRunner(goTool, bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the static binary (%s): %v\n%s", kind, err, out)
		}
	}

	// A store of the test's own, vfs so that it mounts nothing on the host.
	global := []string{"--root", filepath.Join(base, "storage"), "--runroot", filepath.Join(base, "run"),
		"--tmpdir", filepath.Join(base, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--runtime-flag", "root=" + filepath.Join(base, "runtime")}
	os.MkdirAll(filepath.Join(base, "tmp"), 0o700)
	cgParent := fmt.Sprintf("/sandbox-test-podman-%d", os.Getpid())
	t.Cleanup(func() {
		exec.Command(podman, append(global, "rm", "--all", "--force")...).Run()
		for _, m := range mountsUnder(base) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		// podman leaves its groups (conmon's, the containers') behind.
		for _, h := range cgroupHierarchies() {
			removeCgroupTree(filepath.Join(h, cgParent))
		}
	})
	root := fixtures.Busybox(t)
	tarball := filepath.Join(base, "busybox.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("packing the image: %v\n%s", err, out)
	}
	const image = "localhost/sandbox-test-busybox"
	if out, err := exec.Command(podman, append(global, "import", tarball, image)...).CombinedOutput(); err != nil {
		t.Fatalf("importing the image: %v\n%s", err, out)
	}

	const script = `test -f /etc/hostname && echo started; echo x >> /etc/hosts 2>/dev/null || echo hosts not written`
	tests := []struct {
		name, bin string
		podman    []string
		sandbox   []string
		want      string
	}{
		{"default", "cgo", nil, []string{"--", "/bin/sh", "-c", script}, "started\nhosts not written\n"},
		{"read-only container", "cgo", []string{"--read-only"}, []string{"--", "/bin/sh", "-c", script}, "started\nhosts not written\n"},
		// Under grade, an id of the run's own (the first of UniqueIDs' range
		// is 2000000000: ten digits).
		{"grade, read-only container", "cgo", []string{"--read-only"},
			[]string{"--profile", "grade", "--", "/bin/sh", "-c", "id -u | grep -qE '^2[0-9]{9}$' && echo own-id; " + script}, "own-id\nhosts not written\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string(nil), global...), "run", "--rm", "--privileged", "--network", "none",
				"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--cgroup-parent", cgParent,
				"-v", bins[tt.bin]+":/sandbox:ro", "-e", "SANDBOX_CGROUP_ROOT=/sandbox-test-in-podman")
			args = append(append(args, tt.podman...), image, "/bin/sh", "-c",
				// The container's own view first: its files are mounts.
				`grep -cE ' /etc/(hosts|hostname) ' /proc/self/mountinfo; exec /sandbox exec "$@"`, "sh")
			args = append(args, tt.sandbox...)
			cmd := podmanCommand(podman, args)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.Run()
			code := cmd.ProcessState.ExitCode()
			want := "2\n" + tt.want
			if got := out.String(); got != want || code != 0 {
				t.Errorf("in podman: exit status %d, stdout %q, stderr %q\nwant status 0, stdout %q", code, got, errb.String(), want)
			}
		})
	}
}

// podmanCommand runs podman with args. On a host with cgroup v1
// controllers and an empty cgroup2 mount beside them (hybrid), crun refuses
// to start a container ("cgroups in hybrid mode not supported"): podman
// then runs in a mount namespace of its own without the cgroup2 mounts.
func podmanCommand(podman string, args []string) *exec.Cmd {
	var v1 bool
	var v2 []string
	for _, m := range cgroupMountsByType() {
		if m[1] == "cgroup" {
			v1 = true
		} else {
			v2 = append(v2, m[0])
		}
	}
	if !v1 || len(v2) == 0 {
		return exec.Command(podman, args...)
	}
	script := ""
	for _, p := range v2 {
		script += "umount '" + p + "' && "
	}
	return exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script + `exec "$0" "$@"`, podman}, args...)...)
}

// cgroupMountsByType lists the cgroup mounts: point and type.
func cgroupMountsByType() [][2]string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out [][2]string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && (g[0] == "cgroup" || g[0] == "cgroup2") {
			out = append(out, [2]string{f[4], g[0]})
		}
	}
	return out
}

func cgroupHierarchies() []string {
	var out []string
	for _, m := range cgroupMountsByType() {
		out = append(out, m[0])
	}
	return out
}

// removeCgroupTree removes dir and the groups below it, children first.
func removeCgroupTree(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		os.Remove(d)
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 5 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}
