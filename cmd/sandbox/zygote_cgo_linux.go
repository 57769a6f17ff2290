//go:build cgo

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../sandbox/internal/stage
#include <string.h>
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
*/
import "C"
