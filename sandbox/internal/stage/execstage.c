//go:build cgo && linux

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stage.h"

// The exec stage in C: pid 2, forked by sandbox_prefork before the Go
// runtime starts, never starts one. It waits for PID 1's instructions
// (encode_exec in config.c), drops every privilege, loads the seccomp filter and
// execs CMD; on failure it answers PID 1 with an exit code and a message.
// It is the only implementation: a binary without cgo has no sandbox.


struct es {
	int sock;
	int sent;  // the one-byte message before exec has gone to PID 1
};

// es_fail answers PID 1 and ends the exec stage. Messages are worded as
// the Go exec stage words them: errno texts lowercased, as Go prints them.
static void es_fail(struct es *s, int code, int err, const char *fmt, ...) {
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= (int)sizeof msg)
		n = sizeof msg - 1;
	if (err != 0 && n < (int)sizeof msg - 3) {
		char *e = strerror(err);
		int m = snprintf(msg + n, sizeof msg - n, ": %s", e);
		if (m > 0 && n + 2 < (int)sizeof msg && msg[n + 2] >= 'A' && msg[n + 2] <= 'Z')
			msg[n + 2] += 'a' - 'A';
		n += m;
		if (n >= (int)sizeof msg)
			n = sizeof msg - 1;
	}
	if (!s->sent) {
		char b = 0;
		send(s->sock, &b, 1, MSG_NOSIGNAL);
	}
	char out[4 + sizeof msg];
	uint32_t c = (uint32_t)code;
	memcpy(out, &c, 4);
	memcpy(out + 4, msg, n);
	sandbox_write_all(s->sock, out, 4 + n);
	_exit(code);
}

// sandbox_read_full reads exactly n bytes (-1 at EOF or on an error), and
// sandbox_write_all sends n on a socket, without SIGPIPE. Both stages use
// them (stage.h declares them).
int sandbox_read_full(int fd, char *p, size_t n) {
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

// sandbox_send_fds sends len bytes of buf with the n descriptors of fds
// (up to SANDBOX_MAXSENDFD) in one message: what it sent, or -1.
ssize_t sandbox_send_fds(int sock, const void *buf, size_t len, const int *fds, int n) {
	if (n < 0 || n > SANDBOX_MAXSENDFD) {
		errno = EINVAL;
		return -1;
	}
	char cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAXSENDFD)];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n > 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	ssize_t w;
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w;
}

// sandbox_send_fd sends the one-byte message that carries fd (none when fd
// is -1), the form of every handover between the stages and the runner.
int sandbox_send_fd(int sock, int fd) {
	char b = 0;
	return sandbox_send_fds(sock, &b, 1, &fd, fd >= 0 ? 1 : 0) < 0 ? -1 : 0;
}

// sandbox_place_fds moves the n descriptors fds names to 0..n-1, in
// order, and closes every other one (the zygote's socket among them, for
// PID 1; the spare's, for an exec stage forked ahead). It needs one spare
// descriptor at a time, not n: a caller near its descriptor limit gets a
// sandbox, or the error (the runner's check wants 16 in all). fds is
// updated as they move; it returns -1 with errno set.
int sandbox_place_fds(int *fds, int n) {
	// Out of the way first: a descriptor sitting in 0..n-1 where another
	// belongs.
	for (int i = 0; i < n; i++) {
		if (fds[i] >= n || fds[i] == i)
			continue;
		int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, n);
		if (hi < 0)
			return -1;
		close(fds[i]);
		fds[i] = hi;
	}
	for (int i = 0; i < n; i++) {
		if (fds[i] == i) {
			if (fcntl(i, F_SETFD, 0) < 0)
				return -1;
			continue;
		}
		if (dup2(fds[i], i) < 0)
			return -1;
		close(fds[i]);
		fds[i] = i;
	}
	if (syscall(SYS_close_range, n, ~0U, 0) < 0) {
		for (int fd = n; fd < 65536; fd++)
			close(fd);
	}
	return 0;
}

int sandbox_write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

// es_lookpath finds CMD as execvp would, in the sandbox's PATH: 127 when it
// is nowhere, 126 when it is there but cannot be executed.
static char *es_lookpath(struct es *s, const char *name, char **envp) {
	if (strchr(name, '/') != NULL)
		return (char *)name;
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (char **e = envp; *e != NULL; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	size_t nlen = strlen(name);
	int found = 0;
	for (const char *p = path;;) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		char *cand = malloc(dlen + nlen + 3);
		if (cand == NULL)
			es_fail(s, 125, ENOMEM, "looking up %s", name);
		if (dlen == 0)
			strcpy(cand, ".");
		else {
			memcpy(cand, p, dlen);
			cand[dlen] = 0;
		}
		strcat(cand, "/");
		strcat(cand, name);
		struct stat st;
		if (stat(cand, &st) == 0 && !S_ISDIR(st.st_mode)) {
			if (access(cand, X_OK) == 0)
				return cand;
			found = 1;
		}
		free(cand);
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (found)
		es_fail(s, 126, 0, "exec %s: permission denied", name);
	es_fail(s, 127, 0, "exec %s: command not found", name);
	return NULL;
}

// es_setgroups_denied: in a user namespace whose gid_map an unprivileged
// process wrote (a rootless run with a single-id map: its PID 1, which
// says so, es_drop's denied; or a sandbox an exec joins), the kernel
// denies setgroups(2) for good; the caller's supplementary groups then
// stay, as they are in every unprivileged sandbox (see setgroupsDenied).
// Asked of /proc only where PID 1 did not say: a run's mount may hide it.
static int es_setgroups_denied(void) {
	char b[8] = {0};
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	return n >= 4 && strncmp(b, "deny", 4) == 0;
}

// es_drop leaves the process with the sandbox's identity and only the
// capabilities kept, in every set, bounding included, and no_new_privs.
static void es_drop(struct es *s, uint32_t uid, uint32_t gid, uint64_t mask, int denied) {
	// The bounding set is mask already: PID 1 dropped the rest before it
	// forked us (is_bound).
	if (mask != 0 && uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		es_fail(s, 125, errno, "keeping capabilities");
	gid_t groups[1] = {gid};
	if (syscall(SYS_setgroups, 1, groups) < 0) {
		int e = errno;
		if (!(e == EPERM && (denied || es_setgroups_denied())))
			es_fail(s, 125, e, "setting groups");
	}
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		es_fail(s, 125, errno, "setting gid %u", gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		es_fail(s, 125, errno, "setting uid %u", uid);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int i = 0; i < 2; i++) {
		uint32_t m = (uint32_t)(mask >> (32 * i));
		data[i].effective = data[i].permitted = data[i].inheritable = m;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		es_fail(s, 125, errno, "setting capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		es_fail(s, 125, errno, "clearing ambient capabilities");
	if (uid != 0)  // a non-root CMD keeps added capabilities only as ambient ones
		for (int c = 0; c < 64; c++)
			if ((mask & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
				es_fail(s, 125, errno, "raising ambient capability %d", c);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		es_fail(s, 125, errno, "setting no_new_privs");
}

// es_recv reads one message from PID 1 into buf (len bytes wanted
// exactly) with up to max descriptors into fds, their count in *nfds;
// anything else (PID 1's end, which it reports, a short or truncated
// message) ends the exec stage.
static void es_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfds) {
	char cbuf[CMSG_SPACE(sizeof(int) * SANDBOX_MAXSENDFD)];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	                    .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)max)};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len || (mh.msg_flags & MSG_CTRUNC))
		_exit(125);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	*nfds = 0;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		*nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)*nfds);
	}
}

// take_descriptors is an exec stage forked ahead taking the run's
// descriptors from PID 1 (see sandbox_exec_stage in stage.h): they go to
// 0 and on, in order, as an exec stage forked by PID 1 inherits them, and
// the gate and *sock after them.
static void take_descriptors(int *sock, int *gate) {
	unsigned char b;
	int fds[SANDBOX_MAXSENDFD], nfds;
	es_recv(*sock, &b, 1, fds, SANDBOX_MAXSENDFD - 1, &nfds);
	if (nfds < 3 + b)
		_exit(125);
	fds[nfds] = *sock;
	if (sandbox_place_fds(fds, nfds + 1) < 0)
		_exit(125);  // no descriptor to spare: PID 1 reports the exec stage's end
	*sock = nfds;
	*gate = b ? nfds - 1 : -1;
	if (fcntl(*sock, F_SETFD, FD_CLOEXEC) < 0 || (*gate >= 0 && fcntl(*gate, F_SETFD, FD_CLOEXEC) < 0))
		_exit(125);
}

void sandbox_exec_stage(int sock, int gate, int ahead) {
	if (ahead)
		take_descriptors(&sock, &gate);
	struct es s = {.sock = sock, .sent = 0};

	// PID 1's first message (send_first): whether a pty's slave comes
	// (a TTY run's), how many of the run's tasks files follow it, and
	// whether to unshare a cgroup namespace. We were forked before PID 1
	// moved into the run's groups, and move before anything else, as it
	// did (writing "0", a thread moving itself), then make a cgroup
	// namespace rooted there, as PID 1 did.
	unsigned char b[3];
	int fds[IS_MAXMOVE + 1], nfds;
	es_recv(sock, b, sizeof b, fds, IS_MAXMOVE + 1, &nfds);
	int nmove = b[1];
	if (nfds != (b[0] ? 1 : 0) + nmove)
		_exit(125);
	int slave = b[0] ? fds[0] : -1, *move = fds + (b[0] ? 1 : 0);
	for (int i = 0; i < nmove; i++) {
		if (write(move[i], "0", 1) != 1)
			es_fail(&s, 125, errno, "moving into the run's cgroup");
		close(move[i]);
	}
	if (b[2] && unshare(CLONE_NEWCGROUP) < 0)
		es_fail(&s, 125, errno, "making the sandbox's cgroup namespace");

	uint32_t len;
	if (sandbox_read_full(sock, (char *)&len, 4) < 0 || len < 40 || len > (64u << 20))
		_exit(125);
	char *msg = malloc(len + 1);
	if (msg == NULL || sandbox_read_full(sock, msg, len) < 0)
		_exit(125);
	msg[len] = 0;
	uint32_t uid, gid, flags, nfilter, argc, envc, nrlimits;
	int32_t extra;
	uint64_t caps;
	memcpy(&uid, msg, 4);
	memcpy(&gid, msg + 4, 4);
	memcpy(&caps, msg + 8, 8);
	memcpy(&extra, msg + 16, 4);
	memcpy(&flags, msg + 20, 4);
	memcpy(&nfilter, msg + 24, 4);
	memcpy(&argc, msg + 28, 4);
	memcpy(&envc, msg + 32, 4);
	memcpy(&nrlimits, msg + 36, 4);
	if (nfilter > (len - 40) / sizeof(struct sock_filter) || argc == 0 || argc > len || envc > len ||
	    nrlimits > (len - 40 - nfilter * sizeof(struct sock_filter)) / 20)
		_exit(125);
	struct sock_filter *filter = malloc(nfilter * sizeof(struct sock_filter) + 1);
	if (filter == NULL)
		_exit(125);
	memcpy(filter, msg + 40, nfilter * sizeof(struct sock_filter));
	char *p = msg + 40 + nfilter * sizeof(struct sock_filter), *end = msg + len;
	// The run's rlimits, set here rather than by PID 1 (prlimit) before
	// our first instruction: every descriptor we are sent has come by now,
	// which a low RLIMIT_NOFILE of the run's would have refused. Raising a
	// hard limit needs CAP_SYS_RESOURCE, which we hold until es_drop.
	for (uint32_t i = 0; i < nrlimits; i++, p += 20) {
		int32_t res;
		uint64_t cur, max;
		memcpy(&res, p, 4);
		memcpy(&cur, p + 4, 8);
		memcpy(&max, p + 12, 8);
		struct rlimit lim = {.rlim_cur = cur, .rlim_max = max};
		if (setrlimit(res, &lim) < 0)
			es_fail(&s, 125, errno, "setting rlimit %d to %llu:%llu", res, (unsigned long long)cur, (unsigned long long)max);
	}
	char **strs = calloc(1 + argc + 1 + envc + 1, sizeof(char *));
	if (strs == NULL)
		_exit(125);
	for (uint32_t i = 0; i < 1 + argc + envc; i++) {
		if (p >= end)
			_exit(125);
		char *z = memchr(p, 0, end - p);
		if (z == NULL)
			_exit(125);
		// dir, then argv (NULL-terminated), then envp (NULL-terminated)
		strs[i < 1 + argc ? i : i + 1] = p;
		p = z + 1;
	}
	char *dir = strs[0], **argv = strs + 1, **envp = strs + 1 + argc + 1;

	// Always chdir: the exec stage was forked with the runner's cwd, which
	// pivot_root left pointing into the host's tree (runc CVE-2024-21626).
	if (chdir(dir) < 0)
		es_fail(&s, 125, errno, "entering workdir %s", dir);
	// A workdir through a magic link can land outside the root; the kernel
	// then names the cwd "(unreachable)/...".
	char wd[4096];
	if (syscall(SYS_getcwd, wd, sizeof wd) < 0 || wd[0] != '/')
		es_fail(&s, 125, 0, "workdir %s: outside the sandbox's root", dir);
	// A session of its own: no controlling terminal to push input into
	// (TIOCSTI) unless CMD gets its own pty.
	if (setsid() < 0 && errno != EPERM)
		es_fail(&s, 125, errno, "starting a session");
	if (slave >= 0) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			es_fail(&s, 125, errno, "taking the pty as controlling terminal");
		for (int fd = 0; fd < 3; fd++)
			if (dup3(slave, fd, 0) < 0 && !(slave == fd))
				es_fail(&s, 125, errno, "attaching the pty");
		if (slave > 2)
			close(slave);
	}
	char *path = es_lookpath(&s, argv[0], envp);
	es_drop(&s, uid, gid, caps, (flags & 2) != 0);
	umask(022);
	// Only 0, 1, 2 and the preserved descriptors reach CMD.
	if (syscall(SYS_close_range, 3 + extra, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		es_fail(&s, 125, errno, "closing descriptors");
	// Held here, set up but for the filter, until the runtime's start.
	if (gate >= 0) {
		char go;
		ssize_t n;
		do
			n = read(gate, &go, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			es_fail(&s, 125, n < 0 ? errno : 0, "start gate closed before start");
		close(gate);
	}
	// Last, the filter: everything above may use what it refuses.
	int listener = -1;
	if (nfilter > 0) {
		struct sock_fprog prog = {.len = (unsigned short)nfilter, .filter = filter};
		unsigned int fl = (flags & 1) ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
		long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, fl, &prog);
		if (r < 0)
			es_fail(&s, 125, errno, "loading seccomp filter");
		if (flags & 1)
			listener = (int)r;
	}
	// The last word before exec: one byte, with the seccomp listener.
	if (sandbox_send_fd(sock, listener) < 0)
		es_fail(&s, 125, errno, "handing over the seccomp listener");
	s.sent = 1;
	if (listener >= 0)
		close(listener);
	execve(path, argv, envp);
	es_fail(&s, errno == ENOENT ? 127 : 126, errno, "exec %s", argv[0]);
}
