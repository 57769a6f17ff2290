package snapshot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// blobs opens files of an image by their path inside it ("index.json",
// "blobs/sha256/<hex>").
type blobs interface {
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
}

// dirBlobs is an image laid out in a directory. Its members are opened
// below it: a symlink may lead from one member to another (a docker-archive
// unpacked, whose <id>/layer.tar links to ../<hex>.tar), never out.
type dirBlobs string

func (d dirBlobs) open(name string) (io.ReadCloser, int64, error) {
	f, err := openBeneath(string(d), name)
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
	f, err := openBeneath(string(d), name)
	if err == nil {
		f.Close()
	}
	return err == nil
}

// openBeneath opens dir/name for reading, refusing any resolution that
// leaves dir (through "..", an absolute symlink or one that climbs out).
// O_NONBLOCK: a FIFO planted as a blob must not hang the import.
func openBeneath(dir, name string) (*os.File, error) {
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	if !noOpenat2.Load() {
		dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer unix.Close(dfd)
		fd, err := unix.Openat2(dfd, name, &unix.OpenHow{Flags: flags,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV})
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), filepath.Join(dir, name)), nil
		case errors.Is(err, unix.EXDEV):
			return nil, unsafeEntry(name, "resolves outside the image directory")
		case !errors.Is(err, unix.ENOSYS):
			return nil, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
		}
		noOpenat2.Store(true)
	}
	// Before Linux 5.6: resolve, then check where it led (racy against a
	// source changing under the import, which a user's own image is not).
	real, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(dir, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, unsafeEntry(name, "resolves outside the image directory")
	}
	fd, err := unix.Open(real, flags|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: real, Err: err}
	}
	return os.NewFile(uintptr(fd), real), nil
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

// chainID is the OCI chain ID of a layer stack: the identity of the
// filesystem the layers make, whatever image they came from.
func chainID(parent, diffID string) string {
	if parent == "" {
		return diffID
	}
	h := sha256.Sum256([]byte(parent + " " + diffID))
	return "sha256:" + hex.EncodeToString(h[:])
}

// errLayerGone: a shared layer an import found and stacked on was removed
// before the import's layer above it was recorded (by a concurrent failed
// import, or GC's PruneLayers).
var errLayerGone = errors.New("a shared layer went during the import")

func (s *Store) importImage(ctx context.Context, name string, b blobs, opts ImportOptions) (Info, error) {
	refs, err := resolveImage(b, opts)
	if err != nil {
		return Info{}, err
	}
	for i, r := range refs {
		if !digestRE().MatchString(r.diffID) || !strings.HasPrefix(r.diffID, "sha256:") {
			return Info{}, fmt.Errorf("%w: layer %d: diff_id %q is not a sha256 digest", ErrFormat, i+1, shorten(r.diffID))
		}
	}
	info, err := s.importChain(ctx, name, refs, b, opts)
	if errors.Is(err, errLayerGone) {
		// Once more: this time the import makes that layer itself.
		info, err = s.importChain(ctx, name, refs, b, opts)
	}
	return info, err
}

// importChain applies refs bottom up, reusing the layers the store has.
func (s *Store) importChain(ctx context.Context, name string, refs []layerRef, b blobs, opts ImportOptions) (info Info, err error) {
	var total int64
	for _, r := range refs {
		total += r.size
	}
	// The layers this import made go again if a later one fails: a failed
	// import leaves the store as it found it. One another import has
	// stacked on meanwhile stays (Remove refuses).
	var made []string
	defer func() {
		if err == nil {
			return
		}
		for i := len(made) - 1; i >= 0; i-- {
			s.Remove(context.WithoutCancel(ctx), made[i])
		}
	}()
	var done int64
	parent, chain := "", ""
	for i, ref := range refs {
		if err := ctx.Err(); err != nil {
			return Info{}, err
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
		if errors.Is(err, ErrNotFound) && parent != "" {
			return Info{}, fmt.Errorf("layer %d (%s): %w: %w", i+1, ref.blob, errLayerGone, err)
		}
		if err != nil {
			return Info{}, fmt.Errorf("layer %d (%s): %w", i+1, ref.blob, err)
		}
		done += ref.size
		parent = info.Name
		if last {
			return info, nil
		}
		made = append(made, info.Name)
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
