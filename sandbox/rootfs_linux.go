package sandbox

import (
	"fmt"
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

// Kinds of rootEntry.
const (
	entryOverlay = "overlay" // a directory, layered
	entryFile    = "file"    // a file, bound read-only
	entrySymlink = "symlink" // a symlink, copied
	entryDir     = "dir"     // an empty read-only directory: a kernel view's mount point
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
func splitHostRoot(ms []hostMount, runBase string) ([]rootEntry, error) {
	below := map[string]bool{} // directories with a mount strictly below them
	pseudo := map[string]bool{}
	for _, m := range ms {
		if !filepath.IsAbs(m.Point) || m.Point == "/" {
			continue
		}
		pseudo[m.Point] = pseudoFS[m.FSType]
		for d := filepath.Dir(m.Point); ; d = filepath.Dir(d) {
			below[d] = true
			if d == "/" {
				break
			}
		}
	}
	var out []rootEntry
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
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
				case below[p]:
					if err := walk(p); err != nil {
						return err
					}
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
