package snapshot

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	maxPathLen   = 4096 // PATH_MAX: longer paths are refused, however deep
	maxNameLen   = 255  // NAME_MAX
	whPrefix     = ".wh."
	whOpaque     = ".wh..wh..opq"
	resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV
)

// noOpenat2 is set when the kernel lacks openat2 (before 5.6); the
// applier then opens each path component with O_NOFOLLOW itself.
var noOpenat2 atomic.Bool

// applier writes entries into a layer tree. Every path is resolved below
// the layer root without following any symlink, so an entry can neither
// escape the root nor write through a link; what a source names is created
// with *at calls relative to its parent directory's descriptor.
type applier struct {
	rootFd    int
	rootPath  string
	lowers    []string // the trees below, top first: whiteouts hide from them, implicit directories copy them
	whiteouts bool     // .wh. names are OCI whiteouts (tar layers, not directory imports)
	devices   DevicePolicy
	warn      func(error)
	onEntry   func(*entry)

	cacheRel string // the last parent directory resolved, and its O_PATH descriptor
	cacheFd  int
	dirTimes []dirTime // set last: creating children changes a directory's mtime

	entries, bytes int64
	ownersWarned   bool
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

func newApplier(root string, lowers []string) (*applier, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", root, err)
	}
	a := &applier{rootFd: fd, rootPath: root, lowers: lowers, cacheFd: -1, whiteouts: true, devices: DevicesAllow}
	if len(lowers) > 0 {
		// The layer's root is the merged root; until an entry says
		// otherwise it keeps the parent's owner, mode and times.
		if err := copyDirMeta(root, lowers[0]); err != nil {
			a.close()
			return nil, err
		}
	}
	return a, nil
}

func (a *applier) close() {
	if a.cacheFd >= 0 {
		unix.Close(a.cacheFd)
		a.cacheFd = -1
	}
	if a.rootFd >= 0 {
		unix.Close(a.rootFd)
		a.rootFd = -1
	}
}

// finish sets directory times and releases the applier.
func (a *applier) finish() error {
	defer a.close()
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		d := a.dirTimes[i]
		fd, err := a.openDir(d.rel)
		if err != nil {
			continue // replaced by a later entry
		}
		err = unix.UtimesNanoAt(fd, ".", timespecs(d.atime, d.mtime), unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("setting times of %s: %w", d.rel, err)
		}
	}
	return nil
}

func timespecs(atime, mtime time.Time) []unix.Timespec {
	if atime.IsZero() {
		atime = mtime
	}
	a, _ := unix.TimeToTimespec(atime)
	m, _ := unix.TimeToTimespec(mtime)
	return []unix.Timespec{a, m}
}

func (a *applier) warnf(e *entry, format string, args ...any) {
	if a.warn != nil {
		a.warn(&EntryError{Entry: e.Name, Reason: fmt.Sprintf(format, args...)})
	}
}

// checkPath bounds what any source may ask for.
func checkPath(e *entry) error {
	if len(e.Path) > maxPathLen {
		return unsafeEntry(e.Name, "path longer than %d bytes", maxPathLen)
	}
	for _, c := range strings.Split(e.Path, "/") {
		if len(c) > maxNameLen {
			return unsafeEntry(e.Name, "name %q longer than %d bytes", shorten(c), maxNameLen)
		}
	}
	return nil
}

func splitPath(p string) (dir, base string) {
	dir, base = path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, base
}

func (a *applier) apply(e *entry) error {
	if err := checkPath(e); err != nil {
		return err
	}
	if e.Path == "." {
		if e.Type != tar.TypeDir {
			return unsafeEntry(e.Name, "the root must be a directory")
		}
		err := a.setMeta(e, a.rootFd, ".")
		a.dirTimes = append(a.dirTimes, dirTime{".", e.ATime, e.ModTime})
		return a.done(e, err)
	}
	dir, base := splitPath(e.Path)
	if a.whiteouts {
		if strings.HasPrefix(base, whPrefix) {
			return a.done(e, a.whiteout(e, dir, base))
		}
		if e.Type == tar.TypeChar && e.Major == 0 && e.Minor == 0 {
			// Overlay's own whiteout format, as in a tar of an upper dir.
			return a.done(e, a.whiteout(e, dir, whPrefix+base))
		}
	}
	pfd, err := a.parent(e, dir)
	if err != nil {
		return err
	}
	switch e.Type {
	case tar.TypeDir:
		err = a.mkdir(e, pfd, base)
	case tar.TypeReg:
		err = a.writeFile(e, pfd, base)
	case tar.TypeSymlink:
		err = a.symlink(e, pfd, base)
	case tar.TypeLink:
		err = a.link(e, pfd, base)
	case tar.TypeChar, tar.TypeBlock:
		err = a.device(e, pfd, base)
	case tar.TypeFifo:
		if err = a.replace(e, pfd, base); err == nil {
			err = unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0)
			err = a.meta(e, pfd, base, err)
		}
	default:
		a.warnf(e, "unsupported type %q skipped", e.Type)
		return nil
	}
	return a.done(e, err)
}

func (a *applier) done(e *entry, err error) error {
	if err != nil {
		if _, ok := err.(*EntryError); !ok {
			err = &EntryError{Entry: e.Name, Reason: "applying", Err: err}
		}
		return err
	}
	a.entries++
	if a.onEntry != nil {
		a.onEntry(e)
	}
	return nil
}

// meta finishes a freshly created object: owner, mode, xattrs, times.
func (a *applier) meta(e *entry, pfd int, base string, err error) error {
	if err != nil {
		return err
	}
	if err := a.setMeta(e, pfd, base); err != nil {
		return err
	}
	if e.Type == tar.TypeDir {
		a.dirTimes = append(a.dirTimes, dirTime{e.Path, e.ATime, e.ModTime})
		return nil
	}
	if err := unix.UtimesNanoAt(pfd, base, timespecs(e.ATime, e.ModTime), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

func (a *applier) setMeta(e *entry, pfd int, base string) error {
	mode := e.Mode & 0o7777
	if euid, egid := os.Geteuid(), os.Getegid(); euid != 0 && (e.UID != euid || e.GID != egid) {
		// Without root only the caller can own what it writes: every
		// entry becomes the caller's (a rootless run maps the caller to
		// itself), and a setuid or setgid bit, now naming the wrong owner,
		// is dropped. Said once per import.
		if !a.ownersWarned {
			a.ownersWarned = true
			a.warnf(e, "owners not kept: importing without root, every entry is owned by uid %d, gid %d (setuid and setgid bits dropped)", euid, egid)
		}
		mode &^= unix.S_ISUID | unix.S_ISGID
	} else if err := unix.Fchownat(pfd, base, e.UID, e.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting owner: %w", err)
	}
	// After chown, which clears setuid bits and file capabilities.
	if e.Type != tar.TypeSymlink {
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("setting mode: %w", err)
		}
	}
	if len(e.Xattrs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(e.Xattrs))
	for k := range e.Xattrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := procPath(pfd, base)
	for _, k := range keys {
		if overlayXattr(k) {
			a.warnf(e, "overlay xattr %s dropped", k)
			continue
		}
		if err := unix.Lsetxattr(p, k, []byte(e.Xattrs[k]), 0); err != nil {
			a.warnf(e, "xattr %s not set: %v", k, err)
		}
	}
	return nil
}

// procPath names base in the directory pfd for the xattr calls, which have
// no *at form; the kernel resolves the descriptor, not a path.
func procPath(pfd int, base string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
}

// replace clears base for a new non-directory; a directory goes with all
// it holds.
func (a *applier) replace(e *entry, pfd int, base string) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return err
	}
	return removeAllAt(pfd, base)
}

func (a *applier) mkdir(e *entry, pfd int, base string) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	opaque := false
	switch {
	case err == unix.ENOENT:
		err = unix.Mkdirat(pfd, base, 0o700)
	case err != nil:
	case isDir(&st):
		// Tar semantics: a later entry updates the directory in place.
	default:
		// A directory over a whiteout hides what was below, as
		// overlayfs does with mkdir over a whiteout.
		opaque = a.whiteouts && isWhiteout(&st)
		if err = removeAllAt(pfd, base); err == nil {
			err = unix.Mkdirat(pfd, base, 0o700)
		}
	}
	if err == nil && opaque {
		err = setOpaque(pfd, base)
	}
	return a.meta(e, pfd, base, err)
}

func setOpaque(pfd int, base string) error {
	if err := unix.Lsetxattr(procPath(pfd, base), opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("marking opaque: %w", err)
	}
	return nil
}

func (a *applier) writeFile(e *entry, pfd int, base string) error {
	if err := a.replace(e, pfd, base); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), e.Path)
	var n int64
	if e.Size > 0 {
		n, err = io.CopyN(f, e.Body, e.Size)
		a.bytes += n
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing content: %w", err)
	}
	return a.meta(e, pfd, base, nil)
}

func (a *applier) symlink(e *entry, pfd int, base string) error {
	if e.Linkname == "" {
		return unsafeEntry(e.Name, "symlink with an empty target")
	}
	if len(e.Linkname) >= maxPathLen || strings.IndexByte(e.Linkname, 0) >= 0 {
		return unsafeEntry(e.Name, "symlink target longer than %d bytes or holding a NUL", maxPathLen-1)
	}
	if err := a.replace(e, pfd, base); err != nil {
		return err
	}
	return a.meta(e, pfd, base, unix.Symlinkat(e.Linkname, pfd, base))
}

func (a *applier) link(e *entry, pfd int, base string) error {
	tdir, tbase := splitPath(e.Linkname)
	if e.Linkname == "." {
		return unsafeEntry(e.Name, "hard link to the root")
	}
	tfd, err := a.openDir(tdir)
	if err != nil {
		return unsafeEntry(e.Name, "hard link target %q is not in this layer", e.Linkname)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return unsafeEntry(e.Name, "hard link target %q is not in this layer", e.Linkname)
	}
	if isDir(&st) || (a.whiteouts && isWhiteout(&st)) {
		return unsafeEntry(e.Name, "hard link to a directory or a whiteout %q", e.Linkname)
	}
	if e.Linkname == e.Path {
		return nil
	}
	if err := a.replace(e, pfd, base); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("linking to %s: %w", e.Linkname, err)
	}
	return nil
}

func (a *applier) device(e *entry, pfd int, base string) error {
	kind := "c"
	mode := uint32(unix.S_IFCHR)
	if e.Type == tar.TypeBlock {
		kind, mode = "b", unix.S_IFBLK
	}
	switch a.devices {
	case DevicesReject:
		return unsafeEntry(e.Name, "device node (%s %d:%d) not allowed", kind, e.Major, e.Minor)
	case DevicesSkip:
		a.warnf(e, "device node (%s %d:%d) skipped", kind, e.Major, e.Minor)
		return nil
	}
	if err := a.replace(e, pfd, base); err != nil {
		return err
	}
	err := unix.Mknodat(pfd, base, mode|0o600, int(unix.Mkdev(e.Major, e.Minor)))
	return a.meta(e, pfd, base, err)
}

// whiteout applies an OCI whiteout: .wh.NAME deletes NAME from the layers
// below, .wh..wh..opq hides everything below in its directory. They become
// overlayfs's own forms: a 0:0 character device, trusted.overlay.opaque.
// Per the OCI spec they affect lower layers only: what this layer itself
// holds (before or after the whiteout) stays.
func (a *applier) whiteout(e *entry, dir, base string) error {
	if base == whOpaque {
		if len(a.lowers) == 0 {
			return nil
		}
		pfd, err := a.parent(e, dir)
		if err != nil {
			return err
		}
		if dir == "." {
			return a.opaqueRoot(e)
		}
		if err := unix.Setxattr(fmt.Sprintf("/proc/self/fd/%d", pfd), opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("marking %s opaque: %w", dir, err)
		}
		return nil
	}
	name := strings.TrimPrefix(base, whPrefix)
	if strings.HasPrefix(name, whPrefix) {
		a.warnf(e, "aufs metadata entry skipped")
		return nil
	}
	if name == "" || name == "." || name == ".." {
		return unsafeEntry(e.Name, "whiteout of %q", name)
	}
	if len(a.lowers) == 0 {
		return nil // nothing below to hide
	}
	pfd, err := a.parent(e, dir)
	if err != nil {
		return err
	}
	return a.whiteoutAt(pfd, name)
}

func (a *applier) whiteoutAt(pfd int, name string) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == unix.ENOENT:
		if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("creating whiteout: %w", err)
		}
		return unix.Fchownat(pfd, name, 0, 0, unix.AT_SYMLINK_NOFOLLOW)
	case err != nil:
		return err
	case isDir(&st):
		return setOpaque(pfd, name) // this layer's directory replaces the lower one
	}
	return nil // this layer's own file already hides the lower one
}

// opaqueRoot hides everything below at the root. overlayfs does not look
// at an opaque mark on a layer's root, so each lower name gets a whiteout.
func (a *applier) opaqueRoot(e *entry) error {
	l, err := mergedLookup(a.lowers, ".")
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range l.dirs {
		names, err := readDirNames(d)
		if err != nil {
			return err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			var st unix.Stat_t
			if err := unix.Fstatat(a.rootFd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
				if isDir(&st) {
					if err := setOpaque(a.rootFd, n); err != nil {
						return err
					}
				}
				continue
			}
			if err := a.whiteoutAt(a.rootFd, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// parent returns a descriptor (owned by the cache) of directory rel,
// creating missing directories.
func (a *applier) parent(e *entry, rel string) (int, error) {
	if a.cacheFd >= 0 && a.cacheRel == rel {
		return a.cacheFd, nil
	}
	fd, err := a.openDir(rel)
	if err != nil {
		if fd, err = a.makeDirs(e, rel); err != nil {
			return -1, err
		}
	}
	if a.cacheFd >= 0 {
		unix.Close(a.cacheFd)
	}
	a.cacheRel, a.cacheFd = rel, fd
	return fd, nil
}

// openDir opens directory rel below the root, refusing symlinks anywhere.
func (a *applier) openDir(rel string) (int, error) {
	if !noOpenat2.Load() {
		for {
			fd, err := unix.Openat2(a.rootFd, rel, &unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
				Resolve: resolveFlags,
			})
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err == unix.ENOSYS {
				noOpenat2.Store(true)
				break
			}
			return fd, err
		}
	}
	fd, err := unix.Openat(a.rootFd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil || rel == "." {
		return fd, err
	}
	for _, c := range strings.Split(rel, "/") {
		if c == ".." {
			unix.Close(fd)
			return -1, unix.EXDEV
		}
		nfd, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = nfd
	}
	return fd, nil
}

// makeDirs walks rel one component at a time, creating what is missing
// and saying precisely why a component will not do.
func (a *applier) makeDirs(e *entry, rel string) (int, error) {
	fd, err := unix.Openat(a.rootFd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	cur := "."
	for _, c := range strings.Split(rel, "/") {
		next := path.Join(cur, c)
		var st unix.Stat_t
		err := unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.ENOENT:
			err = a.implicitDir(fd, c, next, false)
		case err != nil:
		case isDir(&st):
		case a.whiteouts && isWhiteout(&st):
			if err = unix.Unlinkat(fd, c, 0); err == nil {
				err = a.implicitDir(fd, c, next, true)
			}
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			unix.Close(fd)
			return -1, unsafeEntry(e.Name, "parent %q is a symlink; nothing is written through links", next)
		default:
			unix.Close(fd)
			return -1, &EntryError{Entry: e.Name, Reason: fmt.Sprintf("parent %q is not a directory", next)}
		}
		if err != nil {
			unix.Close(fd)
			return -1, &EntryError{Entry: e.Name, Reason: fmt.Sprintf("creating parent %q", next), Err: err}
		}
		nfd, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, &EntryError{Entry: e.Name, Reason: fmt.Sprintf("opening parent %q", next), Err: err}
		}
		fd = nfd
		cur = next
	}
	return fd, nil
}

// implicitDir creates a directory the source did not list. It takes the
// owner, mode, xattrs and times of the directory it shadows below, so the
// merged tree looks as before; with none below, root 0755.
func (a *applier) implicitDir(pfd int, name, rel string, opaque bool) error {
	if err := unix.Mkdirat(pfd, name, 0o700); err != nil {
		return err
	}
	e := &entry{Name: rel, Path: rel, Type: tar.TypeDir, Mode: 0o755}
	if !opaque && len(a.lowers) > 0 {
		l, err := mergedLookup(a.lowers, rel)
		if err != nil {
			return err
		}
		if l.found && isDir(&l.st) {
			if err := statEntry(e, l.abs, &l.st); err != nil {
				return err
			}
		}
	}
	if opaque {
		if err := setOpaque(pfd, name); err != nil {
			return err
		}
	}
	if err := a.setMeta(e, pfd, name); err != nil {
		return err
	}
	if !e.ModTime.IsZero() {
		a.dirTimes = append(a.dirTimes, dirTime{rel, e.ATime, e.ModTime})
	}
	return nil
}

// removeAllAt removes name in dirfd and, for a directory, all below it,
// never following a symlink.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// copyDirMeta gives directory dst the owner, mode, xattrs and times of src.
func copyDirMeta(dst, src string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	x, err := readXattrs(src)
	if err != nil {
		return err
	}
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copying owner to %s: %w", dst, err)
	}
	if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
		return fmt.Errorf("copying mode to %s: %w", dst, err)
	}
	for k, v := range x {
		unix.Lsetxattr(dst, k, []byte(v), 0)
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copying times to %s: %w", dst, err)
	}
	return nil
}
