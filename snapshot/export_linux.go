package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// chainOf returns the trees, top first, whose merge is key's root.
func (s *Store) chainOf(r *record) []string {
	switch r.Kind {
	case KindActive:
		return append([]string{s.layerDir(r.ID)}, s.layerDirs(r.Lowers)...)
	case KindView:
		if len(r.Lowers) == 0 {
			return []string{s.layerDir(r.ID)}
		}
	}
	return s.layerDirs(r.Lowers)
}

// Export writes key's whole root (its chain merged, whiteouts applied) as
// a tar: owners, modes, nanosecond mtimes, xattrs (SCHILY.xattr PAX
// records, without overlay's own), symlinks and hard links; names in order.
func (s *Store) Export(ctx context.Context, key string, w io.Writer) error {
	if err := s.export(ctx, key, w); err != nil {
		return fmt.Errorf("exporting %s: %w", key, err)
	}
	return nil
}

func (s *Store) export(ctx context.Context, key string, w io.Writer) error {
	if err := ValidateName(key); err != nil {
		return err
	}
	r, err := s.readRecord(key)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	walker := &treeWalker{ctx: ctx, layers: s.chainOf(r), fn: func(e *entry) error {
		h := &tar.Header{Name: e.Path, Mode: int64(e.Mode), Uid: e.UID, Gid: e.GID,
			ModTime: e.ModTime, Typeflag: e.Type, Linkname: e.Linkname, Format: tar.FormatPAX}
		switch e.Type {
		case tar.TypeDir:
			h.Name += "/"
			if e.Path == "." {
				h.Name = "./"
			}
		case tar.TypeReg:
			h.Size = e.Size
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = int64(e.Major), int64(e.Minor)
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s: %w", e.Path, err)
		}
		if e.Type == tar.TypeReg && e.Size > 0 {
			if _, err := io.CopyN(tw, e.Body, e.Size); err != nil {
				return fmt.Errorf("writing %s: %w", e.Path, err)
			}
		}
		return nil
	}}
	if err := walker.walk(); err != nil {
		return err
	}
	return tw.Close()
}

// ExportFile is Export into file, written under a temporary name and
// renamed into place, so file is whole or absent.
func (s *Store) ExportFile(ctx context.Context, key, file string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return fmt.Errorf("exporting %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	err = s.Export(ctx, key, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("exporting %s to %s: %w", key, file, err)
	}
	return nil
}

// Diff lists what key's own layer added, modified and deleted relative to
// its parent, in path order. For an active snapshot that is what a run
// changed so far. A path counts as modified when its type, mode, owner,
// size, mtime, link target, xattrs or content differ (a copy-up alone is
// no change).
func (s *Store) Diff(ctx context.Context, key string) ([]Change, error) {
	ch, err := s.diff(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("diffing %s: %w", key, err)
	}
	return ch, nil
}

func (s *Store) diff(ctx context.Context, key string) ([]Change, error) {
	if err := ValidateName(key); err != nil {
		return nil, err
	}
	r, err := s.readRecord(key)
	if err != nil {
		return nil, err
	}
	d := &differ{ctx: ctx}
	switch r.Kind {
	case KindView:
		return nil, nil
	case KindActive:
		d.lowers = s.layerDirs(r.Lowers)
	case KindCommitted:
		if r.Parent != "" {
			if d.lowers, err = s.parentLowers(r.Parent); err != nil {
				return nil, err
			}
		}
	}
	// A flattened layer holds the whole tree: compare it with the parent
	// as if its root were opaque.
	if err := d.dir(".", s.layerDir(r.ID), r.Flattened); err != nil {
		return nil, err
	}
	return d.changes, nil
}

type differ struct {
	ctx     context.Context
	lowers  []string
	changes []Change
}

func (d *differ) add(k ChangeKind, rel string) {
	d.changes = append(d.changes, Change{Kind: k, Path: "/" + rel})
}

// dir compares directory rel of the layer (at abs) with the parent.
// opaque: the parent's entries missing from the layer are deleted.
func (d *differ) dir(rel, abs string, opaque bool) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	names, err := readDirNames(abs)
	if err != nil {
		return err
	}
	own := map[string]bool{}
	var lowerNames []string
	if opaque && len(d.lowers) > 0 {
		l, err := mergedLookup(d.lowers, rel)
		if err != nil {
			return err
		}
		if l.found && isDir(&l.st) {
			if lowerNames, err = visibleNames(l.dirs); err != nil {
				return err
			}
		}
	}
	for _, n := range names {
		own[n] = true
	}
	for _, n := range lowerNames {
		if !own[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p := path.Join(rel, n)
		if !own[n] {
			d.add(ChangeDeleted, p)
			continue
		}
		cabs := filepath.Join(abs, n)
		var st unix.Stat_t
		if err := unix.Lstat(cabs, &st); err != nil {
			return err
		}
		l, err := mergedLookup(d.lowers, p)
		if err != nil {
			return err
		}
		if isWhiteout(&st) {
			if l.found {
				d.add(ChangeDeleted, p)
			}
			continue
		}
		if !l.found {
			if err := d.added(p, cabs, &st); err != nil {
				return err
			}
			continue
		}
		same, err := sameObject(cabs, &st, l.abs, &l.st)
		if err != nil {
			return err
		}
		if !same {
			d.add(ChangeModified, p)
		}
		if isDir(&st) {
			childOpaque := opaque || isOpaque(cabs) || !isDir(&l.st)
			if err := d.dir(p, cabs, childOpaque); err != nil {
				return err
			}
		}
	}
	return nil
}

// added reports p and, for a directory, everything below it.
func (d *differ) added(p, abs string, st *unix.Stat_t) error {
	d.add(ChangeAdded, p)
	if !isDir(st) {
		return nil
	}
	names, err := readDirNames(abs)
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		var cst unix.Stat_t
		cabs := filepath.Join(abs, n)
		if err := unix.Lstat(cabs, &cst); err != nil {
			return err
		}
		if isWhiteout(&cst) {
			continue
		}
		if err := d.added(path.Join(p, n), cabs, &cst); err != nil {
			return err
		}
	}
	return nil
}

// visibleNames merges directory listings, top first, without whiteouts.
func visibleNames(dirs []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, dir := range dirs {
		names, err := readDirNames(dir)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, n), &st); err != nil {
				return nil, err
			}
			if !isWhiteout(&st) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

func sameObject(a string, sa *unix.Stat_t, b string, sb *unix.Stat_t) (bool, error) {
	if sa.Mode != sb.Mode || sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Mtim != sb.Mtim {
		return false, nil
	}
	switch sa.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if sa.Size != sb.Size {
			return false, nil
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if sa.Rdev != sb.Rdev {
			return false, nil
		}
	case unix.S_IFLNK:
		ta, err := os.Readlink(a)
		if err != nil {
			return false, err
		}
		tb, err := os.Readlink(b)
		if err != nil || ta != tb {
			return false, err
		}
	}
	xa, err := readXattrs(a)
	if err != nil {
		return false, err
	}
	xb, err := readXattrs(b)
	if err != nil {
		return false, err
	}
	if len(xa) != len(xb) {
		return false, nil
	}
	for k, v := range xa {
		if w, ok := xb[k]; !ok || w != v {
			return false, nil
		}
	}
	if sa.Mode&unix.S_IFMT == unix.S_IFREG && sa.Size > 0 {
		return sameContent(a, b)
	}
	return true, nil
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
