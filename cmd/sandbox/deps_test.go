package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoTestPackages keeps test helpers out of the binary: every
// package it links runs its init functions at every start, and package
// testing with what it brings costs `sandbox exec` about half a
// millisecond on a slow machine.
func TestLinksNoTestPackages(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "testing" || strings.Contains(p, "/testutils") || strings.HasSuffix(p, "/testing") {
			t.Errorf("the binary links %s", p)
		}
	}
}
