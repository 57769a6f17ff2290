//go:build cgo && linux

#include "init.h"

// The init stage in C: PID 1 of the sandbox, entered from sandbox_prefork
// (prefork.c) before the Go runtime starts, and never returning
// to it: the runtime's start and every linked package's init functions
// were most of a throwaway sandbox's CPU. It is the only implementation:
// a binary built without cgo has no sandbox (stage.Available). Its errors
// are worded as Go wraps errors, as the runner reports them verbatim.

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
	SYS_getrusage,
	SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise, SYS_futex, SYS_rt_sigprocmask,
	SYS_rt_sigreturn, SYS_restart_syscall, SYS_clock_gettime, SYS_getpid, SYS_exit, SYS_exit_group,
#ifdef SYS_poll
	SYS_poll,
#endif
};

#define IS_DENY BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define IS_ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

// Where a span of syscall numbers goes in PID 1's filter.
enum { TO_DENY, TO_ALLOW, TO_IOCTL };

// init_span is the syscall numbers from start up to the next span's.
struct init_span {
	uint32_t start;
	int to;
};

#define INIT_NSYS (sizeof init_syscalls / sizeof init_syscalls[0] + 1)  // and ioctl
#define INIT_MAXSPANS (2 * INIT_NSYS + 1)
#define INIT_MAXINSNS (2 * INIT_MAXSPANS + 16)

static int cmp_nr(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

// tree_size is how many instructions init_tree emits for n spans.
static size_t tree_size(size_t n) {
	return n == 1 ? 1 : 1 + tree_size(n / 2) + tree_size(n - n / 2);
}

// init_tree emits a binary search over the spans, the syscall number in A.
// The kernel runs a filter for every syscall number as it attaches it (to
// cache the ones it always allows): tested name by name, the list made
// that loop as long as the list for every number (an attach of 105 us
// here, 86 us as a tree). The jumps to ioctl's block are recorded in fix,
// to be pointed at it once it is placed.
static void init_tree(struct sock_filter *f, size_t *n, const struct init_span *s, size_t ns, size_t *fix, size_t *nfix) {
	if (ns == 1) {
		if (s->to == TO_IOCTL) {
			fix[(*nfix)++] = *n;
			f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
		} else if (s->to == TO_ALLOW) {
			f[(*n)++] = (struct sock_filter)IS_ALLOW;
		} else {
			f[(*n)++] = (struct sock_filter)IS_DENY;
		}
		return;
	}
	size_t mid = ns / 2;
	// At most INIT_MAXSPANS / 2 spans on the left: always within a
	// conditional jump's reach (255).
	f[(*n)++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, s[mid].start, (uint8_t)tree_size(mid), 0);
	init_tree(f, n, s, mid, fix, nfix);
	init_tree(f, n, s + mid, ns - mid, fix, nfix);
}

// is_init_filter writes PID 1's own filter into f (room for
// IS_INIT_MAXINSNS) and returns its length: its loop's syscalls, and ioctl
// only to receive seccomp notifications; EPERM for everything else and for
// any other ABI.
size_t is_init_filter(struct sock_filter *f) {
	_Static_assert(INIT_MAXINSNS <= IS_INIT_MAXINSNS, "PID 1's filter outgrows IS_INIT_MAXINSNS");
	_Static_assert(2 * (INIT_MAXSPANS / 2) < 255, "PID 1's filter outgrows a conditional jump");
	long nrs[INIT_NSYS];
	memcpy(nrs, init_syscalls, sizeof init_syscalls);
	nrs[INIT_NSYS - 1] = SYS_ioctl;
	qsort(nrs, INIT_NSYS, sizeof nrs[0], cmp_nr);
	struct init_span spans[INIT_MAXSPANS];
	size_t ns = 0;
	uint32_t next = 0;  // the first number no span covers yet
	for (size_t i = 0; i < INIT_NSYS; i++) {
		uint32_t nr = (uint32_t)nrs[i];
		if (i > 0 && nr + 1 == next)
			continue;  // a number listed twice
		if (nr != next)
			spans[ns++] = (struct init_span){next, TO_DENY};
		int to = nr == SYS_ioctl ? TO_IOCTL : TO_ALLOW;
		if (ns == 0 || spans[ns - 1].to != to)  // else a run of allowed numbers goes on
			spans[ns++] = (struct init_span){nr, to};
		next = nr + 1;
	}
	spans[ns++] = (struct init_span){next, TO_DENY};

	size_t n = 0, fix[INIT_NSYS], nfix = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IS_AUDIT_ARCH, 1, 0);
	f[n++] = (struct sock_filter)IS_DENY;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);  // x32
	f[n++] = (struct sock_filter)IS_DENY;
#endif
	init_tree(f, &n, spans, ns, fix, &nfix);
	for (size_t i = 0; i < nfix; i++)
		f[fix[i]].k = (uint32_t)(n - fix[i] - 1);
	// ioctl: SECCOMP_IOCTL_NOTIF_RECV only, in both words of its request.
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)SECCOMP_IOCTL_NOTIF_RECV, 0, 3);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	f[n++] = (struct sock_filter)IS_ALLOW;
	f[n++] = (struct sock_filter)IS_DENY;
	return n;
}

static int init_filter(void) {
	struct sock_filter f[IS_INIT_MAXINSNS];
	struct sock_fprog prog = {.len = (unsigned short)is_init_filter(f), .filter = f};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

size_t is_init_syscalls(long *nrs) {
	memcpy(nrs, init_syscalls, sizeof init_syscalls);
	return sizeof init_syscalls / sizeof init_syscalls[0];
}

// drop_init_privileges leaves PID 1 with CMD's ids, no capability in any
// set, no_new_privs and its own filter. With CMD's ids it can still signal
// CMD; non-dumpable, it stays out of reach through /proc/1 (a change of ids
// would reset that flag to fs.suid_dumpable's, so it is set again).
static int drop_init_privileges(const struct is_cfg *c) {
	// What is left of the bounding set is CMD's (is_bound): the exec stage
	// is forked, and it goes too.
	uint64_t mask = is_caps_mask(c);
	for (int cap = 0; cap < 64; cap++)
		if ((mask & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return is_fail(errno, "init: dropping capability %d from the bounding set", cap);
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

static int move_fds[IS_MAXMOVE], nmove;
_Static_assert(IS_MAXMOVE + 1 <= SANDBOX_MAXSENDFD, "send_first's descriptors fit one message");
int is_move_newcgroup;

void is_move_fd(int fd) {
	if (nmove == IS_MAXMOVE)
		_exit(125);  // more than the runner may send (ZY_MAXFD)
	move_fds[nmove++] = fd;
}

// send_first sends the exec stage its first instruction: three bytes (a
// pty's slave among the descriptors, the count of tasks files, whether to
// unshare a cgroup namespace), the slave, if any, then the tasks files
// (is_move_fd), which PID 1 then closes.
static int send_first(int sock, int slave) {
	unsigned char b[3] = {slave >= 0, (unsigned char)nmove, (unsigned char)is_move_newcgroup};
	int fds[IS_MAXMOVE + 1], n = 0;
	if (slave >= 0)
		fds[n++] = slave;
	for (int i = 0; i < nmove; i++)
		fds[n++] = move_fds[i];
	ssize_t w = sandbox_send_fds(sock, b, sizeof b, fds, n);
	for (int i = 0; i < nmove; i++)
		close(move_fds[i]);
	nmove = 0;
	return w == (ssize_t)sizeof b ? 0 : -1;
}

const struct is_cfg *is_prebuilt;
int is_prebuilt_failed;

// is_bound drops from the bounding set every capability c does not give
// CMD: the exec stage, forked after, inherits the set it may keep, and
// is spared a system call per capability (which these PVM guests make
// dear) on its way to CMD. PID 1's own capabilities are untouched: the
// bounding set limits only what an execve or capset may gain.
int is_bound(const struct is_cfg *c) {
	uint64_t mask = is_caps_mask(c);
	// Capabilities are numbered from 0 up: EINVAL is the first past the
	// kernel's last.
	for (int cap = 0; cap < 64; cap++) {
		if (mask & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			break;
		return is_fail(errno, "dropping capability %d from the bounding set", cap);
	}
	return 0;
}

// is_build builds the container around the calling process, which is
// (or will be) PID 1 of its new namespaces, from c's build part (see
// is_same_build), and bounds the capabilities of what it forks after
// (is_bound); -1 with the failure set (is_fail). It is is_build_root,
// the part that reads the host (mounts, pivot_root), then is_build_rest.
int is_build(const struct is_cfg *c) { return is_build_root(c) < 0 ? -1 : is_build_rest(c); }

// write_self writes data to /proc/self/file, in one write as the kernel
// wants an id map.
static int write_self(const char *file, const char *data) {
	char path[64];
	snprintf(path, sizeof path, "/proc/self/%s", file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return is_fail(errno, "setting up the user namespace: writing %s", file);
	size_t n = strlen(data);
	ssize_t w = write(fd, data, n);
	int e = errno;
	close(fd);
	if (w != (ssize_t)n)
		return is_fail(w < 0 ? e : EIO, "setting up the user namespace: writing %s", file);
	return 0;
}

// map_self maps the caller's own ids in the user namespace PID 1 made:
// a process may map its own effective ids in a namespace it created,
// setgroups denied first (user_namespaces(7)), as `unshare -r` does. It
// is first in the build, before anything is made whose owner must exist
// in the namespace; a spare does it before its request, which is what
// lets a rootless one build ahead (the runner knows its pid only then).
static int map_self(const struct is_cfg *c) {
	char m[48];
	if (write_self("setgroups", "deny") < 0)
		return -1;
	snprintf(m, sizeof m, "%u %u 1\n", c->uidmap[0], c->uidmap[1]);
	if (write_self("uid_map", m) < 0)
		return -1;
	snprintf(m, sizeof m, "%u %u 1\n", c->gidmap[0], c->gidmap[1]);
	return write_self("gid_map", m);
}

int is_build_root(const struct is_cfg *c) {
	umask(0);
	if ((c->flags & IS_SELFMAP) && map_self(c) < 0)
		return -1;
	if (perform_steps(c) < 0 || pivot_into(c->rootfs) < 0)
		return -1;
	return 0;
}

int is_build_rest(const struct is_cfg *c) {
	if (sethostname(c->hostname, strlen(c->hostname)) < 0)
		return is_fail(errno, "setting hostname");
	if (c->domainname[0] && setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return is_fail(errno, "setting domain name");
	if ((c->flags & IS_LOOPBACK) && loopback_up() < 0)
		return -1;
	return is_bound(c);
}

void sandbox_init_build(int ctrl, struct is_cfg *cp) {
	if (fcntl(ctrl, F_SETFD, FD_CLOEXEC) < 0)
		_exit(125);
	uint32_t len;
	if (sandbox_read_full(ctrl, (char *)&len, 4) < 0 || len < 20 || len > (64u << 20))
		_exit(125);  // the runner gave up before sending the config
	char *msg = is_alloc(len);
	struct is_cfg c;
	if (sandbox_read_full(ctrl, msg, len) < 0 || is_decode(msg, len, &c) < 0)
		_exit(125);

	// Build the container around PID 1 (and so around the exec stage,
	// forked later into its namespaces and root). A PID 1 that joined a
	// running sandbox (an OCI exec) finds it built, and so does a spare
	// that built it ahead, from the build part of a config the runner
	// said was its next (zygote.c): that must be this config's, or the
	// container is not the one planned. The zygote hands such a spare
	// only to a request whose build part hashes the same; this is the
	// check that does not rest on a hash.
	is_detached = (c.flags & IS_DETACHED) != 0;
	is_cmd_status = (c.flags & (IS_DETACHED | IS_HANDED)) != 0;
	if (is_prebuilt != NULL) {
		if ((c.flags & IS_JOINED) || !is_same_build(is_prebuilt, &c)) {
			is_fail(0, "building the container: the one built ahead is not the one planned");
			is_failed(ctrl);
		}
		if (is_prebuilt_failed)
			is_failed(ctrl);
	} else if (!(c.flags & IS_JOINED) ? is_build(&c) < 0 : is_bound(&c) < 0)
		is_failed(ctrl);
	*cp = c;
}

void sandbox_init_stage(int ctrl, int stagefd, pid_t pid, const struct is_cfg *cp) {
	struct is_cfg c = *cp;
	int console = -1;
	if (c.flags & IS_TTY) {
		console = ctrl + 1;
		if (fcntl(console, F_SETFD, FD_CLOEXEC) < 0)
			_exit(125);
	}

	// Signals. A namespace's PID 1 gets a signal sent from inside it only
	// if it handles or blocks it; one from outside (the runner, the host)
	// also when its action is the default, which for most would end PID 1
	// and the verdict with it. So every one is blocked, and read from a
	// signalfd: SIGCHLD, the forwarded ones, which go to CMD, and the
	// rest, dropped there (drained, so that none stays queued against its
	// user's limit of pending signals). Neither a SIGSEGV from CMD nor a
	// SIGALRM from the host can end PID 1 (a fault of its own still does:
	// the kernel forces those). One mask and one descriptor, where an
	// action of SIG_IGN for each was 60 system calls on the way to CMD.
	// The exec stage was forked before this and keeps the defaults.
	sigset_t set, all;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sigfillset(&all);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
		_exit(125);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0) {
		is_fail(errno, "catching signals");
		is_failed(ctrl);
	}

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
	// The run's rlimits go on the exec stage, not on PID 1: it sets them
	// itself, from its instructions (encode_exec).
	// From here on PID 1 only tells the exec stage what to become, reaps,
	// forwards and reports.
	if (drop_init_privileges(&c) < 0)
		is_failed(ctrl);

	// Instruct the exec stage: what to enter, with the pty's slave, then
	// what to become.
	int rc = send_first(stagefd, slave);
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
	// The exec stage has CMD's stdio; PID 1's copies would keep the
	// runner's pipes open until PID 1's exit (the namespaces' teardown),
	// and the output's end with them.
	for (int fd = 0; fd <= 2; fd++)
		if (fd != ctrl && fd != stagefd && fd != sfd)
			close(fd);

	struct is_stage s = {.fd = stagefd, .got_byte = 0, .listener = -1};
	char *refused = NULL;
	int ctrl_poll = ctrl;
	for (;;) {
		struct pollfd pf[4] = {
			{.fd = sfd, .events = POLLIN},
			// The runner never writes again: the socket becomes readable
			// only when it is gone (killed, crashed), and then so is the
			// sandbox. This is the parent-death signal where there is none
			// (see Container.startInit).
			{.fd = ctrl_poll, .events = POLLIN},
			{.fd = s.fd, .events = POLLIN},
			{.fd = s.listener, .events = POLLIN},
		};
		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			struct is_exit ev = {.code = 125, .error = is_sprintf("waiting for command: %s", is_errtext(errno))};
			is_report(ctrl, &ev);
		}
		if (pf[1].revents) {
			// A detached exec's runner is gone by design: it stays.
			if (!is_detached)
				_exit(125);
			ctrl_poll = -1;
		}
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
			if (sigismember(&set, (int)si.ssi_signo))
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
