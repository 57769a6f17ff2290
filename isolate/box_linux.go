package isolate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sandbox-dev/sandbox/sandbox"
	"golang.org/x/sys/unix"
)

// A box on the host, under the box root:
//
//	<root>/<id>.lock   flock'd by whoever manages the box; removed by --cleanup
//	<root>/<id>/       what --init prints (mode 0755)
//	    box/           the program's working directory, /box inside (0700,
//	                   the caller's between runs, the box user's during one)
//	    tmp/           /tmp inside, emptied at each run (1777)
//	    root/          the empty lower layer of the box's root (0755)
//	    .stage/        mount point for the private namespace's staged binds
//
// Nothing is mounted on the host: every mount a run needs lives in its
// sandbox's mount namespace (or the private one of a staging runner).

type box struct {
	o    *Options
	dir  string
	lock *os.File
}

func (b *box) path(p ...string) string { return filepath.Join(append([]string{b.dir}, p...)...) }

// lockBox takes the box's lock: at once, or with wait when another
// instance holds it. The lock file is removed by cleanup while held, so a
// waiter that wakes on a removed file takes the lock again on the new one.
// Only --init creates the box root; without one there is no box, and
// errNoRoot says so.
func lockBox(o *Options, create bool) (*box, error) {
	if create {
		if err := os.MkdirAll(o.BoxRoot, 0o755); err != nil {
			return nil, fmt.Errorf("creating the box root: %w", err)
		}
		if err := ownBoxRoot(o.BoxRoot); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(o.BoxRoot); errors.Is(err, fs.ErrNotExist) {
		return nil, errNoRoot
	}
	name := filepath.Join(o.BoxRoot, strconv.Itoa(o.BoxID)+".lock")
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening the lock of box %d: %w", o.BoxID, err)
		}
		how := unix.LOCK_EX
		if !o.Wait {
			how |= unix.LOCK_NB
		}
		if err := unix.Flock(int(f.Fd()), how); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: box %d is managed by another instance of isolate (--wait waits for it)", ErrBusy, o.BoxID)
			}
			return nil, fmt.Errorf("locking box %d: %w", o.BoxID, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(name, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return &box{o: o, dir: o.BoxDir(), lock: f}, nil
		}
		f.Close() // removed by a cleanup while we waited
	}
}

// ownBoxRoot refuses, without root, a box root that is not a directory
// of the caller's own: in a shared temp directory another user could have
// made it first.
func ownBoxRoot(dir string) error {
	if os.Geteuid() == 0 {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("creating the box root: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: box root %s: not a directory of uid %d's own (choose another with --box-root)", ErrUnsupported, dir, os.Geteuid())
	}
	return nil
}

// errNoRoot is lockBox's answer when there is no box root at all.
var errNoRoot = errors.New("no box root")

func (b *box) unlock() { b.lock.Close() }

// forget removes the lock file of a box that does not exist, while
// holding it, so that a failed --run leaves nothing behind.
func (b *box) forget() { os.Remove(b.lock.Name()) }

// owner is who owns the box between runs: --as-uid/--as-gid, else the
// caller.
func (b *box) owner() (int, int) {
	if b.o.AsUID != nil {
		return *b.o.AsUID, *b.o.AsGID
	}
	return os.Getuid(), os.Getgid()
}

// initBox makes the box afresh (an existing one is reset, as isolate
// does): built under a temporary name and renamed into place.
func (b *box) initBox() error {
	if err := b.remove(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(b.o.BoxRoot, "."+strconv.Itoa(b.o.BoxID)+".init-*")
	if err != nil {
		return fmt.Errorf("creating box %d: %w", b.o.BoxID, err)
	}
	uid, gid := b.owner()
	err = func() error {
		for _, d := range []struct {
			name string
			mode os.FileMode
		}{{"box", 0o700}, {"tmp", 0o777 | os.ModeSticky}, {"root", 0o755}, {".stage", 0o700}} {
			p := filepath.Join(tmp, d.name)
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			if err := os.Chmod(p, d.mode); err != nil {
				return err
			}
		}
		if err := os.Chown(filepath.Join(tmp, "box"), uid, gid); err != nil {
			return err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		return os.Rename(tmp, b.dir)
	}()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("creating box %d: %w", b.o.BoxID, err)
	}
	return nil
}

// remove deletes the box directory, refusing if anything is mounted
// inside it: a removal must never reach into another filesystem.
func (b *box) remove() error {
	if _, err := os.Lstat(b.dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if m, err := mountedUnder(b.dir); err != nil {
		return err
	} else if m != "" {
		return fmt.Errorf("removing box %d: %s is a mount point; unmount it first", b.o.BoxID, m)
	}
	err := os.RemoveAll(b.dir)
	if err != nil && os.Geteuid() != 0 && errors.Is(err, fs.ErrPermission) {
		// A run that died left box/ or tmp/ the box user's: take them back
		// in its namespace, then remove.
		var left []string
		for _, d := range []string{b.path("box"), b.path("tmp")} {
			if _, serr := os.Lstat(d); serr == nil {
				left = append(left, d)
			}
		}
		if cerr := chownInNS(b.o, os.Environ(), uint32(os.Getuid()), uint32(os.Getgid()), left...); cerr != nil {
			return fmt.Errorf("removing box %d: %w (%v)", b.o.BoxID, err, cerr)
		}
		// The caller's again, but maybe closed (a directory of mode 0500):
		// open each before RemoveAll goes in, which root needs not.
		filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		err = os.RemoveAll(b.dir)
	}
	if err != nil {
		return fmt.Errorf("removing box %d: %w", b.o.BoxID, err)
	}
	return nil
}

// cleanup removes the box and its lock file; nothing to do is no error.
func (b *box) cleanup() error {
	if err := b.remove(); err != nil {
		return err
	}
	if err := os.Remove(b.lock.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the lock of box %d: %w", b.o.BoxID, err)
	}
	return nil
}

// mountedUnder returns a mount point at or below dir, "" if none.
func mountedUnder(dir string) (string, error) {
	ps, err := sandbox.MountPoints()
	if err != nil {
		return "", err
	}
	for _, mp := range ps {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return mp, nil
		}
	}
	return "", nil
}

// chownTree gives the box directory's tree to uid:gid without following
// symlinks. A regular file with more than one link is left alone: it may
// be a hard link the box's program made to a file of someone else's, and
// chowning it would hand that file over.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
					return nil
				}
			}
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("chowning %s: %w", p, err)
		}
		return nil
	})
}

// removeSpecialFiles removes what is neither a regular file nor a
// directory (fifos, sockets, symlinks) from the box directory after a run,
// as isolate does unless --special-files: the caller then opens only what
// the program could have made of plain files.
func removeSpecialFiles(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Type().IsRegular() {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing special file %s: %w", p, err)
		}
		return nil
	})
}

// emptyDir removes everything inside dir, keeping dir.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
