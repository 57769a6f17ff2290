package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("snapshot store: needs root (chown, mknod, trusted xattrs, overlay mounts)")
	}
}

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	needRoot(t)
	if cfg.Root == "" {
		cfg.Root = filepath.Join(t.TempDir(), "store")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mountAt performs mounts at a fresh directory and unmounts at cleanup.
func mountAt(t testing.TB, mounts []Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := MountAll(mounts, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := UnmountAll(target); err != nil {
			t.Error(err)
		}
	})
	return target
}

// withMount mounts, runs fn, and unmounts before returning.
func withMount(t testing.TB, mounts []Mount, fn func(root string)) {
	t.Helper()
	target := t.TempDir()
	if err := MountAll(mounts, target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := UnmountAll(target); err != nil {
			t.Error(err)
		}
	}()
	fn(target)
}

// node is what a tree comparison looks at.
type node struct {
	Type    string
	Mode    uint32
	UID     int
	GID     int
	MTime   string `json:",omitempty"`
	Content string `json:",omitempty"`
	Link    string `json:",omitempty"`
	Dev     string `json:",omitempty"`
	Xattrs  map[string]string
}

func contentKey(b []byte) string {
	if len(b) <= 64 {
		return string(b)
	}
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fsTree reads a tree as nodes keyed by relative path, "." the root.
// Hard links after the first (in walk order) become Type "link".
// mtimes are skipped when times is false (for trees a test wrote itself).
func fsTree(t testing.TB, root string, times bool) map[string]node {
	t.Helper()
	out := map[string]node{}
	firsts := map[[2]uint64]string{}
	var walk func(rel string)
	walk = func(rel string) {
		abs := filepath.Join(root, rel)
		var st unix.Stat_t
		if err := unix.Lstat(abs, &st); err != nil {
			t.Fatal(err)
		}
		n := node{Mode: st.Mode & 0o7777, UID: int(st.Uid), GID: int(st.Gid)}
		if times {
			n.MTime = fmtTime(timespecTime(st.Mtim))
		}
		x, err := readXattrs(abs)
		if err != nil {
			t.Fatal(err)
		}
		n.Xattrs = x
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFREG:
			n.Type = "file"
			if st.Nlink > 1 {
				k := [2]uint64{st.Dev, st.Ino}
				if f, ok := firsts[k]; ok {
					out[rel] = node{Type: "link", Link: f}
					return
				}
				firsts[k] = rel
			}
			b, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			n.Content = contentKey(b)
		case unix.S_IFLNK:
			n.Type = "symlink"
			n.Link, _ = os.Readlink(abs)
		case unix.S_IFIFO:
			n.Type = "fifo"
		case unix.S_IFCHR:
			n.Type, n.Dev = "char", fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case unix.S_IFBLK:
			n.Type, n.Dev = "block", fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		out[rel] = n
		if n.Type == "dir" {
			names, err := readDirNames(abs)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(names)
			for _, c := range names {
				walk(path.Join(rel, c))
			}
		}
	}
	walk(".")
	return out
}

// tarTree reads a tar as nodes keyed by cleaned path.
func tarTree(t testing.TB, r io.Reader, times bool) map[string]node {
	t.Helper()
	out := map[string]node{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := path.Clean(strings.TrimPrefix(h.Name, "/"))
		n := node{Mode: uint32(h.Mode) & 0o7777, UID: h.Uid, GID: h.Gid}
		if times {
			n.MTime = fmtTime(h.ModTime)
		}
		for k, v := range h.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if n.Xattrs == nil {
					n.Xattrs = map[string]string{}
				}
				n.Xattrs[x] = v
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			n.Type = "dir"
		case tar.TypeReg:
			n.Type = "file"
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			n.Content = contentKey(b)
		case tar.TypeLink:
			n = node{Type: "link", Link: path.Clean(h.Linkname)}
		case tar.TypeSymlink:
			n.Type, n.Link = "symlink", h.Linkname
		case tar.TypeFifo:
			n.Type = "fifo"
		case tar.TypeChar:
			n.Type, n.Dev = "char", fmt.Sprintf("%d:%d", h.Devmajor, h.Devminor)
		case tar.TypeBlock:
			n.Type, n.Dev = "block", fmt.Sprintf("%d:%d", h.Devmajor, h.Devminor)
		}
		out[p] = n
	}
}

// contents keeps only type and content/link of each node: what a test
// that builds trees without caring for metadata checks.
func contents(tree map[string]node) map[string]string {
	out := map[string]string{}
	for p, n := range tree {
		switch n.Type {
		case "file":
			out[p] = "file:" + n.Content
		case "symlink", "link":
			out[p] = n.Type + ":" + n.Link
		default:
			out[p] = n.Type
		}
	}
	return out
}

func exportTree(t testing.TB, s *Store, key string, times bool) map[string]node {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Export(context.Background(), key, &buf); err != nil {
		t.Fatal(err)
	}
	return tarTree(t, &buf, times)
}

// tent is a tar entry for tests.
type tent struct {
	name  string
	typ   byte
	body  string
	link  string
	mode  int64
	uid   int
	gid   int
	major int64
	minor int64
	pax   map[string]string
	mtime time.Time
}

func tarBytes(t testing.TB, ents []tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
			if strings.HasSuffix(e.name, "/") {
				typ = tar.TypeDir
			}
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		mt := e.mtime
		if mt.IsZero() {
			mt = time.Unix(1700000000, 0)
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Uid: e.uid, Gid: e.gid, Linkname: e.link,
			Devmajor: e.major, Devminor: e.minor, PAXRecords: e.pax, ModTime: mt}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.name) > 100 || len(e.link) > 100 || e.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t testing.TB, kind string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "gzip":
		z := gzip.NewWriter(&buf)
		z.Write(b)
		z.Close()
	case "zstd":
		return zstdCompress(t, b)
	default:
		return b
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ociImage lays out an OCI image of the given layer tars (compressed as
// asked) as files: path -> content.
func ociImage(t testing.TB, layers [][]byte, comp []string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	var diffIDs []string
	var descs []map[string]any
	for i, l := range layers {
		diffIDs = append(diffIDs, digest(l))
		c := compress(t, comp[i], l)
		d := digest(c)
		files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = c
		mt := "application/vnd.oci.image.layer.v1.tar"
		if comp[i] != "" {
			mt += "+" + comp[i]
		}
		descs = append(descs, map[string]any{"mediaType": mt, "digest": d, "size": len(c)})
	}
	cfg := mustJSON(t, map[string]any{"architecture": runtime.GOARCH, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	files["blobs/sha256/"+strings.TrimPrefix(digest(cfg), "sha256:")] = cfg
	man := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers": descs})
	files["blobs/sha256/"+strings.TrimPrefix(digest(man), "sha256:")] = man
	files["index.json"] = mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{
		map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(man), "size": len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "latest"}}}})
	return files
}

// dockerSave lays out a docker save (legacy format) of layer tars.
func dockerSave(t testing.TB, layers [][]byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	var diffIDs, paths []string
	for i, l := range layers {
		diffIDs = append(diffIDs, digest(l))
		id := strings.TrimPrefix(digest([]byte(fmt.Sprint("layer", i))), "sha256:")
		p := id + "/layer.tar"
		files[p] = l
		files[id+"/VERSION"] = []byte("1.0")
		paths = append(paths, p)
	}
	cfg := mustJSON(t, map[string]any{"architecture": runtime.GOARCH, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgName := strings.TrimPrefix(digest(cfg), "sha256:") + ".json"
	files[cfgName] = cfg
	files["manifest.json"] = mustJSON(t, []any{map[string]any{"Config": cfgName, "RepoTags": []string{"test:latest"}, "Layers": paths}})
	files["repositories"] = []byte(`{}`)
	return files
}

func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// filesTar tars files; manifest.json last, as docker save does.
func filesTar(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var names []string
	for p := range files {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "manifest.json") != (names[j] == "manifest.json") {
			return names[j] == "manifest.json"
		}
		return names[i] < names[j]
	})
	var ents []tent
	dirs := map[string]bool{}
	for _, p := range names {
		if d := path.Dir(p); d != "." && !dirs[d] {
			for _, dd := range strings.Split(d, "/") {
				_ = dd
			}
			parts := strings.Split(d, "/")
			for i := range parts {
				sub := strings.Join(parts[:i+1], "/")
				if !dirs[sub] {
					dirs[sub] = true
					ents = append(ents, tent{name: sub + "/"})
				}
			}
		}
		ents = append(ents, tent{name: p, body: string(files[p])})
	}
	return tarBytes(t, ents)
}

func writeFile(t testing.TB, p string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func isErr(err, target error) bool { return errors.Is(err, target) }
