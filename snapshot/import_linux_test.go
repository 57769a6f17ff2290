package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// richTree builds a tree with what a root filesystem holds: files,
// symlinks (relative, absolute, dangling), hard links across directories,
// empty directories, xattrs, odd permissions, owners, a fifo, a long name,
// nanosecond mtimes.
func richTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "etc/empty"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "tmp"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "secret"), 0o700))
	must(os.MkdirAll(filepath.Join(root, "deep/a/b/c/d"), 0o755))
	writeFile(t, filepath.Join(root, "bin/tool"), bytes.Repeat([]byte("\x7fELF tool "), 5000))
	writeFile(t, filepath.Join(root, "bin/su"), []byte("setuid"))
	writeFile(t, filepath.Join(root, "bin/sg"), []byte("setgid"))
	writeFile(t, filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"))
	writeFile(t, filepath.Join(root, "etc/none"), []byte("mode 000"))
	writeFile(t, filepath.Join(root, "etc/empty-file"), nil)
	writeFile(t, filepath.Join(root, "secret/key"), []byte("k"))
	writeFile(t, filepath.Join(root, "deep/a/b/c/d/leaf"), []byte("leaf"))
	writeFile(t, filepath.Join(root, strings.Repeat("n", 255)), []byte("long name"))
	must(os.Link(filepath.Join(root, "bin/tool"), filepath.Join(root, "bin/tool-hard")))
	must(os.Link(filepath.Join(root, "bin/tool"), filepath.Join(root, "etc/tool-elsewhere")))
	must(os.Symlink("tool", filepath.Join(root, "bin/rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(root, "bin/abs")))
	must(os.Symlink("../nowhere/at/all", filepath.Join(root, "bin/dangling")))
	must(unix.Mkfifo(filepath.Join(root, "tmp/fifo"), 0o620))
	must(os.Chmod(filepath.Join(root, "bin/tool"), 0o755))
	must(os.Chown(filepath.Join(root, "bin/su"), 0, 0))
	must(os.Chmod(filepath.Join(root, "bin/su"), 0o4755))
	must(os.Chown(filepath.Join(root, "bin/sg"), 0, 50))
	must(os.Chmod(filepath.Join(root, "bin/sg"), 0o2711))
	must(os.Chmod(filepath.Join(root, "etc/none"), 0))
	must(os.Chmod(filepath.Join(root, "tmp"), 0o1777))
	must(os.Chown(filepath.Join(root, "secret"), 1000, 1000))
	must(os.Chown(filepath.Join(root, "secret/key"), 65534, 12345))
	must(os.Lchown(filepath.Join(root, "bin/rel"), 4321, 1234))
	must(os.Chown(filepath.Join(root, "deep"), 70000, 80000))
	must(unix.Lsetxattr(filepath.Join(root, "etc/passwd"), "user.comment", []byte("a\x00binary\xffvalue"), 0))
	must(unix.Lsetxattr(filepath.Join(root, "etc/passwd"), "trusted.mark", []byte("t"), 0))
	must(unix.Lsetxattr(filepath.Join(root, "etc"), "user.dir", []byte("d"), 0))
	must(unix.Lsetxattr(filepath.Join(root, "bin/rel"), "trusted.onlink", []byte("l"), 0))
	// Times last, directories after their contents, deepest first.
	var paths []string
	filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { paths = append(paths, p); return nil })
	for i := len(paths) - 1; i >= 0; i-- {
		ts := time.Unix(1600000000+int64(i)*1000, int64(i)*1234567+89)
		must(unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}, unix.AT_SYMLINK_NOFOLLOW))
	}
	return root
}

// A directory imported and exported again compares equal: modes, owners,
// mtimes, content, link targets, hard links, xattrs; and so does the tree
// the kernel mounts from the re-imported export.
func TestRoundTripDir(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	src := richTree(t)
	want := fsTree(t, src, true)

	info, err := s.Import(ctx, "rich", src, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, fsTree(t, info.Path, true)); d != "" {
		t.Errorf("layer tree (-want +got):\n%s", d)
	}
	exported := filepath.Join(t.TempDir(), "rich.tar")
	if err := s.ExportFile(ctx, "rich", exported); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exported)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if d := cmp.Diff(want, tarTree(t, f, true)); d != "" {
		t.Errorf("exported tar (-want +got):\n%s", d)
	}
	if _, err := s.Import(ctx, "again", exported, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := s.View(ctx, "v", "again")
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, m, func(root string) {
		if d := cmp.Diff(want, fsTree(t, root, true)); d != "" {
			t.Errorf("mounted re-import (-want +got):\n%s", d)
		}
	})
}

func TestImportTarCompressions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	raw := tarBytes(t, []tent{{name: "./"}, {name: "a", body: "alpha"}, {name: "d/"}, {name: "d/b", body: "beta"}})
	want := map[string]string{".": "dir", "a": "file:alpha", "d": "dir", "d/b": "file:beta"}
	for _, comp := range []string{"plain", "gzip", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			file := writeFile(t, filepath.Join(t.TempDir(), "root.tar"), compress(t, comp, raw))
			if _, err := s.Import(ctx, "t-"+comp, file, ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, contents(exportTree(t, s, "t-"+comp, false))); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if _, err := s.ImportReader(ctx, "r-"+comp, bytes.NewReader(compress(t, comp, raw)), ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, contents(exportTree(t, s, "r-"+comp, false))); d != "" {
				t.Errorf("stream (-want +got):\n%s", d)
			}
		})
	}
}

// A zstd stream the decoder must not trust: a frame whose window would
// take 1 GiB of memory to decode (the limit is 128 MiB, libzstd's default),
// and a frame cut short. Each is refused, and leaves no snapshot.
func TestImportZstdRefused(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
	for _, tc := range []struct {
		name   string
		stream []byte
	}{
		// Frame header: no single segment (so a window descriptor
		// follows), 0xa0 = exponent 20: a window of 2^30 bytes; then one
		// raw block, the last, of one byte.
		{"1 GiB window", append(append([]byte{}, magic...), 0x00, 0xa0, 0x09, 0x00, 0x00, 'x')},
		{"truncated", compress(t, "zstd", tarBytes(t, []tent{{name: "a", body: strings.Repeat("alpha", 1000)}}))[:40]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "z-" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := s.ImportReader(ctx, name, bytes.NewReader(tc.stream), ImportOptions{})
			if err == nil {
				t.Fatalf("imported %d bytes", len(tc.stream))
			}
			t.Log(err)
			if _, err := s.Stat(ctx, name); !errors.Is(err, ErrNotFound) {
				t.Errorf("refused import left a snapshot: %v", err)
			}
		})
	}
	// The same frame with a window of 2^20 bytes decodes (to one byte,
	// not a tar: refused for that, not for its window).
	_, err := s.ImportReader(ctx, "z-small", bytes.NewReader(append(append([]byte{}, magic...), 0x00, 0x50, 0x09, 0x00, 0x00, 'x')), ImportOptions{})
	if err == nil || strings.Contains(err.Error(), "memory") {
		t.Errorf("small window: %v", err)
	}
}

// The layers of the image tests: the upper deletes a file, replaces a
// directory's contents (opaque), replaces a directory by a file and a file
// by a directory, deletes a directory, and adds a file under a directory
// it does not list.
func imageLayers(t testing.TB) ([][]byte, map[string]string) {
	base := tarBytes(t, []tent{
		{name: "./", mode: 0o755},
		{name: "etc/"},
		{name: "etc/passwd", body: "root"},
		{name: "etc/shadow", body: "secret"},
		{name: "opt/", mode: 0o711, uid: 7, gid: 8},
		{name: "opt/old1", body: "1"},
		{name: "opt/old2", body: "2"},
		{name: "var/"},
		{name: "var/lib/"},
		{name: "var/lib/x", body: "x"},
		{name: "tobefile/"},
		{name: "tobefile/inner", body: "i"},
		{name: "tobedir", body: "f"},
		{name: "usr/"},
		{name: "usr/share/", mode: 0o700, uid: 3, gid: 4},
		{name: "usr/share/doc", body: "doc"},
	})
	upper := tarBytes(t, []tent{
		{name: "etc/"},
		{name: "etc/.wh.shadow"},
		{name: "opt/", mode: 0o711, uid: 7, gid: 8},
		{name: "opt/.wh..wh..opq"},
		{name: "opt/new", body: "n"},
		{name: ".wh.var"},
		{name: "tobefile", body: "now a file"},
		{name: "tobedir/"},
		{name: "tobedir/x", body: "in new dir"},
		{name: "usr/share/added", body: "a"},
	})
	want := map[string]string{".": "dir", "etc": "dir", "etc/passwd": "file:root", "opt": "dir", "opt/new": "file:n",
		"tobefile": "file:now a file", "tobedir": "dir", "tobedir/x": "file:in new dir",
		"usr": "dir", "usr/share": "dir", "usr/share/doc": "file:doc", "usr/share/added": "file:a"}
	return [][]byte{base, upper}, want
}

func TestImportImages(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	layers, want := imageLayers(t)
	dir := t.TempDir()
	cases := []struct {
		name   string
		source func() string
	}{
		{"oci-dir", func() string {
			d := filepath.Join(dir, "oci")
			writeFiles(t, d, ociImage(t, layers, []string{"gzip", "zstd"}))
			return d
		}},
		{"oci-tar", func() string {
			return writeFile(t, filepath.Join(dir, "oci.tar"), filesTar(t, ociImage(t, layers, []string{"", "gzip"})))
		}},
		{"oci-tar-gz", func() string {
			return writeFile(t, filepath.Join(dir, "oci.tar.gz"), compress(t, "gzip", filesTar(t, ociImage(t, layers, []string{"zstd", ""}))))
		}},
		{"docker-save", func() string {
			return writeFile(t, filepath.Join(dir, "save.tar"), filesTar(t, dockerSave(t, layers)))
		}},
		{"docker-dir", func() string {
			d := filepath.Join(dir, "docker")
			writeFiles(t, d, dockerSave(t, layers))
			return d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := s.Import(ctx, tc.name, tc.source(), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := exportTree(t, s, tc.name, false)
			if d := cmp.Diff(want, contents(got)); d != "" {
				t.Errorf("exported (-want +got):\n%s", d)
			}
			// Implicit directories keep the metadata of what they shadow.
			if n := got["usr/share"]; n.Mode != 0o700 || n.UID != 3 || n.GID != 4 {
				t.Errorf("usr/share = %+v, want mode 700 owner 3:4 from the lower layer", n)
			}
			if info.Parent == "" || info.Layers != 2 {
				t.Errorf("info = %+v, want 2 layers over a chain-ID parent", info)
			}
			m, err := s.View(ctx, tc.name+"-view", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			withMount(t, m, func(root string) {
				if d := cmp.Diff(want, contents(fsTree(t, root, false))); d != "" {
					t.Errorf("mounted (-want +got):\n%s", d)
				}
			})
			if err := s.Remove(ctx, tc.name+"-view"); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Every image shared the base layer: one snapshot of it, named by
	// chain ID, labelled as a layer.
	var layerSnaps []string
	s.Walk(ctx, func(_ context.Context, i Info) error {
		if i.Labels[LabelLayer] != "" {
			layerSnaps = append(layerSnaps, i.Name)
		}
		return nil
	})
	if d := cmp.Diff([]string{digest(layers[0])}, layerSnaps); d != "" {
		t.Errorf("layer snapshots (-want +got):\n%s", d)
	}
	// GC prunes the shared layer only once nothing stands on it.
	for _, tc := range cases {
		if err := s.Remove(ctx, tc.name); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.GC(ctx, GCOptions{PruneLayers: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{digest(layers[0])}, rep.Snapshots); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}
	assertEmptyStore(t, s)
}

func TestImportImageErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	layers, _ := imageLayers(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		files func() map[string][]byte
		err   error
		msg   string
	}{
		{"diff id mismatch", func() map[string][]byte {
			f := ociImage(t, layers, []string{"", ""})
			for p, b := range f {
				if bytes.Equal(b, layers[1]) {
					f[p] = append([]byte{}, layers[0]...)
				}
			}
			return f
		}, ErrFormat, "does not match diff_id"},
		{"digest path trick", func() map[string][]byte {
			f := ociImage(t, layers, []string{"", ""})
			f["index.json"] = []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd"}]}`)
			return f
		}, ErrFormat, "malformed digest"},
		{"manifest.json escape", func() map[string][]byte {
			f := dockerSave(t, layers)
			f["manifest.json"] = []byte(`[{"Config":"../../etc/passwd","Layers":[]}]`)
			return f
		}, ErrFormat, "outside the image"},
		{"missing blob", func() map[string][]byte {
			f := ociImage(t, layers, []string{"", ""})
			for p, b := range f {
				if bytes.Equal(b, layers[1]) {
					delete(f, p)
				}
			}
			return f
		}, ErrFormat, "not in image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeFile(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tar"), filesTar(t, tc.files()))
			_, err := s.Import(ctx, "img", src, ImportOptions{})
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.err, tc.msg)
			}
			if _, err := s.Stat(ctx, "img"); !errors.Is(err, ErrNotFound) {
				t.Errorf("failed import left a snapshot: %v", err)
			}
		})
	}
	if _, err := s.GC(ctx, GCOptions{PruneLayers: true}); err != nil {
		t.Fatal(err)
	}
	assertEmptyStore(t, s)
}

// A tar applied on a parent: its whiteouts delete from the parent.
func TestImportTarOnParent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "base", nil)
	layer := tarBytes(t, []tent{{name: "etc/.wh.gone"}, {name: "lib/.wh..wh..opq"}, {name: "lib/z", body: "z"}})
	if _, err := s.ImportReader(ctx, "top", bytes.NewReader(layer), ImportOptions{Parent: "base"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".": "dir", "etc": "dir", "etc/hostname": "file:base\n", "etc/keep": "file:keep\n",
		"lib": "dir", "lib/z": "file:z"}
	if d := cmp.Diff(want, contents(exportTree(t, s, "top", false))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	ch, err := s.Diff(ctx, "top")
	if err != nil {
		t.Fatal(err)
	}
	wantCh := []Change{{ChangeDeleted, "/etc/gone"}, {ChangeDeleted, "/lib/a"}, {ChangeDeleted, "/lib/sub"}, {ChangeAdded, "/lib/z"}}
	if d := cmp.Diff(wantCh, ch); d != "" {
		t.Errorf("Diff (-want +got):\n%s", d)
	}
}

func TestProgress(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	raw := tarBytes(t, []tent{{name: "a", body: strings.Repeat("a", 1000)}, {name: "b", body: strings.Repeat("b", 3000)}, {name: "c/"}})
	file := writeFile(t, filepath.Join(t.TempDir(), "p.tar.gz"), compress(t, "gzip", raw))
	var got []Progress
	_, err := s.Import(ctx, "p", file, ImportOptions{Progress: func(p Progress) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d progress calls, want 3: %+v", len(got), got)
	}
	last := got[2]
	st, _ := os.Stat(file)
	if last.Entries != 3 || last.Bytes != 4000 || last.SourceSize != st.Size() || last.SourceBytes == 0 || last.SourceBytes > st.Size() {
		t.Errorf("last progress = %+v (source %d bytes)", last, st.Size())
	}
}

// hostileCases: archives that try to escape the root or smuggle what a
// layer must not hold. Each is refused (err names the entry) or contained.
func hostileCases(t testing.TB, outside string) []struct {
	name    string
	ents    []tent
	refused string // substring of the error; "" means imported, contained
	check   func(t *testing.T, tree map[string]node)
} {
	deep := strings.Repeat("a/", 10000) + "f"
	type hc = struct {
		name    string
		ents    []tent
		refused string
		check   func(t *testing.T, tree map[string]node)
	}
	return []hc{
		{name: "dotdot", ents: []tent{{name: "../../../../" + outside + "/pwned", body: "x"}}, refused: "escapes the root"},
		{name: "dotdot inside", ents: []tent{{name: "a/../../pwned", body: "x"}}, refused: "escapes the root"},
		{name: "absolute", ents: []tent{{name: outside + "/pwned", body: "x"}}, check: func(t *testing.T, tree map[string]node) {
			if _, ok := tree[strings.TrimPrefix(outside, "/")+"/pwned"]; !ok {
				t.Errorf("absolute path not taken inside the root: %v", keys(tree))
			}
		}},
		{name: "symlink then write through", ents: []tent{
			{name: "link", typ: tar.TypeSymlink, link: outside},
			{name: "link/pwned", body: "x"},
		}, refused: `parent "link" is a symlink`},
		{name: "symlink dir swap", ents: []tent{
			{name: "d/"}, {name: "d/ok", body: "ok"},
			{name: "d", typ: tar.TypeSymlink, link: outside},
			{name: "d/pwned", body: "x"},
		}, refused: `parent "d" is a symlink`},
		{name: "relative symlink chain", ents: []tent{
			{name: "a", typ: tar.TypeSymlink, link: "../../../../../../.."},
			{name: "a/" + strings.TrimPrefix(outside, "/") + "/pwned", body: "x"},
		}, refused: "is a symlink"},
		{name: "hard link to /etc/passwd", ents: []tent{{name: "passwd", typ: tar.TypeLink, link: "/etc/passwd"}},
			refused: `hard link target "etc/passwd" is not in this layer`},
		{name: "hard link dotdot", ents: []tent{{name: "x", typ: tar.TypeLink, link: "../../../etc/passwd"}},
			refused: "escapes the root"},
		{name: "hard link through symlink", ents: []tent{
			{name: "s", typ: tar.TypeSymlink, link: "/etc"},
			{name: "x", typ: tar.TypeLink, link: "s/passwd"},
		}, refused: "is not in this layer"},
		{name: "deep path", ents: []tent{{name: deep, body: "x"}}, refused: "path longer than 4096 bytes"},
		{name: "long name", ents: []tent{{name: strings.Repeat("n", 256), body: "x"}}, refused: "longer than 255 bytes"},
		{name: "device skipped", ents: []tent{{name: "dev/"}, {name: "dev/sda", typ: tar.TypeBlock, major: 8}, {name: "dev/mem", typ: tar.TypeChar, major: 1, minor: 1}},
			check: func(t *testing.T, tree map[string]node) {
				if _, ok := tree["dev/sda"]; ok {
					t.Error("block device created")
				}
				if _, ok := tree["dev/mem"]; ok {
					t.Error("char device created")
				}
			}},
		{name: "overlay xattr dropped", ents: []tent{{name: "d/", pax: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.ok": "1"}}},
			check: func(t *testing.T, tree map[string]node) {
				if d := cmp.Diff(map[string]string{"user.ok": "1"}, tree["d"].Xattrs); d != "" {
					t.Errorf("xattrs (-want +got):\n%s", d)
				}
			}},
		{name: "file then dir under it", ents: []tent{{name: "f", body: "x"}, {name: "f/g", body: "y"}}, refused: `parent "f" is not a directory`},
		{name: "whiteout of dotdot", ents: []tent{{name: "x/.wh..."}}, refused: `whiteout of ".."`},
		{name: "hard link then overwrite", ents: []tent{
			{name: "a", body: "orig"},
			{name: "b", typ: tar.TypeLink, link: "a"},
			{name: "b", body: "new"},
		}, check: func(t *testing.T, tree map[string]node) {
			if d := cmp.Diff(map[string]string{".": "dir", "a": "file:orig", "b": "file:new"}, contents(tree)); d != "" {
				t.Errorf("written through a hard link (-want +got):\n%s", d)
			}
		}},
		{name: "symlink then overwrite", ents: []tent{
			{name: "s", typ: tar.TypeSymlink, link: outside + "/sentinel"},
			{name: "s", body: "replaced"},
		}, check: func(t *testing.T, tree map[string]node) {
			if got := contents(tree)["s"]; got != "file:replaced" {
				t.Errorf("s = %q", got)
			}
		}},
		{name: "root not a dir", ents: []tent{{name: "./", typ: tar.TypeSymlink, link: "/"}}, refused: "root must be a directory"},
	}
}

func keys(m map[string]node) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

// sentinel makes a directory beside the store whose state the hostile
// tests compare before and after.
func sentinel(t testing.TB) (dir string, snap func() string) {
	dir = filepath.Join(t.TempDir(), "outside")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sentinel"), []byte("untouched"))
	snap = func() string {
		var b strings.Builder
		filepath.Walk(filepath.Dir(dir), func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if strings.Contains(p, "/store") {
				return filepath.SkipDir
			}
			c, _ := os.ReadFile(p)
			b.WriteString(p + " " + fi.Mode().String() + " " + string(c) + "\n")
			return nil
		})
		c, _ := os.ReadFile("/etc/passwd")
		h := sha256.Sum256(c)
		b.Write(h[:])
		return b.String()
	}
	return dir, snap
}

func TestHostileTar(t *testing.T) {
	t.Run("openat2", testHostileTar)
	// Kernels before 5.6: each path component opened with O_NOFOLLOW.
	t.Run("per-component", func(t *testing.T) {
		noOpenat2.Store(true)
		defer noOpenat2.Store(false)
		testHostileTar(t)
	})
}

func testHostileTar(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{Root: filepath.Join(t.TempDir(), "store")})
	outside, snap := sentinel(t)
	before := snap()
	for _, tc := range hostileCases(t, outside) {
		t.Run(tc.name, func(t *testing.T) {
			var warns []string
			name := "h-" + strings.NewReplacer(" ", "-", "/", "-").Replace(tc.name)
			raw := tarBytes(t, tc.ents)
			_, err := s.ImportReader(ctx, name, bytes.NewReader(raw), ImportOptions{Warn: func(e error) { warns = append(warns, e.Error()) }})
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("got %v, want refusal with %q", err, tc.refused)
				}
				var ee *EntryError
				if !errors.As(err, &ee) {
					t.Errorf("error %v names no entry", err)
				}
				if _, err := s.Stat(ctx, name); !errors.Is(err, ErrNotFound) {
					t.Errorf("refused import left a snapshot")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, exportTree(t, s, name, false))
				t.Logf("warnings: %q", warns)
			}
			if after := snap(); after != before {
				t.Fatalf("outside changed:\n%s\n---\n%s", before, after)
			}
		})
	}
	// Devices refused on request.
	_, err := s.ImportReader(ctx, "dev", bytes.NewReader(tarBytes(t, []tent{{name: "null", typ: tar.TypeChar, major: 1, minor: 3}})),
		ImportOptions{Devices: DevicesReject})
	if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), `"null"`) {
		t.Errorf("device with DevicesReject: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root(), dirTmp))
	if len(ents) != 0 {
		t.Errorf("failed imports left builds in tmp: %v", ents)
	}
}

// The Go merge (export, diff, flatten) and the kernel's overlay agree, on
// layers the kernel itself wrote.
func TestMergedMatchesKernel(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	src := richTree(t)
	if _, err := s.Import(ctx, "l0", src, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	steps := []func(root string){
		func(root string) {
			os.Remove(filepath.Join(root, "etc/passwd"))
			os.RemoveAll(filepath.Join(root, "deep/a"))
			os.MkdirAll(filepath.Join(root, "deep/a/new"), 0o700)
			writeFile(t, filepath.Join(root, "bin/tool-hard"), []byte("broken link"))
			os.Chmod(filepath.Join(root, "secret"), 0o750)
		},
		func(root string) {
			writeFile(t, filepath.Join(root, "etc/passwd"), []byte("back"))
			os.RemoveAll(filepath.Join(root, "tmp"))
			writeFile(t, filepath.Join(root, "tmp"), []byte("tmp is a file now"))
			os.Remove(filepath.Join(root, "bin/rel"))
			os.Mkdir(filepath.Join(root, "bin/rel"), 0o755)
			unix.Lsetxattr(filepath.Join(root, "etc/tool-elsewhere"), "user.new", []byte("x"), 0)
		},
	}
	parent := "l0"
	for i, step := range steps {
		key := "w"
		m, err := s.Prepare(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		withMount(t, m, step)
		parent = "l" + string(rune('1'+i))
		if err := s.Commit(ctx, parent, key); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.View(ctx, "v", parent)
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, m, func(root string) {
		kernel := fsTree(t, root, true)
		if d := cmp.Diff(kernel, exportTree(t, s, parent, true)); d != "" {
			t.Errorf("export vs mounted overlay (-kernel +export):\n%s", d)
		}
	})
}
