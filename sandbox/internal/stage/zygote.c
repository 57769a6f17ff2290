//go:build cgo && linux

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <poll.h>
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

// sandbox_zygote_spare names the namespaces (CLONE_NEW* flags) of the
// spare a zygote forked by the constructor clones at once, before any
// hint: 0 for none.
__attribute__((weak)) uint64_t sandbox_zygote_spare(int argc, char **argv) {
	(void)argc;
	(void)argv;
	return 0;
}

// sandbox_zygote_build_dir names the run directory whose kept build part
// (ZY_BUILD_NAME) the spare the constructor's zygote clones at once builds
// ahead from, or NULL for none; this runner then keeps its own there
// (sandbox_zygote_cache: the namespaces of that spare, or 0 for none). A
// program that runs one command line per process, as the CLI's exec does,
// defines it; another runner's build parts (a judge's) would only make
// that spare one that does not fit. A wrong guess costs only the build.
__attribute__((weak)) const char *sandbox_zygote_build_dir(int argc, char **argv) {
	(void)argc;
	(void)argv;
	return NULL;
}

uint64_t sandbox_zygote_cache;

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

static void reply(int sock, int err, pid_t pid, pid_t gone, int built) {
	struct zy_reply r = {.err = err, .pid = pid, .gone = gone, .built = built};
	while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

// pid1 is PID 1 from its first instruction (or from its request, for a
// spare): descriptors in place, then the init stage. It never returns.
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
	// (A spare has had one from its birth.)
	prctl(PR_SET_PDEATHSIG, rq->detach ? 0 : SIGKILL, 0, 0, 0);
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
	// A spare's exec stage forked ahead keeps its socket, after the
	// runner's descriptors.
	if (sandbox_ahead_sock >= 0)
		fds[nfds++] = sandbox_ahead_sock;
	if (sandbox_place_fds(fds, nfds) < 0) {
		// The control socket is wherever sandbox_place_fds left it.
		is_fail(errno, "setting up init's descriptors");
		is_failed(fds[rq->ctrl]);
		_exit(125);
	}
	// Out of the runner's session: a terminal's Ctrl-C reaches the runner
	// alone, which forwards it once.
	if (setsid() < 0)
		_exit(125);
	if (sandbox_ahead_sock >= 0)
		sandbox_ahead_sock = nfds - 1;
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

// ---- The spare.
//
// A spare is a PID 1 cloned before its request, with the namespaces the
// next request will likely name, waiting on a socket of its own for the
// request, which the zygote forwards to it as it got it. The clone (the
// kernel making the namespaces: most of what a spawn costs) is then off
// the runner's path: it is made when the runner says a request will follow
// (a hint, zy_req.ahead: the CLI sends one before its flags are all
// acted on; a runner that has asked twice sends one when each sandbox's
// PID 1 reports, for the next). A v2 run's PID 1 is born in its group, which a spare
// made before the group cannot be: its requests have no spare.
//
// A hint may also carry the build part of the config that will follow
// (EncodeBuild's bytes): its spare then builds the container from it at
// once (is_build: the mounts, pivot_root, the hostname, loopback, the
// bounding set), at the idle class and off the hint's sender's CPU, as it
// was cloned; whatever of the build is left when the request comes goes
// on at the runner's policy. Such a spare fits only a request whose build
// part hashes the same (zy_req.build), is handed over once its word says
// its mounts are made, and its PID 1 checks the config it is sent against
// what it built (sandbox_init_build). One whose build fails ends; the request that
// finds it gone gets a PID 1 cloned then. The constructor's spare builds
// from what the last CLI run kept (zy_read_build), at the zygote's priority.
//
// What a spare took from the host when it was made must still be the
// host's when it is used. Its mount namespace is a copy of the host's
// mount table: after a mount or unmount in the zygote's namespace (seen
// by polling /proc/self/mounts) it is dropped unless the table is again
// what it copied, line for line (mount ids, devices and all: a container
// engine's mounts come and go between two runs, and a mount that is the
// same line again is the same filesystem in the same place). A spare
// built ahead also holds what its build resolved of the host's tree, the
// sources of its binds and overlays: each path must still name the same
// file (sources_same), or a directory removed and made again, or a file
// renamed over, would stay bound as it was. The other namespaces are new
// and empty, its credentials and root the zygote's, which do not change.
// A spare dropped is killed, and its pid goes back with the reply
// (zy_reply.gone) for the runner, its parent, to reap; one never used ends
// with the runner (its parent-death signal) or the zygote (its socket's
// EOF).

static struct {
	pid_t pid;  // 0: none
	int sock;   // the zygote's end of its socket
	uint64_t flags;
	uint64_t build;  // is_fnv of the build part it builds from; 0: it builds at its request
	uint64_t table;  // table_hash of the mount table it copied; 0: unknown
	// It may still be at the idle class (idle) or bound off the sender's
	// CPU (moved): the policy and CPUs to give it for its request.
	int idle, moved, policy;
	struct sched_param param;
	cpu_set_t cpus;
} spare;

static void spare_unbind(void);
static int mounts_fd = -1;
_Static_assert(ZY_MAXFD <= SANDBOX_MAXSENDFD, "a request's descriptors fit one message to a spare");

// A spare's word that its mounts are made names what the build resolved
// of the host's tree (is_sources): u32 count, then for each u64 dev, u64
// ino, u32 length and the path's bytes.
#define ZY_MAXWORD (ZY_MAXBUILD + IS_MAXSOURCES * 20 + 4)

// encode_sources is the word: its length, 0 if it does not fit (or some
// source was not noted).
static size_t encode_sources(char *buf, size_t max) {
	if (is_sources_full)
		return 0;
	size_t n = 4;
	memcpy(buf, &is_nsources, 4);
	for (uint32_t i = 0; i < is_nsources; i++) {
		const struct is_source *s = &is_sources[i];
		uint32_t len = (uint32_t)strlen(s->path);
		if (n + 20 + len > max)
			return 0;
		memcpy(buf + n, &s->dev, 8);
		memcpy(buf + n + 8, &s->ino, 8);
		memcpy(buf + n + 16, &len, 4);
		memcpy(buf + n + 20, s->path, len);
		n += 20 + len;
	}
	return n;
}

// sources_same says whether each path of a spare's word still names what
// it did, looked up as the spare did (following symlinks); one that was
// not there must still not be.
static int sources_same(const char *w, size_t n) {
	uint32_t count;
	if (n < 4)
		return 0;
	memcpy(&count, w, 4);
	size_t off = 4;
	char path[PATH_MAX];
	for (uint32_t i = 0; i < count; i++) {
		uint64_t dev, ino;
		uint32_t len;
		if (n - off < 20)
			return 0;
		memcpy(&dev, w + off, 8);
		memcpy(&ino, w + off + 8, 8);
		memcpy(&len, w + off + 16, 4);
		off += 20;
		if (len >= sizeof path || n - off < len)
			return 0;
		memcpy(path, w + off, len);
		path[len] = 0;
		off += len;
		struct stat st;
		int there = stat(path, &st) == 0;
		if (there ? (uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino : dev != 0 || ino != 0)
			return 0;
	}
	return off == n;
}

static int take_request(int sock, struct zy_req *rq, int *fds, int *nfds, int *bad, const char **build, size_t *nbuild);

// spare_wait is a spare until its request comes; then it is PID 1.
static void spare_wait(int sock) __attribute__((noreturn));
static void spare_wait(int sock) {
	struct zy_req rq;
	int fds[ZY_MAXFD + 1], nfds = 0, bad = 0;  // and the exec stage's socket, in pid1
	if (take_request(sock, &rq, fds, &nfds, &bad, NULL, NULL) <= 0 || bad)
		_exit(0);
	close(sock);
	pid1(&rq, fds, nfds, -1);
}

// mounts_changed says whether the zygote's mount table changed since the
// last call (and since it was first opened).
static int mounts_changed(void) {
	if (mounts_fd < 0) {
		if ((mounts_fd = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC)) < 0)
			return 1;
		struct pollfd pf = {.fd = mounts_fd, .events = POLLPRI};
		poll(&pf, 1, 0);  // the first poll reports a change: clear it
	}
	struct pollfd pf = {.fd = mounts_fd, .events = POLLPRI};
	return poll(&pf, 1, 0) != 0;
}

// table_hash is is_fnv of the zygote's mount table, /proc/self/mountinfo
// whole; 0 if it cannot be read.
static uint64_t table_hash(void) {
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	static char buf[64 << 10];
	uint64_t h = 14695981039346656037ULL;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++) {
			h ^= (unsigned char)buf[i];
			h *= 1099511628211ULL;
		}
	close(fd);
	return n < 0 || h == 0 ? 0 : h;
}

// table_same says whether the mount table is the one a spare copied: the
// same if nothing changed since (the cheap poll), else if it is again
// line for line what it was.
static int table_same(uint64_t table) {
	if (!mounts_changed())
		return 1;
	return table != 0 && table_hash() == table;
}

// make_spare clones a spare with flags. Only idle CPU time goes into it
// (SCHED_IDLE): made while a sandbox runs, it must not take a CPU from
// that sandbox's PID 1 or CMD, or from the runner. Back to the runner's
// policy after, which a spare takes too before it is PID 1: the way back
// needs CAP_SYS_NICE, so without root a spare keeps the zygote's class
// (see below).
//
// Nor is it made on cpu, the hint's sender's (when there is another to
// make it on). The idle class is not enough: the kernels here do not
// preempt a task in a system call (PREEMPT_NONE), and the clone is one
// long system call. Woken on the runner's CPU, which the kernel prefers
// for a task its sender wakes, the zygote held the runner off it for the
// whole clone, 0.6 to 1 ms, in about half of the CLI's runs: the spare
// gained the CLI nothing. Moved off first, it costs the runner 0.02 to
// 0.09 ms.
static void make_spare(uint64_t flags, int cpu, const char *build, size_t nbuild, int first) {
	if (spare.pid != 0)
		return;
	// Without CAP_SYS_NICE there is no way back from the idle class: a
	// rootless zygote's spares are made at its own, and only where no
	// sandbox of its runner runs yet (the runner asks for none after
	// a PID 1 reports: see AheadOfNext's callers).
	// The first, the constructor's, is made where none runs yet either,
	// and is the runner's next PID 1: the idle class would only delay it
	// behind the runtime's threads starting on the other CPU.
	int idle = geteuid() == 0 && !first;
	int policy = sched_getscheduler(0);
	struct sched_param was, idlep = {.sched_priority = 0};
	if (policy < 0 || sched_getparam(0, &was) < 0 || (idle && sched_setscheduler(0, SCHED_IDLE, &idlep) < 0))
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		if (idle)
			sched_setscheduler(0, policy, &was);
		return;
	}
	cpu_set_t cpus, away;
	int moved = 0;
	if (cpu >= 0 && cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_ISSET(cpu, &cpus) &&
	    CPU_COUNT(&cpus) > 1) {
		away = cpus;
		CPU_CLR(cpu, &away);
		moved = sched_setaffinity(0, sizeof away, &away) == 0;
	}
	mounts_changed();  // what it copies is the table as of now
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_PARENT | flags;
	long pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid == 0) {
		// Until its request: the runner's death ends it, as it ends PID 1,
		// and it holds nothing but its socket (the zygote's, or a copy of
		// a sandbox's control socket, would keep an end from closing).
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (dup2(sv[1], 0) < 0 || syscall(SYS_close_range, 1, ~0U, 0) < 0)
			_exit(0);
		// Built where and when it was cloned, then back to the runner's
		// CPUs and policy (as the zygote puts it when its request comes,
		// whichever is first). Its word to the zygote says its mounts are
		// made; a spare whose mounts failed ends instead, and its request
		// gets a PID 1 cloned then, which fails the same way with the
		// error to report, or not at all if what failed is gone (a bind's
		// source made again). The rest (hostname, loopback, the bounding
		// set) reads nothing of the host, and goes on beside the runner's
		// config: should it fail, its PID 1 reports it.
		if (build != NULL) {
			static struct is_cfg c;
			static char word[ZY_MAXWORD];
			uint32_t len = 0;
			if (nbuild >= 4)
				memcpy(&len, build, 4);
			// Without root, only a build that maps its own ids: any other
			// namespace has none until the runner's helpers write them,
			// after the request.
			if (len != nbuild - 4 || is_decode_build(build + 4, nbuild - 4, &c) < 0 ||
			    (geteuid() != 0 && !(c.flags & IS_SELFMAP)))
				_exit(0);
			is_noting = 1;
			if (is_build_root(&c) < 0)
				_exit(0);
			is_noting = 0;
			is_prebuilt = &c;
			size_t nword = encode_sources(word, sizeof word);
			if (nword == 0 || send(0, word, nword, MSG_NOSIGNAL) != (ssize_t)nword)
				_exit(0);
			is_prebuilt_failed = is_build_rest(&c) < 0;
		}
		if (moved && sched_setaffinity(0, sizeof cpus, &cpus) < 0)
			_exit(0);
		if (idle && sched_setscheduler(0, policy, &was) < 0)
			_exit(0);
		// Its exec stage, forked now, with the CPUs and policy just given
		// back (or later, by its PID 1, should this fail).
		if (build != NULL && !is_prebuilt_failed)
			sandbox_stage_ahead(flags);
		spare_wait(0);
	}
	if (moved && sched_setaffinity(0, sizeof cpus, &cpus) < 0)
		_exit(125);  // a zygote so bound would bind every PID 1
	if (idle && sched_setscheduler(0, policy, &was) < 0)
		_exit(125);  // a zygote left idle-class would make every PID 1 so
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	// The table it copied, read after the clone: unknown if it changed
	// meanwhile, when a later change drops the spare as it always did.
	spare.table = table_hash();
	if (mounts_changed())
		spare.table = 0;
	spare.pid = (pid_t)pid;
	spare.sock = sv[0];
	spare.flags = flags;
	spare.build = build != NULL ? is_fnv(build, nbuild) : 0;
	spare.idle = idle;
	spare.moved = moved;
	spare.policy = policy;
	spare.param = was;
	spare.cpus = cpus;
	// The spare's own change waits for it to run, which an idle-class task
	// does only on an idle CPU: on a busy machine a request often found it
	// idle-class still, and PID 1's start waited for a CPU to go idle (in
	// half the runs of a loop, by 0.5 to 1.3 ms). So the zygote changes it
	// too; should that fail, the spare's own change still comes. One that
	// builds ahead keeps its class and CPUs until its request (use_spare).
	if (spare.build == 0)
		spare_unbind();
}

// spare_unbind gives the spare the runner's policy and CPUs, if it may
// not have them yet.
static void spare_unbind(void) {
	if (spare.moved)
		sched_setaffinity(spare.pid, sizeof spare.cpus, &spare.cpus);
	if (spare.idle)
		sched_setscheduler(spare.pid, spare.policy, &spare.param);
	spare.moved = spare.idle = 0;
}

// drop_spare kills the spare, if any, and returns its pid for the runner
// to reap, or 0.
static pid_t drop_spare(void) {
	pid_t pid = spare.pid;
	if (pid == 0)
		return 0;
	kill(pid, SIGKILL);
	close(spare.sock);
	spare.pid = 0;
	return pid;
}

// use_spare hands rq to the spare if it fits, and returns its pid; 0 if
// there is none that fits (any other is dropped, its pid in *gone).
// *built says whether it built its container ahead.
static pid_t use_spare(const struct zy_req *rq, int *fds, int nfds, pid_t *gone, int *built) {
	if (spare.pid == 0)
		return 0;
	if (rq->join || rq->cgroup || rq->flags != spare.flags || (spare.build != 0 && rq->build != spare.build) ||
	    !table_same(spare.table)) {
		*gone = drop_spare();
		return 0;
	}
	spare_unbind();
	// One built ahead is used once its word says it is built (the rest of
	// its build, if any, at the runner's policy now), and only if what its
	// build resolved of the host's tree is still there: a directory
	// removed and made again since would stay bound, deleted.
	if (spare.build != 0) {
		static char word[ZY_MAXWORD];
		ssize_t n;
		do
			n = recv(spare.sock, word, sizeof word, MSG_TRUNC);
		while (n < 0 && errno == EINTR);
		if (n <= 0 || (size_t)n > sizeof word || !sources_same(word, (size_t)n)) {
			*gone = drop_spare();
			return 0;
		}
	}
	if (sandbox_send_fds(spare.sock, rq, sizeof *rq, fds, nfds) != (ssize_t)sizeof *rq) {
		*gone = drop_spare();
		return 0;
	}
	pid_t pid = spare.pid;
	*built = spare.build != 0;
	close(spare.sock);
	spare.pid = 0;
	return pid;
}

// take_request reads one request from sock: 1, 0 at EOF, -1 on error;
// *bad when it is malformed (its descriptors are still in fds). A hint's
// build part, where build is not NULL, is left in *build (valid until the
// next call), or NULL.
static int take_request(int sock, struct zy_req *rq, int *fds, int *nfds, int *bad, const char **build, size_t *nbuild) {
	static char part[ZY_MAXBUILD];
	char cbuf[CMSG_SPACE(sizeof(int) * ZY_MAXFD)];
	struct iovec iov[2] = {{.iov_base = rq, .iov_len = sizeof *rq}, {.iov_base = part, .iov_len = build != NULL ? sizeof part : 0}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	size_t extra = n > (ssize_t)sizeof *rq ? (size_t)n - sizeof *rq : 0;
	if (build != NULL) {
		*build = extra > 0 ? part : NULL;
		*nbuild = extra;
	}
	*nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (*nfds + k > ZY_MAXFD)
			k = ZY_MAXFD - *nfds;
		memcpy(fds + *nfds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
		*nfds += k;
	}
	int want = (int)rq->nchild + (rq->cgroup ? 1 : 0) + (rq->join ? 1 : 0);
	*bad = n < (ssize_t)sizeof *rq || (extra > 0 && !rq->ahead) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || rq->version != ZY_VERSION ||
	       (rq->ahead ? *nfds != 0 || rq->join || rq->cgroup : rq->nchild < 3 || want > ZY_MAXFD || *nfds != want);
	return 1;
}

// dropped is a spare dropped at a hint, for the next reply to name.
static pid_t dropped;

static pid_t take_dropped(void) {
	pid_t pid = dropped;
	dropped = 0;
	return pid;
}

// serve answers requests on sock until the runner closes its end. A
// sibling serves one PID 1 and ends, so that its parent (not the runner,
// which cannot wait for it) reaps it at once; it never has a spare.
static void serve(int sock, int once) __attribute__((noreturn));
static void serve(int sock, int once) {
	for (;;) {
		struct zy_req rq;
		int fds[ZY_MAXFD], nfds = 0, bad = 0;
		const char *build = NULL;
		size_t nbuild = 0;
		int r = take_request(sock, &rq, fds, &nfds, &bad, &build, &nbuild);
		if (r < 0)
			continue;
		if (r == 0)
			_exit(0);
		pid_t gone = 0;
		if (!bad && rq.ahead) {
			// A hint, answered by nothing: a request with these flags
			// follows. A spare that does not fit them is dropped then.
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			// One made before the hint (the constructor's, with the
			// usual namespaces) that does not fit is dropped now, so that
			// a spare that fits is made ahead after all; its pid goes
			// with the next reply. At most one such pid waits: a reply
			// names one, a spare it drops itself first. So is one built
			// ahead from another build part than the hint's.
			if (!once) {
				if (spare.pid != 0 && dropped == 0 &&
				    (spare.flags != rq.flags || (build != NULL && spare.build != 0 && spare.build != is_fnv(build, nbuild))))
					dropped = drop_spare();
				make_spare(rq.flags, rq.cpu, build, nbuild, 0);
			}
			continue;
		}
		if (bad) {
			gone = drop_spare();
			reply(sock, EINVAL, 0, gone != 0 ? gone : take_dropped(), 0);
		} else {
			int built = 0;
			pid_t pid = use_spare(&rq, fds, nfds, &gone, &built);
			if (pid == 0)
				pid = spawn(&rq, fds, nfds);
			reply(sock, pid < 0 ? -pid : 0, pid < 0 ? 0 : pid, gone != 0 ? gone : take_dropped(), built);
			if (once && pid > 0)
				_exit(0);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			nfds = 0;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

// zy_read_build reads the build part a runner before us kept in run
// directory dir: its length, 0 for none. Only our own user's, in a
// directory only it writes: what it says is mounted with our privileges
// (root's, or a rootless caller's in its own user namespace).
size_t zy_read_build(const char *dir, char *buf, size_t max) {
	if (dir == NULL)
		return 0;
	uid_t self = geteuid();
	struct stat st;
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	int fd = -1;
	if (fstat(dfd, &st) == 0 && st.st_uid == self && (st.st_mode & 022) == 0)
		fd = openat(dfd, ZY_BUILD_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return 0;
	size_t n = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == self && (st.st_mode & 022) == 0 &&
	    st.st_size > 0 && (size_t)st.st_size <= max && sandbox_read_full(fd, buf, (size_t)st.st_size) == 0)
		n = (size_t)st.st_size;
	close(fd);
	return n;
}

// become_zygote makes this process the zygote, its socket descriptor 3.
// Nothing of the caller's stays: its descriptors (a directory among them
// would be a way out of every root, runc CVE-2024-21626), its arguments
// and environment, and its working directory (which would stay busy as
// long as the runner). It stays dumpable, as the runner is: PID 1
// inherits that, and a rootless PID 1's id maps are written by it or by
// the runner's helpers, and /proc gives them to root otherwise.
static void become_zygote(int argc, char **argv, char **envp, int sibling, uint64_t spare_flags, int cpu, const char *build_dir) __attribute__((noreturn));
static void become_zygote(int argc, char **argv, char **envp, int sibling, uint64_t spare_flags, int cpu, const char *build_dir) {
	prctl(PR_SET_NAME, ZYGOTE_ARG0, 0, 0, 0);
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		_exit(125);
	close(0);
	close(1);
	close(2);
	if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
		_exit(125);
	// Before the arguments it may be named in are wiped, and from the
	// caller's directory, which a relative one is taken from.
	static char build[ZY_MAXBUILD];
	size_t nbuild = spare_flags != 0 && !sibling ? zy_read_build(build_dir, build, sizeof build) : 0;
	wipe(argc, argv, envp);
	if (chdir("/") < 0)
		_exit(125);
	if (spare_flags != 0 && !sibling)
		make_spare(spare_flags, cpu, nbuild > 0 ? build : NULL, nbuild, 1);
	serve(3, sibling);
}

// sandbox_zygote_start runs in the constructor, before the Go runtime:
// ZYGOTE_ARG0 exec'd (the socket is descriptor 3) serves at once;
// otherwise a program that wants one forks it here.
void sandbox_zygote_start(int argc, char **argv, char **envp) {
	if (argc >= 1 && strcmp(argv[0], ZYGOTE_ARG0) == 0)
		become_zygote(argc, argv, envp, argc >= 2 && strcmp(argv[1], ZYGOTE_SIBLING_ARG) == 0, 0, -1, NULL);
	int wanted = sandbox_zygote_wanted(argc, argv);
	if (wanted != ZYGOTE_CHILD && wanted != ZYGOTE_SIBLING)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	pid_t parent = wanted == ZYGOTE_SIBLING ? getppid() : getpid();
	uint64_t spare_flags = sandbox_zygote_spare(argc, argv);
	const char *build_dir = spare_flags != 0 && wanted == ZYGOTE_CHILD ? sandbox_zygote_build_dir(argc, argv) : NULL;
	int cpu = sched_getcpu();
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
		sandbox_zygote_cache = build_dir != NULL ? spare_flags : 0;
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
	become_zygote(argc, argv, envp, wanted == ZYGOTE_SIBLING, spare_flags, cpu, build_dir);
}
