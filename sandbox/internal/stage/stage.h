//go:build cgo && linux

#ifndef SANDBOX_STAGE_H
#define SANDBOX_STAGE_H

// The stages' entry points and what more than one of them uses. PID 1 and
// pid 2 are C alone, one implementation each: prefork.c starts them,
// execstage.c is pid 2 up to the exec of CMD, initstage.c (with config.c,
// mounts.c, report.c and util.c, see init.h) is PID 1.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// execstage.c: pid 2, instructed over sock, never returns. With gate >= 0
// it reads one byte from gate before it loads the filter and execs CMD
// (an OCI runtime's start); EOF ends it instead, exit status 125. Its
// first instruction carries up to IS_MAXMOVE descriptors of what to enter
// (PID 1's is_move_fd), beside a pty's slave. Forked ahead (ahead: by a
// spare that built its container, before its request: prefork.c's
// sandbox_stage_ahead), it holds none of the run's descriptors, and a
// message before that brings them: 0, 1, 2 and the preserved ones, in
// order, and the start gate if its one byte says so.
void sandbox_exec_stage(int sock, int gate, int ahead);
int sandbox_place_fds(int *fds, int n);
#define IS_MAXMOVE 72
// initstage.c: PID 1. sandbox_init_build reads the runner's config from
// its control socket into c and builds the container; sandbox_init_stage
// then runs it, with the exec stage's socket and pid, and never returns.
struct is_cfg;
void sandbox_init_build(int ctrl, struct is_cfg *c);
void sandbox_init_stage(int ctrl, int stage, pid_t pid, const struct is_cfg *c);

// execstage.c: whole reads and writes, and a descriptor over a unix socket.
int sandbox_read_full(int fd, char *p, size_t n);
int sandbox_write_all(int fd, const char *p, size_t n);
int sandbox_send_fd(int sock, int fd);
#define SANDBOX_MAXSENDFD 80
ssize_t sandbox_send_fds(int sock, const void *buf, size_t len, const int *fds, int n);

// config.c: PID 1's reading of a config message and its instructions to
// the exec stage, for the Go tests (cExecFromConfig); NULL if malformed.
// Its reading of a build part beside a config (cSameBuild).
char *is_exec_from_config(const char *msg, size_t len, const char *dir, size_t *outlen);
int is_same_build_msgs(const char *build, size_t nbuild, const char *msg, size_t len, uint64_t *hash);

// initstage.c: PID 1's own seccomp filter, written into f (room for
// IS_INIT_MAXINSNS instructions), and the syscalls it lets through (room
// for IS_INIT_MAXINSNS), for the Go tests (cInitFilter).
#define IS_INIT_MAXINSNS 256
struct sock_filter;
size_t is_init_filter(struct sock_filter *f);
size_t is_init_syscalls(long *nrs);

#endif
