package hostcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/limits"
)

// buildIn compiles a C source into root at rel with gcc and flags.
func buildIn(t *testing.T, root, rel, src string, flags ...string) {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build the fixture roots")
	}
	dir := t.TempDir()
	c := filepath.Join(dir, "x.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, rel)
	os.MkdirAll(filepath.Dir(out), 0o755)
	if b, err := exec.Command(cc, append(flags, "-o", out, c)...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
}

const mainC = "int main(void) { return 0; }\n"

// A libc whose ABI note asks for Linux 99.1.0.
const futureLibcC = `
struct note { unsigned namesz, descsz, type; char name[4]; unsigned desc[4]; };
__attribute__((section(".note.ABI-tag"), used, aligned(4)))
static const struct note abi = {4, 16, 1, "GNU", {0, 99, 1, 0}};
int libc_marker(void) { return 1; }
`

// A program that calls gettimeofday through the vsyscall page, as glibc
// before 2.14 did.
const vsyscallC = `
int main(void) {
	long (*gtod)(void *, void *) = (long (*)(void *, void *))0xffffffffff600000L;
	return (int)gtod(0, 0);
}
`

func TestCheckRoot(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fixtures' machine code is x86-64")
	}
	hostFiles := func(vsyscall string) map[string]string {
		maps := "7ffd0000-7ffd1000 r-xp 00000000 00:00 0                          [vdso]\n"
		if vsyscall != "" {
			maps += "ffffffffff600000-ffffffffff601000 " + vsyscall + " 00000000 00:00 0                  [vsyscall]\n"
		}
		return map[string]string{
			"proc/sys/kernel/osrelease": "6.1.0-13-amd64",
			"proc/self/maps":            maps,
			"etc/os-release":            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		}
	}
	native := func(t *testing.T) string {
		root := t.TempDir()
		buildIn(t, root, "usr/bin/env", mainC)
		os.Symlink("usr/bin", filepath.Join(root, "bin"))
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("NAME=\"CentOS\"\nVERSION_ID=\"6\"\n"), 0o644)
		return root
	}
	tests := []struct {
		name     string
		vsyscall string // the host's [vsyscall] mapping, "" for none
		binfmt   map[string]string
		root     func(t *testing.T) string
		want     map[string]Status
		fits     bool
	}{
		{name: "native", vsyscall: "--xp", root: native, fits: true,
			want: map[string]Status{"architecture": OK, "libc-kernel": OK, "vsyscall": OK, "distribution": OK}},
		{name: "arm64 binaries", vsyscall: "--xp", root: func(t *testing.T) string {
			root := t.TempDir()
			goArm64(t, filepath.Join(root, "bin/sh"))
			return root
		}, want: map[string]Status{"architecture": Fail, "libc-kernel": OK, "vsyscall": OK, "distribution": OK}},
		{name: "arm64 binaries with a binfmt_misc handler", vsyscall: "--xp", binfmt: map[string]string{
			"proc/sys/fs/binfmt_misc/qemu-aarch64": "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n" +
				"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
		}, root: func(t *testing.T) string {
			root := t.TempDir()
			goArm64(t, filepath.Join(root, "bin/sh"))
			return root
		}, fits: true, want: map[string]Status{"architecture": Warn, "libc-kernel": OK, "vsyscall": OK, "distribution": OK}},
		{name: "libc for a newer kernel", vsyscall: "--xp", root: func(t *testing.T) string {
			root := native(t)
			buildIn(t, root, "lib64/libc.so.6", futureLibcC, "-shared", "-fPIC", "-nostdlib")
			return root
		}, want: map[string]Status{"architecture": OK, "libc-kernel": Fail, "vsyscall": OK, "distribution": OK}},
		{name: "vsyscall, host without", vsyscall: "", root: func(t *testing.T) string {
			root := native(t)
			buildIn(t, root, "usr/bin/old", vsyscallC, "-O0")
			return root
		}, want: map[string]Status{"architecture": OK, "libc-kernel": OK, "vsyscall": Fail, "distribution": OK}},
		{name: "vsyscall, host with xonly", vsyscall: "--xp", root: func(t *testing.T) string {
			root := native(t)
			buildIn(t, root, "usr/bin/old", vsyscallC, "-O0")
			return root
		}, fits: true, want: map[string]Status{"architecture": OK, "libc-kernel": OK, "vsyscall": OK, "distribution": OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := hostFiles(tt.vsyscall)
			for k, v := range tt.binfmt {
				files[k] = v
			}
			h := &Host{Root: fakeHost(t, files)}
			root := tt.root(t)
			r := h.CheckRoot(root, []string{root})
			got := map[string]Status{}
			for _, c := range r.Checks {
				got[c.Name] = c.Status
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s\n%+v", diff, r.Checks)
			}
			if r.Fits != tt.fits {
				t.Errorf("fits %v, want %v: %+v", r.Fits, tt.fits, r.Checks)
			}
		})
	}
}

// goArm64 builds an empty Go program for arm64 at out.
func goArm64(t *testing.T, out string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build an arm64 binary")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	os.MkdirAll(filepath.Dir(out), 0o755)
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building for arm64: %v\n%s", err, strings.TrimSpace(string(b)))
	}
}

// TestCheckRootOfThisHost: the host's own / fits the host.
func TestCheckRootOfThisHost(t *testing.T) {
	h := &Host{Root: "/"}
	r := h.CheckRoot("/", []string{"/"})
	if !r.Fits {
		t.Errorf("the host's own root does not fit it: %+v", r.Checks)
	}
}

// TestCheckHere runs the real probes: on a machine where sandboxes run (the
// project's CI), the default run works.
func TestCheckHere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the real probes make namespaces and cgroups")
	}
	runDir := t.TempDir()
	root := fmt.Sprintf("/sandbox-test-check-%d", os.Getpid())
	t.Cleanup(func() { limits.RemoveRoot(root) })
	h := &Host{Root: "/", UID: 0, Probes: RealProbes(root, runDir)}
	r := h.Check()
	for _, c := range r.Checks {
		t.Logf("%-4s %-22s %s", c.Status, c.Name, c.Detail)
	}
	if !r.DefaultRun {
		t.Errorf("the default run does not work here")
	}
}
