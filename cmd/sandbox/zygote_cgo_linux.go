//go:build cgo

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../sandbox/internal/stage
#define _GNU_SOURCE
#include <linux/magic.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "zygote.h"

// sandbox_zygote_wanted overrides package stage's: the subcommands that
// run sandboxes have their zygote forked before the Go runtime starts,
// the cheapest moment there is (see stage's zygote.c). Every other
// subcommand pays nothing for it; a run from one of them (an API caller
// in-process) gets one exec'd on its first Start. It must stay in step
// with dispatch and main's names only for speed, never for correctness.
int sandbox_zygote_wanted(int argc, char **argv) {
	if (argc < 1)
		return 0;
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	// The OCI monitor hands each PID 1 to its parent, create, and through
	// it to the engine's subreaper: its zygote is its sibling.
	if (strcmp(base, "sandbox-oci-monitor") == 0)
		return ZYGOTE_SIBLING;
	if (strcmp(base, "isolate") == 0)
		return ZYGOTE_CHILD;
	static const char *const runs[] = {"exec", "judge", "isolate", "repro"};
	for (size_t i = 0; argc > 1 && i < sizeof runs / sizeof runs[0]; i++)
		if (strcmp(argv[1], runs[i]) == 0)
			return ZYGOTE_CHILD;
	// The OCI runtime's exec, after runc's global options.
	if (strcmp(base, "sandbox-oci") == 0 || (argc > 1 && strcmp(argv[1], "oci") == 0))
		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "exec") == 0)
				return ZYGOTE_CHILD;
	return 0;
}

// sandbox_zygote_spare overrides package stage's: the zygote of exec and
// judge clones a spare PID 1 with the namespaces of a default run as soon
// as it is forked, on the other CPU, while the Go runtime starts and the
// packages initialize (2 ms), rather than at the hint a few hundred
// microseconds before the request, which then waited for the clone. A run
// that wants other namespaces has it dropped at its hint. None on a v2
// host, where PID 1 is born in its group and spares are never used. The
// flags must stay in step with sandbox's namespaceFlags for a default
// Spec only for speed: a spare that does not fit is dropped, never used.
uint64_t sandbox_zygote_spare(int argc, char **argv) {
	if (argc < 2 || (strcmp(argv[1], "exec") != 0 && strcmp(argv[1], "judge") != 0))
		return 0;
	struct statfs st;
	if (statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		return 0;
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
	// Without root, the run's own user namespace too (sandbox.Rootless).
	if (geteuid() != 0)
		flags |= CLONE_NEWUSER;
	return flags;
}

// sandbox_zygote_build_dir overrides package stage's: exec's spare builds
// ahead from the build part the last exec by the same user with the same
// run directory kept there (sandbox's saveBuild), so that a command line run
// again, as a test suite's or a build's loop does, finds its container
// built. The directory as exec's flags name it: --run-dir (up to "--"),
// else $SANDBOX_RUN_DIR, else the default. A wrong guess (an argument of
// CMD's read as the flag) costs only the build: the spare fits no run
// whose plan it did not build.
const char *sandbox_zygote_build_dir(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "exec") != 0)
		return NULL;
	const char *dir = NULL;
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1] == '-')
			a++;
		if (strcmp(a, "-run-dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strncmp(a, "-run-dir=", 9) == 0)
			dir = a + 9;
	}
	if (dir == NULL || dir[0] == 0)
		dir = getenv("SANDBOX_RUN_DIR");
	if (dir != NULL && dir[0] != 0)
		return dir;
	if (geteuid() == 0)
		return "/run/sandbox";
	// Without root, as sandbox.DefaultRunDirFor: $XDG_RUNTIME_DIR/sandbox
	// where that is a directory, else sandbox-UID in the temp directory.
	static char buf[4096];
	struct stat st;
	const char *x = getenv("XDG_RUNTIME_DIR");
	int n;
	if (x != NULL && x[0] == '/' && stat(x, &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(buf, sizeof buf, "%s/sandbox", x);
	else {
		const char *tmp = getenv("TMPDIR");
		if (tmp == NULL || tmp[0] == 0)
			tmp = "/tmp";
		n = snprintf(buf, sizeof buf, "%s/sandbox-%u", tmp, (unsigned)geteuid());
	}
	return n > 0 && (size_t)n < sizeof buf ? buf : NULL;
}
*/
import "C"
