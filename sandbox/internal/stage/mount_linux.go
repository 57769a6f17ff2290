package stage

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// rootDir resolves paths inside the new root the way the sandbox will see
// them: a symlink is followed as if the root were "/", so a hostile tree
// cannot point a mount target at the host (runc CVE-2021-30465).
type rootDir struct {
	fd   int
	path string
}

func openRootDir(p string) (*rootDir, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening root %s: %w", p, err)
	}
	return &rootDir{fd: fd, path: p}, nil
}

func (r *rootDir) close() { unix.Close(r.fd) }

// open resolves p (absolute, inside the root) to an O_PATH descriptor.
func (r *rootDir) open(p string, flags int) (int, error) {
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EAGAIN || err == unix.EINTR { // a rename raced the lookup
			continue
		}
		return fd, err
	}
}

// mkdirAll resolves directory p inside the root, creating what is missing.
func (r *rootDir) mkdirAll(p string) (int, error) {
	p = path.Clean("/" + p)
	fd, err := r.open(p, unix.O_PATH|unix.O_DIRECTORY)
	if err != unix.ENOENT || p == "/" {
		return fd, err
	}
	pfd, err := r.mkdirAll(path.Dir(p))
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, path.Base(p), 0o755)
	unix.Close(pfd)
	if err != nil && err != unix.EEXIST {
		return -1, err
	}
	return r.open(p, unix.O_PATH|unix.O_DIRECTORY)
}

// mkfile resolves file p inside the root, creating it empty if missing.
func (r *rootDir) mkfile(p string) (int, error) {
	fd, err := r.open(p, unix.O_PATH)
	if err != unix.ENOENT {
		return fd, err
	}
	pfd, err := r.mkdirAll(path.Dir(p))
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	f, err := unix.Openat(pfd, path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && err != unix.EEXIST {
		return -1, err
	}
	if err == nil {
		unix.Close(f)
	}
	return r.open(p, unix.O_PATH)
}

// fdPath names an O_PATH descriptor for the syscalls that take only paths.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// performSteps builds the sandbox's filesystem from the plan. It runs in
// the init stage, in the sandbox's own mount namespace, before pivot_root.
func performSteps(cfg *Config) error {
	// Nothing mounted from here on may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	var root *rootDir
	defer func() {
		if root != nil {
			root.close()
		}
	}()
	for i := range cfg.Steps {
		st := &cfg.Steps[i]
		if st.Scratch {
			if err := scratchStep(st); err != nil {
				return err
			}
			continue
		}
		if root == nil {
			var err error
			if root, err = openRootDir(cfg.Rootfs); err != nil {
				return err
			}
		}
		if err := rootStep(root, st); err != nil {
			if st.Optional && errors.Is(err, unix.ENOENT) {
				continue
			}
			return err
		}
	}
	return nil
}

func scratchStep(st *Step) error {
	for _, d := range st.Mkdir {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := unix.Mount(st.Source, st.Target, st.FSType, st.Flags, st.Data); err != nil {
		return mountError(st, err)
	}
	return nil
}

func mountError(st *Step, err error) error {
	if st.FSType == "overlay" && (err == unix.ENODEV || err == unix.EINVAL) {
		return fmt.Errorf("%w: overlay over %s: %w", ErrUnsupported, st.Source, err)
	}
	what := st.FSType
	if what == "" {
		what = st.Kind
	}
	return fmt.Errorf("mounting %s on %s: %w", what, st.Target, err)
}

func rootStep(root *rootDir, st *Step) error {
	for _, d := range st.Mkdir {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	switch st.Kind {
	case StepMount:
		if st.Fallback {
			// A host submount that is a file (docker's and podman's
			// /etc/hosts, /etc/resolv.conf, /etc/hostname) cannot be an
			// overlay's lower layer: it is bound read-only, so the
			// sandbox cannot write the container's file through it.
			if fi, err := os.Stat(st.Source); err == nil && !fi.IsDir() {
				fd, err := root.mkfile(st.Target)
				if err != nil {
					return fmt.Errorf("resolving %s in the root: %w", st.Target, err)
				}
				defer unix.Close(fd)
				if err := bindAt(st.Source, fd, true); err != nil {
					return fmt.Errorf("binding %s on %s: %w", st.Source, st.Target, err)
				}
				return nil
			}
		}
		fd, err := root.mkdirAll(st.Target)
		if err != nil {
			return fmt.Errorf("resolving %s in the root: %w", st.Target, err)
		}
		defer unix.Close(fd)
		err = unix.Mount(st.Source, fdPath(fd), st.FSType, st.Flags, st.Data)
		if err != nil && st.Fallback {
			return bindAt(st.Source, fd, true)
		}
		if err != nil {
			return mountError(st, err)
		}
	case StepBind:
		// The source is opened once, and what was opened is bound: with
		// NoSymlinks, no symlink is followed on the way to it.
		how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC}
		if st.NoSymlinks {
			how.Resolve = unix.RESOLVE_NO_SYMLINKS
		}
		src, err := unix.Openat2(unix.AT_FDCWD, st.Source, how)
		if err != nil && st.NoSymlinks && err == unix.ELOOP {
			return fmt.Errorf("bind source %s: a symlink in the path, not followed (no_symlinks): %w", st.Source, err)
		}
		if err != nil {
			return fmt.Errorf("bind source: stat %s: %w", st.Source, err)
		}
		defer unix.Close(src)
		var sb unix.Stat_t
		if err := unix.Fstat(src, &sb); err != nil {
			return fmt.Errorf("bind source: stat %s: %w", st.Source, err)
		}
		var fd int
		if sb.Mode&unix.S_IFMT == unix.S_IFDIR {
			fd, err = root.mkdirAll(st.Target)
		} else {
			fd, err = root.mkfile(st.Target)
		}
		if err != nil {
			return fmt.Errorf("resolving bind target %s in the root: %w", st.Target, err)
		}
		defer unix.Close(fd)
		if err := bindTree(src, "", unix.AT_EMPTY_PATH, fd, st.RO); err != nil {
			return fmt.Errorf("binding %s on %s: %w", st.Source, st.Target, err)
		}
	case StepMknod:
		pfd, err := root.mkdirAll(path.Dir(st.Target))
		if err != nil {
			return fmt.Errorf("resolving %s in the root: %w", path.Dir(st.Target), err)
		}
		defer unix.Close(pfd)
		err = unix.Mknodat(pfd, path.Base(st.Target), unix.S_IFCHR|0o666, int(unix.Mkdev(st.Major, st.Minor)))
		if err == unix.EPERM {
			// No CAP_MKNOD (rootless): bind the host's node. Before
			// pivot_root, Target names the host's own /dev entry.
			fd, err := root.mkfile(st.Target)
			if err != nil {
				return fmt.Errorf("creating %s: %w", st.Target, err)
			}
			defer unix.Close(fd)
			return bindAt(st.Target, fd, false)
		}
		if err != nil {
			return fmt.Errorf("creating device %s: %w", st.Target, err)
		}
	case StepSymlink:
		pfd, err := root.mkdirAll(path.Dir(st.Target))
		if err != nil {
			return fmt.Errorf("resolving %s in the root: %w", path.Dir(st.Target), err)
		}
		defer unix.Close(pfd)
		if err := unix.Symlinkat(st.Source, pfd, path.Base(st.Target)); err != nil && err != unix.EEXIST {
			return fmt.Errorf("creating symlink %s: %w", st.Target, err)
		}
	case StepMask:
		fd, err := root.open(st.Target, unix.O_PATH)
		if err != nil {
			return fmt.Errorf("masking %s: %w", st.Target, err)
		}
		defer unix.Close(fd)
		var sb unix.Stat_t
		if err := unix.Fstat(fd, &sb); err != nil {
			return fmt.Errorf("masking %s: %w", st.Target, err)
		}
		if sb.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", fdPath(fd), "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0555")
		} else {
			err = unix.Mount(root.path+"/dev/null", fdPath(fd), "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", st.Target, err)
		}
	case StepReadOnly:
		fd, err := root.open(st.Target, unix.O_PATH)
		if err != nil {
			return fmt.Errorf("making %s read-only: %w", st.Target, err)
		}
		defer unix.Close(fd)
		if err := bindTree(fd, "", unix.AT_EMPTY_PATH, fd, true); err != nil {
			return fmt.Errorf("making %s read-only: %w", st.Target, err)
		}
	default:
		return fmt.Errorf("unknown setup step %q", st.Kind)
	}
	return nil
}

// bindAt binds the tree at src (recursively) onto the O_PATH descriptor
// target. A read-only bind is made read-only, submounts included, before it
// is attached, so it is never visible writable.
func bindAt(src string, target int, ro bool) error {
	return bindTree(unix.AT_FDCWD, src, 0, target, ro)
}

// bindTree is bindAt for a source named by a directory descriptor and a
// path relative to it (flags may add AT_EMPTY_PATH, with src "": the
// caller's error names the path then).
func bindTree(dirfd int, src string, flags, target int, ro bool) error {
	name := ""
	if src != "" {
		name = " " + src
	}
	tree, err := unix.OpenTree(dirfd, src, uint(unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|flags))
	if err != nil {
		return fmt.Errorf("cloning mount tree%s: %w", name, err)
	}
	defer unix.Close(tree)
	if ro {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("making%s read-only: %w", name, err)
		}
	}
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching%s: %w", name, err)
	}
	return nil
}

// pivotRoot makes rootfs the root and detaches the old one, so no path
// leads back to the host's tree.
func pivotRoot(rootfs string) error {
	fd, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening new root: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("entering new root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// lazy unmount then takes it away (runc's way: no directory needed).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	return unix.Chdir("/")
}
