package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Under `go test -exec 'sandbox exec --'`, the go command reads back what
// it asked the test binary to write: coverage data (-cover), profiles
// (-cpuprofile, -memprofile, ...), a trace, the log of what the tests read
// (which lets it cache their result). Those land in the sandbox's own /tmp
// or copy-on-write root and would vanish with it, so for a Go test binary
// (named *.test) exactly those outputs are bound read-write: the directory
// go made for coverage data, and each output file (made empty first, as
// the test binary would truncate it anyway). Nothing else the tests write
// reaches the host.

// goTestOutputFlags name files a Go test binary writes for the go command.
var goTestOutputFlags = []string{"cpuprofile", "memprofile", "blockprofile", "mutexprofile", "trace", "coverprofile", "testlogfile"}

// goTestOutputs returns the binds that let a Go test binary's outputs
// reach the host; args is the command line, wd the caller's directory.
// isGoTest says whether args run a Go test binary (the go command's
// name for one: PKG.test).
func isGoTest(args []string) bool {
	return len(args) > 0 && strings.HasSuffix(filepath.Base(args[0]), ".test")
}

func goTestOutputs(args []string, wd string) ([]sandbox.Mount, error) {
	if !isGoTest(args) {
		return nil, nil
	}
	flags := map[string]string{}
	for _, a := range args[1:] {
		if a == "--" { // the flag package stops here: the rest are the tests'
			break
		}
		k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name, isTest := strings.CutPrefix(k, "test."); ok && isTest && strings.HasPrefix(a, "-") {
			flags[name] = v
		}
	}
	var ms []sandbox.Mount
	if dir := flags["gocoverdir"]; dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(wd, dir)
		}
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			ms = append(ms, sandbox.Mount{Type: sandbox.MountBind, Source: dir, Destination: dir})
		}
	}
	for _, f := range goTestOutputFlags {
		p := flags[f]
		if p == "" {
			continue
		}
		// As package testing resolves them: below -test.outputdir when it
		// is given (the log excepted), else the working directory.
		if !filepath.IsAbs(p) {
			if dir := flags["outputdir"]; dir != "" && f != "testlogfile" {
				p = filepath.Join(dir, p)
			} else {
				p = filepath.Join(wd, p)
			}
		}
		fh, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("go test output -test.%s: %w", f, err)
		}
		fh.Close()
		ms = append(ms, sandbox.Mount{Type: sandbox.MountBind, Source: p, Destination: p})
	}
	return ms, nil
}
