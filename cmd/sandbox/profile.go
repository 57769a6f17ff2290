package main

import (
	"fmt"

	"github.com/sandbox-dev/sandbox/profile"
)

const profileUsage = `Usage: sandbox profile list
       sandbox profile show NAME

Profiles hold everything 'sandbox exec' can be given on the command line:
root, mounts, environment, workdir, hostname, user, network and limits, in
TOML. Use one with 'sandbox exec --profile NAME|FILE'; flags override it.

  list        the built-in profiles, one line each
  show NAME   print a built-in profile, commented: a starting point for a file
              of your own

Examples:
  sandbox profile show grade > grade.toml
  sandbox exec --profile ./grade.toml -v ./submission:/box:ro -- ./solution
`

func init() {
	commands["profile"] = &command{summary: "list and show the built-in profiles", usage: text(profileUsage), run: runProfile}
}

func runProfile(args []string, io stdio) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(io.out, profileUsage)
		return 0
	}
	switch {
	case len(args) == 1 && args[0] == "list":
		for _, n := range profile.Names() {
			p, err := profile.Load(n)
			if err != nil {
				fmt.Fprintf(io.err, "sandbox: %v\n", err)
				return exitUsage
			}
			fmt.Fprintf(io.out, "%-8s %s\n", n, p.Description)
		}
		return 0
	case len(args) == 2 && args[0] == "show":
		text, ok := profile.Builtin(args[1])
		if !ok {
			fmt.Fprintf(io.err, "sandbox profile show: no built-in profile %q (have %v)\n", args[1], profile.Names())
			return exitUsage
		}
		io.out.Write(text)
		return 0
	}
	fmt.Fprint(io.err, "sandbox profile: want 'list' or 'show NAME' (see 'sandbox profile --help')\n")
	return exitUsage
}
