package repro

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// layers is one build's view of the tree: its upper directory over the
// read-only lower ones (top first), as overlayfs merges them.
type layers struct {
	upper  string
	lowers []string
}

// opaque reports whether a directory of the upper layer hides the lower
// ones: overlayfs marks it with an xattr, trusted.* when mounted by root,
// user.* in a user namespace (userxattr).
func opaque(dir string) bool {
	buf := make([]byte, 1)
	for _, x := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(dir, x, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// whiteout reports whether fi is overlayfs's mark of a removed entry: a
// character device 0:0.
func whiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// lookup resolves rel (slash-separated, relative to the tree) to the host
// path that holds it in the merged view, or "" when it does not exist
// there.
func (l layers) lookup(rel string) (string, error) {
	parts := strings.Split(path.Clean("/" + rel)[1:], "/")
	if parts[0] == "" {
		parts = nil
	}
	// visible lists the layers still seen at the current depth: the upper
	// one while it has a directory there, the lowers until an opaque
	// directory or a whiteout hides them.
	upperOK, lowers := true, slices.Clone(l.lowers)
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		var found string
		if upperOK {
			p := filepath.Join(l.upper, sub)
			fi, err := os.Lstat(p)
			switch {
			case err == nil && whiteout(fi):
				return "", nil
			case err == nil && (last || fi.IsDir()):
				if last {
					return p, nil
				}
				if opaque(p) {
					lowers = nil
				}
				found = p
			case err == nil: // a file where a directory was wanted
				return "", nil
			case errors.Is(err, fs.ErrNotExist):
				upperOK = false
			default:
				return "", err
			}
		}
		var still []string
		for _, lo := range lowers {
			p := filepath.Join(lo, sub)
			fi, err := os.Lstat(p)
			if err != nil {
				continue
			}
			if last && found == "" {
				return p, nil
			}
			if fi.IsDir() {
				still = append(still, lo)
			}
		}
		if last {
			return "", nil
		}
		lowers = still
		if found == "" && len(lowers) == 0 {
			return "", nil
		}
	}
	if len(parts) == 0 {
		return l.upper, nil
	}
	return "", nil
}

// readDir lists directory rel of the merged view, sorted.
func (l layers) readDir(rel string) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	hidden := map[string]bool{}
	up := filepath.Join(l.upper, rel)
	fromLower := true
	if ents, err := os.ReadDir(up); err == nil {
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				return nil, err
			}
			if whiteout(fi) {
				hidden[e.Name()] = true
				continue
			}
			seen[e.Name()] = true
			names = append(names, e.Name())
		}
		fromLower = !opaque(up)
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
		return nil, err
	}
	if fromLower {
		for _, lo := range l.lowers {
			ents, err := os.ReadDir(filepath.Join(lo, rel))
			if err != nil {
				continue
			}
			for _, e := range ents {
				if !seen[e.Name()] && !hidden[e.Name()] {
					seen[e.Name()] = true
					names = append(names, e.Name())
				}
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// glob lists the regular files and symlinks of the merged view that
// pattern names: slash-separated, each component a path.Match pattern, "**"
// any number of directories; a directory named is taken whole.
func (l layers) glob(pattern string) ([]string, error) {
	pattern = path.Clean(strings.TrimPrefix(pattern, "./"))
	if path.IsAbs(pattern) || pattern == ".." || strings.HasPrefix(pattern, "../") {
		return nil, fmt.Errorf("%w: artifact glob %q: not relative to the tree", ErrUsage, pattern)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%w: artifact glob %q: %v", ErrUsage, pattern, err)
	}
	var out []string
	seen := map[string]bool{}
	var walk func(dir string, parts []string) error
	var addAll func(rel string) error
	addAll = func(rel string) error {
		p, err := l.lookup(rel)
		if err != nil || p == "" {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			if !seen[rel] {
				seen[rel] = true
				out = append(out, rel)
			}
			return nil
		}
		names, err := l.readDir(rel)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := addAll(path.Join(rel, n)); err != nil {
				return err
			}
		}
		return nil
	}
	walk = func(dir string, parts []string) error {
		if len(parts) == 0 {
			return addAll(dir)
		}
		if parts[0] == "**" {
			if err := walk(dir, parts[1:]); err != nil {
				return err
			}
		}
		p, err := l.lookup(dir)
		if err != nil || p == "" {
			return err
		}
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			return nil // a symlink is an artifact, never followed
		}
		names, err := l.readDir(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			if parts[0] == "**" {
				sub := path.Join(dir, n)
				if q, _ := l.lookup(sub); q != "" {
					if fi, err := os.Lstat(q); err == nil && fi.IsDir() {
						if err := walk(sub, parts); err != nil {
							return err
						}
					}
				}
				continue
			}
			if ok, _ := path.Match(parts[0], n); ok {
				if err := walk(path.Join(dir, n), parts[1:]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	start := ""
	if pattern == "." {
		pattern = "**"
	}
	if err := walk(start, strings.Split(pattern, "/")); err != nil {
		return nil, fmt.Errorf("reading artifacts %s: %w", pattern, err)
	}
	slices.Sort(out)
	return out, nil
}

// reorderedCopy copies the tree src into dst (on a creation-ordered tmpfs)
// creating every directory's entries in the reverse of the order src lists
// them, so that a build reading directories sees them the other way round.
func reorderedCopy(src, dst string, reverseCreation bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
		return err
	}
	names, err := readdirNames(src)
	if err != nil {
		return err
	}
	// Listed in creation order: create in reverse. Listed newest first:
	// create in the source's order, which then lists reversed.
	if !reverseCreation {
		slices.Reverse(names)
	}
	for _, n := range names {
		s, d := filepath.Join(src, n), filepath.Join(dst, n)
		fi, err := os.Lstat(s)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := reorderedCopy(s, d, reverseCreation); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(s)
			if err != nil {
				return err
			}
			if err := os.Symlink(t, d); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(s, d, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			continue // sockets, fifos, devices: no build reads them as sources
		}
		if err := copyMeta(d, fi); err != nil {
			return err
		}
	}
	return copyMeta(dst, fi)
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyMeta gives dst src's owner (where the caller may), mode and times.
func copyMeta(dst string, src fs.FileInfo) error {
	st, ok := src.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if src.Mode()&fs.ModeSymlink == 0 {
		if err := os.Chmod(dst, src.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}
