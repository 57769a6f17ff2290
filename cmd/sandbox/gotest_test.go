package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/sandbox"
)

func TestGoTestOutputs(t *testing.T) {
	wd, out := t.TempDir(), t.TempDir()
	cover := filepath.Join(t.TempDir(), "gocoverdir")
	os.Mkdir(cover, 0o755)
	bind := func(p string) sandbox.Mount {
		return sandbox.Mount{Type: sandbox.MountBind, Source: p, Destination: p}
	}
	tests := []struct {
		name string
		args []string
		want []sandbox.Mount
	}{
		{"not a Go test binary", []string{"/bin/prog", "-test.cpuprofile=x"}, nil},
		{"nothing asked for", []string{"/tmp/b001/p.test", "-test.v=true", "-test.run=^X$"}, nil},
		{"coverage data", []string{"/tmp/b001/p.test", "-test.gocoverdir=" + cover}, []sandbox.Mount{bind(cover)}},
		{"profiles below the output directory, the log as given", []string{"/tmp/b001/p.test", "-test.outputdir=" + out,
			"-test.cpuprofile=cpu.out", "-test.trace=" + filepath.Join(wd, "t.out"), "-test.testlogfile=log.txt"},
			[]sandbox.Mount{bind(filepath.Join(out, "cpu.out")), bind(filepath.Join(wd, "t.out")), bind(filepath.Join(wd, "log.txt"))}},
		{"the tests' own arguments", []string{"/tmp/b001/p.test", "--", "-test.cpuprofile=x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := goTestOutputs(tt.args, wd)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("goTestOutputs (-want +got):\n%s", diff)
			}
			for _, m := range got {
				if _, err := os.Stat(m.Source); err != nil {
					t.Errorf("bind source %s not made: %v", m.Source, err)
				}
			}
		})
	}
}
