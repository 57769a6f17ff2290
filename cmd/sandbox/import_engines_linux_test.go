package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/fixtures"
)

// engines runs podman and skopeo on a storage of the test's own, leaving
// the machine's alone: vfs under dir (no mounts), temporary files in dir,
// and, in a mount namespace of their own, a tmpfs over what they would
// write outside it whatever their flags (containers/image's blob-info
// cache under /var/lib/containers, libpod's lock segment in /dev/shm, big
// temporary files in /var/tmp).
type engines struct {
	t                     *testing.T
	dir, podman, skopeo   string
	storage, runroot, tmp string
	global                []string
	varlib                string // the directory the namespace's tmpfs hides
}

func newEngines(t *testing.T) *engines {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux) to keep podman off the machine's files")
	}
	e := &engines{t: t, dir: t.TempDir(), podman: podman}
	e.skopeo, _ = exec.LookPath("skopeo")
	e.storage, e.runroot, e.tmp = filepath.Join(e.dir, "storage"), filepath.Join(e.dir, "run"), filepath.Join(e.dir, "tmp")
	if err := os.MkdirAll(e.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	e.global = []string{"--root", e.storage, "--runroot", e.runroot, "--tmpdir", e.tmp, "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	e.varlib = "/var/lib"
	if st, err := os.Stat("/var/lib/containers"); err == nil && st.IsDir() {
		e.varlib = "/var/lib/containers"
	}
	return e
}

func (e *engines) cmd(tool string, args ...string) *exec.Cmd {
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs tmpfs /dev/shm && mount -t tmpfs tmpfs /var/tmp && mount -t tmpfs tmpfs "$0" && exec "$@"`, e.varlib, tool}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+e.tmp)
	return cmd
}

func (e *engines) run(tool string, args ...string) {
	e.t.Helper()
	if out, err := e.cmd(tool, args...).CombinedOutput(); err != nil {
		e.t.Fatalf("%s %q: %v\n%s", filepath.Base(tool), args, err, out)
	}
}

func (e *engines) pod(args ...string) { e.t.Helper(); e.run(e.podman, append(e.global, args...)...) }

// skopeoCopy copies from to to; a source in the test's podman storage is
// "storage:IMAGE".
func (e *engines) skopeoCopy(flags []string, from, to string) {
	e.t.Helper()
	if img, ok := strings.CutPrefix(from, "storage:"); ok {
		from = "containers-storage:[vfs@" + e.storage + "+" + e.runroot + "]" + img
	}
	args := append([]string{"--insecure-policy", "copy", "--quiet"}, flags...)
	e.run(e.skopeo, append(args, from, to)...)
}

// TestImportFromEngines imports images as podman and skopeo write them,
// each into a runnable root: podman save in every format, skopeo copy to
// dir:, oci:, oci-archive: and docker-archive:, of a one-layer image made
// by podman import and of a layered one made by podman build, whose upper
// layers delete (whiteouts) what the lower ones hold.
func TestImportFromEngines(t *testing.T) {
	needRoot(t)
	e := newEngines(t)
	root := fixtures.Busybox(t)
	rootTar := filepath.Join(e.dir, "busybox.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", rootTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("packing the root: %v\n%s", err, out)
	}
	const image, layered, other = "localhost/sandbox-test-busybox:latest", "localhost/sandbox-test-layered:latest", "localhost/sandbox-test-other:1"
	e.pod("import", rootTar, image)
	e.pod("tag", image, other)
	// chroot isolation: RUN without an OCI runtime, a cgroup or a network.
	ctxDir := filepath.Join(e.dir, "context")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "added"), []byte("added\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte(`FROM `+image+`
COPY added /etc/added
RUN mkdir -p /opt/dir && echo 1 > /opt/dir/one && echo gone > /etc/gone && rm /bin/vi
RUN rm -r /opt/dir /etc/gone && echo kept > /etc/kept
`), 0o644)
	e.pod("build", "--isolation", "chroot", "-t", layered, "-f", filepath.Join(ctxDir, "Containerfile"), ctxDir)

	const plain = `echo ok`
	const layers = `cat /etc/added /etc/kept && test ! -e /opt/dir && test ! -e /etc/gone && test ! -e /bin/vi && echo ok`
	out := func(name string) string { return filepath.Join(e.dir, "out", name) }
	os.MkdirAll(out(""), 0o755)
	// save: podman save, once per file, for the cases that start from it.
	save := func(format, img, file string) string {
		if _, err := os.Stat(out(file)); err != nil {
			e.pod("save", "--format", format, "-o", out(file), img)
		}
		return out(file)
	}
	type source struct {
		name, script string
		make         func() string // the source as the tool wrote it
		stdin        bool
		needs        string // a tool the case needs beyond podman
	}
	sources := []source{
		{"podman docker-archive", plain, func() string { return save("docker-archive", image, "da.tar") }, false, ""},
		{"podman docker-archive from stdin", plain, func() string { return save("docker-archive", image, "da.tar") }, true, ""},
		{"podman oci-archive", plain, func() string { return save("oci-archive", image, "oa.tar") }, false, ""},
		{"podman docker-dir", plain, func() string { e.pod("save", "--format", "docker-dir", "-o", out("dd"), image); return out("dd") }, false, ""},
		{"podman docker-dir compressed", plain, func() string {
			e.pod("save", "--format", "docker-dir", "--compress", "-o", out("ddz"), image)
			return out("ddz")
		}, false, ""},
		{"podman oci-dir", plain, func() string { e.pod("save", "--format", "oci-dir", "-o", out("od"), image); return out("od") }, false, ""},
		{"podman layered docker-archive", layers, func() string {
			e.pod("save", "--format", "docker-archive", "-o", out("lda.tar"), layered)
			return out("lda.tar")
		}, false, ""},
		{"podman layered oci-archive", layers, func() string {
			e.pod("save", "--format", "oci-archive", "-o", out("loa.tar"), layered)
			return out("loa.tar")
		}, false, ""},
		{"skopeo dir", plain, func() string { e.skopeoCopy(nil, "storage:"+image, "dir:"+out("sd")); return out("sd") }, false, "skopeo"},
		{"skopeo dir v2s2 gzip", layers, func() string {
			e.skopeoCopy([]string{"--format", "v2s2", "--dest-compress"}, "storage:"+layered, "dir:"+out("sdv"))
			return out("sdv")
		}, false, "skopeo"},
		{"skopeo oci", layers, func() string { e.skopeoCopy(nil, "storage:"+layered, "oci:"+out("so")+":latest"); return out("so") }, false, "skopeo"},
		{"skopeo oci zstd from an oci-archive", plain, func() string {
			e.skopeoCopy([]string{"--dest-compress-format", "zstd"}, "oci-archive:"+save("oci-archive", image, "oa.tar"), "oci:"+out("soz")+":latest")
			return out("soz")
		}, false, "skopeo"},
		{"skopeo oci-archive", layers, func() string {
			e.skopeoCopy(nil, "storage:"+layered, "oci-archive:"+out("soa.tar"))
			return out("soa.tar")
		}, false, "skopeo"},
		{"skopeo docker-archive", layers, func() string {
			e.skopeoCopy(nil, "storage:"+layered, "docker-archive:"+out("sda.tar")+":"+layered)
			return out("sda.tar")
		}, false, "skopeo"},
		{"skopeo docker-archive from an oci-archive", plain, func() string {
			e.skopeoCopy(nil, "oci-archive:"+save("oci-archive", image, "oa.tar"), "docker-archive:"+out("sda2.tar"))
			return out("sda2.tar")
		}, false, "skopeo"},
	}
	store := t.TempDir()
	for i, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			if src.needs == "skopeo" && e.skopeo == "" {
				t.Skip("skopeo is not installed (make deps installs it)")
			}
			name := "img" + string(rune('a'+i))
			path := src.make()
			imp := storeCmd(t, store, "snapshot", "import", name, path)
			if src.stdin {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				imp = storeCmd(t, store, "snapshot", "import", name, "-")
				imp.Stdin = f
			}
			if got := output(t, imp); !strings.HasPrefix(got, "imported "+name+": ") {
				t.Errorf("import: %q", got)
			}
			if got := output(t, storeCmd(t, store, "exec", "--root", name, "--", "sh", "-c", src.script)); !strings.HasSuffix(got, "ok\n") {
				t.Errorf("run in the imported root: %q", got)
			}
		})
	}

	// Two images in one source: refused, naming both, until --ref picks one.
	t.Run("podman docker-archive of two images", func(t *testing.T) {
		src := out("two.tar")
		e.pod("save", "--multi-image-archive", "--format", "docker-archive", "-o", src, layered, other)
		cmd := storeCmd(t, store, "snapshot", "import", "two", src)
		got, _ := cmd.CombinedOutput()
		for _, want := range []string{"several images match", layered, other, "--ref"} {
			if !strings.Contains(string(got), want) {
				t.Errorf("import of two images: exit status %d, %q does not say %q", cmd.ProcessState.ExitCode(), got, want)
			}
		}
		if cmd.ProcessState.ExitCode() != 125 {
			t.Errorf("exit status %d, want 125", cmd.ProcessState.ExitCode())
		}
		output(t, storeCmd(t, store, "snapshot", "import", "--ref", "sandbox-test-layered", "two", src))
		if got := output(t, storeCmd(t, store, "exec", "--root", "two", "--", "sh", "-c", layers)); !strings.HasSuffix(got, "ok\n") {
			t.Errorf("run in the image --ref chose: %q", got)
		}
	})
	t.Run("skopeo oci of two tags", func(t *testing.T) {
		if e.skopeo == "" {
			t.Skip("skopeo is not installed (make deps installs it)")
		}
		dir := out("two-oci")
		e.skopeoCopy(nil, "storage:"+image, "oci:"+dir+":plain")
		e.skopeoCopy(nil, "storage:"+layered, "oci:"+dir+":layered")
		cmd := storeCmd(t, store, "snapshot", "import", "twotags", dir)
		if got, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(got), "plain") || !strings.Contains(string(got), "layered") {
			t.Errorf("import of two tags: exit status %d, %q", cmd.ProcessState.ExitCode(), got)
		}
		output(t, storeCmd(t, store, "snapshot", "import", "--ref", "layered", "twotags", dir))
		if got := output(t, storeCmd(t, store, "exec", "--root", "twotags", "--", "sh", "-c", layers)); !strings.HasSuffix(got, "ok\n") {
			t.Errorf("run in the image --ref chose: %q", got)
		}
	})
	if left := mountsUnder(e.dir); len(left) > 0 {
		t.Errorf("mounts left under the engines' directory: %v", left)
	}
}
