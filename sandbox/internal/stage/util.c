//go:build cgo && linux

#include "init.h"

void is_oom(void) { _exit(125); }

void *is_alloc(size_t n) {
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		is_oom();
	return p;
}

static char *is_vsprintf(const char *fmt, va_list ap) {
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		is_oom();
	return s;
}

char *is_sprintf(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = is_vsprintf(fmt, ap);
	va_end(ap);
	return s;
}

// ---- Failures, worded as Go wraps them.

char *is_msg;   // the failure's message
int is_errno;   // the errno it wraps, if any (errors.Is)
int is_unsup;   // it wraps ErrUnsupported

// is_errtext is strerror lowercased, as Go's syscall.Errno prints.
char *is_errtext(int err) {
	char *s = is_sprintf("%s", strerror(err));
	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] += 'a' - 'A';
	return s;
}

void is_clear(void) {
	free(is_msg);
	is_msg = NULL;
	is_errno = is_unsup = 0;
}

// is_fail records a failure: the message, then ": " and err's text if err
// is not 0 (only the text if the message is empty). It returns -1 for the caller to return.
int is_fail(int err, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = is_vsprintf(fmt, ap);
	va_end(ap);
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
int is_wrap(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = is_vsprintf(fmt, ap);
	va_end(ap);
	char *m = is_sprintf("%s: %s", s, is_msg ? is_msg : "");
	free(s);
	free(is_msg);
	is_msg = m;
	return -1;
}

// ---- Go's path.Clean, path.Dir and path.Base, on which the steps' paths
// were planned.

char *go_clean(const char *p) {
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

char *go_dir(const char *p) {
	const char *slash = strrchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) + 1 : 0;
	char *d = is_alloc(n + 1);
	memcpy(d, p, n);
	d[n] = 0;
	char *c = go_clean(d);
	free(d);
	return c;
}

char *go_base(const char *p) {
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
int go_mkdir_all(const char *path, mode_t perm) {
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
