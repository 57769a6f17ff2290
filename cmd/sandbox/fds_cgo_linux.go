//go:build cgo

package main

/*
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

// With fewer than a handful of descriptors the Go runtime itself cannot
// start (it dies in netpollinit with a stack trace and status 2), before
// main could say anything. Say it here, before the runtime starts, as a
// runner failure: status 125 and one line naming the cause. Go raises the
// soft limit to the hard one at start, so the hard limit is what counts.
// 16 is what a run needs: sockets to PID 1, stdio pipes, the cgroup's files.
__attribute__((constructor)) static void sandbox_check_nofile(void) {
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < 16) {
		dprintf(2, "sandbox: too few file descriptors: the limit is %llu (ulimit -n), a run needs 16\n",
			(unsigned long long)rl.rlim_max);
		_exit(125);
	}
}
*/
import "C"
