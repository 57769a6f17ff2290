//go:build cgo && linux

#include "init.h"

// ---- The report.


void buf_add(struct is_buf *b, const char *s, size_t n) {
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			is_oom();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_str(struct is_buf *b, const char *s) { buf_add(b, s, strlen(s)); }

// buf_json adds s as a JSON string. Bytes that are not UTF-8 pass as they
// are: encoding/json reads them as U+FFFD, as it would have written them.
static void buf_json(struct is_buf *b, const char *s) {
	buf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			buf_add(b, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			buf_add(b, esc, 6);
		} else
			buf_add(b, s, 1);
	}
	buf_add(b, "\"", 1);
}


int is_detached;
int is_cmd_status;

// As many as the GoByte can carry (ZY_MAXFD).
static int leave_fds[64];
static int nleave;

void is_leave_fd(int fd) {
	if (nleave < (int)(sizeof leave_fds / sizeof leave_fds[0]))
		leave_fds[nleave++] = fd;
	else
		close(fd);
}

void is_leave_close(void) {
	for (int i = 0; i < nleave; i++)
		close(leave_fds[i]);
	nleave = 0;
}

// leave_cgroup ends every other process of the sandbox and moves PID 1
// into the parent of the run's groups, so that they are empty when the
// runner reads the report: it returns 1 if they are. PID 1 has CMD's ids
// by now, and so may signal every process of the sandbox, as none can
// change its uid (sandbox_pid1 keeps no parent's tasks file otherwise, nor
// where CMD could reach PID 1's descriptors).
static int leave_cgroup(void) {
	if (nleave == 0)
		return 0;
	if (kill(-1, SIGKILL) < 0 && errno != ESRCH) {
		is_leave_close();
		return 0;
	}
	for (;;) {
		pid_t w = waitpid(-1, NULL, 0);
		if (w > 0 || (w < 0 && errno == EINTR))
			continue;
		break;
	}
	int ok = errno == ECHILD;
	for (int i = 0; i < nleave; i++)
		if (ok && write(leave_fds[i], "0", 1) != 1)
			ok = 0;
	is_leave_close();
	return ok;
}

// is_report writes the Exit (the JSON the runner decodes, stage.Exit) on
// the control socket, and ends PID 1: the kernel then kills whatever is
// left in the pid namespace.
void is_report(int ctrl, const struct is_exit *ev) {
	struct is_buf b = {0};
	char num[32];
	snprintf(num, sizeof num, "{\"exit_code\":%d", ev->code);
	buf_str(&b, num);
	if (ev->sig) {
		snprintf(num, sizeof num, ",\"signal\":%d", ev->sig);
		buf_str(&b, num);
	}
	if (ev->error && ev->error[0]) {
		buf_str(&b, ",\"error\":");
		buf_json(&b, ev->error);
	}
	if (ev->unsup)
		buf_str(&b, ",\"unsupported\":true");
	if (ev->pid) {
		snprintf(num, sizeof num, ",\"pid\":%d", ev->pid);
		buf_str(&b, num);
	}
	if (ev->refused && ev->refused[0]) {
		buf_str(&b, ",\"refused\":");
		buf_json(&b, ev->refused);
	}
	if (leave_cgroup())
		buf_str(&b, ",\"left_cgroup\":true");
	// What PID 1 and every process it reaped used, as the runner's wait4
	// of PID 1 would give it, for a runner that is not PID 1's parent (a
	// handed-off PID 1's, whose parent is the engine's); the runner's own
	// child needs none.
	struct rusage self, kids;
	if (is_cmd_status && getrusage(RUSAGE_SELF, &self) == 0 && getrusage(RUSAGE_CHILDREN, &kids) == 0) {
		char ru[160];
		snprintf(ru, sizeof ru, ",\"rusage\":{\"nvcsw\":%ld,\"nivcsw\":%ld,\"maxrss\":%ld}",
			self.ru_nvcsw + kids.ru_nvcsw, self.ru_nivcsw + kids.ru_nivcsw,
			self.ru_maxrss > kids.ru_maxrss ? self.ru_maxrss : kids.ru_maxrss);
		buf_str(&b, ru);
	}
	buf_str(&b, "}\n");
	sandbox_write_all(ctrl, b.p, b.len);
	// A parent that is not the runner (a subreaper such as conmon, for a
	// detached exec or a handed-off PID 1) reads CMD's status from ours,
	// 128+N for a signal as a shell gives it.
	if (is_cmd_status)
		_exit(ev->sig ? 128 + ev->sig : ev->code < 0 ? 125 : ev->code);
	_exit(0);
}

// is_failed reports the failure recorded: every setup
// failure of PID 1's own is the runner's (125). Its exit takes the waiting
// exec stage with it.
void is_failed(int ctrl) {
	struct is_exit ev = {.code = 125, .error = is_msg ? is_msg : "", .unsup = is_unsup};
	is_report(ctrl, &ev);
}
