// Command sandbox runs commands in throwaway containers made of kernel
// features alone, and reports what they used. Each subcommand lives in a
// file of its own; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/sandbox-dev/sandbox/oci"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process's exit status.
type command struct {
	summary string
	// usage makes the full help text, examples included, when it is asked
	// for: exec's is built from the limit flags, work no run should pay.
	usage func() string
	run   func(args []string, stdio stdio) int
}

// text is the usage of a command whose help is a constant.
func text(s string) func() string { return func() string { return s } }

type stdio struct {
	in       *os.File
	out, err io.Writer
}

var commands = map[string]*command{}

func main() {
	io := stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	// Invoked as "isolate", the program is `sandbox isolate`: graders call
	// isolate by that name.
	switch filepath.Base(os.Args[0]) {
	case "isolate":
		os.Exit(commands["isolate"].run(os.Args[1:], io))
	case "sandbox-oci":
		// An engine's runtime (podman --runtime, containerd's BinaryName)
		// is called with runc's argv: `sandbox oci` by another name.
		os.Exit(commands["oci"].run(os.Args[1:], io))
	case oci.MonitorArg0:
		os.Exit(oci.Monitor(os.Args))
	}
	os.Exit(dispatch(os.Args[1:], io))
}

func dispatch(args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.err, topUsage())
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		fmt.Fprint(io.out, topUsage())
		return 0
	case "--version", "-version":
		args = []string{"version"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "sandbox: unknown command %q (see 'sandbox help')\n", args[0])
		return exitUsage
	}
	return cmd.run(args[1:], io)
}

func topUsage() string {
	s := "sandbox runs a command in a throwaway container made of kernel features alone\n" +
		"(namespaces, cgroup and rlimit quotas, an overlay root), reports what it used,\n" +
		"and leaves nothing behind.\n\nUsage:\n  sandbox COMMAND [flags] [args]\n\nCommands:\n"
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s += fmt.Sprintf("  %-10s %s\n", n, commands[n].summary)
	}
	return s + "\nRun 'sandbox help COMMAND' or 'sandbox COMMAND --help' for a command's flags and examples.\n"
}
