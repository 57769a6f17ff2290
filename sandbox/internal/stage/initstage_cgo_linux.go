//go:build cgo

package stage

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

// In execstage_cgo_linux.go.
int sandbox_read_full(int fd, char *p, size_t n);
int sandbox_write_all(int fd, const char *p, size_t n);
int sandbox_send_fd(int sock, int fd);

// The init stage in C: PID 1 of the sandbox, entered from sandbox_prefork
// (prefork_cgo_linux.go) before the Go runtime starts, and never returning
// to it: the runtime's start and every linked package's init functions
// were most of a throwaway sandbox's CPU. It is the only implementation:
// a binary built without cgo has no sandbox (stage.Available). Its errors
// are worded as Go wraps errors, as the runner reports them verbatim.

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x2
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x4
#endif

// struct mount_attr (linux/mount.h, which clashes with sys/mount.h).
struct is_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

// Out of memory, PID 1 cannot even word a report: the runner sees it end
// without one, a runner failure.
static void is_oom(void) { _exit(125); }

static void *is_alloc(size_t n) {
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		is_oom();
	return p;
}

static char *is_sprintf(const char *fmt, ...) {
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		is_oom();
	return s;
}

// ---- Failures, worded as Go wraps them.

static char *is_msg;   // the failure's message
static int is_errno;   // the errno it wraps, if any (errors.Is)
static int is_unsup;   // it wraps ErrUnsupported

// is_errtext is strerror lowercased, as Go's syscall.Errno prints.
static char *is_errtext(int err) {
	char *s = is_sprintf("%s", strerror(err));
	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] += 'a' - 'A';
	return s;
}

static void is_clear(void) {
	free(is_msg);
	is_msg = NULL;
	is_errno = is_unsup = 0;
}

// is_fail records a failure: the message, then ": " and err's text if err
// is not 0 (only the text if the message is empty). It returns -1 for the caller to return.
static int is_fail(int err, const char *fmt, ...) {
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		is_oom();
	is_clear();
	if (err != 0 && s[0] == 0) {  // the bare errno, unwrapped
		is_msg = is_errtext(err);
		free(s);
	} else if (err != 0) {
		char *e = is_errtext(err);
		is_msg = is_sprintf("%s: %s", s, e);
		free(e);
		free(s);
	} else
		is_msg = s;
	is_errno = err;
	return -1;
}

// is_wrap puts a prefix before the failure recorded: fmt.Errorf("...: %w").
static int is_wrap(const char *fmt, ...) {
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		is_oom();
	char *m = is_sprintf("%s: %s", s, is_msg ? is_msg : "");
	free(s);
	free(is_msg);
	is_msg = m;
	return -1;
}

// ---- Go's path.Clean, path.Dir and path.Base, on which the steps' paths
// were planned.

static char *go_clean(const char *p) {
	size_t n = strlen(p);
	if (n == 0)
		return is_sprintf(".");
	char *out = is_alloc(n + 3);
	int rooted = p[0] == '/';
	size_t w = 0, r = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/')
			r++;
		else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/'))
			r++;
		else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && p[r] != '/'; r++)
				out[w++] = p[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = 0;
	return out;
}

static char *go_dir(const char *p) {
	const char *slash = strrchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) + 1 : 0;
	char *d = is_alloc(n + 1);
	memcpy(d, p, n);
	d[n] = 0;
	char *c = go_clean(d);
	free(d);
	return c;
}

static char *go_base(const char *p) {
	size_t n = strlen(p);
	if (n == 0)
		return is_sprintf(".");
	while (n > 0 && p[n - 1] == '/')
		n--;
	size_t i = n;
	while (i > 0 && p[i - 1] != '/')
		i--;
	if (n == i)
		return is_sprintf("/");
	char *b = is_alloc(n - i + 1);
	memcpy(b, p + i, n - i);
	b[n - i] = 0;
	return b;
}

// go_mkdir_all is os.MkdirAll, for host paths, failing as it does.
static int go_mkdir_all(const char *path, mode_t perm) {
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		return is_fail(ENOTDIR, "mkdir %s", path);
	}
	size_t i = strlen(path);
	while (i > 0 && path[i - 1] == '/')
		i--;
	while (i > 0 && path[i - 1] != '/')
		i--;
	if (i > 1) {  // path[:i-1] is the parent, without its separator
		char *parent = is_alloc(i);
		memcpy(parent, path, i - 1);
		parent[i - 1] = 0;
		int r = go_mkdir_all(parent, perm);
		free(parent);
		if (r < 0)
			return r;
	}
	if (mkdir(path, perm) < 0) {
		int e = errno;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return is_fail(e, "mkdir %s", path);
	}
	return 0;
}

// ---- The config, as EncodeConfig (config_wire_linux.go) writes it.

struct is_step {
	uint32_t flags, major, minor;
	uint64_t mflags;
	const char *kind, *src, *dst, *fs, *data;
	uint32_t nmkdir;
	const char **mkdir;
};

struct is_rlimit {
	int32_t resource;
	uint64_t cur, max;
};

struct is_cfg {
	uint32_t flags, uid, gid;
	uint16_t rows, cols;
	int32_t extra;
	const char *dir, *callerwd, *hostname, *domainname, *scratch, *rootfs;
	uint32_t nargs, nenv, ncaps, nsteps, nrlimits, nfilter, nnames;
	const char **args, **env, **names;
	int32_t *caps, *nrs;
	struct is_step *steps;
	struct is_rlimit *rlimits;
	struct sock_filter *filter;
};

#define IS_TTY 1
#define IS_LOOPBACK 2
#define IS_SECCOMP 4
#define IS_NOTIFY 8
#define IS_WDREQ 256  // configWdRequired
#define IS_STEP_RO 1
#define IS_STEP_SCRATCH 2
#define IS_STEP_OPTIONAL 4
#define IS_STEP_FALLBACK 8
#define IS_STEP_NOSYMLINKS 16

struct is_rd {
	const char *p, *end;
	int bad;
};

static const char *rd_take(struct is_rd *r, size_t n) {
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const char *p = r->p;
	r->p += n;
	return p;
}

static uint16_t rd_u16(struct is_rd *r) {
	uint16_t v = 0;
	const char *p = rd_take(r, 2);
	if (p)
		memcpy(&v, p, 2);
	return v;
}

static uint32_t rd_u32(struct is_rd *r) {
	uint32_t v = 0;
	const char *p = rd_take(r, 4);
	if (p)
		memcpy(&v, p, 4);
	return v;
}

static uint64_t rd_u64(struct is_rd *r) {
	uint64_t v = 0;
	const char *p = rd_take(r, 8);
	if (p)
		memcpy(&v, p, 8);
	return v;
}

// rd_count reads a number of items of at least size bytes each; more than
// the rest can hold is malformed (and no allocation is made for it).
static uint32_t rd_count(struct is_rd *r, size_t size) {
	uint32_t n = rd_u32(r);
	if (!r->bad && (uint64_t)n * size > (uint64_t)(r->end - r->p))
		r->bad = 1;
	return r->bad ? 0 : n;
}

// rd_str returns a string in place: the encoder NUL-terminates each. One
// with a NUL inside could not be what the runner meant.
static const char *rd_str(struct is_rd *r) {
	uint32_t n = rd_u32(r);
	const char *s = rd_take(r, (size_t)n + 1);
	if (s == NULL || s[n] != 0 || memchr(s, 0, n) != NULL) {
		r->bad = 1;
		return "";
	}
	return s;
}

static const char **rd_strs(struct is_rd *r, uint32_t *n) {
	*n = rd_count(r, 5);
	const char **v = is_alloc(((size_t)*n + 1) * sizeof *v);
	for (uint32_t i = 0; i < *n; i++)
		v[i] = rd_str(r);
	v[*n] = NULL;
	return v;
}

static int is_decode(const char *msg, size_t len, struct is_cfg *c) {
	struct is_rd r = {.p = msg, .end = msg + len, .bad = 0};
	memset(c, 0, sizeof *c);
	c->flags = rd_u32(&r);
	c->uid = rd_u32(&r);
	c->gid = rd_u32(&r);
	c->rows = rd_u16(&r);
	c->cols = rd_u16(&r);
	c->extra = (int32_t)rd_u32(&r);
	c->dir = rd_str(&r);
	c->callerwd = rd_str(&r);
	c->hostname = rd_str(&r);
	c->domainname = rd_str(&r);
	c->scratch = rd_str(&r);
	c->rootfs = rd_str(&r);
	c->args = rd_strs(&r, &c->nargs);
	c->env = rd_strs(&r, &c->nenv);
	c->ncaps = rd_count(&r, 4);
	c->caps = is_alloc((size_t)c->ncaps * sizeof *c->caps);
	for (uint32_t i = 0; i < c->ncaps; i++)
		c->caps[i] = (int32_t)rd_u32(&r);
	c->nsteps = rd_count(&r, 4 + 8 + 8 + 5 * 5 + 4);
	c->steps = is_alloc((size_t)c->nsteps * sizeof *c->steps);
	for (uint32_t i = 0; i < c->nsteps; i++) {
		struct is_step *st = &c->steps[i];
		st->flags = rd_u32(&r);
		st->mflags = rd_u64(&r);
		st->major = rd_u32(&r);
		st->minor = rd_u32(&r);
		st->kind = rd_str(&r);
		st->src = rd_str(&r);
		st->dst = rd_str(&r);
		st->fs = rd_str(&r);
		st->data = rd_str(&r);
		st->mkdir = rd_strs(&r, &st->nmkdir);
	}
	c->nrlimits = rd_count(&r, 4 + 8 + 8);
	c->rlimits = is_alloc((size_t)c->nrlimits * sizeof *c->rlimits);
	for (uint32_t i = 0; i < c->nrlimits; i++) {
		c->rlimits[i].resource = (int32_t)rd_u32(&r);
		c->rlimits[i].cur = rd_u64(&r);
		c->rlimits[i].max = rd_u64(&r);
	}
	if (c->flags & IS_SECCOMP) {
		c->nfilter = rd_count(&r, sizeof(struct sock_filter));
		c->filter = is_alloc((size_t)c->nfilter * sizeof *c->filter);
		const char *f = rd_take(&r, (size_t)c->nfilter * sizeof *c->filter);
		if (f)
			memcpy(c->filter, f, (size_t)c->nfilter * sizeof *c->filter);
		c->nnames = rd_count(&r, 4 + 5);
		c->nrs = is_alloc((size_t)c->nnames * sizeof *c->nrs);
		c->names = is_alloc((size_t)c->nnames * sizeof *c->names);
		for (uint32_t i = 0; i < c->nnames; i++) {
			c->nrs[i] = (int32_t)rd_u32(&r);
			c->names[i] = rd_str(&r);
		}
	}
	if (r.bad || r.p != r.end || c->nargs == 0)
		return -1;
	return 0;
}

// ---- Paths inside the new root, resolved as the sandbox will see them
// with openat2(RESOLVE_IN_ROOT): a hostile tree's symlinks stay inside.

struct is_root {
	int fd;
	const char *path;
};

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
	close(pfd);
	free(base);
	if (rc < 0 && e != EEXIST) {
		free(c);
		errno = e;
		return -1;
	}
	fd = r_open(r, c, O_PATH | O_DIRECTORY);
	e = errno;
	free(c);
	errno = e;
	return fd;
}

static int r_mkfile(struct is_root *r, const char *p) {
	int fd = r_open(r, p, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char *dir = go_dir(p);
	int pfd = r_mkdir_all(r, dir);
	int e = errno;
	free(dir);
	if (pfd < 0) {
		errno = e;
		return -1;
	}
	char *base = go_base(p);
	int f = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	e = errno;
	close(pfd);
	free(base);
	if (f < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	if (f >= 0)
		close(f);
	return r_open(r, p, O_PATH);
}

// fd_path names an O_PATH descriptor for the syscalls that take only paths.
struct fd_path {
	char s[32];
};

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

static int make_dirs(const struct is_step *st) {
	for (uint32_t i = 0; i < st->nmkdir; i++)
		if (go_mkdir_all(st->mkdir[i], 0755) < 0)
			return is_wrap("creating %s", st->mkdir[i]);
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
	if (src < 0)
		return is_fail(errno, "bind source: stat %s", st->src);
	struct stat sb;
	if (fstat(src, &sb) < 0) {
		int e = errno;
		close(src);
		return is_fail(e, "bind source: stat %s", st->src);
	}
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

static int step_mknod(struct is_root *root, const struct is_step *st) {
	char *dir = go_dir(st->dst);
	int pfd = r_mkdir_all(root, dir);
	if (pfd < 0) {
		is_fail(errno, "resolving %s in the root", dir);
		free(dir);
		return -1;
	}
	free(dir);
	char *base = go_base(st->dst);
	int rc = mknodat(pfd, base, S_IFCHR | 0666, makedev(st->major, st->minor));
	int e = errno;
	free(base);
	close(pfd);
	if (rc < 0 && e == EPERM) {
		// No CAP_MKNOD (rootless): bind the host's node. Before
		// pivot_root, the target names the host's own /dev entry.
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
	char *dir = go_dir(st->dst);
	int pfd = r_mkdir_all(root, dir);
	if (pfd < 0) {
		is_fail(errno, "resolving %s in the root", dir);
		free(dir);
		return -1;
	}
	free(dir);
	char *base = go_base(st->dst);
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
static int perform_steps(const struct is_cfg *c) {
	// Nothing mounted from here on may propagate back to the host.
	if (mount("", "/", "", MS_REC | MS_PRIVATE, NULL) < 0)
		return is_fail(errno, "making mounts private");
	struct is_root root = {.fd = -1, .path = c->rootfs};
	int rc = 0;
	for (uint32_t i = 0; i < c->nsteps && rc == 0; i++) {
		const struct is_step *st = &c->steps[i];
		if (st->flags & IS_STEP_SCRATCH) {
			rc = scratch_step(st);
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
static int pivot_into(const char *rootfs) {
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

static int loopback_up(void) {
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
static const char *workdir(const struct is_cfg *c) {
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
static int open_console(const struct is_cfg *c, int console) {
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

// ---- The report.

struct is_buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct is_buf *b, const char *s, size_t n) {
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			is_oom();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_str(struct is_buf *b, const char *s) { buf_add(b, s, strlen(s)); }

// buf_json adds s as a JSON string. Bytes that are not UTF-8 pass as they
// are: encoding/json reads them as U+FFFD, as it would have written them.
static void buf_json(struct is_buf *b, const char *s) {
	buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			buf_add(b, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			buf_add(b, esc, 6);
		} else
			buf_add(b, s, 1);
	}
	buf_add(b, "\"", 1);
}

struct is_exit {
	int code, sig, unsup, pid;
	const char *error, *refused;
};

// is_report writes the Exit (the JSON the runner decodes, stage.Exit) on
// the control socket, and ends PID 1: the kernel then kills whatever is
// left in the pid namespace.
static void is_report(int ctrl, const struct is_exit *ev) {
	struct is_buf b = {0};
	char num[32];
	snprintf(num, sizeof num, "{\"exit_code\":%d", ev->code);
	buf_str(&b, num);
	if (ev->sig) {
		snprintf(num, sizeof num, ",\"signal\":%d", ev->sig);
		buf_str(&b, num);
	}
	if (ev->error && ev->error[0]) {
		buf_str(&b, ",\"error\":");
		buf_json(&b, ev->error);
	}
	if (ev->unsup)
		buf_str(&b, ",\"unsupported\":true");
	if (ev->pid) {
		snprintf(num, sizeof num, ",\"pid\":%d", ev->pid);
		buf_str(&b, num);
	}
	if (ev->refused && ev->refused[0]) {
		buf_str(&b, ",\"refused\":");
		buf_json(&b, ev->refused);
	}
	buf_str(&b, "}\n");
	sandbox_write_all(ctrl, b.p, b.len);
	_exit(0);
}

// is_failed reports the failure recorded: every setup
// failure of PID 1's own is the runner's (125). Its exit takes the waiting
// exec stage with it.
static void is_failed(int ctrl) {
	struct is_exit ev = {.code = 125, .error = is_msg ? is_msg : "", .unsup = is_unsup};
	is_report(ctrl, &ev);
}

// encode_exec writes the exec stage's
// instructions, length word included.
static char *encode_exec(const struct is_cfg *c, const char *dir, size_t *len) {
	uint64_t caps = 0;
	for (uint32_t i = 0; i < c->ncaps; i++)
		if (c->caps[i] >= 0 && c->caps[i] < 64)
			caps |= 1ULL << c->caps[i];
	uint32_t flags = (c->flags & IS_NOTIFY) && c->nfilter > 0 ? 1 : 0;
	size_t n = 4 + 36 + (size_t)c->nfilter * sizeof(struct sock_filter) + strlen(dir) + 1;
	for (uint32_t i = 0; i < c->nargs; i++)
		n += strlen(c->args[i]) + 1;
	for (uint32_t i = 0; i < c->nenv; i++)
		n += strlen(c->env[i]) + 1;
	char *out = is_alloc(n), *p = out;
	uint32_t hdr[10] = {(uint32_t)(n - 4), c->uid, c->gid, 0, 0, (uint32_t)c->extra, flags, c->nfilter, c->nargs, c->nenv};
	memcpy(&hdr[3], &caps, 8);
	memcpy(p, hdr, sizeof hdr);
	p += sizeof hdr;
	if (c->nfilter > 0) {  // no filter, no array: memcpy wants one even for 0 bytes
		memcpy(p, c->filter, (size_t)c->nfilter * sizeof(struct sock_filter));
		p += (size_t)c->nfilter * sizeof(struct sock_filter);
	}
	size_t l = strlen(dir) + 1;
	memcpy(p, dir, l);
	p += l;
	for (uint32_t i = 0; i < c->nargs; i++) {
		l = strlen(c->args[i]) + 1;
		memcpy(p, c->args[i], l);
		p += l;
	}
	for (uint32_t i = 0; i < c->nenv; i++) {
		l = strlen(c->env[i]) + 1;
		memcpy(p, c->env[i], l);
		p += l;
	}
	*len = n;
	return out;
}

static void is_cfg_free(struct is_cfg *c) {
	free(c->args);
	free(c->env);
	free(c->caps);
	for (uint32_t i = 0; i < c->nsteps; i++)
		free(c->steps[i].mkdir);
	free(c->steps);
	free(c->rlimits);
	free(c->filter);
	free(c->nrs);
	free(c->names);
}

// is_exec_from_config is PID 1's reading of a config message and its
// instructions to the exec stage, for the tests (cExecFromConfig): NULL
// when the message is malformed.
static char *is_exec_from_config(const char *msg, size_t len, const char *dir, size_t *outlen) {
	struct is_cfg c;
	int rc = is_decode(msg, len, &c);
	char *out = rc < 0 ? NULL : encode_exec(&c, dir, outlen);
	is_cfg_free(&c);
	return out;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// The exec stage's socket, once instructed: first its one-byte last word
// before exec (with the seccomp listener when the filter has "kill" rules),
// then, only if it could not become CMD, its reply, up to EOF.
struct is_stage {
	int fd, got_byte, listener;
	struct is_buf reply;
};

// stage_read reads what is there; it returns 1 at EOF (the socket is then
// closed), 0 otherwise.
static int stage_read(struct is_stage *s) {
	if (!s->got_byte) {
		char b;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {.iov_base = &b, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		ssize_t n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		if (n <= 0)
			goto eof;
		s->got_byte = 1;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&s->listener, CMSG_DATA(cm), sizeof(int));
		return 0;
	}
	char buf[4096];
	ssize_t n = read(s->fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		goto eof;
	buf_add(&s->reply, buf, (size_t)n);
	return 0;
eof:
	close(s->fd);
	s->fd = -1;
	return 1;
}

// serve_listener answers one notification of the filter's "kill" rules: a
// process making a refused syscall is killed, and the first syscall so
// refused is named in the report. It returns -1 once every filtered
// process is gone.
static int serve_listener(const struct is_cfg *c, int listener, char **refused) {
	struct seccomp_notif n;
	memset(&n, 0, sizeof n);
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
		if (errno == EINTR || errno == ENOENT)  // interrupted, or the caller died first
			return 0;
		return -1;
	}
	if (*refused == NULL) {
		for (uint32_t i = 0; i < c->nnames; i++)
			if (c->nrs[i] == n.data.nr)
				*refused = is_sprintf("%s", c->names[i]);
		if (*refused == NULL)
			*refused = is_sprintf("syscall %d", n.data.nr);
	}
	// A process that changed its ids since is beyond PID 1's reach: then
	// the whole sandbox ends (-2).
	if (kill((pid_t)n.pid, SIGKILL) < 0 && errno == EPERM)
		return -2;
	return 0;
}

// ---- PID 1's privileges once the container is built (see the package
// doc). A CMD given CAP_SYS_PTRACE can trace PID 1 and make it run any
// syscall: so PID 1 keeps nothing CMD does not have, and its filter lets
// through only what its loop below makes.

#if defined(__x86_64__)
#define IS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define IS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "PID 1's seccomp filter knows no audit arch for this architecture"
#endif

static const long init_syscalls[] = {
	SYS_read, SYS_write, SYS_close, SYS_recvmsg, SYS_sendmsg, SYS_sendto, SYS_ppoll, SYS_wait4, SYS_waitid, SYS_kill,
	SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise, SYS_futex, SYS_rt_sigprocmask,
	SYS_rt_sigreturn, SYS_restart_syscall, SYS_clock_gettime, SYS_getpid, SYS_exit, SYS_exit_group,
#ifdef SYS_poll
	SYS_poll,
#endif
};

#define IS_DENY BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define IS_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

// init_filter loads PID 1's own filter: its loop's syscalls, and ioctl
// only to receive seccomp notifications; EPERM for everything else and for
// any other ABI.
static int init_filter(void) {
	struct sock_filter f[8 + 2 * sizeof init_syscalls / sizeof init_syscalls[0] + 8];
	size_t n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IS_AUDIT_ARCH, 1, 0);
	f[n++] = (struct sock_filter)IS_DENY;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);  // x32
	f[n++] = (struct sock_filter)IS_DENY;
#endif
	for (size_t i = 0; i < sizeof init_syscalls / sizeof init_syscalls[0]; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)init_syscalls[i], 0, 1);
		f[n++] = (struct sock_filter)IS_ALLOW;
	}
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 5);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)SECCOMP_IOCTL_NOTIF_RECV, 0, 3);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	f[n++] = (struct sock_filter)IS_ALLOW;
	f[n++] = (struct sock_filter)IS_DENY;
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

// drop_init_privileges leaves PID 1 with CMD's ids, no capability in any
// set, no_new_privs and its own filter. With CMD's ids it can still signal
// CMD; non-dumpable, it stays out of reach through /proc/1 (a change of ids
// would reset that flag to fs.suid_dumpable's, so it is set again).
static int drop_init_privileges(const struct is_cfg *c) {
	// Capabilities are numbered from 0 up: EINVAL is the first past the
	// kernel's last.
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			break;
		return is_fail(errno, "init: dropping capability %d from the bounding set", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return is_fail(errno, "init: clearing ambient capabilities");
	// A user namespace with a single-id map denies setgroups for good: the
	// groups are then what they are, as for CMD.
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return is_fail(errno, "init: dropping supplementary groups");
	if (setresgid(c->gid, c->gid, c->gid) < 0)
		return is_fail(errno, "init: setting gid %u", c->gid);
	if (setresuid(c->uid, c->uid, c->uid) < 0)
		return is_fail(errno, "init: setting uid %u", c->uid);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return is_fail(errno, "init: dropping capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return is_fail(errno, "init: setting no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return is_fail(errno, "making init non-dumpable");
	if (init_filter() < 0)
		return is_fail(errno, "init: loading its seccomp filter");
	return 0;
}

void sandbox_init_stage(int ctrl, int stagefd, pid_t pid) {
	// Named for ps: exec'd as /proc/self/exe it would show as "exe".
	prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
	if (fcntl(ctrl, F_SETFD, FD_CLOEXEC) < 0)
		_exit(125);

	uint32_t len;
	if (sandbox_read_full(ctrl, (char *)&len, 4) < 0 || len < 20 || len > (64u << 20))
		_exit(125);  // the runner gave up before sending the config
	char *msg = is_alloc(len);
	struct is_cfg c;
	if (sandbox_read_full(ctrl, msg, len) < 0 || is_decode(msg, len, &c) < 0)
		_exit(125);
	int console = -1;
	if (c.flags & IS_TTY) {
		console = ctrl + 1;
		if (fcntl(console, F_SETFD, FD_CLOEXEC) < 0)
			_exit(125);
	}

	// Signals. A namespace's PID 1 gets a signal sent from inside it only
	// if it handles or blocks it; one from outside (the runner, the host)
	// also when its action is the default, which for most would end PID 1
	// and the verdict with it. So the forwarded ones are blocked and read
	// from a signalfd, SIGCHLD too, and every other catchable one is
	// ignored: neither a SIGSEGV from CMD nor a SIGALRM from the host can
	// end PID 1 (a fault of its own still does: the kernel forces those).
	// The exec stage was forked before any of this and keeps the defaults.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		_exit(125);
	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && !sigismember(&set, sig))
			sigaction(sig, &ign, NULL);  // EINVAL for those glibc keeps
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		is_fail(errno, "catching signals");
		is_failed(ctrl);
	}

	// Build the container around PID 1 (and so around the exec stage,
	// which shares its namespaces).
	umask(0);
	if (perform_steps(&c) < 0 || pivot_into(c.rootfs) < 0)
		is_failed(ctrl);
	if (sethostname(c.hostname, strlen(c.hostname)) < 0) {
		is_fail(errno, "setting hostname");
		is_failed(ctrl);
	}
	if (c.domainname[0] && setdomainname(c.domainname, strlen(c.domainname)) < 0) {
		is_fail(errno, "setting domain name");
		is_failed(ctrl);
	}
	if ((c.flags & IS_LOOPBACK) && loopback_up() < 0)
		is_failed(ctrl);
	const char *dir = workdir(&c);
	if (dir == NULL)
		is_failed(ctrl);
	int slave = -1;
	if (console >= 0 && (slave = open_console(&c, console)) < 0)
		is_failed(ctrl);
	// CMD must not reach into PID 1 through /proc/1 (its fds, its exe, its
	// root): a non-dumpable process is off limits without CAP_SYS_PTRACE.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		is_fail(errno, "making init non-dumpable");
		is_failed(ctrl);
	}
	// The run's rlimits go on the exec stage, not on PID 1. Raising a hard
	// limit needs CAP_SYS_RESOURCE, which PID 1 has.
	for (uint32_t i = 0; i < c.nrlimits; i++) {
		struct rlimit lim = {.rlim_cur = c.rlimits[i].cur, .rlim_max = c.rlimits[i].max};
		if (prlimit(pid, c.rlimits[i].resource, &lim, NULL) < 0) {
			is_fail(errno, "setting rlimit %d to %llu:%llu", c.rlimits[i].resource,
				(unsigned long long)c.rlimits[i].cur, (unsigned long long)c.rlimits[i].max);
			is_failed(ctrl);
		}
	}
	// From here on PID 1 only tells the exec stage what to become, reaps,
	// forwards and reports.
	if (drop_init_privileges(&c) < 0)
		is_failed(ctrl);

	// Instruct the exec stage: one byte with the pty's slave, then what
	// to become.
	int rc = sandbox_send_fd(stagefd, slave);
	int e = errno;
	if (slave >= 0)
		close(slave);
	if (rc < 0) {
		is_fail(e, "instructing exec stage");
		is_failed(ctrl);
	}
	size_t elen;
	char *ec = encode_exec(&c, dir, &elen);
	if (sandbox_write_all(stagefd, ec, elen) < 0) {
		is_fail(errno, "instructing exec stage: write stage");
		is_failed(ctrl);
	}
	free(ec);

	struct is_stage s = {.fd = stagefd, .got_byte = 0, .listener = -1};
	char *refused = NULL;
	for (;;) {
		struct pollfd pf[4] = {
			{.fd = sfd, .events = POLLIN},
			// The runner never writes again: the socket becomes readable
			// only when it is gone (killed, crashed), and then so is the
			// sandbox. This is the parent-death signal where there is none
			// (see Container.startInit).
			{.fd = ctrl, .events = POLLIN},
			{.fd = s.fd, .events = POLLIN},
			{.fd = s.listener, .events = POLLIN},
		};
		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			struct is_exit ev = {.code = 125, .error = is_sprintf("waiting for command: %s", is_errtext(errno))};
			is_report(ctrl, &ev);
		}
		if (pf[1].revents)
			_exit(125);
		if (pf[3].revents & POLLIN) {
			int rc = serve_listener(&c, s.listener, &refused);
			if (rc == -2) {
				struct is_exit ev = {.pid = pid, .code = -1, .sig = SIGKILL, .refused = refused};
				is_report(ctrl, &ev);
			}
			if (rc < 0) {
				close(s.listener);
				s.listener = -1;
			}
		} else if (pf[3].revents) {  // every filtered process is gone
			close(s.listener);
			s.listener = -1;
		}
		if (pf[2].revents)
			stage_read(&s);
		if (pf[0].revents == 0)
			continue;
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n != (ssize_t)sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill(pid, (int)si.ssi_signo);
			continue;
		}
		// PID 1 of a namespace inherits every orphan: reap them all, and
		// stop when CMD itself is done.
		for (;;) {
			int ws;
			pid_t w = waitpid(-1, &ws, WNOHANG);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			if (w != pid)
				continue;
			// Whatever the exec stage wrote is in the socket by now.
			while (s.fd >= 0)
				stage_read(&s);
			struct is_exit ev = {.pid = pid, .refused = refused};
			if (s.reply.len >= 4) {  // it could not become CMD
				int32_t code;
				memcpy(&code, s.reply.p, 4);
				ev.code = code;
				ev.error = s.reply.p + 4;
				ev.pid = 0;
				ev.refused = NULL;
			} else if (WIFSIGNALED(ws)) {
				ev.code = -1;
				ev.sig = WTERMSIG(ws);
			} else
				ev.code = WEXITSTATUS(ws);
			is_report(ctrl, &ev);
		}
	}
}
*/
import "C"

import "unsafe"

// cExecFromConfig is the C init stage's reading of a config message (after
// the length word), for the tests: the instructions it would send the exec
// stage with workdir dir, or ok false if it finds the message malformed.
func cExecFromConfig(msg []byte, dir string) (ec []byte, ok bool) {
	cmsg, cdir := C.CBytes(append([]byte{0}, msg...)), C.CString(dir)
	defer C.free(cmsg)
	defer C.free(unsafe.Pointer(cdir))
	var n C.size_t
	out := C.is_exec_from_config((*C.char)(unsafe.Add(cmsg, 1)), C.size_t(len(msg)), cdir, &n)
	if out == nil {
		return nil, false
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), true
}
