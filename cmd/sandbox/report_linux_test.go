package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	reports := filepath.Join(testdata, "reports")
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"report-help", []string{"report", "--help"}, 0},
		{"report-table", []string{"report", reports}, 0},
		{"report-sort-memory", []string{"report", "--sort", "memory", reports}, 0},
		{"report-one-file", []string{"report", filepath.Join(reports, "pytest.json")}, 0},
		{"report-no-args", []string{"report"}, 125},
		{"report-bad-sort", []string{"report", "--sort", "size", reports}, 125},
		{"report-not-a-report", []string{"report", filepath.Join(testdata, "not-a-report.json")}, 125},
		{"report-missing", []string{"report", filepath.Join(testdata, "no-such-dir")}, 125},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", tt.args...)
			if got.Exit != tt.exit {
				t.Errorf("sandbox %q: exit %d, want %d (stderr %q)", tt.args, got.Exit, tt.exit, got.Stderr)
			}
			// Where the checkout is is not part of the output's shape.
			golden(t, tt.name, strings.ReplaceAll("stdout:\n"+got.Stdout+"stderr:\n"+got.Stderr, testdata, "testdata"))
		})
	}
}

func TestReportName(t *testing.T) {
	mod := t.TempDir()
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("// a comment\nmodule \"example.com/m\" // and another\n\ngo 1.22\n"), 0o644)
	pkg := filepath.Join(mod, "internal", "store")
	os.MkdirAll(pkg, 0o755)
	tests := []struct {
		name     string
		args     []string
		wd       string
		dir      string
		wantName string
		wantPath string
	}{
		{"go test binary in its package", []string{"/tmp/go-build1/b001/store.test", "-test.v"}, pkg, "r",
			"example.com/m/internal/store", mod + "/r/example.com/m/internal/store.json"},
		{"go test binary at the module's root", []string{"/tmp/go-build1/b001/m.test"}, mod, "r",
			"example.com/m", mod + "/r/example.com/m.json"},
		{"go test binary elsewhere", []string{"./store.test"}, mod, "/abs",
			"store", "/abs/store.json"},
		{"cargo test binary", []string{"/src/crate/target/debug/deps/crate-0a1b2c3d4e5f6789"}, "/src/crate", "r",
			"crate-0a1b2c3d4e5f6789", "/src/crate/r/crate-0a1b2c3d4e5f6789.json"},
		{"pytest", []string{"python3", "-m", "pytest", "-q"}, "/src/py", "/r", "pytest", "/r/pytest.json"},
		{"python3.11 script", []string{"python3.11", "run.py"}, "/src/py", "/r", "python3.11", "/r/python3.11.json"},
		{"python -m", []string{"python", "-m", "unittest"}, "/src/py", "/r", "unittest", "/r/unittest.json"},
		{"not a python", []string{"pythonx", "-m", "unittest"}, "/src/py", "/r", "pythonx", "/r/pythonx.json"},
		{"plain command", []string{"make", "test"}, "/src", "/r", "make", "/r/make.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reportName(tt.args, tt.wd); got != tt.wantName {
				t.Errorf("reportName(%q, %s) = %q, want %q", tt.args, tt.wd, got, tt.wantName)
			}
			if got := reportDirPath(tt.dir, tt.args, tt.wd); got != tt.wantPath {
				t.Errorf("reportDirPath(%s, %q, %s) = %q, want %q", tt.dir, tt.args, tt.wd, got, tt.wantPath)
			}
		})
	}
}
