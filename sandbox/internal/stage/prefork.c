//go:build cgo && linux

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "stage.h"
#include "zygote.h"

// sandbox_prefork runs before the Go runtime starts, while the process is
// still single-threaded: the only time it can be forked safely and
// cheaply, so the zygote that makes every PID 1 is forked (or, exec'd as
// ZYGOTE_ARG0, serves) from here (zygote.c).
__attribute__((constructor)) static void sandbox_prefork(int argc, char **argv, char **envp) {
	sandbox_zygote_start(argc, argv, envp);
}

// The exec stage a spare forked once it had built its container ahead
// (sandbox_stage_ahead): its pid and PID 1's end of its socket, or 0.
pid_t sandbox_ahead_pid;
int sandbox_ahead_sock = -1;

// sandbox_stage_ahead forks the exec stage of a spare that has built its
// container (zygote.c), before its request: the fork, a copy of the
// spare's page tables that these paravirtualized guests make dear, is
// then off the path from the request to CMD, where PID 1 forks it after
// reading its config otherwise. It holds nothing but its socket until PID
// 1 sends it the run's descriptors (sandbox_pid1), and dies with the
// spare if the spare is dropped: only a spare that is PID 1 of a pid
// namespace of its own forks one, whose end kills it. -1 with nothing
// forked if that cannot be.
int sandbox_stage_ahead(uint64_t flags) {
	if (!(flags & CLONE_NEWPID))
		return -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		int sock = sv[1];
		if (syscall(SYS_close_range, 0, sock - 1, 0) < 0 || syscall(SYS_close_range, sock + 1, ~0U, 0) < 0)
			_exit(125);
		sandbox_exec_stage(sock, -1, 1);
		_exit(125);
	}
	close(sv[1]);
	sandbox_ahead_pid = pid;
	sandbox_ahead_sock = sv[0];
	return 0;
}

_Static_assert(ZY_MAXFD + 1 <= SANDBOX_MAXSENDFD, "an exec stage forked ahead gets its descriptors in one message");

// sandbox_pid1 is PID 1 with its descriptors in place: ctrl and the nfd-1
// after it are the runner's, gate (one of them, or -1) is the start gate;
// joined, it is the first process of an exec in a running sandbox, whose
// namespaces it has entered (zygote.c), not a sandbox's PID 1.
// The Go runtime's threads would take pids in the new pid namespace the
// moment it started, so PID 1 forks the process that becomes CMD here, as
// pid 2. Neither process returns: both stages are C, and the Go runtime
// never starts inside the sandbox.
void sandbox_pid1(int ctrl, int nfd, int gate, int joined) {
	if (gate < ctrl || gate >= ctrl + nfd)
		gate = -1;
	// An exec stage forked ahead gets what it would have inherited: 0, 1,
	// 2 and the preserved descriptors (all below ctrl), and the gate.
	if (sandbox_ahead_pid > 0) {
		int fds[ZY_MAXFD + 1], n = 0;
		for (int fd = 0; fd < ctrl && n < ZY_MAXFD; fd++)
			fds[n++] = fd;
		if (gate >= 0)
			fds[n++] = gate;
		unsigned char b = gate >= 0;
		if (sandbox_send_fds(sandbox_ahead_sock, &b, 1, fds, n) != 1) {
			is_fail(errno, "handing the exec stage its descriptors");
			is_failed(ctrl);
		}
	}
	// The config comes first, and PID 1 builds the container (mounts,
	// pivot_root) while the runner makes the run's cgroup.
	struct is_cfg c;
	sandbox_init_build(ctrl, &c);
	// The process that becomes CMD is forked now, while the runner makes
	// and fills the run's groups: the fork (a copy of our page tables,
	// dear on these paravirtualized guests) is off the path from the
	// runner's word to CMD. It only waits for PID 1's instructions, and the
	// first of them moves it into the run's groups and cgroup namespace
	// (moving itself, as PID 1 does: see below): nothing of CMD runs
	// before, and nothing it inherits from us is given up later but what
	// PID 1 sends it. A spare that built ahead forked it before its
	// request (sandbox_stage_ahead).
	int sv[2] = {sandbox_ahead_sock, -1};
	pid_t pid = sandbox_ahead_pid;
	if (pid <= 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			_exit(125);
		pid = fork();
		if (pid < 0)
			_exit(125);
		if (pid == 0) {
			// The exec stage. The runner's sockets are PID 1's business.
			close(sv[0]);
			for (int fd = ctrl; fd < ctrl + nfd; fd++)
				if (fd != gate)
					close(fd);
			sandbox_exec_stage(sv[1], gate, 0);
			_exit(125);
		}
		close(sv[1]);
	}
	// Then the runner writes this byte, once it has confined us (cgroup,
	// rlimits, id maps). On v1 the run's tasks files come with it, and we
	// move into each before anything else, writing "0": a thread moving
	// itself needs no kernel-wide lock (the RCU grace period that moving
	// another process costs); the exec stage is sent them to do the same.
	// On v2 we were born in the run's group (CLONE_INTO_CGROUP), and so
	// was the exec stage, our child.
	//
	// A second byte counts the tasks files to move into; the ones after
	// them are the parent group's, kept for PID 1's
	// end (is_report): out of the run's groups before it reports, PID 1
	// lets the runner remove them while the kernel tears its namespaces
	// down, which takes longer than anything else at a run's end.
	unsigned char go[2];
	char cbuf[CMSG_SPACE(sizeof(int) * ZY_MAXFD)];
	struct iovec iov = {.iov_base = go, .iov_len = sizeof go};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t got;
	for (;;) {
		got = recvmsg(ctrl, &mh, MSG_CMSG_CLOEXEC);
		if (got == 2)
			break;
		if (got < 0 && errno == EINTR)
			continue;
		_exit(125);
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		is_fail(0, "moving init into its cgroup: too many tasks files");
		is_failed(ctrl);
	}
	int into = go[1], seen = 0;
	// Kept only where no process of the sandbox can use them or outlive
	// PID 1's kill: a CMD with CAP_SYS_PTRACE reaches PID 1's descriptors
	// (/proc/1/fd, pidfd_getfd, a syscall injected into PID 1), and one of
	// those moves it out of its groups; PID 1 takes CMD's ids, and may then
	// signal only what has them, so a CMD with CAP_SETUID could leave a
	// process PID 1 cannot end and must wait for. Their groups go after
	// PID 1, as they always did.
	int can_leave = 1;
	for (uint32_t i = 0; i < c.ncaps; i++)
		if (c.caps[i] == CAP_SETUID || c.caps[i] == CAP_SYS_PTRACE)
			can_leave = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++, seen++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + sizeof(int) * (size_t)i, sizeof fd);
			if (seen >= into) {
				if (can_leave)
					is_leave_fd(fd);
				else
					close(fd);
				continue;
			}
			if (write(fd, "0", 1) != 1) {
				is_fail(errno, "moving init into its cgroup");
				is_failed(ctrl);
			}
			is_move_fd(fd);
		}
	}
	// A held run's Start returns on this, so that an engine told the pid
	// (an OCI runtime's create) finds it in the run's groups, where it
	// looks for the container's OOM events and usage; before, conmon
	// could read the groups PID 1 was born in. It is whitespace: the
	// report that follows is JSON, and a failure's report stands for it.
	if (gate >= 0 && sandbox_write_all(ctrl, "\n", 1) < 0)
		_exit(125);
	// The run's cgroup becomes the root of the sandbox's cgroup view (a
	// PID 1 joining a sandbox joined its cgroup namespace).
	// The exec stage, forked before, makes one of its own once it is in
	// the groups (send_first), rooted where ours is: a descriptor of ours
	// would need /proc (which a mount of the run's may hide) or, through a
	// pidfd, ptrace access to PID 1 (which a rootless exec stage lacks).
	if (!joined && unshare(CLONE_NEWCGROUP) < 0)
		_exit(125);
	is_move_newcgroup = !joined;
	// PID 1 runs the sandbox to its end here too: a Go runtime start, with
	// the init functions of every package the runner links, would cost more
	// CPU than everything else a throwaway sandbox does.
	sandbox_init_stage(ctrl, sv[0], pid, &c);
	_exit(125);
}
