package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
)

// readCpio lists a newc archive's entries: name -> mode and size, and
// checks the padding on the way.
func readCpio(t *testing.T, b []byte) map[string][2]int64 {
	t.Helper()
	out := map[string][2]int64{}
	for off := 0; ; {
		if off%4 != 0 || len(b) < off+110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int64 {
			v, err := strconv.ParseInt(string(b[off+6+8*i:off+14+8*i]), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mode, size, nameLen := field(1), field(6), int(field(11))
		name := string(b[off+110 : off+110+nameLen-1])
		off += 110 + nameLen
		off += (4 - off%4) % 4
		if name == "TRAILER!!!" {
			return out
		}
		out[name] = [2]int64{mode, size}
		off += int(size)
		off += (4 - off%4) % 4
	}
}

func TestInitramfs(t *testing.T) {
	if _, err := fixtures.FindBusybox(); err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := writeInitramfs(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries := readCpio(t, b)
	if e := entries["init"]; e[0] != 0o100755 || e[1] != int64(len(vmInit)) {
		t.Errorf("init: mode %o size %d, want 100755 and %d", e[0], e[1], len(vmInit))
	}
	if e := entries["dev/console"]; e[0] != 0o20600 {
		t.Errorf("dev/console: mode %o, want a character device", e[0])
	}
	if e := entries["bin/busybox"]; e[1] < 100000 {
		t.Errorf("bin/busybox: %d bytes, want the whole binary", e[1])
	}
}

func TestVersionLess(t *testing.T) {
	want := []string{"/boot/vmlinuz-5.10.0-28-amd64", "/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-56-amd64", "/boot/vmlinuz-6.10.2"}
	for i := range want {
		for j := range want {
			if got := versionLess(want[i], want[j]); got != (i < j) {
				t.Errorf("versionLess(%s, %s) = %v", want[i], want[j], got)
			}
		}
	}
}

// The bundle is what runc 1.1 and crun 1.8 accept: their spec version,
// /bin/true over a read-only root, the cgroup where the suite cleans up.
func TestOCIConfig(t *testing.T) {
	dir := t.TempDir()
	if err := writeOCIConfig(dir, "/roots/busybox", "/sandbox-bench-oci/x"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var c struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct{ Args []string }
		Root       struct {
			Path     string
			Readonly bool
		}
		Linux struct {
			CgroupsPath string
			Namespaces  []struct{ Type string }
		}
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	got := []string{c.OCIVersion, c.Process.Args[0], c.Root.Path, strconv.FormatBool(c.Root.Readonly), c.Linux.CgroupsPath, strconv.Itoa(len(c.Linux.Namespaces))}
	want := []string{"1.0.2", "/bin/true", "/roots/busybox", "true", "/sandbox-bench-oci/x", "6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/x\134y`: `/x\y`, `/end\04`: `/end\04`} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteTree(t *testing.T) {
	dir := t.TempDir()
	if err := writeTree(dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	var files, size int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			size += fi.Size()
		}
		return nil
	})
	if files != 128 || size != 1<<20 {
		t.Errorf("tree of %d files, %d bytes; want 128 files of 8 KiB", files, size)
	}
}
