package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// The image layouts the engines write, and how each names its parts:
//
//	OCI layout (podman save --format oci-archive|oci-dir, skopeo oci: and
//	oci-archive:, docker save from Docker 25 on, which adds a manifest.json
//	beside index.json): index.json -> manifest (or index) ->
//	config + layers, all at blobs/<alg>/<hex>.
//	docker-archive (docker save before 25, podman save --format
//	docker-archive, skopeo docker-archive:): manifest.json is an array of
//	{Config, RepoTags, Layers}, members named by path; podman and skopeo
//	write each layer once as <hex>.tar and <id>/layer.tar as a symlink to it.
//	dir: (skopeo copy ... dir:, podman save --format docker-dir):
//	manifest.json is one image manifest (OCI or Docker schema 2, or a list
//	whose instances are <hex>.manifest.json), blobs at <hex>.
//
// Whatever the layout, an image comes out as its config's diff_ids and the
// blob of each layer; every digest and member path is checked before it
// names a file.

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

func (p platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

// ociManifest is an image manifest or an index: OCI's, or Docker's schema 2
// and manifest list, which have the same shape.
type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"` // set when this "manifest" is an index
}

func (m *ociManifest) isIndex(mediaType string) bool {
	return isIndex(mediaType) || isIndex(m.MediaType) || (len(m.Manifests) > 0 && len(m.Layers) == 0)
}

type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

type imageConfig struct {
	platform
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

// blobNamer maps a digest to the member holding that blob.
type blobNamer func(digest string) (string, error)

// ociBlob is an OCI layout's name for a blob, refusing digests that would
// make a path elsewhere ("sha256:../../etc/passwd").
func ociBlob(digest string) (string, error) {
	if !digestRE().MatchString(digest) {
		return "", fmt.Errorf("%w: malformed digest %q", ErrFormat, shorten(digest))
	}
	alg, enc, _ := strings.Cut(digest, ":")
	return "blobs/" + alg + "/" + enc, nil
}

// dirBlob is the dir: transport's name for a blob: its hex digest alone.
func dirBlob(digest string) (string, error) {
	if !digestRE().MatchString(digest) {
		return "", fmt.Errorf("%w: malformed digest %q", ErrFormat, shorten(digest))
	}
	alg, enc, _ := strings.Cut(digest, ":")
	if alg != "sha256" {
		return "", fmt.Errorf("%w: digest %q: a dir: layout names sha256 blobs only", ErrFormat, shorten(digest))
	}
	return enc, nil
}

const maxJSON = 8 << 20

func readRaw(b blobs, name string) ([]byte, error) {
	rc, _, err := b.open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrFormat, name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%w: %s larger than %d bytes", ErrFormat, name, maxJSON)
	}
	return data, nil
}

func readJSON(b blobs, name string, v any) error {
	data, err := readRaw(b, name)
	if err != nil {
		return err
	}
	return decodeJSON(name, data, v)
}

func decodeJSON(name string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decoding %s: %w", ErrFormat, name, err)
	}
	return nil
}

func readBlobJSON(b blobs, blob blobNamer, digest string, v any) error {
	p, err := blob(digest)
	if err != nil {
		return err
	}
	return readJSON(b, p, v)
}

func isIndex(mediaType string) bool {
	return mediaType == "application/vnd.oci.image.index.v1+json" ||
		mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// layerTypes are the media types of tar layers (compression is read from
// the blob itself); anything else, an encrypted layer say, is refused.
var layerTypes = []string{
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.diff.tar.zstd",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
}

// wantPlatform is the platform an import asks for: opts.Platform, or linux
// and the running architecture.
func wantPlatform(opts ImportOptions) platform {
	p := platform{OS: "linux", Architecture: runtime.GOARCH}
	if opts.Platform != "" {
		parts := strings.Split(opts.Platform, "/")
		p.OS = parts[0]
		if len(parts) > 1 {
			p.Architecture = parts[1]
		}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
	}
	return p
}

// matches: an image of platform have runs where want is asked for. An
// unnamed OS or architecture matches (engines leave them out of an index
// of one image); a variant counts only when both name one.
func (want platform) matches(have platform) bool {
	return (have.OS == "" || have.OS == want.OS) &&
		(have.Architecture == "" || have.Architecture == want.Architecture) &&
		(want.Variant == "" || have.Variant == "" || have.Variant == want.Variant)
}

func refNames(d descriptor) []string {
	var n []string
	for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if v := d.Annotations[k]; v != "" && !slices.Contains(n, v) {
			n = append(n, v)
		}
	}
	return n
}

// refMatches: name (an annotation or a RepoTag: "latest",
// "docker.io/library/busybox:1.36") is what ref asks for: the same,
// the same below a registry or namespace ("busybox:1.36"), the same tag
// ("1.36"), or the same repository at latest ("busybox").
func refMatches(name, ref string) bool {
	if ref == "" {
		return false
	}
	same := func(ref string) bool { return name == ref || strings.HasSuffix(name, "/"+ref) }
	if same(ref) {
		return true
	}
	tag := ""
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		tag = name[i+1:]
	}
	if tag != "" && tag == ref {
		return true
	}
	if i := strings.LastIndexByte(ref, ':'); i <= strings.LastIndexByte(ref, '/') && !strings.Contains(ref, "@") {
		return same(ref + ":latest")
	}
	return false
}

// resolveImage finds the layers of the one image the source holds (or
// opts.Ref names), for the platform opts asks for.
func resolveImage(b blobs, opts ImportOptions) ([]layerRef, error) {
	var manifest []byte
	archive := false
	if b.has("manifest.json") {
		var err error
		if manifest, err = readRaw(b, "manifest.json"); err != nil {
			return nil, err
		}
		t := bytes.TrimLeft(manifest, " \t\r\n")
		archive = len(t) > 0 && t[0] == '['
	}
	if b.has("index.json") {
		refs, err := resolveIndex(b, opts)
		if err != nil && archive {
			// Docker 25's manifest.json beside index.json says the same,
			// and says it right where 25.0 wrote an empty index (an image
			// saved by digest) or a manifest without layers.
			if refs, aerr := resolveDockerArchive(b, manifest, opts); aerr == nil {
				return refs, nil
			}
		}
		return refs, err
	}
	if manifest != nil {
		if archive {
			return resolveDockerArchive(b, manifest, opts)
		}
		return resolveDirTransport(b, manifest, opts)
	}
	if b.has("repositories") {
		return nil, fmt.Errorf("%w: a docker save from before Docker 1.10 (a repositories file, no manifest.json): save it again with a newer engine", ErrFormat)
	}
	return nil, fmt.Errorf("%w: no index.json or manifest.json", ErrFormat)
}

func resolveIndex(b blobs, opts ImportOptions) ([]layerRef, error) {
	var idx ociManifest
	if err := readJSON(b, "index.json", &idx); err != nil {
		return nil, err
	}
	cands := idx.Manifests
	if opts.Ref != "" {
		cands = nil
		var names []string
		for _, d := range idx.Manifests {
			n := refNames(d)
			names = append(names, n...)
			if slices.ContainsFunc(n, func(n string) bool { return refMatches(n, opts.Ref) }) {
				cands = append(cands, d)
			}
		}
		if len(cands) == 0 {
			return nil, fmt.Errorf("%w: no image named %s in index.json (it names %s)", ErrNotFound, opts.Ref, listOrNone(names))
		}
	}
	m, err := pickManifest(b, ociBlob, "index.json", cands, opts, 0)
	if err != nil {
		return nil, err
	}
	return manifestLayers(b, ociBlob, m, opts)
}

func resolveDirTransport(b blobs, data []byte, opts ImportOptions) ([]layerRef, error) {
	var m ociManifest
	if err := decodeJSON("manifest.json", data, &m); err != nil {
		return nil, err
	}
	if m.SchemaVersion == 1 {
		return nil, fmt.Errorf("%w: manifest.json is a Docker schema 1 manifest: copy the image again with skopeo --format v2s2 or oci", ErrFormat)
	}
	if opts.Ref != "" {
		return nil, fmt.Errorf("%w: no image named %s: a dir: layout holds one unnamed image", ErrNotFound, opts.Ref)
	}
	if m.isIndex("") {
		// skopeo copy --all: the list, and each instance as <hex>.manifest.json.
		instance := func(digest string) (string, error) {
			hex, err := dirBlob(digest)
			return hex + ".manifest.json", err
		}
		mm, err := pickManifest(b, instance, "manifest.json", m.Manifests, opts, 1)
		if err != nil {
			return nil, err
		}
		m = *mm
	}
	return manifestLayers(b, dirBlob, &m, opts)
}

func resolveDockerArchive(b blobs, data []byte, opts ImportOptions) ([]layerRef, error) {
	var ms []dockerManifest
	if err := decodeJSON("manifest.json", data, &ms); err != nil {
		return nil, err
	}
	var tags []string
	for _, m := range ms {
		tags = append(tags, m.RepoTags...)
	}
	if opts.Ref != "" {
		var keep []dockerManifest
		for _, m := range ms {
			if slices.ContainsFunc(m.RepoTags, func(t string) bool { return refMatches(t, opts.Ref) }) {
				keep = append(keep, m)
			}
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("%w: no image tagged %s in manifest.json (it holds %s)", ErrNotFound, opts.Ref, listOrNone(tags))
		}
		ms = keep
	}
	switch {
	case len(ms) == 0:
		return nil, fmt.Errorf("%w: manifest.json lists no image", ErrFormat)
	case len(ms) > 1:
		var names []string
		for i, m := range ms {
			n := fmt.Sprintf("image %d (untagged)", i+1)
			if len(m.RepoTags) > 0 {
				n = strings.Join(m.RepoTags, ", ")
			}
			names = append(names, n)
		}
		return nil, fmt.Errorf("%w: manifest.json holds %d images: %s", ErrAmbiguous, len(ms), strings.Join(names, "; "))
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
	if err := checkConfig(cfg, len(m.Layers), opts); err != nil {
		return nil, err
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

// manifestLayers reads an image manifest's config and lists its layers.
func manifestLayers(b blobs, blob blobNamer, m *ociManifest, opts ImportOptions) ([]layerRef, error) {
	if m.Config.Digest == "" {
		return nil, fmt.Errorf("%w: the image manifest names no config", ErrFormat)
	}
	var cfg imageConfig
	if err := readBlobJSON(b, blob, m.Config.Digest, &cfg); err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, len(m.Layers), opts); err != nil {
		return nil, err
	}
	var refs []layerRef
	for i, l := range m.Layers {
		if l.MediaType != "" && !slices.Contains(layerTypes, l.MediaType) {
			return nil, fmt.Errorf("%w: layer %d has media type %s, not a tar layer (plain, gzip or zstd)", ErrFormat, i+1, l.MediaType)
		}
		p, err := blob(l.Digest)
		if err != nil {
			return nil, err
		}
		refs = append(refs, layerRef{blob: p, size: l.Size, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return refs, nil
}

// checkConfig: the config lists one diff_id per layer, and is for the
// platform asked for (an amd64 root on arm64 would fail at its first exec,
// far from the cause).
func checkConfig(cfg imageConfig, layers int, opts ImportOptions) error {
	if len(cfg.RootFS.DiffIDs) != layers {
		return fmt.Errorf("%w: config lists %d diff_ids for %d layers", ErrFormat, len(cfg.RootFS.DiffIDs), layers)
	}
	want := wantPlatform(opts)
	if !want.matches(cfg.platform) {
		return fmt.Errorf("%w: the image is for %s, not %s", ErrPlatform, cfg.platform, want)
	}
	return nil
}

// memberPath checks a path that manifest.json names inside the tarball.
func memberPath(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || path.IsAbs(p) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: manifest.json names %q outside the image", ErrFormat, shorten(p))
	}
	return c, nil
}

// pickManifest chooses, among an index's entries, the one image for the
// platform asked for, descending into nested indexes. Entries whose blob
// the source lacks (the other platforms of a multi-platform image saved
// for one) and attestations are not choices.
func pickManifest(b blobs, blob blobNamer, where string, cands []descriptor, opts ImportOptions, depth int) (*ociManifest, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%w: indexes nested too deep", ErrFormat)
	}
	want := wantPlatform(opts)
	var match, absent []descriptor
	var others []string
	seen := map[string]bool{}
	for _, d := range cands {
		if seen[d.Digest] {
			continue // one image under two tags
		}
		seen[d.Digest] = true
		if strings.Contains(d.MediaType, "attestation") || d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
			(d.Platform != nil && d.Platform.OS == "unknown") {
			continue
		}
		p, err := blob(d.Digest)
		if err != nil {
			return nil, err
		}
		if !b.has(p) {
			absent = append(absent, d)
			continue
		}
		if d.Platform != nil && !want.matches(*d.Platform) {
			others = append(others, describe(d))
			continue
		}
		match = append(match, d)
	}
	switch {
	case len(match) == 0 && len(others) == 0 && len(absent) > 0:
		return nil, fmt.Errorf("%w: %s lists %s, but the source holds none of them", ErrFormat, where, describeAll(absent))
	case len(match) == 0:
		return nil, fmt.Errorf("%w: no image for %s in %s (it holds %s)", ErrPlatform, want, where, listOrNone(others))
	case len(match) > 1:
		return nil, fmt.Errorf("%w: %d images in %s are for %s: %s", ErrAmbiguous, len(match), where, want, describeAll(match))
	}
	var m ociManifest
	if err := readBlobJSON(b, blob, match[0].Digest, &m); err != nil {
		return nil, err
	}
	if m.isIndex(match[0].MediaType) {
		return pickManifest(b, blob, match[0].Digest, m.Manifests, ImportOptions{Platform: opts.Platform}, depth+1)
	}
	return &m, nil
}

// describe names an index entry for a user choosing: its names, platform
// and short digest.
func describe(d descriptor) string {
	var parts []string
	if n := refNames(d); len(n) > 0 {
		parts = append(parts, strings.Join(n, ", "))
	}
	if d.Platform != nil {
		parts = append(parts, d.Platform.String())
	}
	dg := d.Digest
	if _, enc, ok := strings.Cut(dg, ":"); ok && len(enc) > 12 {
		dg = dg[:len(dg)-len(enc)+12]
	}
	parts = append(parts, dg)
	return strings.Join(parts, " ")
}

func describeAll(ds []descriptor) string {
	var s []string
	for _, d := range ds {
		s = append(s, describe(d))
	}
	return strings.Join(s, "; ")
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}
