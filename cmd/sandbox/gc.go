package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sandbox-dev/sandbox/sandbox"
	"github.com/sandbox-dev/sandbox/snapshot"
)

const gcUsage = `Usage: sandbox gc [--run-dir DIR] [--store DIR] [--prune-layers]

Removes what runs whose runner died (killed, crashed) left behind: their
lock files in the run directory and their cgroups, and the snapshot store's
debris (snapshots of dead runs, half-made imports and commits). Runs still alive are left alone, and
so is .build, the build part of the last exec's container, which the
next exec with that run directory builds ahead from. Prints one line per
thing removed.

Flags:
  --run-dir DIR    where run state lives (default /run/sandbox, or $SANDBOX_RUN_DIR;
                   without root $XDG_RUNTIME_DIR/sandbox: each user cleans its own)
  --store DIR      the snapshot store (default /var/lib/sandbox, or $SANDBOX_STORE);
                   skipped when it does not exist
  --prune-layers   also remove image layers no snapshot stands on any more

Example:
  sandbox gc
`

func init() {
	commands["gc"] = &command{summary: "remove what crashed runs left behind", usage: text(gcUsage), run: runGC}
}

func runGC(args []string, io stdio) int {
	fs := newFlagSet("gc", io)
	runDir := fs.String("run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	store := fs.String("store", "", "")
	prune := fs.Bool("prune-layers", false, "")
	if code, done := parseFlags(fs, args, text(gcUsage), io); done {
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
	root := *store
	if root == "" {
		root = snapshot.RootFromEnv()
	}
	if _, err := os.Stat(root); err != nil {
		return 0 // no store: nothing to collect, and none to create
	}
	st, err := snapshot.Open(snapshot.Config{Root: root})
	if err == nil {
		var rep snapshot.GCReport
		rep, err = st.GC(context.Background(), snapshot.GCOptions{PruneLayers: *prune})
		st.Close()
		for _, name := range rep.Snapshots {
			fmt.Fprintf(io.out, "removed snapshot %s\n", name)
		}
		if rep.Records+rep.Dirs > 0 {
			fmt.Fprintf(io.out, "removed %d broken records and %d orphaned directories from the store\n", rep.Records, rep.Dirs)
		}
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	return 0
}
