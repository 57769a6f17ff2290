//go:build cgo && linux

#include "init.h"

// ---- Paths inside the new root, resolved as the sandbox will see them
// with openat2(RESOLVE_IN_ROOT): a hostile tree's symlinks stay inside.


// r_open resolves p to a descriptor; -1 with errno on failure.
static int r_open(struct is_root *r, const char *p, int flags) {
	char *abs = is_sprintf("/%s", p);
	char *c = go_clean(abs);
	free(abs);
	const char *rel = c;
	while (*rel == '/')
		rel++;
	if (*rel == 0)
		rel = ".";
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	long fd;
	do  // EAGAIN: a rename raced the lookup
		fd = syscall(SYS_openat2, r->fd, rel, &how, sizeof how);
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	int e = errno;
	free(c);
	errno = e;
	return (int)fd;
}

static int r_mkdir_all(struct is_root *r, const char *p) {
	char *abs = is_sprintf("/%s", p);
	char *c = go_clean(abs);
	free(abs);
	int fd = r_open(r, c, O_PATH | O_DIRECTORY);
	int e = errno;
	if (fd >= 0 || e != ENOENT || strcmp(c, "/") == 0) {
		free(c);
		errno = e;
		return fd;
	}
	char *dir = go_dir(c);
	int pfd = r_mkdir_all(r, dir);
	e = errno;
	free(dir);
	if (pfd < 0) {
		free(c);
		errno = e;
		return -1;
	}
	char *base = go_base(c);
	int rc = mkdirat(pfd, base, 0755);
	e = errno;
	if (rc == 0) {
		// Made just now, in a directory already resolved in the root: one
		// step to open, not the whole path again. Should something have
		// put a symlink in its place meanwhile, O_NOFOLLOW makes that
		// ENOTDIR.
		fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
	}
	close(pfd);
	free(base);
	if (rc < 0 && e != EEXIST) {
		free(c);
		errno = e;
		return -1;
	}
	if (rc < 0)
		fd = r_open(r, c, O_PATH | O_DIRECTORY);
	e = errno;
	free(c);
	errno = e;
	return fd;
}

// r_mkfile opens p, made as an empty file if it is not there. A bind's
// target in a new root mostly is not: the file is made first, in its
// directory, and opened from there, rather than the whole path resolved
// in the root three times (missing, then made, then opened).
static int r_mkfile(struct is_root *r, const char *p) {
	char *dir = go_dir(p);
	int pfd = r_mkdir_all(r, dir);
	int e = errno;
	free(dir);
	if (pfd < 0) {
		errno = e;
		return -1;
	}
	char *base = go_base(p);
	int fd = -1, f = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	e = errno;
	if (f >= 0) {
		fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(f);
	}
	close(pfd);
	free(base);
	if (f < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	if (f < 0)
		return r_open(r, p, O_PATH);  // there already: resolved as CMD will see it
	errno = e;
	return fd;
}


static struct fd_path fd_path(int fd) {
	struct fd_path p;
	snprintf(p.s, sizeof p.s, "/proc/self/fd/%d", fd);
	return p;
}

// is_mount is unix.Mount: empty data is NULL, as some filesystems want.
static int is_mount(const char *src, const char *dst, const char *fs, unsigned long flags, const char *data) {
	return mount(src, dst, fs, flags, data[0] ? data : NULL);
}

// bind_tree clones the tree at dirfd/src, recursively, sets the mount
// attributes attrs on it (MOUNT_ATTR_RDONLY, ...) before it is attached,
// and attaches it at target.
static int bind_tree(int dirfd, const char *src, int flags, int target, uint64_t attrs) {
	const char *sp = src[0] ? " " : "";  // with AT_EMPTY_PATH the caller names the path
	int tree = (int)syscall(SYS_open_tree, dirfd, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | flags);
	if (tree < 0)
		return is_fail(errno, "cloning mount tree%s%s", sp, src);
	if (attrs) {
		struct is_mount_attr attr;
		memset(&attr, 0, sizeof attr);
		attr.attr_set = attrs;
		if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
			int e = errno;
			close(tree);
			return is_fail(e, "making%s%s read-only", sp, src);
		}
	}
	if (syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		close(tree);
		return is_fail(e, "attaching%s%s", sp, src);
	}
	close(tree);
	return 0;
}

static int bind_at(const char *src, int target, int ro) {
	return bind_tree(AT_FDCWD, src, 0, target, ro ? MOUNT_ATTR_RDONLY : 0);
}

static int mount_error(const struct is_step *st, int err) {
	if (strcmp(st->fs, "overlay") == 0 && (err == ENODEV || err == EINVAL)) {
		is_fail(err, "not supported on this host: overlay over %s", st->src);
		is_unsup = 1;
		return -1;
	}
	return is_fail(err, "mounting %s on %s", st->fs[0] ? st->fs : st->kind, st->dst);
}

// The scratch tmpfs the first step mounted on the run directory (its
// path and device), under which the directories of the steps after are
// made.
static struct {
	const char *path;
	dev_t dev;
} scratch;

// mkdir_below makes path's directories below the scratch tmpfs, which
// must still be there: a spare that builds ahead (zygote.c) may find the
// run directory removed, its tmpfs with it (an rmdir detaches the mounts
// of every namespace on it), and its path, resolved on the host again,
// must make nothing there.
static int mkdir_below(const char *path) {
	struct stat st;
	if (stat(scratch.path, &st) < 0 || st.st_dev != scratch.dev)
		return is_fail(ENOENT, "mkdir %s: the run directory's scratch filesystem is gone", path);
	size_t n = strlen(scratch.path);
	char *p = is_sprintf("%s", path);
	for (char *c = p + n + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return is_fail(e, "mkdir %s", path);
		}
		*c = '/';
	}
	int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? is_fail(errno, "mkdir %s", path) : 0;
	free(p);
	if (rc == 0 && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = is_fail(ENOTDIR, "mkdir %s", path);
	return rc;
}

int is_noting, is_sources_full;
struct is_source is_sources[IS_MAXSOURCES];
uint32_t is_nsources;

// note records that the build resolved host path p to sb (NULL: it was
// not there). Paths under the scratch tmpfs are the sandbox's own.
static void note(const char *p, const struct stat *sb) {
	if (!is_noting || p[0] != '/')
		return;
	size_t n = scratch.path != NULL ? strlen(scratch.path) : 0;
	if (n > 0 && strncmp(p, scratch.path, n) == 0 && (p[n] == '/' || p[n] == 0))
		return;
	if (is_nsources == IS_MAXSOURCES) {
		is_sources_full = 1;
		return;
	}
	struct is_source *s = &is_sources[is_nsources++];
	s->path = p;
	s->dev = sb != NULL ? (uint64_t)sb->st_dev : 0;
	s->ino = sb != NULL ? (uint64_t)sb->st_ino : 0;
}

static void note_path(const char *p) {
	if (!is_noting)
		return;
	struct stat sb;
	note(p, stat(p, &sb) == 0 ? &sb : NULL);
}

// note_overlay notes an overlay's layers: its options' lowerdir (each of
// them), upperdir and workdir. No layer has a ',' or ':' in its path (the
// plan refuses one), so the options split plainly.
static void note_overlay(const char *data) {
	if (!is_noting)
		return;
	for (const char *o = data; *o;) {
		const char *end = strchr(o, ',');
		size_t len = end != NULL ? (size_t)(end - o) : strlen(o);
		const char *v = NULL;
		if (len > 9 && strncmp(o, "lowerdir=", 9) == 0)
			v = o + 9;
		else if (len > 9 && (strncmp(o, "upperdir=", 9) == 0 || strncmp(o, "workdir=", 8) == 0))
			v = strchr(o, '=') + 1;
		while (v != NULL && v < o + len) {
			const char *colon = memchr(v, ':', (size_t)(o + len - v));
			size_t l = colon != NULL ? (size_t)(colon - v) : (size_t)(o + len - v);
			note_path(is_sprintf("%.*s", (int)l, v));  // kept: the note names it
			v = colon != NULL ? colon + 1 : NULL;
		}
		o += len;
		if (*o == ',')
			o++;
	}
}

static int make_dirs(const struct is_step *st) {
	for (uint32_t i = 0; i < st->nmkdir; i++) {
		const char *d = st->mkdir[i];
		size_t n = scratch.path != NULL ? strlen(scratch.path) : 0;
		int below = n > 0 && strncmp(d, scratch.path, n) == 0 && d[n] == '/' && d[n + 1] != 0;
		if ((below ? mkdir_below(d) : go_mkdir_all(d, 0755)) < 0)
			return is_wrap("creating %s", d);
	}
	return 0;
}

static int scratch_step(const struct is_step *st) {
	if (make_dirs(st) < 0)
		return -1;
	if (is_mount(st->src, st->dst, st->fs, st->mflags, st->data) < 0)
		return mount_error(st, errno);
	return 0;
}

// step_mount to step_readonly are the steps inside the new root.
static int step_mount(struct is_root *root, const struct is_step *st) {
	note_path(st->src);
	if (strcmp(st->fs, "overlay") == 0)
		note_overlay(st->data);
	struct stat sb;
	if ((st->flags & IS_STEP_FALLBACK) && stat(st->src, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		// A host submount that is a file (docker's and podman's
		// /etc/hosts, /etc/resolv.conf, /etc/hostname) cannot be an
		// overlay's lower layer: it is bound read-only, so the sandbox
		// cannot write the container's file through it.
		int fd = r_mkfile(root, st->dst);
		if (fd < 0)
			return is_fail(errno, "resolving %s in the root", st->dst);
		int rc = bind_at(st->src, fd, 1);
		close(fd);
		if (rc < 0)
			return is_wrap("binding %s on %s", st->src, st->dst);
		return 0;
	}
	int fd = r_mkdir_all(root, st->dst);
	if (fd < 0)
		return is_fail(errno, "resolving %s in the root", st->dst);
	int rc = 0;
	if (is_mount(st->src, fd_path(fd).s, st->fs, st->mflags, st->data) < 0) {
		int e = errno;
		rc = (st->flags & IS_STEP_FALLBACK) ? bind_at(st->src, fd, 1) : mount_error(st, e);
	}
	close(fd);
	return rc;
}

static int step_bind(struct is_root *root, const struct is_step *st) {
	// The source is opened once, and what was opened is bound: with
	// NoSymlinks, no symlink is followed on the way to it.
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	if (st->flags & IS_STEP_NOSYMLINKS)
		how.resolve = RESOLVE_NO_SYMLINKS;
	int src = (int)syscall(SYS_openat2, AT_FDCWD, st->src, &how, sizeof how);
	if (src < 0 && errno == ELOOP && (st->flags & IS_STEP_NOSYMLINKS))
		return is_fail(errno, "bind source %s: a symlink in the path, not followed (no_symlinks)", st->src);
	if (src < 0) {
		int e = errno;
		note(st->src, NULL);
		return is_fail(e, "bind source: stat %s", st->src);
	}
	struct stat sb;
	if (fstat(src, &sb) < 0) {
		int e = errno;
		close(src);
		return is_fail(e, "bind source: stat %s", st->src);
	}
	note(st->src, &sb);
	int fd = S_ISDIR(sb.st_mode) ? r_mkdir_all(root, st->dst) : r_mkfile(root, st->dst);
	if (fd < 0) {
		int e = errno;
		close(src);
		return is_fail(e, "resolving bind target %s in the root", st->dst);
	}
	// nosuid and nodev: the caller's files are data to CMD, never a way to
	// gain ids or reach a device.
	uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | ((st->flags & IS_STEP_RO) ? MOUNT_ATTR_RDONLY : 0);
	int rc = bind_tree(src, "", AT_EMPTY_PATH, fd, attrs);
	close(fd);
	close(src);
	if (rc < 0)
		return is_wrap("binding %s on %s", st->src, st->dst);
	return 0;
}

// r_parent makes the directories above p and opens the last of them; *base
// is p's last element, for the *at call that makes p there.
static int r_parent(struct is_root *root, const char *p, char **base) {
	char *dir = go_dir(p);
	int pfd = r_mkdir_all(root, dir);
	if (pfd < 0) {
		is_fail(errno, "resolving %s in the root", dir);
		free(dir);
		return -1;
	}
	free(dir);
	*base = go_base(p);
	return pfd;
}

static int step_mknod(struct is_root *root, const struct is_step *st) {
	char *base;
	int pfd = r_parent(root, st->dst, &base);
	if (pfd < 0)
		return -1;
	int rc = mknodat(pfd, base, S_IFCHR | 0666, makedev(st->major, st->minor));
	int e = errno;
	free(base);
	close(pfd);
	if (rc < 0 && e == EPERM) {
		// No CAP_MKNOD (rootless): bind the host's node. Before
		// pivot_root, the target names the host's own /dev entry.
		note_path(st->dst);
		int fd = r_mkfile(root, st->dst);
		if (fd < 0)
			return is_fail(errno, "creating %s", st->dst);
		rc = bind_at(st->dst, fd, 0);
		close(fd);
		return rc;
	}
	if (rc < 0)
		return is_fail(e, "creating device %s", st->dst);
	return 0;
}

static int step_symlink(struct is_root *root, const struct is_step *st) {
	char *base;
	int pfd = r_parent(root, st->dst, &base);
	if (pfd < 0)
		return -1;
	int rc = symlinkat(st->src, pfd, base);
	int e = errno;
	free(base);
	close(pfd);
	if (rc < 0 && e != EEXIST)
		return is_fail(e, "creating symlink %s", st->dst);
	return 0;
}

static int step_mask(struct is_root *root, const struct is_step *st) {
	int fd = r_open(root, st->dst, O_PATH);
	if (fd < 0)
		return is_fail(errno, "masking %s", st->dst);
	struct stat sb;
	int rc = fstat(fd, &sb);
	if (rc == 0 && S_ISDIR(sb.st_mode))
		rc = mount("tmpfs", fd_path(fd).s, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555");
	else if (rc == 0) {
		char *null = is_sprintf("%s/dev/null", root->path);
		rc = mount(null, fd_path(fd).s, "", MS_BIND, NULL);
		int e = errno;
		free(null);
		errno = e;
	}
	int e = errno;
	close(fd);
	if (rc < 0)
		return is_fail(e, "masking %s", st->dst);
	return 0;
}

static int step_readonly(struct is_root *root, const struct is_step *st) {
	int fd = r_open(root, st->dst, O_PATH);
	if (fd < 0)
		return is_fail(errno, "making %s read-only", st->dst);
	int rc = bind_tree(fd, "", AT_EMPTY_PATH, fd, MOUNT_ATTR_RDONLY);
	close(fd);
	if (rc < 0)
		return is_wrap("making %s read-only", st->dst);
	return 0;
}

static int root_step(struct is_root *root, const struct is_step *st) {
	if (make_dirs(st) < 0)
		return -1;
	if (strcmp(st->kind, "mount") == 0)
		return step_mount(root, st);
	if (strcmp(st->kind, "bind") == 0)
		return step_bind(root, st);
	if (strcmp(st->kind, "mknod") == 0)
		return step_mknod(root, st);
	if (strcmp(st->kind, "symlink") == 0)
		return step_symlink(root, st);
	if (strcmp(st->kind, "mask") == 0)
		return step_mask(root, st);
	if (strcmp(st->kind, "readonly") == 0)
		return step_readonly(root, st);
	return is_fail(0, "unknown setup step \"%s\"", st->kind);
}

// perform_steps builds the sandbox's filesystem from the plan, in the
// sandbox's own mount namespace, before pivot_root.
int perform_steps(const struct is_cfg *c) {
	// Nothing mounted from here on may propagate back to the host.
	if (mount("", "/", "", MS_REC | MS_PRIVATE, NULL) < 0)
		return is_fail(errno, "making mounts private");
	struct is_root root = {.fd = -1, .path = c->rootfs};
	int rc = 0;
	for (uint32_t i = 0; i < c->nsteps && rc == 0; i++) {
		const struct is_step *st = &c->steps[i];
		if (st->flags & IS_STEP_SCRATCH) {
			rc = scratch_step(st);
			struct stat sb;
			if (rc == 0 && i == 0 && strcmp(st->dst, c->scratch) == 0) {
				// Gone already (its directory removed, which detaches it):
				// what would be made below it would be made on the host.
				if (stat(c->scratch, &sb) < 0) {
					rc = is_fail(errno, "the run directory's scratch filesystem is gone");
				} else {
					scratch.path = c->scratch;
					scratch.dev = sb.st_dev;
				}
			}
			continue;
		}
		if (root.fd < 0) {
			root.fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (root.fd < 0) {
				rc = is_fail(errno, "opening root %s", c->rootfs);
				break;
			}
		}
		rc = root_step(&root, st);
		if (rc < 0 && (st->flags & IS_STEP_OPTIONAL) && is_errno == ENOENT) {
			is_clear();
			rc = 0;
		}
	}
	if (root.fd >= 0)
		close(root.fd);
	return rc;
}

// pivot_into makes rootfs the root and detaches the old one, so no path
// leads back to the host's tree.
int pivot_into(const char *rootfs) {
	int fd = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return is_fail(errno, "opening new root");
	if (fchdir(fd) < 0) {
		int e = errno;
		close(fd);
		return is_fail(e, "entering new root");
	}
	close(fd);
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// lazy unmount then takes it away.
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return is_fail(errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return is_fail(errno, "detaching old root");
	if (chdir("/") < 0)
		return is_fail(errno, "%s", "");  // unwrapped, as pivotRoot returns it
	return 0;
}

int loopback_up(void) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return is_fail(errno, "bringing up loopback");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(fd);
	if (rc < 0)
		return is_fail(e, "bringing up loopback");
	return 0;
}

// workdir creates an explicit workdir, or takes the caller's directory:
// when it must be had (IS_WDREQ), one missing inside the sandbox is an
// error naming it; otherwise the fallback is "/" (see workdir in
// init_linux.go).
const char *workdir(const struct is_cfg *c) {
	if (c->dir[0]) {
		if (go_mkdir_all(c->dir, 0755) < 0) {
			is_wrap("creating workdir");
			return NULL;
		}
		return c->dir;
	}
	struct stat sb;
	if (c->callerwd[0]) {
		int rc = stat(c->callerwd, &sb), e = rc < 0 ? errno : ENOTDIR;
		if (rc == 0 && S_ISDIR(sb.st_mode))
			return c->callerwd;
		if (c->flags & IS_WDREQ) {
			is_fail(e, "working directory %s: not in the sandbox", c->callerwd);
			return NULL;
		}
	}
	return "/";
}

// open_console makes CMD's pty in the sandbox's own devpts, sends the
// master to the runner, and returns the slave.
int open_console(const struct is_cfg *c, int console) {
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return is_fail(errno, "opening pty");
	int zero = 0, slave = -1;
	if (ioctl(master, TIOCSPTLCK, &zero) < 0) {
		is_fail(errno, "unlocking pty");
		goto fail;
	}
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		is_fail(errno, "opening pty peer");
		goto fail;
	}
	if (c->rows > 0 && c->cols > 0) {
		struct winsize ws = {.ws_row = c->rows, .ws_col = c->cols};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0) {
			is_fail(errno, "sizing pty");
			goto fail;
		}
	}
	if (fchown(slave, c->uid, c->gid) < 0) {
		is_fail(errno, "handing pty to uid %u", c->uid);
		goto fail;
	}
	if (sandbox_send_fd(console, master) < 0) {
		is_fail(errno, "sending pty to runner");
		goto fail;
	}
	close(console);
	close(master);
	return slave;
fail:
	if (slave >= 0)
		close(slave);
	close(master);
	return -1;
}
