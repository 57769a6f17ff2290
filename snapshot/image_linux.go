package snapshot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// blobs opens files of an image by their path inside it ("index.json",
// "blobs/sha256/<hex>").
type blobs interface {
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
}

// dirBlobs is an image laid out in a directory.
type dirBlobs string

func (d dirBlobs) open(name string) (io.ReadCloser, int64, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrFormat, name)
	}
	return f, st.Size(), nil
}

func (d dirBlobs) has(name string) bool {
	_, err := os.Stat(filepath.Join(string(d), filepath.FromSlash(name)))
	return err == nil
}

// tarBlobs is an image tarball read in place: an index of where each
// member's data lies, so blobs are sections of the file, not copies.
type tarBlobs struct {
	f     *os.File
	files map[string][2]int64 // name -> offset, size
	links map[string]string   // name -> target name (symlinks and hard links between members)
}

func indexTar(f *os.File) (*tarBlobs, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	t := &tarBlobs{f: f, files: map[string][2]int64{}, links: map[string]string{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading image tarball: %w", ErrFormat, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			t.files[name] = [2]int64{off, h.Size}
		case tar.TypeSymlink:
			// docker save links duplicate layers: <id>/layer.tar -> ../<id2>/layer.tar
			t.links[name] = path.Join(path.Dir(name), h.Linkname)
		case tar.TypeLink:
			t.links[name] = path.Clean(strings.TrimPrefix(h.Linkname, "/"))
		}
	}
	return t, nil
}

func (t *tarBlobs) resolve(name string) (string, bool) {
	for i := 0; i < 8; i++ {
		if _, ok := t.files[name]; ok {
			return name, true
		}
		next, ok := t.links[name]
		if !ok {
			return "", false
		}
		name = next
	}
	return "", false
}

func (t *tarBlobs) open(name string) (io.ReadCloser, int64, error) {
	n, ok := t.resolve(name)
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s not in image tarball", ErrFormat, name)
	}
	s := t.files[n]
	return io.NopCloser(io.NewSectionReader(t.f, s[0], s[1])), s[1], nil
}

func (t *tarBlobs) has(name string) bool { _, ok := t.resolve(name); return ok }

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant,omitempty"`
	} `json:"platform,omitempty"`
}

type ociIndex struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

type ociManifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"` // set when this "manifest" is an index
}

type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

type imageConfig struct {
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// layerRef is one layer to apply: its blob, and the digest of its
// uncompressed tar (the diff ID) to check it against.
type layerRef struct {
	blob   string
	size   int64
	diffID string
}

// digestRE is compiled on first use, not at the start of every process
// that links the store (the sandbox's init stage among them).
var digestRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
})

// blobPath maps a digest to its file, refusing digests that would make a
// path elsewhere ("sha256:../../etc/passwd").
func blobPath(digest string) (string, error) {
	if !digestRE().MatchString(digest) {
		return "", fmt.Errorf("%w: malformed digest %q", ErrFormat, shorten(digest))
	}
	alg, enc, _ := strings.Cut(digest, ":")
	return "blobs/" + alg + "/" + enc, nil
}

const maxJSON = 8 << 20

func readJSON(b blobs, name string, v any) error {
	rc, _, err := b.open(name)
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrFormat, name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxJSON {
		return fmt.Errorf("%w: %s larger than %d bytes", ErrFormat, name, maxJSON)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrFormat, name, err)
	}
	return nil
}

func readBlobJSON(b blobs, digest string, v any) error {
	p, err := blobPath(digest)
	if err != nil {
		return err
	}
	return readJSON(b, p, v)
}

func isIndex(mediaType string) bool {
	return mediaType == "application/vnd.oci.image.index.v1+json" ||
		mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func wantPlatform(opts ImportOptions) (goos, arch, variant string) {
	goos, arch = "linux", runtime.GOARCH
	if opts.Platform != "" {
		parts := strings.Split(opts.Platform, "/")
		goos = parts[0]
		if len(parts) > 1 {
			arch = parts[1]
		}
		if len(parts) > 2 {
			variant = parts[2]
		}
	}
	return goos, arch, variant
}

func refNames(d descriptor) []string {
	var n []string
	for _, k := range []string{"org.opencontainers.image.ref.name", "io.containerd.image.name"} {
		if v := d.Annotations[k]; v != "" {
			n = append(n, v)
		}
	}
	return n
}

// resolveImage finds the layers of the one image the source holds (or
// opts.Ref names).
func resolveImage(b blobs, opts ImportOptions) ([]layerRef, error) {
	if b.has("index.json") {
		var idx ociIndex
		if err := readJSON(b, "index.json", &idx); err != nil {
			return nil, err
		}
		cands := idx.Manifests
		if opts.Ref != "" {
			cands = nil
			for _, d := range idx.Manifests {
				for _, n := range refNames(d) {
					if n == opts.Ref || strings.HasSuffix(n, ":"+opts.Ref) {
						cands = append(cands, d)
						break
					}
				}
			}
			if len(cands) == 0 {
				return nil, fmt.Errorf("%w: no image named %s in index.json", ErrNotFound, opts.Ref)
			}
		}
		m, err := pickManifest(b, cands, opts, 0)
		if err != nil {
			return nil, err
		}
		var cfg imageConfig
		if err := readBlobJSON(b, m.Config.Digest, &cfg); err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("%w: config lists %d diff_ids for %d layers", ErrFormat, len(cfg.RootFS.DiffIDs), len(m.Layers))
		}
		var refs []layerRef
		for i, l := range m.Layers {
			p, err := blobPath(l.Digest)
			if err != nil {
				return nil, err
			}
			refs = append(refs, layerRef{blob: p, size: l.Size, diffID: cfg.RootFS.DiffIDs[i]})
		}
		return refs, nil
	}
	if b.has("manifest.json") {
		var ms []dockerManifest
		if err := readJSON(b, "manifest.json", &ms); err != nil {
			return nil, err
		}
		if opts.Ref != "" {
			var keep []dockerManifest
			for _, m := range ms {
				for _, t := range m.RepoTags {
					if t == opts.Ref || strings.HasSuffix(t, "/"+opts.Ref) {
						keep = append(keep, m)
						break
					}
				}
			}
			ms = keep
		}
		if len(ms) != 1 {
			var tags []string
			for _, m := range ms {
				tags = append(tags, m.RepoTags...)
			}
			return nil, fmt.Errorf("%w: manifest.json holds %d images %v; choose one with a ref", ErrFormat, len(ms), tags)
		}
		m := ms[0]
		cfgPath, err := memberPath(m.Config)
		if err != nil {
			return nil, err
		}
		var cfg imageConfig
		if err := readJSON(b, cfgPath, &cfg); err != nil {
			return nil, err
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("%w: config lists %d diff_ids for %d layers", ErrFormat, len(cfg.RootFS.DiffIDs), len(m.Layers))
		}
		var refs []layerRef
		for i, l := range m.Layers {
			p, err := memberPath(l)
			if err != nil {
				return nil, err
			}
			refs = append(refs, layerRef{blob: p, diffID: cfg.RootFS.DiffIDs[i]})
		}
		return refs, nil
	}
	return nil, fmt.Errorf("%w: no index.json or manifest.json", ErrFormat)
}

// memberPath checks a path that manifest.json names inside the tarball.
func memberPath(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || path.IsAbs(p) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: manifest.json names %q outside the image", ErrFormat, shorten(p))
	}
	return c, nil
}

func pickManifest(b blobs, cands []descriptor, opts ImportOptions, depth int) (*ociManifest, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%w: indexes nested too deep", ErrFormat)
	}
	wantOS, wantArch, wantVariant := wantPlatform(opts)
	var match []descriptor
	for _, d := range cands {
		if p := d.Platform; p != nil {
			if p.OS != wantOS || p.Architecture != wantArch || (wantVariant != "" && p.Variant != wantVariant) {
				continue
			}
		}
		if strings.Contains(d.MediaType, "attestation") || d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		match = append(match, d)
	}
	if len(match) == 0 {
		return nil, fmt.Errorf("%w: no image for %s/%s", ErrNotFound, wantOS, wantArch)
	}
	if len(match) > 1 {
		var names []string
		for _, d := range match {
			names = append(names, strings.Join(refNames(d), ","))
		}
		return nil, fmt.Errorf("%w: %d images match (%s); choose one with a ref", ErrFormat, len(match), strings.Join(names, "; "))
	}
	var m ociManifest
	if err := readBlobJSON(b, match[0].Digest, &m); err != nil {
		return nil, err
	}
	if isIndex(match[0].MediaType) || isIndex(m.MediaType) || (len(m.Manifests) > 0 && len(m.Layers) == 0) {
		return pickManifest(b, m.Manifests, ImportOptions{Platform: opts.Platform}, depth+1)
	}
	return &m, nil
}

// chainID is the OCI chain ID of a layer stack: the identity of the
// filesystem the layers make, whatever image they came from.
func chainID(parent, diffID string) string {
	if parent == "" {
		return diffID
	}
	h := sha256.Sum256([]byte(parent + " " + diffID))
	return "sha256:" + hex.EncodeToString(h[:])
}

func (s *Store) importImage(ctx context.Context, name string, b blobs, opts ImportOptions) (Info, error) {
	refs, err := resolveImage(b, opts)
	if err != nil {
		return Info{}, err
	}
	var total int64
	for _, r := range refs {
		total += r.size
	}
	var done int64
	parent, chain := "", ""
	for i, ref := range refs {
		if err := ctx.Err(); err != nil {
			return Info{}, err
		}
		if !digestRE().MatchString(ref.diffID) || !strings.HasPrefix(ref.diffID, "sha256:") {
			return Info{}, fmt.Errorf("%w: layer %d: diff_id %q is not a sha256 digest", ErrFormat, i+1, shorten(ref.diffID))
		}
		chain = chainID(chain, ref.diffID)
		last := i == len(refs)-1
		layerName := chain
		labels := map[string]string{LabelLayer: ref.diffID}
		if last {
			layerName, labels = name, opts.Labels
		} else if r, err := s.readRecord(chain); err == nil && r.Kind == KindCommitted {
			parent = chain // already imported, with an image sharing this base
			continue
		}
		info, err := s.importLayer(ctx, layerName, parent, ref, b, labels, opts, i+1, len(refs), done, total)
		if errors.Is(err, ErrExists) && !last {
			// Another import made the same layer meanwhile.
			parent = chain
			continue
		}
		if err != nil {
			return Info{}, fmt.Errorf("layer %d (%s): %w", i+1, ref.blob, err)
		}
		done += ref.size
		parent = info.Name
		if last {
			return info, nil
		}
	}
	// An image without layers: an empty root.
	bld, err := s.newBuild()
	if err != nil {
		return Info{}, err
	}
	defer bld.discard()
	return s.commitBuild(ctx, bld, name, "", opts.Labels)
}

func (s *Store) importLayer(ctx context.Context, name, parent string, ref layerRef, b blobs, labels map[string]string,
	opts ImportOptions, layer, layers int, done, total int64) (Info, error) {
	lowers, err := s.parentLowers(parent)
	if err != nil {
		return Info{}, err
	}
	rc, size, err := b.open(ref.blob)
	if err != nil {
		return Info{}, err
	}
	defer rc.Close()
	if total == 0 {
		total = size
	}
	cr := &countingReader{r: rc, n: done}
	dec, closeDec, _, err := decompress(cr)
	if err != nil {
		return Info{}, err
	}
	defer closeDec()
	h := sha256.New()
	hashed := io.TeeReader(dec, h)

	bld, err := s.newBuild()
	if err != nil {
		return Info{}, err
	}
	defer bld.discard()
	a, err := newApplier(bld.fs(), lowers)
	if err != nil {
		return Info{}, err
	}
	a.devices, a.warn = opts.Devices, opts.Warn
	progress(a, opts, cr, total, layer, layers)
	if err := applyTar(ctx, a, hashed, opts.Warn); err != nil {
		a.close()
		return Info{}, err
	}
	if err := a.finish(); err != nil {
		return Info{}, err
	}
	if err := checkDiffID(hashed, h, ref.diffID); err != nil {
		return Info{}, err
	}
	hook("import:built")
	return s.commitBuild(ctx, bld, name, parent, labels)
}

// checkDiffID reads the rest of the layer (tar padding) and compares the
// digest of the whole uncompressed stream with the config's diff_id.
func checkDiffID(r io.Reader, h hash.Hash, want string) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("%w: layer digest %s does not match diff_id %s", ErrFormat, got, want)
	}
	return nil
}
