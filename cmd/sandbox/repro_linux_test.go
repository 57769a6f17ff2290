package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReproUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"repro-help", []string{"repro", "--help"}, 0},
		{"repro-no-command", []string{"repro", "--artifacts", "out/*"}, 2},
		{"repro-no-artifacts", []string{"repro", "--", "make"}, 2},
		{"repro-unknown-variation", []string{"repro", "--vary", "time,moon_phase", "--artifacts", "x", "--", "make"}, 2},
		{"repro-bad-flag", []string{"repro", "--frobnicate", "--", "make"}, 2},
		{"repro-bad-jobs", []string{"repro", "-j", "0", "--artifacts", "x", "--", "make"}, 2},
		{"repro-bad-source", []string{"repro", "--source", "/no/such/tree", "--artifacts", "x", "--", "make"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := runSandbox(t, "", tt.args...)
			if o.Exit != tt.exit {
				t.Errorf("exit status %d, want %d (stderr %q)", o.Exit, tt.exit, o.Stderr)
			}
			golden(t, tt.name, o.Stdout+o.Stderr)
		})
	}
}

// reproReport is the part of --json's report the CLI tests read.
type reproReport struct {
	Reproducible bool     `json:"reproducible"`
	Culprits     []string `json:"culprits"`
	Artifacts    []struct {
		Path   string `json:"path"`
		Builds map[string]struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"builds"`
	} `json:"artifacts"`
}

func TestReproRuns(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"cc", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps installs it)", tool)
		}
	}
	fixture := func(name string) string {
		p, _ := filepath.Abs(filepath.Join("..", "..", "repro", "testdata", name))
		return p
	}
	tests := []struct {
		name     string
		args     []string
		exit     int
		stdout   string // its first line
		culprits []string
		builds   []string // the builds each artifact has a hash from
	}{
		{"not reproducible", []string{"--source", fixture("umask"), "--vary", "umask,home"}, 1,
			"not reproducible: umask (out/pkg.tar differs)", []string{"umask"},
			[]string{"control", "control-again", "experiment", "home", "umask"}},
		{"reproducible", []string{"--source", fixture("reproducible"), "--vary", "build_path,umask"}, 0,
			"reproducible, varying build_path, umask", []string{}, []string{"control", "experiment"}},
		{"no bisection", []string{"--source", fixture("umask"), "--vary", "umask,home", "--no-bisect"}, 1,
			"not reproducible: out/pkg.tar differs (bisection off: which variation is not known)", []string{},
			[]string{"control", "experiment"}},
		{"the control fails", []string{"--source", fixture("umask"), "--vary", "umask", "--", "sh", "-c", "exit 7"}, 125, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"repro", "--no-diffoscope", "--work-dir", t.TempDir(), "--json", report, "--artifacts", "out/*"}, tt.args...)
			if !slices.Contains(tt.args, "--") {
				args = append(args, "--", "sh", "build.sh")
			}
			o := runSandbox(t, "", args...)
			if o.Exit != tt.exit {
				t.Fatalf("exit status %d, want %d\nstdout %s\nstderr %s", o.Exit, tt.exit, o.Stdout, o.Stderr)
			}
			if tt.exit == 125 {
				if !strings.Contains(o.Stderr, "sandbox repro: control build failed: exited with status 7") {
					t.Errorf("stderr %q does not say the control failed", o.Stderr)
				}
				if _, err := os.Stat(report); err == nil {
					t.Errorf("a report was written for a check that failed")
				}
				return
			}
			if first, _, _ := strings.Cut(o.Stdout, "\n"); first != tt.stdout {
				t.Errorf("stdout starts %q, want %q", first, tt.stdout)
			}
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			var rep reproReport
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Reproducible != (tt.exit == 0) {
				t.Errorf("report: reproducible %v", rep.Reproducible)
			}
			if diff := cmp.Diff(tt.culprits, rep.Culprits); diff != "" {
				t.Errorf("culprits (-want +got):\n%s", diff)
			}
			for _, a := range rep.Artifacts {
				var got []string
				for name, h := range a.Builds {
					if len(h.SHA256) != 64 || h.Size == 0 {
						t.Errorf("%s in %s: hash %q size %d", a.Path, name, h.SHA256, h.Size)
					}
					got = append(got, name)
				}
				if diff := cmp.Diff(tt.builds, got, cmpSorted); diff != "" {
					t.Errorf("%s: builds (-want +got):\n%s", a.Path, diff)
				}
			}
		})
	}
}

var cmpSorted = cmp.Transformer("sorted", func(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
})
