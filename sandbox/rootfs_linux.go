package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"sort"
)

// A rootless run cannot layer the host's "/" in one overlay: in a user
// namespace every mount copied from the host is locked to the ones below
// it, and overlayfs refuses a lower layer with locked mounts below it
// ("failed to clone lowerpath"), as the kernel refuses a non-recursive bind
// of one. So the root is built from the host's entries instead: each
// directory with no mount below it gets an overlay of its own (writable,
// its changes in the scratch tmpfs), a directory with mounts below is
// entered, symlinks are copied and files bound read-only.
//
// An overlay mount costs 0.1-0.2 ms, and a dozen of them were most of what
// a rootless start cost beyond a root one. Most buy nothing: the host's ids
// other than the caller's are not mapped in the user namespace, so not even
// root inside may write where only such an id may (capabilities in a user
// namespace reach only inodes of mapped ids), and overlayfs cannot copy up
// a directory of an unmapped owner (EOVERFLOW), world-writable or not
// (/var/tmp). A rootless overlay is writable only below directories of the
// caller's. So a directory is layered only when it or one of its
// subdirectories is the caller's (/home, with the caller's home in it); any
// other (/usr, /etc, /var) is bound read-only: a write there fails with
// EROFS where it would have failed with EACCES or EOVERFLOW.

// Kinds of rootEntry.
const (
	entryOverlay = "overlay" // a directory, layered
	entryFile    = "file"    // a file, bound read-only
	entrySymlink = "symlink" // a symlink, copied
	entryDir     = "dir"     // an empty read-only directory: a kernel view's mount point
	entryRO      = "ro"      // a directory nobody in the sandbox could write: bound read-only
)

// rootEntry is one host path of a split root.
type rootEntry struct {
	Path string
	Kind string
	Link string // a symlink's target
}

// splitHostRoot lists the entries of the host's root for a rootless run,
// given the host's mounts. Paths the sandbox replaces (/proc, /tmp, ...)
// and the run directory's parent are left out: the plan makes them.
func splitHostRoot(ms []hostMount, runBase string, uid int) ([]rootEntry, error) {
	below := map[string]bool{}       // directories with a mount strictly below them
	pseudoBelow := map[string]bool{} // ... a kernel view's mount among them
	pseudo := map[string]bool{}
	for _, m := range ms {
		if !filepath.IsAbs(m.Point) || m.Point == "/" {
			continue
		}
		pseudo[m.Point] = pseudoFS[m.FSType]
		for d := filepath.Dir(m.Point); ; d = filepath.Dir(d) {
			below[d] = true
			if pseudoFS[m.FSType] {
				pseudoBelow[d] = true
			}
			if d == "/" {
				break
			}
		}
	}
	var out []rootEntry
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil && dir != "/" {
			// Not the caller's to read (a root-only directory with mounts
			// below): a read-only bind, mounts and all, or empty where a
			// kernel view is among them.
			kind := entryRO
			if pseudoBelow[dir] {
				kind = entryDir
			}
			out = append(out, rootEntry{Path: dir, Kind: kind})
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the host's %s: %w", dir, err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if replaced(p) || under(p, runBase) {
				continue
			}
			switch t := e.Type(); {
			case t&os.ModeSymlink != 0:
				link, err := os.Readlink(p)
				if err != nil {
					continue // gone meanwhile
				}
				out = append(out, rootEntry{Path: p, Kind: entrySymlink, Link: link})
			case t.IsDir():
				switch {
				case pseudo[p]:
					out = append(out, rootEntry{Path: p, Kind: entryDir})
				case below[p] && !pseudoBelow[p] && !writable(p, uid):
					// Read-only, mounts and all: one bind, not a walk.
					out = append(out, rootEntry{Path: p, Kind: entryRO})
				case below[p]:
					if err := walk(p); err != nil {
						return err
					}
				case !writable(p, uid):
					out = append(out, rootEntry{Path: p, Kind: entryRO})
				default:
					out = append(out, rootEntry{Path: p, Kind: entryOverlay})
				}
			case t.IsRegular():
				out = append(out, rootEntry{Path: p, Kind: entryFile})
			}
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func replaced(p string) bool {
	for _, r := range replacedPaths {
		if under(p, r) {
			return true
		}
	}
	return false
}

// writable reports whether dir or one of its subdirectories is the
// caller's (uid): the only places a rootless overlay can take writes.
func writable(dir string, uid int) bool {
	open := func(st *unix.Stat_t) bool { return int(st.Uid) == uid }
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil || open(&st) {
		return true // an overlay, as for root: it fails as it would have
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false // unreadable: nothing in it is the sandbox's anyway
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if err := unix.Lstat(filepath.Join(dir, e.Name()), &st); err != nil || open(&st) {
			return true
		}
	}
	return false
}
