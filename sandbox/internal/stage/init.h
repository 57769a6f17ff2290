//go:build cgo && linux

#ifndef SANDBOX_STAGE_INIT_H
#define SANDBOX_STAGE_INIT_H

// What the init stage's files share: initstage.c (PID 1's life), config.c
// (the runner's plan, read), mounts.c (the plan, performed), report.c (the
// exit, reported) and util.c (memory, failures, paths). Nothing else
// includes it.

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

#include "stage.h"

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
	// With IS_SELFMAP: the single-id user namespace map PID 1 writes
	// itself (map[0] inside is map[1] outside; uids, then gids).
	uint32_t uidmap[2], gidmap[2];
};

#define IS_TTY 1
#define IS_LOOPBACK 2
#define IS_SECCOMP 4
#define IS_NOTIFY 8
#define IS_WDREQ 256  // configWdRequired
#define IS_JOINED 512  // configJoined
#define IS_DETACHED 1024  // configDetached
#define IS_HANDED 2048  // configHandedOff
#define IS_SELFMAP 4096  // configSelfMap
#define IS_STEP_RO 1
#define IS_STEP_SCRATCH 2
#define IS_STEP_OPTIONAL 4
#define IS_STEP_FALLBACK 8
#define IS_STEP_NOSYMLINKS 16

struct is_rd {
	const char *p, *end;
	int bad;
};

struct is_root {
	int fd;
	const char *path;
};

// fd_path names an O_PATH descriptor for the syscalls that take only paths.
struct fd_path {
	char s[32];
};

struct is_buf {
	char *p;
	size_t len, cap;
};

struct is_exit {
	int code, sig, unsup, pid;
	const char *error, *refused;
};

// The parent group's tasks files (v1), which PID 1 moves into at its end
// (report.c): is_leave_fd keeps one, is_leave_close closes them all (the
// exec stage, which must not hold them).
void is_leave_fd(int fd);
void is_leave_close(void);

// What the exec stage, forked before PID 1 moved into the run's groups
// and cgroup namespace, is sent to do the same (initstage.c): the run's
// tasks files (v1), up to IS_MAXMOVE (stage.h), and whether to unshare a
// cgroup namespace once in them.
void is_move_fd(int fd);
extern int is_move_newcgroup;

// The failure recorded last (util.c).
extern char *is_msg;   // the failure's message
extern int is_errno;   // the errno it wraps, if any (errors.Is)
extern int is_unsup;   // it wraps ErrUnsupported

// util.c
void is_oom(void);
void *is_alloc(size_t n);
char *is_sprintf(const char *fmt, ...);
char *is_errtext(int err);
void is_clear(void);
int is_fail(int err, const char *fmt, ...);
int is_wrap(const char *fmt, ...);
char *go_clean(const char *p);
char *go_dir(const char *p);
char *go_base(const char *p);
int go_mkdir_all(const char *path, mode_t perm);

// config.c
int is_decode(const char *msg, size_t len, struct is_cfg *c);
int is_decode_build(const char *msg, size_t len, struct is_cfg *c);
int is_same_build(const struct is_cfg *a, const struct is_cfg *b);
uint64_t is_fnv(const char *p, size_t n);
uint64_t is_caps_mask(const struct is_cfg *c);
char *encode_exec(const struct is_cfg *c, const char *dir, size_t *len);

// initstage.c
int is_build(const struct is_cfg *c);
int is_build_root(const struct is_cfg *c);
int is_build_rest(const struct is_cfg *c);
int is_bound(const struct is_cfg *c);
// is_prebuilt: the build part of the config a spare built its container
// from before its request came (zygote.c), or NULL; is_prebuilt_failed:
// the rest of that build, after the spare's word, failed (is_msg says
// why), which its PID 1 reports.
extern const struct is_cfg *is_prebuilt;
extern int is_prebuilt_failed;

// mounts.c
int perform_steps(const struct is_cfg *c);
// What a build resolved of the host's tree (the sources of its binds and
// overlays), noted while is_noting is set: a spare's (zygote.c), whose
// zygote checks, when its request comes, that each path names what it
// did (st_dev, st_ino; both 0 for a path that was not there). A path is
// is_sources_full when there was no room to note one.
struct is_source {
	uint64_t dev, ino;
	const char *path;
};
#define IS_MAXSOURCES 512
extern int is_noting, is_sources_full;
extern struct is_source is_sources[IS_MAXSOURCES];
extern uint32_t is_nsources;
int pivot_into(const char *rootfs);
int loopback_up(void);
const char *workdir(const struct is_cfg *c);
int open_console(const struct is_cfg *c, int console);

// report.c
void buf_add(struct is_buf *b, const char *s, size_t n);
void is_report(int ctrl, const struct is_exit *ev);
// is_detached: a detached exec's PID 1, which outlives its runner.
extern int is_detached;
// is_cmd_status: PID 1 exits as CMD did, for a parent that is not the
// runner (a detached exec's, or a handed-off PID 1's: report.c).
extern int is_cmd_status;
void is_failed(int ctrl);

#endif
