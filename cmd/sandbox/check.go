package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sandbox-dev/sandbox/hostcheck"
	"github.com/sandbox-dev/sandbox/snapshot"
)

const checkUsage = `Usage: sandbox check [--json] [--run-dir DIR] [--cgroup-root PATH]
       sandbox check --root NAME|DIR [--store DIR] [--json]

Checks whether this host can run sandboxes, trying each thing a run needs
for real: the kernel, cgroups (for a user, the subtree delegated to it), user
namespaces (their sysctls, AppArmor), subordinate ids, a network namespace,
overlayfs, seccomp, pidfd, openat2, CLONE_INTO_CGROUP, time namespaces and
KVM; then the sources of timing noise a grader or a benchmark cares about
(SMT, cpufreq governor, turbo, swap, transparent huge pages, ASLR); last, a
default run of /bin/true. Each line is OK, WARN or FAIL, with why and the
command that fixes it.

With --root, reads a root (a directory, or a snapshot of the store) and says
whether it fits this kernel: the architecture of its binaries (and any
binfmt_misc handler that would run them), the oldest kernel its libc
supports, whether its binaries need the vsyscall page this host may lack,
and its distribution next to the host's.

Exit status: 0 when a default run works here (with --root: the root fits),
1 when it does not, 125 for bad usage.

Flags:
  --json              one JSON object on stdout (schema below)
  --root NAME|DIR     check a root instead of the host
  --store DIR         the snapshot store for --root NAME (default
                      /var/lib/sandbox, or $SANDBOX_STORE)
  --run-dir DIR       run state for the default run (default /run/sandbox,
                      or $SANDBOX_RUN_DIR)
  --cgroup-root PATH  where runs get their cgroups (default /sandbox, or
                      $SANDBOX_CGROUP_ROOT)

JSON (version 1): {"version", "kernel", "arch", "uid", "default_run": bool,
"checks": [{"name", "status": "OK"|"WARN"|"FAIL", "needed": bool, "detail",
"fix"}]}; with --root: {"version", "root", "fits": bool, "checks": [...]}.
A needed check that fails means the default run does not work.

Examples:
  sandbox check
  sandbox check --json | jq '.checks[] | select(.status != "OK")'
  sandbox check --root ./centos6-rootfs
`

func init() {
	commands["check"] = &command{summary: "check that this host (or a root) can run sandboxes", usage: text(checkUsage), run: runCheck}
}

func runCheck(args []string, io stdio) int {
	fs := newFlagSet("check", io)
	asJSON := fs.Bool("json", false, "")
	root := fs.String("root", "", "")
	store := fs.String("store", "", "")
	runDir := fs.String("run-dir", os.Getenv("SANDBOX_RUN_DIR"), "")
	cgRoot := fs.String("cgroup-root", os.Getenv("SANDBOX_CGROUP_ROOT"), "")
	if code, done := parseFlags(fs, args, text(checkUsage), io); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(io.err, "sandbox check: takes no arguments (see 'sandbox check --help')")
		return exitUsage
	}
	h := &hostcheck.Host{Root: "/", UID: os.Getuid()}
	if *root != "" {
		layers, done, err := rootLayers(*root, *store)
		if err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
		defer done()
		rep := h.CheckRoot(*root, layers)
		if *asJSON {
			printJSON(io.out, rep)
		} else {
			printChecks(io.out, rep.Checks)
			fmt.Fprintf(io.out, "\nroot %s %s this host\n", *root, map[bool]string{true: "fits", false: "does not fit"}[rep.Fits])
		}
		if !rep.Fits {
			return 1
		}
		return 0
	}
	h.Probes = hostcheck.RealProbes(*cgRoot, *runDir)
	rep := h.Check()
	if *asJSON {
		printJSON(io.out, rep)
	} else {
		fmt.Fprintf(io.out, "Linux %s on %s, uid %d\n\n", rep.Kernel, rep.Arch, rep.UID)
		printChecks(io.out, rep.Checks)
		if rep.DefaultRun {
			fmt.Fprintln(io.out, "\na default run works here")
		} else {
			fmt.Fprintln(io.out, "\na default run does not work here: see FAIL above")
		}
	}
	if !rep.DefaultRun {
		return 1
	}
	return 0
}

// rootLayers are the root's directories, topmost first: the directory
// itself, or a snapshot's layers through a view made for the check and
// removed after it.
func rootLayers(root, store string) ([]string, func(), error) {
	if strings.Contains(root, "/") || root == "." || root == ".." {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, nil, fmt.Errorf("--root: %w", err)
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("--root %s: not a directory", root)
		}
		return []string{root}, func() {}, nil
	}
	if err := snapshot.ValidateName(root); err != nil {
		return nil, nil, fmt.Errorf("--root: %w", err)
	}
	if store == "" {
		store = snapshot.RootFromEnv()
	}
	st, err := snapshot.Open(snapshot.Config{Root: store})
	if err != nil {
		return nil, nil, fmt.Errorf("opening snapshot store: %w", err)
	}
	ctx := context.Background()
	key := fmt.Sprintf("check-%d", os.Getpid())
	mounts, err := st.View(ctx, key, root)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("--root %s: %w", root, err)
	}
	return snapshot.Lowerdirs(mounts), func() { st.Remove(ctx, key); st.Close() }, nil
}

func printChecks(w io.Writer, checks []hostcheck.Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-4s  %-22s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" && c.Status != hostcheck.OK {
			fmt.Fprintf(w, "      %-22s fix: %s\n", "", c.Fix)
		}
	}
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Write(append(b, '\n'))
}
