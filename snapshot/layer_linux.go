package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CopyLayer copies the overlay upper layer at src into dst, an empty
// directory (an active snapshot's upper before its first mount), verbatim:
// whiteouts, opaque markers and every other extended attribute, owners,
// modes, times and hard links as they are, sparse files with their holes.
// A runner whose run's upper lived in a size-capped tmpfs (so that a disk
// limit holds with a commit too) copies it into the store this way before
// Commit; the layer is no bigger in the store than it was there.
//
// src must be still: the run whose layer it was has ended. Nothing under
// dst is followed: every object is created fresh, under directories this
// copy made.
func CopyLayer(ctx context.Context, dst, src string) error {
	c := &layerCopy{ctx: ctx, links: map[uint64]string{}, buf: make([]byte, 1<<20)}
	if err := c.dir(dst, src); err != nil {
		return fmt.Errorf("copying layer %s: %w", src, err)
	}
	return nil
}

type layerCopy struct {
	ctx   context.Context
	links map[uint64]string // inode of a file with links -> its copy
	buf   []byte
}

// dir copies the entries of directory src into dst, which exists, then
// src's own attributes onto dst.
func (c *layerCopy) dir(dst, src string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if err := c.entry(d, s); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	return copyMeta(dst, src, &st)
}

func (c *layerCopy) entry(dst, src string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		if first, ok := c.links[st.Ino]; ok {
			return unix.Link(first, dst)
		}
		c.links[st.Ino] = dst
	}
	switch typ {
	case unix.S_IFDIR:
		if err := unix.Mkdir(dst, 0o700); err != nil {
			return err
		}
		return c.dir(dst, src)
	case unix.S_IFREG:
		if err := c.file(dst, src, &st); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := unix.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		// Whiteouts are 0:0 character devices.
		if err := unix.Mknod(dst, typ|0o600, int(st.Rdev)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown file type %#o", typ)
	}
	return copyMeta(dst, src, &st)
}

// file copies a regular file's data extent by extent, so that holes stay
// holes: a tmpfs file of a terabyte with nothing in it must not become a
// terabyte on the store's disk.
func (c *layerCopy) file(dst, src string, st *unix.Stat_t) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	fd := int(in.Fd())
	for off := int64(0); off < st.Size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // a hole to the end
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(io.NewOffsetWriter(out, data), io.NewSectionReader(in, data, hole-data), c.buf); err != nil {
			return err
		}
		off = hole
	}
	if err := out.Truncate(st.Size); err != nil {
		return err
	}
	return out.Close()
}

// copyMeta gives dst src's owner, mode, extended attributes and times, in
// that order: a chown clears setuid bits and file capabilities, and every
// change but the last moves ctime and mtime.
func copyMeta(dst, src string, st *unix.Stat_t) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, st.Mode&0o7777, 0); err != nil {
			return err
		}
	}
	if err := copyXattrs(dst, src); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(unix.TimespecToNsec(st.Atim)), unix.NsecToTimespec(unix.TimespecToNsec(st.Mtim))}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func copyXattrs(dst, src string) error {
	size, err := unix.Llistxattr(src, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
		return err
	}
	names := make([]byte, size)
	if size, err = unix.Llistxattr(src, names); err != nil {
		return err
	}
	for _, name := range splitNul(names[:size]) {
		n, err := unix.Lgetxattr(src, name, nil)
		if err != nil {
			return fmt.Errorf("reading xattr %s: %w", name, err)
		}
		v := make([]byte, n)
		if n, err = unix.Lgetxattr(src, name, v); err != nil {
			return fmt.Errorf("reading xattr %s: %w", name, err)
		}
		if err := unix.Lsetxattr(dst, name, v[:n], 0); err != nil {
			return fmt.Errorf("writing xattr %s: %w", name, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
