package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// build is a layer under construction in <root>/tmp. Its directory is
// flock'd for as long as the builder lives; GC removes builds whose lock is
// free, i.e. whose builder died.
type build struct {
	dir  string
	lock *os.File
	done bool
}

func (s *Store) newBuild() (*build, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.root, dirTmp), "build-")
	if err != nil {
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	f, err := os.Open(dir)
	if err == nil {
		if err = unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
		}
	}
	if err == nil {
		if err = os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	return &build{dir: dir, lock: f}, nil
}

func (b *build) fs() string { return filepath.Join(b.dir, "fs") }

// moved: the build now lives in the store under its record.
func (b *build) moved() {
	b.done = true
	b.lock.Close()
}

func (b *build) discard() {
	if b.done {
		return
	}
	b.done = true
	os.RemoveAll(b.dir)
	b.lock.Close()
}

// Import creates the committed snapshot name from source: a directory
// holding a root tree, a tar of one (plain, gzip or zstd), or an image as
// the engines write it, a directory or a tar (plain, gzip or zstd): an OCI
// image layout, a docker-archive (docker, podman or skopeo), a dir: layout
// (skopeo, podman's docker-dir); see resolve_linux.go. An image's
// layers become a chain: every layer but the top one is a committed
// snapshot named by its chain ID (and labelled LabelLayer), shared by
// later imports of images with the same base; the top layer is name.
func (s *Store) Import(ctx context.Context, name, source string, opts ImportOptions) (Info, error) {
	info, err := s.importSource(ctx, name, source, opts)
	if err != nil {
		return Info{}, fmt.Errorf("importing %s from %s: %w", name, source, err)
	}
	return info, nil
}

// ImportReader is Import from a stream: a tar (plain, gzip or zstd), or an
// OCI or docker image tarball, which is first spooled into the store.
func (s *Store) ImportReader(ctx context.Context, name string, r io.Reader, opts ImportOptions) (Info, error) {
	if err := s.checkNew(name, opts.Parent); err != nil {
		return Info{}, fmt.Errorf("importing %s: %w", name, err)
	}
	info, err := s.importStream(ctx, name, r, nil, 0, opts)
	if err != nil {
		return Info{}, fmt.Errorf("importing %s: %w", name, err)
	}
	return info, nil
}

// checkNew fails fast, before a long import, on a taken name or a bad parent.
func (s *Store) checkNew(name, parent string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if ok, err := s.exists(name); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrExists, name)
		}
		return err
	}
	if parent != "" {
		if err := ValidateName(parent); err != nil {
			return err
		}
		if _, err := s.parentRecord(parent); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) importSource(ctx context.Context, name, source string, opts ImportOptions) (Info, error) {
	if err := s.checkNew(name, opts.Parent); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(source)
	if err != nil {
		return Info{}, err
	}
	if st.IsDir() {
		// The walk does not follow symlinks; the source itself may be one.
		if source, err = filepath.EvalSymlinks(source); err != nil {
			return Info{}, err
		}
		format := opts.Format
		if format == FormatAuto {
			format = detectDir(source)
		}
		switch format {
		case FormatDir:
			if err := rootOnly(opts); err != nil {
				return Info{}, err
			}
			return s.importDir(ctx, name, source, opts)
		case FormatOCI, FormatDocker:
			return s.importImage(ctx, name, dirBlobs(source), opts)
		}
		return Info{}, fmt.Errorf("%w: %s is a directory, not a %s", ErrFormat, source, format)
	}
	f, err := os.Open(source)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	var seek *os.File
	if st.Mode().IsRegular() {
		seek = f
	}
	return s.importStream(ctx, name, f, seek, st.Size(), opts)
}

// rootOnly refuses the options that choose among images for a source
// that holds a root, where they could not take effect.
func rootOnly(opts ImportOptions) error {
	if opts.Ref != "" || opts.Platform != "" {
		return fmt.Errorf("%w: the source is a root filesystem, not an image: Ref and Platform choose among images", ErrFormat)
	}
	return nil
}

func detectDir(dir string) Format {
	exists := func(n string) bool { _, err := os.Lstat(filepath.Join(dir, n)); return err == nil }
	switch {
	case exists("oci-layout") && exists("index.json"):
		return FormatOCI
	case exists("manifest.json") && !exists("etc"):
		return FormatDocker
	}
	return FormatDir
}

// importStream imports a tar or an image tarball. seek is the same
// stream as a regular file, when it is one: an uncompressed image tarball
// is then read in place rather than spooled.
func (s *Store) importStream(ctx context.Context, name string, r io.Reader, seek *os.File, size int64, opts ImportOptions) (Info, error) {
	cr := &countingReader{r: r}
	dec, closeDec, compressed, err := decompress(cr)
	if err != nil {
		return Info{}, err
	}
	defer closeDec()
	stream, image := dec, false
	switch opts.Format {
	case FormatAuto:
		if stream, image, err = peekTar(dec); err != nil {
			return Info{}, err
		}
	case FormatOCI, FormatDocker:
		image = true
	case FormatTar:
	default:
		return Info{}, fmt.Errorf("%w: a file is not a %s", ErrFormat, opts.Format)
	}
	if !image {
		if err := rootOnly(opts); err != nil {
			return Info{}, err
		}
		return s.importTar(ctx, name, stream, cr, size, opts)
	}
	if opts.Parent != "" {
		return Info{}, fmt.Errorf("%w: an image brings its own base; Parent is for directories and tars", ErrFormat)
	}
	if seek != nil && !compressed {
		// A plain tar file: index it where it lies.
		tb, err := indexTar(seek)
		if err != nil {
			return Info{}, err
		}
		return s.importImage(ctx, name, tb, opts)
	}
	// Compressed or a pipe: spool the plain tar into the store's tmp.
	b, err := s.newBuild()
	if err != nil {
		return Info{}, err
	}
	defer b.discard()
	spool, err := os.Create(filepath.Join(b.dir, "image.tar"))
	if err != nil {
		return Info{}, err
	}
	defer spool.Close()
	if _, err := io.Copy(spool, stream); err != nil {
		return Info{}, fmt.Errorf("spooling image: %w", err)
	}
	tb, err := indexTar(spool)
	if err != nil {
		return Info{}, err
	}
	return s.importImage(ctx, name, tb, opts)
}

func (s *Store) parentLowers(parent string) ([]string, error) {
	if parent == "" {
		return nil, nil
	}
	p, err := s.parentRecord(parent)
	if err != nil {
		return nil, err
	}
	return s.layerDirs(p.Lowers), nil
}

// progress wires an applier to ImportOptions.Progress.
func progress(a *applier, opts ImportOptions, src *countingReader, size int64, layer, layers int) {
	if opts.Progress == nil {
		return
	}
	a.onEntry = func(e *entry) {
		p := Progress{Entries: a.entries, Bytes: a.bytes, SourceSize: size, Layer: layer, Layers: layers, Entry: e.Path}
		if src != nil {
			p.SourceBytes = src.n
		}
		opts.Progress(p)
	}
}

func (s *Store) importTar(ctx context.Context, name string, r io.Reader, src *countingReader, size int64, opts ImportOptions) (Info, error) {
	lowers, err := s.parentLowers(opts.Parent)
	if err != nil {
		return Info{}, err
	}
	b, err := s.newBuild()
	if err != nil {
		return Info{}, err
	}
	defer b.discard()
	a, err := newApplier(b.fs(), lowers)
	if err != nil {
		return Info{}, err
	}
	a.devices, a.warn = opts.Devices, opts.Warn
	progress(a, opts, src, size, 0, 0)
	if err := applyTar(ctx, a, r, opts.Warn); err != nil {
		a.close()
		return Info{}, err
	}
	if err := a.finish(); err != nil {
		return Info{}, err
	}
	hook("import:built")
	return s.commitBuild(ctx, b, name, opts.Parent, opts.Labels)
}

// importDir copies a directory tree: content, owners, modes, times, xattrs,
// symlinks, hard links, devices per policy. Like cp -ax it stays on one
// filesystem: mount points below source come out as empty directories, and
// the store itself is left out when it lies inside source.
func (s *Store) importDir(ctx context.Context, name, source string, opts ImportOptions) (Info, error) {
	lowers, err := s.parentLowers(opts.Parent)
	if err != nil {
		return Info{}, err
	}
	b, err := s.newBuild()
	if err != nil {
		return Info{}, err
	}
	defer b.discard()
	a, err := newApplier(b.fs(), lowers)
	if err != nil {
		return Info{}, err
	}
	a.whiteouts, a.devices, a.warn = false, opts.Devices, opts.Warn
	progress(a, opts, nil, 0, 0, 0)
	var rootDev uint64
	var rst unix.Stat_t
	if err := unix.Stat(source, &rst); err != nil {
		a.close()
		return Info{}, err
	}
	rootDev = rst.Dev
	var storeSt unix.Stat_t
	unix.Stat(s.root, &storeSt)
	w := &treeWalker{ctx: ctx, layers: []string{source}, raw: true, warn: opts.Warn}
	w.prune = func(st *unix.Stat_t) (skip, noDescend bool) {
		if st.Dev == storeSt.Dev && st.Ino == storeSt.Ino {
			return true, true
		}
		return false, st.Dev != rootDev
	}
	w.fn = func(e *entry) error {
		err := a.apply(e)
		hook("import:entry")
		return err
	}
	if err := w.walk(); err != nil {
		a.close()
		return Info{}, err
	}
	if err := a.finish(); err != nil {
		return Info{}, err
	}
	hook("import:built")
	return s.commitBuild(ctx, b, name, opts.Parent, opts.Labels)
}

// commitBuild records a finished build as the committed snapshot name.
func (s *Store) commitBuild(ctx context.Context, b *build, name, parent string, labels map[string]string) (Info, error) {
	var lowers []string
	if parent != "" {
		p, err := s.parentRecord(parent)
		if err != nil {
			return Info{}, err
		}
		lowers = p.Lowers
	}
	flattened := false
	if len(lowers)+1 > s.maxChain() {
		flat, err := s.flatten(ctx, append([]string{b.fs()}, s.layerDirs(lowers)...))
		if err != nil {
			return Info{}, err
		}
		b.discard()
		b = flat
		defer flat.discard()
		flattened = true
	}
	u, err := diskUsage(b.fs())
	if err != nil {
		return Info{}, err
	}
	if err := unix.Syncfs(int(s.lockf.Fd())); err != nil {
		return Info{}, fmt.Errorf("syncing store: %w", err)
	}
	if err := s.lock(); err != nil {
		return Info{}, err
	}
	defer s.unlock()
	if ok, err := s.exists(name); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrExists, name)
		}
		return Info{}, err
	}
	if parent != "" {
		// Re-read under the lock: the parent may have gone meanwhile.
		p, err := s.parentRecord(parent)
		if err != nil {
			return Info{}, err
		}
		if len(p.Lowers) != len(lowers) {
			return Info{}, fmt.Errorf("parent %s changed during import", parent)
		}
	}
	id, err := s.moveIn(b.dir)
	if err != nil {
		return Info{}, err
	}
	b.moved()
	hook("import:renamed")
	r := &record{Name: name, ID: id, Kind: KindCommitted, Parent: parent, Created: time.Now().UTC(),
		Labels: labels, Size: u.Size, Inodes: u.Inodes, Flattened: flattened}
	if flattened {
		r.Lowers = []string{id}
	} else {
		r.Lowers = append([]string{id}, lowers...)
	}
	if err := s.writeRecord(r, true); err != nil {
		os.RemoveAll(s.snapDir(id))
		return Info{}, err
	}
	return s.info(r), nil
}

// flatten merges layers (top first) into one new tree.
func (s *Store) flatten(ctx context.Context, layers []string) (*build, error) {
	b, err := s.newBuild()
	if err != nil {
		return nil, err
	}
	a, err := newApplier(b.fs(), nil)
	if err != nil {
		b.discard()
		return nil, err
	}
	a.whiteouts = false
	w := &treeWalker{ctx: ctx, layers: layers, fn: a.apply}
	err = w.walk()
	if err == nil {
		err = a.finish()
	} else {
		a.close()
	}
	if err != nil {
		b.discard()
		return nil, fmt.Errorf("flattening %d layers: %w", len(layers), err)
	}
	return b, nil
}
