package main

import (
	"fmt"
	"os"

	"github.com/sandbox-dev/sandbox/sandbox"
)

const gcUsage = `Usage: sandbox gc [--run-dir DIR]

Removes what runs whose runner died (killed, crashed) left behind: run
directories and cgroups. Runs still alive are left alone. Prints one line per
run cleaned.

Flags:
  --run-dir DIR   where run state lives (default /run/sandbox, or $SANDBOX_RUN_DIR)

Example:
  sandbox gc
`

func init() {
	commands["gc"] = &command{summary: "remove what crashed runs left behind", usage: gcUsage, run: runGC}
}

func runGC(args []string, io stdio) int {
	fs := newFlagSet("gc", io)
	runDir := fs.String("run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	if code, done := parseFlags(fs, args, gcUsage, io); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(io.err, "sandbox gc: takes no arguments")
		return exitUsage
	}
	ids, err := sandbox.GC(*runDir)
	for _, id := range ids {
		fmt.Fprintf(io.out, "removed run %s\n", id)
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	return 0
}
