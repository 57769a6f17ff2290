package main

import "fmt"

func init() {
	commands["help"] = &command{
		summary: "show help for sandbox or one of its commands",
		usage:   text("Usage: sandbox help [COMMAND]\n"),
		run:     runHelp,
	}
}

func runHelp(args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.out, topUsage())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "sandbox: unknown command %q (see 'sandbox help')\n", args[0])
		return exitUsage
	}
	fmt.Fprint(io.out, cmd.usage())
	return 0
}
