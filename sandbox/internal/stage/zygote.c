//go:build cgo && linux

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "stage.h"
#include "zygote.h"

// The zygote: a copy of the runner's process taken before the Go runtime
// started, single-threaded and a few hundred KiB, that clones PID 1 of
// each sandbox on request. PID 1 so made is born with the sandbox's
// namespaces, in its cgroup (v2), as the runner's child (CLONE_PARENT),
// and runs the init stage at once: no exec of the runner's binary, no
// dynamic loader or static libc start (whose cpuid probes trap to the
// hypervisor in a VM), and no fork of a multi-threaded Go process (whose
// page tables every CPU must flush). What PID 1 sees of the zygote is the
// binary's image before main: the runner's arguments and environment are
// wiped from it when it starts.
//
// A request may instead join a running sandbox (an OCI runtime's exec):
// the zygote enters the sandbox's pid namespace for the clone alone, and
// the new process, born non-dumpable, enters the rest through a pidfd of
// the sandbox's PID 1 before it touches anything.
//
// One zygote serves one runner, one request at a time (the runner holds a
// lock across a request and its reply), and ends when the runner's end of
// its socket closes, and by a parent-death signal when the runner exits,
// whatever kills it. A sibling zygote (ZYGOTE_SIBLING, for an OCI
// monitor) is the runner's parent's child instead, and so is its PID 1:
// it has no parent-death signal, and ends after its first PID 1.

// The runner's end of the zygote forked by the constructor; -1 when there
// is none (sandbox_zygote_wanted said no, or it failed).
int sandbox_zygote_sock = -1;

// 1 when the zygote is this process's sibling (ZYGOTE_SIBLING): every PID
// 1 it clones is then this process's parent's child.
int sandbox_zygote_sibling;
// The constructor's zygote's pid, for a sibling's parent to reap.
int sandbox_zygote_pid;

// sandbox_zygote_wanted says whether the constructor forks a zygote for
// this process (ZYGOTE_CHILD or ZYGOTE_SIBLING; 0 for none): a program that
// starts sandboxes defines it (the CLI, for the subcommands that run one).
// Everyone else gets one started on the first Start, exec'd as
// ZYGOTE_ARG0.
__attribute__((weak)) int sandbox_zygote_wanted(int argc, char **argv) {
	(void)argc;
	(void)argv;
	return 0;
}

// Where the arguments were: PID 1 puts its name there, for ps.
static char *arg_area;
static size_t arg_len;

// wipe blanks the process's arguments and environment, which the zygote
// and every PID 1 would otherwise carry into each sandbox (a caller's
// token in the environment, say): /proc/PID/cmdline and environ read
// them from this memory.
static void wipe(int argc, char **argv, char **envp) {
	char *start = argc > 0 ? argv[0] : NULL, *end = NULL;
	for (int i = 0; i < argc; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	for (int i = 0; envp != NULL && envp[i] != NULL; i++)
		end = envp[i] + strlen(envp[i]) + 1;
	if (start != NULL && end > start) {
		memset(start, 0, (size_t)(end - start));
		arg_area = start;
		arg_len = (size_t)(end - start);
		// ps shows the name, where it fits in what the runner's argv took.
		if ((size_t)(end - start) > sizeof ZYGOTE_ARG0)
			memcpy(start, ZYGOTE_ARG0, sizeof ZYGOTE_ARG0);
	}
	clearenv();
}

static void reply(int sock, int err, pid_t pid) {
	struct zy_reply r = {.err = err, .pid = pid};
	while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

// place moves the n descriptors received to 0..n-1, in order, and closes
// every other one (the zygote's socket among them). It needs one spare
// descriptor at a time, not n: a caller near its descriptor limit gets a
// sandbox, or the error (the runner's check wants 16 in all). fds is
// updated as they move; place returns -1 with errno set.
static int place(int *fds, int n) {
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

// pid1 is PID 1 from its first instruction: descriptors in place, in the
// run's v1 groups, then the init stage. It never returns.
static void pid1(const struct zy_req *rq, int *fds, int nfds, int pidfd) __attribute__((noreturn));
static void pid1(const struct zy_req *rq, int *fds, int nfds, int pidfd) {
	prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
	if (arg_len > sizeof "sandbox-init") {
		memset(arg_area, 0, arg_len);
		memcpy(arg_area, "sandbox-init", sizeof "sandbox-init");
	}
	// The runner's death ends the sandbox. Had it died before this line
	// (getppid cannot tell: the parent is outside PID 1's pid namespace),
	// its end of the control socket is closed, and PID 1 ends at the EOF
	// where it waits for the GoByte.
	// A detached exec outlives the runner by design.
	if (!rq->detach)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	// Joining, the rest of the sandbox's namespaces (the pid namespace
	// was the zygote's to enter, for the clone), before anything of the
	// host's is touched. The mount namespace puts us at its root. The
	// sandbox's processes see us from the first instruction, holding the
	// runner's descriptors: we were born non-dumpable (spawn), or one of
	// them could ptrace us and take them (runc CVE-2016-9962).
	if (pidfd >= 0 && rq->flags & ~(uint64_t)CLONE_NEWPID) {
		if (setns(pidfd, (int)(rq->flags & ~(uint64_t)CLONE_NEWPID)) < 0) {
			is_fail(errno, "joining the sandbox's namespaces");
			is_failed(fds[rq->ctrl]);
			_exit(125);
		}
	}
	if (place(fds, nfds) < 0) {
		// The control socket is wherever place left it.
		is_fail(errno, "setting up init's descriptors");
		is_failed(fds[rq->ctrl]);
		_exit(125);
	}
	// Out of the runner's session: a terminal's Ctrl-C reaches the runner
	// alone, which forwards it once.
	if (setsid() < 0)
		_exit(125);
	sandbox_pid1(rq->ctrl, rq->nctrl, rq->gate, rq->join != 0);
}

// spawn clones PID 1 for rq and returns its pid, or -errno.
static pid_t spawn(const struct zy_req *rq, int *fds, int nfds) {
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	// With CLONE_PARENT the kernel gives PID 1 the zygote's own exit
	// signal (SIGCHLD, to the runner) and wants none named here.
	ca.flags = CLONE_PARENT;
	ca.exit_signal = 0;
	int pidfd = -1, ownpid = -1;
	if (rq->join) {
		pidfd = fds[--nfds];
		// Only a clone can put a process in another pid namespace: the
		// zygote enters it for its children, and leaves it after.
		if (rq->flags & CLONE_NEWPID) {
			if ((ownpid = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0)
				return -errno;
			if (setns(pidfd, CLONE_NEWPID) < 0) {
				int e = errno;
				close(ownpid);
				return -e;
			}
		}
	} else
		ca.flags |= rq->flags;
	if (rq->cgroup) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)fds[--nfds];
	}
	// A joining PID 1 is in the sandbox's pid namespace from its birth:
	// born non-dumpable (see pid1).
	if (rq->join)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	long pid = syscall(SYS_clone3, &ca, sizeof ca);
	int e = errno;
	if (pid == 0)
		pid1(rq, fds, nfds, pidfd);
	if (rq->join)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (ownpid >= 0) {
		// A zygote left in a sandbox's pid namespace would put the next
		// sandbox inside it: better none.
		if (setns(ownpid, CLONE_NEWPID) < 0)
			_exit(125);
		close(ownpid);
	}
	return pid < 0 ? -e : (pid_t)pid;
}

// serve answers requests on sock until the runner closes its end. A
// sibling serves one PID 1 and ends, so that its parent (not the runner,
// which cannot wait for it) reaps it at once.
static void serve(int sock, int once) __attribute__((noreturn));
static void serve(int sock, int once) {
	for (;;) {
		struct zy_req rq;
		char cbuf[CMSG_SPACE(sizeof(int) * ZY_MAXFD)];
		struct iovec iov = {.iov_base = &rq, .iov_len = sizeof rq};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		int fds[ZY_MAXFD], nfds = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nfds + k > ZY_MAXFD)
				k = ZY_MAXFD - nfds;
			memcpy(fds + nfds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
			nfds += k;
		}
		int want = (int)rq.nchild + (rq.cgroup ? 1 : 0) + (rq.join ? 1 : 0);
		if (n != sizeof rq || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || rq.version != ZY_VERSION ||
		    rq.nchild < 3 || want > ZY_MAXFD || nfds != want)
			reply(sock, EINVAL, 0);
		else {
			pid_t pid = spawn(&rq, fds, nfds);
			reply(sock, pid < 0 ? -pid : 0, pid < 0 ? 0 : pid);
			if (once && pid > 0)
				_exit(0);
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

// become_zygote makes this process the zygote, its socket descriptor 3.
// Nothing of the caller's stays: its descriptors (a directory among them
// would be a way out of every root, runc CVE-2024-21626), its arguments
// and environment, and its working directory (which would stay busy as
// long as the runner). It stays dumpable, as the runner is: PID 1
// inherits that, and a rootless runner writes PID 1's id maps, which
// /proc gives to root otherwise.
static void become_zygote(int argc, char **argv, char **envp, int sibling) __attribute__((noreturn));
static void become_zygote(int argc, char **argv, char **envp, int sibling) {
	prctl(PR_SET_NAME, ZYGOTE_ARG0, 0, 0, 0);
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		_exit(125);
	close(0);
	close(1);
	close(2);
	if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
		_exit(125);
	wipe(argc, argv, envp);
	if (chdir("/") < 0)
		_exit(125);
	serve(3, sibling);
}

// sandbox_zygote_start runs in the constructor, before the Go runtime:
// ZYGOTE_ARG0 exec'd (the socket is descriptor 3) serves at once;
// otherwise a program that wants one forks it here.
void sandbox_zygote_start(int argc, char **argv, char **envp) {
	if (argc >= 1 && strcmp(argv[0], ZYGOTE_ARG0) == 0)
		become_zygote(argc, argv, envp, argc >= 2 && strcmp(argv[1], ZYGOTE_SIBLING_ARG) == 0);
	int wanted = sandbox_zygote_wanted(argc, argv);
	if (wanted != ZYGOTE_CHILD && wanted != ZYGOTE_SIBLING)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	pid_t parent = wanted == ZYGOTE_SIBLING ? getppid() : getpid();
	pid_t pid;
	if (wanted == ZYGOTE_SIBLING) {
		// A sibling, so that each PID 1 it clones (CLONE_PARENT again) is
		// our parent's child: see sandbox_zygote_sibling's users.
		struct clone_args ca;
		memset(&ca, 0, sizeof ca);
		ca.flags = CLONE_PARENT;
		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
	} else
		pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid > 0) {
		close(sv[1]);
		sandbox_zygote_sock = sv[0];
		sandbox_zygote_sibling = wanted == ZYGOTE_SIBLING;
		sandbox_zygote_pid = pid;
		return;
	}
	// The main thread forked us, and Go never ends it: the death signal
	// fires only when the runner is gone. A sibling's parent is not the
	// runner (it may well exit first): that zygote ends at its socket's
	// EOF alone.
	if (wanted == ZYGOTE_CHILD)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(0);
	if (sv[1] != 3 && dup2(sv[1], 3) < 0)
		_exit(125);
	become_zygote(argc, argv, envp, wanted == ZYGOTE_SIBLING);
}
