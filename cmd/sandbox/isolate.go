package main

import (
	"os"

	"github.com/sandbox-dev/sandbox/isolate"
)

func init() {
	commands["isolate"] = &command{
		summary: "a drop-in for isolate(1): --init, --run, --cleanup boxes",
		usage:   text(isolate.Usage),
		run:     runIsolate,
	}
}

// runIsolate is `sandbox isolate ...`, and the whole program when it is
// invoked as "isolate" (a symlink or a copy by that name): exit statuses are
// isolate's, 0, 1 and 2, not exec's.
func runIsolate(args []string, io stdio) int {
	return isolate.Main(isolate.Invocation{
		Args: args, Stdin: io.in, Stdout: io.out, Stderr: io.err,
		Environ: os.Environ(), Version: version,
	})
}
