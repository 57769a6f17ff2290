package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// layout is an image as some engine writes it: files, symlinks between
// them, and the order a tar of it lists them in.
type layout struct {
	files map[string][]byte
	links map[string]string // name -> link target
	first []string          // names a tar lists first, in this order (the rest sorted, manifest.json last)
}

func newLayout() *layout { return &layout{files: map[string][]byte{}, links: map[string]string{}} }

func (l *layout) clone() *layout {
	c := newLayout()
	for k, v := range l.files {
		c.files[k] = v
	}
	for k, v := range l.links {
		c.links[k] = v
	}
	c.first = append(c.first, l.first...)
	return c
}

// otherArch is an architecture this machine is not.
func otherArch() string {
	if runtime.GOARCH == "s390x" {
		return "riscv64"
	}
	return "s390x"
}

func hexOf(d string) string { return strings.TrimPrefix(d, "sha256:") }

// addImage writes an image's blobs (layers compressed as asked, config,
// manifest) and returns the manifest's descriptor. name maps a digest to
// its member; types are the layer media types (empty: OCI's per
// compression).
func (l *layout) addImage(t testing.TB, layers [][]byte, comp []string, arch string, name func(string) string, types []string) map[string]any {
	t.Helper()
	var diffIDs []string
	var descs []map[string]any
	for i, b := range layers {
		diffIDs = append(diffIDs, digest(b))
		c := compress(t, comp[i], b)
		d := digest(c)
		l.files[name(d)] = c
		mt := "application/vnd.oci.image.layer.v1.tar"
		if comp[i] != "" {
			mt += "+" + comp[i]
		}
		if types != nil {
			mt = types[i]
		}
		descs = append(descs, map[string]any{"mediaType": mt, "digest": d, "size": len(c)})
	}
	cfg := mustJSON(t, map[string]any{"architecture": arch, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	l.files[name(digest(cfg))] = cfg
	mt := "application/vnd.oci.image.manifest.v1+json"
	cfgType := "application/vnd.oci.image.config.v1+json"
	if types != nil && strings.HasPrefix(types[0], "application/vnd.docker") {
		mt, cfgType = "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json"
	}
	man := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": mt,
		"config": map[string]any{"mediaType": cfgType, "digest": digest(cfg), "size": len(cfg)},
		"layers": descs})
	l.files[name(digest(man))] = man
	return map[string]any{"mediaType": mt, "digest": digest(man), "size": len(man),
		"platform": map[string]string{"os": "linux", "architecture": arch}}
}

func ociName(d string) string { return "blobs/sha256/" + hexOf(d) }
func dirName(d string) string { return hexOf(d) }

// podmanArchive is `podman save --format docker-archive` (and skopeo's
// docker-archive:): each layer once as <hex>.tar, <id>/layer.tar a symlink
// to it, the config <hex>.json, manifest.json naming the symlinks.
func podmanArchive(t testing.TB, l *layout, layers [][]byte, tags []string, arch string) {
	t.Helper()
	var diffIDs, paths []string
	for i, b := range layers {
		d := digest(b)
		diffIDs = append(diffIDs, d)
		l.files[hexOf(d)+".tar"] = b
		l.first = append(l.first, hexOf(d)+".tar")
		id := hexOf(digest([]byte(strings.Join(tags, ",") + string(rune('a'+i)))))
		l.links[id+"/layer.tar"] = "../" + hexOf(d) + ".tar"
		l.files[id+"/VERSION"] = []byte("1.0")
		l.files[id+"/json"] = []byte(`{}`)
		paths = append(paths, id+"/layer.tar")
	}
	cfg := mustJSON(t, map[string]any{"architecture": arch, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgName := hexOf(digest(cfg)) + ".json"
	l.files[cfgName] = cfg
	var ms []any
	if old, ok := l.files["manifest.json"]; ok {
		ms = decodeAny(t, old).([]any)
	}
	ms = append(ms, map[string]any{"Config": cfgName, "RepoTags": tags, "Layers": paths})
	l.files["manifest.json"] = mustJSON(t, ms)
	l.files["repositories"] = []byte(`{}`)
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ociLayout is an OCI layout of index entries.
func ociLayout(t testing.TB, l *layout, entries ...map[string]any) {
	t.Helper()
	l.files["oci-layout"] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	l.files["index.json"] = mustJSON(t, map[string]any{"schemaVersion": 2,
		"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
}

func named(desc map[string]any, names ...string) map[string]any {
	d := map[string]any{}
	for k, v := range desc {
		d[k] = v
	}
	ann := map[string]string{}
	if len(names) > 0 {
		ann["io.containerd.image.name"] = names[0]
	}
	if len(names) > 1 {
		ann["org.opencontainers.image.ref.name"] = names[1]
	}
	d["annotations"] = ann
	return d
}

func unplatformed(desc map[string]any) map[string]any {
	d := map[string]any{}
	for k, v := range desc {
		if k != "platform" {
			d[k] = v
		}
	}
	return d
}

// docker25 is `docker save` from Docker 25 on: an OCI layout whose blobs
// manifest.json also names, by path.
func docker25(t testing.TB, layers [][]byte, tag string) *layout {
	l := newLayout()
	desc := l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName, nil)
	ociLayout(t, l, named(unplatformed(desc), "docker.io/library/"+tag, strings.SplitN(tag, ":", 2)[1]))
	var cfg struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(l.files[ociName(desc["digest"].(string))], &cfg); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range cfg.Layers {
		paths = append(paths, ociName(d.Digest))
	}
	l.files["manifest.json"] = mustJSON(t, []any{map[string]any{"Config": ociName(cfg.Config.Digest),
		"RepoTags": []string{tag}, "Layers": paths}})
	l.files["repositories"] = []byte(`{}`)
	l.first = []string{"blobs/"}
	return l
}

// dirTransport is skopeo's dir: (and podman's docker-dir): manifest.json
// the manifest itself, blobs by hex digest, a version file.
func dirTransport(t testing.TB, layers [][]byte, comp []string, types []string) *layout {
	l := newLayout()
	desc := l.addImage(t, layers, comp, runtime.GOARCH, dirName, types)
	l.files["manifest.json"] = l.files[dirName(desc["digest"].(string))]
	delete(l.files, dirName(desc["digest"].(string)))
	l.files["version"] = []byte("Directory Transport Version: 1.1\n")
	l.first = []string{"./", "./version"}
	return l
}

// tarOf tars a layout: l.first, then the rest sorted, manifest.json last,
// with a directory entry before the first member below it. A name in
// l.first with a "./" prefix prefixes every name so.
func (l *layout) tarOf(t testing.TB) []byte {
	t.Helper()
	prefix := ""
	if len(l.first) > 0 && strings.HasPrefix(l.first[0], "./") {
		prefix = "./"
	}
	var names []string
	for p := range l.files {
		names = append(names, p)
	}
	for p := range l.links {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "manifest.json") != (names[j] == "manifest.json") {
			return names[j] == "manifest.json"
		}
		return names[i] < names[j]
	})
	var order []string
	seen := map[string]bool{}
	for _, p := range append(append([]string{}, l.first...), names...) {
		p = strings.TrimPrefix(p, "./")
		if !seen[p] {
			seen[p] = true
			order = append(order, p)
		}
	}
	var ents []tent
	dirs := map[string]bool{}
	for _, p := range order {
		if p == "" {
			ents = append(ents, tent{name: "./"})
			continue
		}
		if strings.HasSuffix(p, "/") {
			if !dirs[strings.TrimSuffix(p, "/")] {
				dirs[strings.TrimSuffix(p, "/")] = true
				ents = append(ents, tent{name: prefix + p})
			}
			continue
		}
		parts := strings.Split(path.Dir(p), "/")
		for i := range parts {
			if sub := strings.Join(parts[:i+1], "/"); sub != "." && !dirs[sub] {
				dirs[sub] = true
				ents = append(ents, tent{name: prefix + sub + "/"})
			}
		}
		if target, ok := l.links[p]; ok {
			ents = append(ents, tent{name: prefix + p, typ: tar.TypeSymlink, link: target})
		} else {
			ents = append(ents, tent{name: prefix + p, body: string(l.files[p])})
		}
	}
	return tarBytes(t, ents)
}

func (l *layout) writeDir(t testing.TB, dir string) string {
	t.Helper()
	writeFiles(t, dir, l.files)
	for p, target := range l.links {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The layouts the engines write, each as a directory, a tar file, a
// gzipped tar and a stream, all making the image of imageLayers.
func TestImportEngineLayouts(t *testing.T) {
	ctx := context.Background()
	layers, want := imageLayers(t)
	other := otherArch()
	layouts := []struct {
		name string
		make func() *layout
		opts ImportOptions
	}{
		{"podman docker-archive", func() *layout {
			l := newLayout()
			podmanArchive(t, l, layers, []string{"localhost/test:latest"}, runtime.GOARCH)
			return l
		}, ImportOptions{}},
		{"podman docker-archive of two images by ref", func() *layout {
			l := newLayout()
			podmanArchive(t, l, [][]byte{layers[0]}, []string{"localhost/base:1"}, runtime.GOARCH)
			podmanArchive(t, l, layers, []string{"localhost/test:latest", "localhost/test:2"}, runtime.GOARCH)
			return l
		}, ImportOptions{Ref: "test:2"}},
		{"docker 25 save", func() *layout { return docker25(t, layers, "test:latest") }, ImportOptions{}},
		{"docker 25 save by repository name", func() *layout { return docker25(t, layers, "test:latest") }, ImportOptions{Ref: "test"}},
		{"docker 25.0 save by digest (empty index)", func() *layout {
			l := docker25(t, layers, "test:latest")
			l.files["index.json"] = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}`)
			return l
		}, ImportOptions{}},
		{"skopeo dir (oci)", func() *layout { return dirTransport(t, layers, []string{"", "gzip"}, nil) }, ImportOptions{}},
		{"skopeo dir (v2s2)", func() *layout {
			return dirTransport(t, layers, []string{"gzip", "gzip"}, []string{"application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"})
		}, ImportOptions{}},
		{"skopeo dir --all (a list and instances)", func() *layout {
			l := newLayout()
			instance := func(d string) string { return hexOf(d) }
			mine := l.addImage(t, layers, []string{"zstd", "gzip"}, runtime.GOARCH, instance, nil)
			theirs := l.addImage(t, [][]byte{layers[0]}, []string{""}, other, instance, nil)
			for _, d := range []map[string]any{mine, theirs} {
				dg := d["digest"].(string)
				l.files[hexOf(dg)+".manifest.json"] = l.files[hexOf(dg)]
				delete(l.files, hexOf(dg))
			}
			l.files["manifest.json"] = mustJSON(t, map[string]any{"schemaVersion": 2,
				"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{theirs, mine}})
			l.files["version"] = []byte("Directory Transport Version: 1.1\n")
			return l
		}, ImportOptions{}},
		{"skopeo oci with two tags by ref", func() *layout {
			l := newLayout()
			a := l.addImage(t, [][]byte{layers[0]}, []string{"gzip"}, runtime.GOARCH, ociName, nil)
			b := l.addImage(t, layers, []string{"gzip", "zstd"}, runtime.GOARCH, ociName, nil)
			ociLayout(t, l, named(unplatformed(a), "", "base"), named(unplatformed(b), "", "v2"))
			l.files["index.json"] = bytes.ReplaceAll(l.files["index.json"], []byte(`"io.containerd.image.name":"",`), nil)
			return l
		}, ImportOptions{Ref: "v2"}},
		{"multi-platform index with an attestation and one platform saved", func() *layout {
			l := newLayout()
			mine := l.addImage(t, layers, []string{"gzip", "gzip"}, runtime.GOARCH, ociName, nil)
			absent := l.addImage(t, [][]byte{layers[0]}, []string{""}, other, ociName, nil)
			delete(l.files, ociName(absent["digest"].(string)))
			att := mustJSON(t, map[string]any{"schemaVersion": 2, "layers": []any{}})
			l.files[ociName(digest(att))] = att
			attDesc := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(att), "size": len(att),
				"platform":    map[string]string{"os": "unknown", "architecture": "unknown"},
				"annotations": map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}
			idx := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
				"manifests": []any{absent, mine, attDesc}})
			l.files[ociName(digest(idx))] = idx
			ociLayout(t, l, map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest(idx), "size": len(idx),
				"annotations": map[string]string{"io.containerd.image.name": "docker.io/library/test:latest"}})
			return l
		}, ImportOptions{Ref: "test:latest"}},
		{"foreign platform asked for", func() *layout {
			l := newLayout()
			mine := l.addImage(t, [][]byte{layers[0]}, []string{""}, runtime.GOARCH, ociName, nil)
			theirs := l.addImage(t, layers, []string{"", ""}, other, ociName, nil)
			ociLayout(t, l, mine, theirs)
			return l
		}, ImportOptions{Platform: "linux/" + other}},
	}
	forms := []struct {
		name string
		do   func(s *Store, name string, l *layout, opts ImportOptions) (Info, error)
	}{
		{"dir", func(s *Store, name string, l *layout, opts ImportOptions) (Info, error) {
			return s.Import(ctx, name, l.writeDir(t, filepath.Join(t.TempDir(), "image")), opts)
		}},
		{"tar", func(s *Store, name string, l *layout, opts ImportOptions) (Info, error) {
			return s.Import(ctx, name, writeFile(t, filepath.Join(t.TempDir(), "image.tar"), l.tarOf(t)), opts)
		}},
		{"tar.gz", func(s *Store, name string, l *layout, opts ImportOptions) (Info, error) {
			return s.Import(ctx, name, writeFile(t, filepath.Join(t.TempDir(), "image.tar.gz"), compress(t, "gzip", l.tarOf(t))), opts)
		}},
		{"stream", func(s *Store, name string, l *layout, opts ImportOptions) (Info, error) {
			return s.ImportReader(ctx, name, bytes.NewReader(l.tarOf(t)), opts)
		}},
	}
	for _, tc := range layouts {
		for _, f := range forms {
			t.Run(tc.name+"/"+f.name, func(t *testing.T) {
				s := newStore(t, Config{})
				info, err := f.do(s, "img", tc.make(), tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want, contents(exportTree(t, s, "img", false))); d != "" {
					t.Errorf("exported (-want +got):\n%s", d)
				}
				if info.Layers != 2 {
					t.Errorf("info = %+v, want 2 layers", info)
				}
			})
		}
	}
}

// What cannot be imported, or must be chosen: refused with an error that
// names what the source holds, leaving nothing in the store.
func TestImportImageRefusals(t *testing.T) {
	ctx := context.Background()
	layers, _ := imageLayers(t)
	other := otherArch()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.tar"), layers[0])
	for _, tc := range []struct {
		name  string
		make  func() *layout
		dir   bool // import as a directory (else a tar)
		opts  ImportOptions
		err   error
		msgs  []string
		plain bool // the source is a root tar, not an image
	}{
		{"two images in a docker-archive", func() *layout {
			l := newLayout()
			podmanArchive(t, l, [][]byte{layers[0]}, []string{"localhost/a:1"}, runtime.GOARCH)
			podmanArchive(t, l, layers, []string{"localhost/b:2"}, runtime.GOARCH)
			return l
		}, false, ImportOptions{}, ErrAmbiguous, []string{"2 images", "localhost/a:1", "localhost/b:2"}, false},
		{"no such tag in a docker-archive", func() *layout {
			l := newLayout()
			podmanArchive(t, l, layers, []string{"localhost/a:1"}, runtime.GOARCH)
			return l
		}, false, ImportOptions{Ref: "a:2"}, ErrNotFound, []string{"no image tagged a:2", "localhost/a:1"}, false},
		{"two tags in an OCI layout", func() *layout {
			l := newLayout()
			a := l.addImage(t, [][]byte{layers[0]}, []string{""}, runtime.GOARCH, ociName, nil)
			b := l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName, nil)
			ociLayout(t, l, named(unplatformed(a), "x/base:1"), named(unplatformed(b), "x/img:2"))
			return l
		}, false, ImportOptions{}, ErrAmbiguous, []string{"2 images in index.json", "x/base:1", "x/img:2"}, false},
		{"no image for this platform in an index", func() *layout {
			l := newLayout()
			a := l.addImage(t, layers, []string{"", ""}, other, ociName, nil)
			ociLayout(t, l, a)
			return l
		}, false, ImportOptions{}, ErrPlatform, []string{"no image for linux/" + runtime.GOARCH, "linux/" + other}, false},
		{"platform asked for absent", func() *layout {
			l := newLayout()
			ociLayout(t, l, l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName, nil))
			return l
		}, false, ImportOptions{Platform: "linux/" + other}, ErrPlatform, []string{"no image for linux/" + other, "linux/" + runtime.GOARCH}, false},
		{"only another platform's blobs saved", func() *layout {
			l := newLayout()
			a := l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName, nil)
			delete(l.files, ociName(a["digest"].(string)))
			ociLayout(t, l, a)
			return l
		}, false, ImportOptions{}, ErrFormat, []string{"holds none of them", "linux/" + runtime.GOARCH}, false},
		{"docker-archive for another architecture", func() *layout {
			l := newLayout()
			podmanArchive(t, l, layers, []string{"localhost/a:1"}, other)
			return l
		}, false, ImportOptions{}, ErrPlatform, []string{"the image is for linux/" + other + ", not linux/" + runtime.GOARCH}, false},
		{"dir layout of another architecture", func() *layout {
			l := newLayout()
			desc := l.addImage(t, layers, []string{"", ""}, other, dirName, nil)
			l.files["manifest.json"] = l.files[dirName(desc["digest"].(string))]
			return l
		}, true, ImportOptions{}, ErrPlatform, []string{"linux/" + other}, false},
		{"ref asked of a dir layout", func() *layout { return dirTransport(t, layers, []string{"", ""}, nil) },
			true, ImportOptions{Ref: "x"}, ErrNotFound, []string{"one unnamed image"}, false},
		{"schema 1 manifest", func() *layout {
			l := newLayout()
			l.files["manifest.json"] = []byte(`{"schemaVersion":1,"name":"x","fsLayers":[]}`)
			return l
		}, true, ImportOptions{}, ErrFormat, []string{"schema 1", "v2s2"}, false},
		{"encrypted layer", func() *layout {
			l := newLayout()
			ociLayout(t, l, l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName,
				[]string{"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"}))
			return l
		}, false, ImportOptions{}, ErrFormat, []string{"layer 2 has media type application/vnd.oci.image.layer.v1.tar+gzip+encrypted"}, false},
		{"pre-1.10 docker save", func() *layout {
			l := newLayout()
			id := hexOf(digest([]byte("x")))
			l.files[id+"/layer.tar"] = layers[0]
			l.files[id+"/json"] = []byte(`{}`)
			l.files["repositories"] = []byte(`{"x":{"latest":"` + id + `"}}`)
			l.first = []string{id + "/"}
			return l
		}, false, ImportOptions{}, ErrFormat, []string{"before Docker 1.10"}, false},
		// Hostile: a directory's member leads outside it.
		{"layer symlink out of the directory (absolute)", func() *layout {
			l := newLayout()
			podmanArchive(t, l, layers[:1], []string{"localhost/a:1"}, runtime.GOARCH)
			for p := range l.links {
				l.links[p] = filepath.Join(outside, "secret.tar")
			}
			return l
		}, true, ImportOptions{}, ErrUnsafeEntry, []string{"layer.tar", "outside the image directory"}, false},
		{"layer symlink out of the directory (relative)", func() *layout {
			l := newLayout()
			podmanArchive(t, l, layers[:1], []string{"localhost/a:1"}, runtime.GOARCH)
			for p := range l.links {
				l.links[p] = "../../" + filepath.Base(outside) + "/secret.tar"
			}
			return l
		}, true, ImportOptions{}, ErrUnsafeEntry, []string{"outside the image directory"}, false},
		{"config symlink out of the directory", func() *layout {
			l := docker25(t, layers[:1], "a:1")
			for p, b := range l.files {
				if bytes.Contains(b, []byte("diff_ids")) {
					writeFile(t, filepath.Join(outside, "config.json"), b)
					delete(l.files, p)
					l.links[p] = filepath.Join(outside, "config.json")
				}
			}
			return l
		}, true, ImportOptions{}, ErrUnsafeEntry, []string{"outside the image directory"}, false},
		{"platform asked of a root tar", func() *layout {
			l := newLayout()
			l.files["bin/sh"] = []byte("x")
			return l
		}, false, ImportOptions{Platform: "linux/" + runtime.GOARCH}, ErrFormat, []string{"not an image"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{})
			l := tc.make()
			var src string
			if tc.dir {
				src = l.writeDir(t, filepath.Join(t.TempDir(), "image"))
			} else {
				src = writeFile(t, filepath.Join(t.TempDir(), "image.tar"), l.tarOf(t))
			}
			_, err := s.Import(ctx, "img", src, tc.opts)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			assertEmptyStore(t, s)
		})
	}
}

// A layer that fails after others were made takes them with it.
func TestImportImageFailureRemovesLayers(t *testing.T) {
	ctx := context.Background()
	layers, _ := imageLayers(t)
	third := tarBytes(t, []tent{{name: "x", body: "3"}})
	l := newLayout()
	ociLayout(t, l, l.addImage(t, [][]byte{layers[0], layers[1], third}, []string{"", "", ""}, runtime.GOARCH, ociName, nil))
	l.files[ociName(digest(third))] = layers[0] // not what diff_ids says
	s := newStore(t, Config{})
	// A base another image brought stays.
	base := newLayout()
	ociLayout(t, base, base.addImage(t, [][]byte{layers[0], tarBytes(t, []tent{{name: "y", body: "y"}})}, []string{"", ""}, runtime.GOARCH, ociName, nil))
	if _, err := s.Import(ctx, "other", base.writeDir(t, filepath.Join(t.TempDir(), "base")), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Import(ctx, "img", l.writeDir(t, filepath.Join(t.TempDir(), "img")), ImportOptions{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "layer 3") {
		t.Fatalf("got %v, want the third layer's digest refused", err)
	}
	var names []string
	s.Walk(ctx, func(_ context.Context, i Info) error { names = append(names, i.Name); return nil })
	sort.Strings(names)
	if d := cmp.Diff([]string{"other", digest(layers[0])}, names); d != "" {
		t.Errorf("snapshots after the failed import (-want +got):\n%s", d)
	}
}

func TestRefMatches(t *testing.T) {
	for _, tc := range []struct {
		name, ref string
		want      bool
	}{
		{"docker.io/library/busybox:latest", "busybox", true},
		{"docker.io/library/busybox:latest", "busybox:latest", true},
		{"docker.io/library/busybox:latest", "library/busybox:latest", true},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", true},
		{"docker.io/library/busybox:latest", "latest", true},
		{"docker.io/library/busybox:1.36", "busybox", false},
		{"docker.io/library/busybox:1.36", "box:1.36", false},
		{"localhost/test:2", "test:2", true},
		{"localhost/test:2", "test:3", false},
		{"latest", "latest", true},
		{"v2", "latest", false},
		{"localhost:5000/busybox", "busybox", true},
		{"localhost:5000/busybox:latest", "busybox", true},
		{"x", "", false},
	} {
		if got := refMatches(tc.name, tc.ref); got != tc.want {
			t.Errorf("refMatches(%q, %q) = %v, want %v", tc.name, tc.ref, got, tc.want)
		}
	}
}

// The first entries of a tar decide whether it is an image or a root.
func TestPeekTar(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ents  []tent
		image bool
	}{
		{"root", []tent{{name: "./"}, {name: "./bin/"}, {name: "./bin/sh", body: "x"}}, false},
		{"root without ./", []tent{{name: "bin/"}, {name: "bin/sh", body: "x"}}, false},
		{"root with a version file", []tent{{name: "./"}, {name: "./version", body: "1"}, {name: "./etc/"}}, false},
		{"podman docker-archive", []tent{{name: strings.Repeat("ab", 32) + ".tar", body: "x"}}, true},
		{"older docker save", []tent{{name: strings.Repeat("0f", 32) + "/"}}, true},
		{"docker 25", []tent{{name: "blobs/"}, {name: "blobs/sha256/"}}, true},
		{"oci-archive", []tent{{name: "blobs/sha256/" + strings.Repeat("1", 64), body: "x"}}, true},
		{"tarred dir: layout", []tent{{name: "./"}, {name: "./version", body: "Directory Transport Version: 1.1\n"}, {name: "./" + strings.Repeat("c", 64), body: "x"}}, true},
		{"tarred OCI layout", []tent{{name: "./"}, {name: "./index.json", body: "{}"}}, true},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tarBytes(t, tc.ents)
			r, image, err := peekTar(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if image != tc.image {
				t.Errorf("image = %v, want %v", image, tc.image)
			}
			var got bytes.Buffer
			got.ReadFrom(r)
			if !bytes.Equal(got.Bytes(), b) {
				t.Errorf("replay differs from the input")
			}
		})
	}
}

// A shared layer removed while an import stands on it (a concurrent
// import's cleanup, GC's PruneLayers) is made again, not a failed import.
func TestImportSharedLayerGone(t *testing.T) {
	ctx := context.Background()
	layers, want := imageLayers(t)
	s := newStore(t, Config{})
	first := newLayout()
	ociLayout(t, first, first.addImage(t, [][]byte{layers[0], tarBytes(t, []tent{{name: "y", body: "y"}})}, []string{"", ""}, runtime.GOARCH, ociName, nil))
	if _, err := s.Import(ctx, "first", first.writeDir(t, filepath.Join(t.TempDir(), "first")), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	removed := false
	testHook = func(p string) {
		if p == "import:built" && !removed {
			removed = true
			if err := s.Remove(ctx, digest(layers[0])); err != nil {
				t.Errorf("removing the shared layer: %v", err)
			}
		}
	}
	defer func() { testHook = nil }()
	l := newLayout()
	ociLayout(t, l, l.addImage(t, layers, []string{"", ""}, runtime.GOARCH, ociName, nil))
	if _, err := s.Import(ctx, "img", l.writeDir(t, filepath.Join(t.TempDir(), "img")), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if !removed {
		t.Fatal("the hook never ran")
	}
	if d := cmp.Diff(want, contents(exportTree(t, s, "img", false))); d != "" {
		t.Errorf("exported (-want +got):\n%s", d)
	}
}
