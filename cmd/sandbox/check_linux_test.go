package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckCommand runs the host doctor for real: here a default run
// works, so it exits 0, and --json says the same.
func TestCheckCommand(t *testing.T) {
	needRoot(t)
	got := runSandbox(t, "", "check")
	if got.Exit != 0 || !strings.Contains(got.Stdout, "a default run works here") {
		t.Fatalf("sandbox check: exit %d\n%s%s", got.Exit, got.Stdout, got.Stderr)
	}
	got = runSandbox(t, "", "check", "--json")
	var rep struct {
		Version    int  `json:"version"`
		DefaultRun bool `json:"default_run"`
		Checks     []struct {
			Name, Status string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(got.Stdout), &rep); err != nil || rep.Version != 1 || !rep.DefaultRun || len(rep.Checks) < 10 {
		t.Errorf("sandbox check --json: %v, %+v\n%s", err, rep, got.Stdout)
	}
}

// TestCheckRootCommand: a root of arm64 binaries does not fit this host,
// and says so with exit status 1; a root of the host's own fits.
func TestCheckRootCommand(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool to build an arm64 binary")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	build := exec.Command(goTool, "build", "-o", filepath.Join(root, "bin", "sh"), "../../fixtures/testprog")
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building for arm64: %v\n%s", err, out)
	}
	got := runSandbox(t, "", "check", "--root", root)
	if got.Exit != 1 || !strings.Contains(got.Stdout, "FAIL  architecture") || !strings.Contains(got.Stdout, "does not fit") {
		t.Errorf("sandbox check --root (arm64): exit %d\n%s%s", got.Exit, got.Stdout, got.Stderr)
	}
	if got := runSandbox(t, "", "check", "--root", "/"); got.Exit != 0 {
		t.Errorf("sandbox check --root /: exit %d\n%s%s", got.Exit, got.Stdout, got.Stderr)
	}
	if got := runSandbox(t, "", "check", "--root", "/no/such/root"); got.Exit != 125 {
		t.Errorf("sandbox check --root /no/such/root: exit %d, want 125\n%s", got.Exit, got.Stderr)
	}
}
