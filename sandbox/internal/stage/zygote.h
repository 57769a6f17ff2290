//go:build cgo && linux

#ifndef SANDBOX_ZYGOTE_H
#define SANDBOX_ZYGOTE_H

// The zygote's wire, shared with zygote_linux.go: a request is one
// SOCK_SEQPACKET message, a zy_req with its descriptors (SCM_RIGHTS): PID
// 1's nchild descriptors (0, 1, 2 and on, in order), then, with cgroup
// set, the v2 cgroup to clone into, then, with join set, a pidfd of the
// running sandbox's PID 1, whose namespaces in flags PID 1 joins instead
// of making new ones. The reply is one zy_reply. (A v1 run's tasks files
// come to PID 1 with the GoByte instead: see sandbox_pid1.) A hint's
// message may carry, after the zy_req, the build part of the config its
// next request will likely send (EncodeBuild's bytes, at most
// ZY_MAXBUILD): its spare builds that container before the request comes.

#include <stdint.h>

#define ZYGOTE_ARG0 "sandbox-zygote"
// What sandbox_zygote_wanted answers for a zygote: none (0), the
// process's child, or its sibling, whose PID 1s are the process's
// parent's children.
#define ZYGOTE_CHILD 1
#define ZYGOTE_SIBLING 2
// A sibling exec'd is ZYGOTE_ARG0 with this argument.
#define ZYGOTE_SIBLING_ARG "sibling"
#define ZY_VERSION 6
#define ZY_MAXFD 64
#define ZY_MAXBUILD (64 << 10)
// What a runner keeps in its run directory: the build part of its last
// run (sandbox.Container's saveBuild), for the spare the next runner's
// zygote clones at once to build ahead; BuildCache in Go.
#define ZY_BUILD_NAME ".build"

struct zy_req {
	uint32_t version;
	uint32_t nchild;
	uint32_t cgroup;
	uint64_t flags;  // the CLONE_NEW* flags of the sandbox's namespaces
	int32_t ctrl;    // PID 1's control socket, as numbered in PID 1
	int32_t nctrl;   // how many of PID 1's descriptors from ctrl on are the runner's
	int32_t gate;    // the start gate, or -1
	uint32_t join;   // 1: join the sandbox of the pidfd that comes last
	uint32_t detach; // 1: no parent-death signal (a detached exec)
	uint32_t ahead;  // 1: a hint, with no descriptors and no reply: a request with flags follows
	int32_t cpu;     // a hint's: the CPU its sender runs on, which the spare's clone avoids; -1: none
	uint32_t pad;
	uint64_t build;  // a request's: is_fnv of its config's build part (EncodeBuild), which a spare built ahead must match
};

struct zy_reply {
	int32_t err;  // an errno, or 0
	int32_t pid;  // PID 1's, in the runner's pid namespace
	int32_t gone; // a spare's the zygote dropped, for the runner to reap, or 0
	int32_t built; // 1: PID 1 is a spare that built its container ahead
};

void sandbox_zygote_start(int argc, char **argv, char **envp);
int sandbox_zygote_wanted(int argc, char **argv);
uint64_t sandbox_zygote_spare(int argc, char **argv);
const char *sandbox_zygote_build_dir(int argc, char **argv);
size_t zy_read_build(const char *dir, char *buf, size_t max);
void sandbox_pid1(int ctrl, int nfd, int gate, int joined) __attribute__((noreturn));
// prefork.c: a spare's exec stage forked ahead, once its container is
// built; its pid and PID 1's end of its socket, or 0 and -1.
int sandbox_stage_ahead(uint64_t flags);
extern pid_t sandbox_ahead_pid;
extern int sandbox_ahead_sock;

extern int sandbox_zygote_sock;
extern int sandbox_zygote_sibling;
extern int sandbox_zygote_pid;
extern uint64_t sandbox_zygote_cache;

#endif
