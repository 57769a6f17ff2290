package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// entry is one filesystem object, from a tar header or a walked tree, on
// its way to an applier or a tar writer.
type entry struct {
	Name     string // as the source spelled it, for messages
	Path     string // cleaned, relative to the root; "." is the root
	Type     byte   // a tar typeflag
	Mode     uint32 // permission bits with setuid, setgid, sticky
	UID, GID int
	Size     int64
	Linkname string // symlink target, or cleaned root-relative hard link target
	Major    uint32
	Minor    uint32
	ModTime  time.Time
	ATime    time.Time
	Xattrs   map[string]string
	Body     interface{ Read([]byte) (int, error) }
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

const opaqueXattr = "trusted.overlay.opaque"

func isOpaque(p string) bool {
	var b [1]byte
	n, err := unix.Lgetxattr(p, opaqueXattr, b[:])
	return err == nil && n == 1 && b[0] == 'y'
}

// overlayXattr: overlayfs's private attributes. They are not content: the
// store writes opaque markers itself, and a redirect or metacopy attribute
// smuggled in by an archive would make overlayfs read other paths.
func overlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// readXattrs returns p's extended attributes, without overlay's own.
func readXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, size*2)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || overlayXattr(name) {
			continue
		}
		v, err := lgetxattr(p, name)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, p, err)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
	}
	return m, nil
}

func lgetxattr(p, name string) (string, error) {
	n, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return "", err
	}
	buf := make([]byte, n+16)
	n, err = unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func timespecTime(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

// statEntry fills an entry's metadata from lstat.
func statEntry(e *entry, abs string, st *unix.Stat_t) error {
	e.Mode = st.Mode & 0o7777
	e.UID, e.GID = int(st.Uid), int(st.Gid)
	e.ModTime, e.ATime = timespecTime(st.Mtim), timespecTime(st.Atim)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type, e.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		e.Type = tar.TypeDir
	case unix.S_IFLNK:
		e.Type = tar.TypeSymlink
		t, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		e.Linkname = t
	case unix.S_IFCHR:
		e.Type, e.Major, e.Minor = tar.TypeChar, unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFBLK:
		e.Type, e.Major, e.Minor = tar.TypeBlock, unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFIFO:
		e.Type = tar.TypeFifo
	default:
		return errSkip
	}
	x, err := readXattrs(abs)
	if err != nil {
		return err
	}
	e.Xattrs = x
	return nil
}

var errSkip = errors.New("skip")

// treeWalker streams a tree as entries, parents before children, names in
// order. Over several layers (top first) it yields the merged tree the way
// overlayfs shows it: the topmost entry wins, a whiteout hides the name,
// directories merge down to an opaque one or a non-directory. raw walks a
// single plain tree (a directory to import) where a 0:0 character device
// is just a device.
type treeWalker struct {
	ctx    context.Context
	layers []string
	raw    bool
	warn   func(error)
	fn     func(*entry) error
	// prune, when set, leaves an object out (skip) or lists a directory
	// without its contents (noDescend).
	prune func(st *unix.Stat_t) (skip, noDescend bool)
	links map[[2]uint64]string
}

func (w *treeWalker) walk() error {
	w.links = map[[2]uint64]string{}
	var st unix.Stat_t
	if err := unix.Lstat(w.layers[0], &st); err != nil {
		return fmt.Errorf("reading %s: %w", w.layers[0], err)
	}
	if !isDir(&st) {
		return fmt.Errorf("reading %s: not a directory", w.layers[0])
	}
	root := &entry{Name: "./", Path: "."}
	if err := statEntry(root, w.layers[0], &st); err != nil {
		return fmt.Errorf("reading %s: %w", w.layers[0], err)
	}
	if err := w.fn(root); err != nil {
		return err
	}
	dirs := w.layers
	if w.raw {
		dirs = w.layers[:1]
	} else {
		for i, l := range w.layers {
			if isOpaque(l) {
				dirs = w.layers[:i+1]
				break
			}
		}
	}
	return w.walkDir(".", dirs)
}

type child struct {
	name string
	idx  int // position in the parent's dirs
	abs  string
	st   unix.Stat_t
}

// walkDir walks directory rel whose contents come from dirs (absolute
// paths in the contributing layers, top first).
func (w *treeWalker) walkDir(rel string, dirs []string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	seen := map[string]bool{}
	var kids []child
	for i, d := range dirs {
		names, err := readDirNames(d)
		if err != nil {
			return err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			c := child{name: n, idx: i, abs: filepath.Join(d, n)}
			if err := unix.Lstat(c.abs, &c.st); err != nil {
				return fmt.Errorf("reading %s: %w", c.abs, err)
			}
			if !w.raw && isWhiteout(&c.st) {
				continue
			}
			kids = append(kids, c)
		}
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].name < kids[j].name })
	for _, c := range kids {
		var noDescend bool
		if w.prune != nil {
			var skip bool
			if skip, noDescend = w.prune(&c.st); skip {
				continue
			}
		}
		p := path.Join(rel, c.name)
		e := &entry{Name: p, Path: p}
		if err := statEntry(e, c.abs, &c.st); err == errSkip {
			if w.warn != nil {
				w.warn(&EntryError{Entry: p, Reason: "socket or unknown file type skipped"})
			}
			continue
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", c.abs, err)
		}
		if e.Type != tar.TypeDir && c.st.Nlink > 1 {
			k := [2]uint64{c.st.Dev, c.st.Ino}
			if first, ok := w.links[k]; ok {
				*e = entry{Name: p, Path: p, Type: tar.TypeLink, Linkname: first, Mode: e.Mode,
					UID: e.UID, GID: e.GID, ModTime: e.ModTime}
			} else {
				w.links[k] = p
			}
		}
		if e.Type == tar.TypeReg {
			f, err := os.OpenFile(c.abs, os.O_RDONLY|unix.O_NOFOLLOW, 0)
			if err != nil {
				return fmt.Errorf("reading %s: %w", c.abs, err)
			}
			e.Body = f
			err = w.fn(e)
			f.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := w.fn(e); err != nil {
			return err
		}
		if e.Type != tar.TypeDir || noDescend {
			continue
		}
		sub := []string{c.abs}
		if !w.raw && !isOpaque(c.abs) {
			for _, d := range dirs[c.idx+1:] {
				var st unix.Stat_t
				lp := filepath.Join(d, c.name)
				if err := unix.Lstat(lp, &st); err != nil {
					if err == unix.ENOENT {
						continue
					}
					return fmt.Errorf("reading %s: %w", lp, err)
				}
				if !isDir(&st) {
					break // a whiteout or a file hides the rest
				}
				sub = append(sub, lp)
				if isOpaque(lp) {
					break
				}
			}
		}
		if err := w.walkDir(p, sub); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(d string) ([]string, error) {
	f, err := os.Open(d)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", d, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", d, err)
	}
	return names, nil
}

// lookup is one path resolved in a stack of layers, as overlayfs would.
type lookup struct {
	found bool
	abs   string      // the visible object's path in its layer
	st    unix.Stat_t // its lstat
	dirs  []string    // for a directory, its contributing layer directories
}

// mergedLookup resolves rel (cleaned, relative) in layers, top first,
// without following symlinks.
func mergedLookup(layers []string, rel string) (lookup, error) {
	dirs := layers
	for i, l := range layers {
		if isOpaque(l) {
			dirs = layers[:i+1]
			break
		}
	}
	if len(layers) == 0 {
		return lookup{}, nil
	}
	if rel == "." || rel == "" {
		var l lookup
		if err := unix.Lstat(layers[0], &l.st); err != nil {
			return lookup{}, err
		}
		l.found, l.abs, l.dirs = true, layers[0], dirs
		return l, nil
	}
	comps := strings.Split(rel, "/")
	var res lookup
	for ci, c := range comps {
		var next []string
		res = lookup{}
		for _, d := range dirs {
			p := filepath.Join(d, c)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				if err == unix.ENOENT || err == unix.ENOTDIR {
					continue
				}
				return lookup{}, err
			}
			if !res.found {
				if isWhiteout(&st) {
					return lookup{}, nil
				}
				res.found, res.abs, res.st = true, p, st
				if !isDir(&st) {
					break
				}
				next = append(next, p)
				if isOpaque(p) {
					break
				}
				continue
			}
			if !isDir(&st) {
				break
			}
			next = append(next, p)
			if isOpaque(p) {
				break
			}
		}
		if !res.found {
			return lookup{}, nil
		}
		if !isDir(&res.st) && ci < len(comps)-1 {
			return lookup{}, nil
		}
		dirs = next
	}
	res.dirs = dirs
	return res, nil
}

// diskUsage sums the blocks and inodes of a tree, hard links once.
func diskUsage(root string) (Usage, error) {
	var u Usage
	seen := map[[2]uint64]bool{}
	var walk func(p string) error
	walk = func(p string) error {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Nlink > 1 && !isDir(&st) {
			k := [2]uint64{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.Inodes++
		u.Size += st.Blocks * 512
		if !isDir(&st) {
			return nil
		}
		names, err := readDirNames(p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := walk(filepath.Join(p, n)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return Usage{}, fmt.Errorf("measuring %s: %w", root, err)
	}
	return u, nil
}
