package main

import (
	"os"
	"os/exec"
)

// buildRunner is `make build` for a test that measures the binary or puts
// it where no libc is (a container's image): the same tags, the static
// link and the Makefile's RUNNER_GOEXPERIMENT, so that the binary is the
// one users get. pkg is the command's package, as go build takes it.
func buildRunner(goTool, out, pkg string) *exec.Cmd {
	cmd := exec.Command(goTool, "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if knowsNoGreenTea(goTool) {
		cmd.Env = append(cmd.Env, "GOEXPERIMENT=nogreenteagc")
	}
	return cmd
}

// knowsNoGreenTea reports whether goTool has Go 1.26's nogreenteagc
// experiment (Go 1.27 drops it), as the Makefile asks: go env fails on an
// experiment it does not know.
func knowsNoGreenTea(goTool string) bool {
	cmd := exec.Command(goTool, "env", "GOEXPERIMENT")
	cmd.Env = append(os.Environ(), "GOEXPERIMENT=nogreenteagc")
	return cmd.Run() == nil
}
