package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func init() {
	commands["version"] = &command{
		summary: "print the version",
		usage:   text("Usage: sandbox version\n\nPrints sandbox's version, the Go version it was built with and the platform.\n"),
		run:     runVersion,
	}
}

func runVersion(args []string, io stdio) int {
	if len(args) > 0 && !isHelp(args[0]) {
		fmt.Fprintf(io.err, "sandbox version: takes no arguments\n")
		return exitUsage
	} else if len(args) > 0 {
		fmt.Fprint(io.out, commands["version"].usage())
		return 0
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(io.out, "sandbox %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }
