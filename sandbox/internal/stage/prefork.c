//go:build cgo && linux

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"


// sandbox_prefork runs before the Go runtime starts, while the process is
// still single-threaded. The Go runtime's own threads take pids in the new
// pid namespace the moment it starts, so this is the only place where PID 1
// can fork the process that becomes CMD and have it be pid 2. Neither
// process returns from it: both stages are C, and the Go runtime never
// starts inside the sandbox.
__attribute__((constructor)) static void sandbox_prefork(int argc, char **argv, char **envp) {
	if (argc < 1 || strcmp(argv[0], "sandbox-init") != 0)
		return;
	const char *fdstr = getenv("_SANDBOX_INIT_FD");
	if (fdstr == NULL)
		return;
	int ctrl = atoi(fdstr);
	// Descriptors past ours are the caller's, leaked to the runner without
	// close-on-exec and so to us: a directory among them would be a way out
	// of the root (runc CVE-2024-21626). Close them before anything runs.
	const char *nstr = getenv("_SANDBOX_INIT_NFD");
	int nfd = nstr ? atoi(nstr) : 1;
	// The start gate, one of ours, is the exec stage's to keep.
	const char *gstr = getenv("_SANDBOX_INIT_GATE");
	int gate = gstr ? atoi(gstr) : -1;
	if (gate < ctrl || gate >= ctrl + nfd)
		gate = -1;
	if (syscall(SYS_close_range, ctrl + nfd, ~0U, 0) < 0) {
		for (int fd = ctrl + nfd; fd < 65536; fd++)
			close(fd);
	}
	// The runner writes this byte once it has confined us (cgroup,
	// rlimits): the exec stage forked below inherits all of it.
	char go;
	for (;;) {
		ssize_t n = read(ctrl, &go, 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		_exit(125);
	}
	// The run's cgroup becomes the root of the sandbox's cgroup view.
	if (unshare(CLONE_NEWCGROUP) < 0)
		_exit(125);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		_exit(125);
	pid_t pid = fork();
	if (pid < 0)
		_exit(125);
	if (pid == 0) {
		// The exec stage. The runner's sockets are PID 1's business.
		close(sv[0]);
		for (int fd = ctrl; fd < ctrl + nfd; fd++)
			if (fd != gate)
				close(fd);
		sandbox_exec_stage(sv[1], gate);
		_exit(125);
	}
	close(sv[1]);
	// PID 1 runs the sandbox to its end here too: a Go runtime start, with
	// the init functions of every package the runner links, would cost more
	// CPU than everything else a throwaway sandbox does.
	sandbox_init_stage(ctrl, sv[0], pid);
	_exit(125);
}
