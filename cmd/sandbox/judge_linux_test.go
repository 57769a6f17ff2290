package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// judgeProblems is where the judge package keeps its fixture problems.
var judgeProblems, _ = filepath.Abs("../../judge/testdata")

// TestJudgeUsage checks the judge's usage errors: exit status 2 and a
// message naming what was wrong.
func TestJudgeUsage(t *testing.T) {
	aplusb := filepath.Join(judgeProblems, "aplusb")
	ac := filepath.Join(aplusb, "submissions/accepted/ac.c")
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"judge-help", []string{"judge", "--help"}, 0},
		{"judge-no-args", []string{"judge"}, 2},
		{"judge-one-arg", []string{"judge", aplusb}, 2},
		{"judge-bad-flag", []string{"judge", "--frobnicate", aplusb, ac}, 2},
		{"judge-bad-time", []string{"judge", "--time", "fast", aplusb, ac}, 2},
		{"judge-bad-j", []string{"judge", "-j", "0", aplusb, ac}, 2},
		{"judge-bad-lang", []string{"judge", "--lang", "cobol", aplusb, ac}, 2},
		{"judge-bad-checker", []string{"judge", "--checker", "diff", aplusb, ac}, 2},
		{"judge-no-problem", []string{"judge", "/no/such/problem", ac}, 2},
		{"judge-verify-two-args", []string{"judge", "--verify", aplusb, ac}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", tt.args...)
			if got.Exit != tt.exit {
				t.Errorf("sandbox %q: exit %d, want %d (stderr %q)", tt.args, got.Exit, tt.exit, got.Stderr)
			}
			golden(t, tt.name, "stdout:\n"+got.Stdout+"stderr:\n"+strings.ReplaceAll(got.Stderr, judgeProblems, "JUDGE_TESTDATA"))
		})
	}
}

// TestJudgeCLI runs `sandbox judge` for real: the table, --json, the exit
// status of each kind of verdict, --meta-dir.
func TestJudgeCLI(t *testing.T) {
	needRoot(t)
	aplusb := filepath.Join(judgeProblems, "aplusb")
	sub := func(s string) string { return filepath.Join(aplusb, "submissions", s) }
	tests := []struct {
		name, submission string
		args             []string
		exit             int
		verdict          string
	}{
		{"ac", sub("accepted/ac.c"), nil, 0, "AC"},
		{"wa", sub("wrong_answer/overflow.c"), nil, 1, "WA"},
		{"ce", sub("compile_error/syntax.c"), nil, 1, "CE"},
		{"parallel", sub("accepted/ac.py"), []string{"-j", "2"}, 0, "AC"},
		// A submission of no known language is bad usage.
		{"no language", filepath.Join(aplusb, "problem.yaml"), nil, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"judge", "--json", "--uid-base", "50000"}, tt.args...)
			if tt.name == "parallel" {
				args[3] = "50100"
			}
			got := runSandbox(t, "", append(args, aplusb, tt.submission)...)
			if got.Exit != tt.exit {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", got.Exit, tt.exit, got.Stdout, got.Stderr)
			}
			if tt.verdict == "" {
				return
			}
			var rep struct {
				Verdict string `json:"verdict"`
				Tests   []struct {
					Verdict string `json:"verdict"`
				} `json:"tests"`
			}
			if err := json.Unmarshal([]byte(got.Stdout), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, got.Stdout)
			}
			if rep.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s", rep.Verdict, tt.verdict)
			}
			if tt.verdict != "CE" && (len(rep.Tests) == 0 || rep.Tests[len(rep.Tests)-1].Verdict != tt.verdict) {
				t.Errorf("tests %+v: want the last one %s", rep.Tests, tt.verdict)
			}
		})
	}
	t.Run("table and meta files", func(t *testing.T) {
		t.Parallel()
		meta := t.TempDir()
		got := runSandbox(t, "", "judge", "--uid-base", "50200", "--meta-dir", meta, aplusb, sub("run_time_error/segfault.c"))
		if got.Exit != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", got.Exit, got.Stdout, got.Stderr)
		}
		// Times and memory vary: blank them out.
		table := regexp.MustCompile(`\d+\.\d+s|\d+\.\d MiB`).ReplaceAllString(got.Stdout, "#")
		table = regexp.MustCompile(` +`).ReplaceAllString(table, " ")
		want := "TEST VERDICT STATUS CPU WALL MEMORY EXIT SCORE CHECKER\n" +
			"sample/1 RTE SG # # # sig 11 - killed by signal SIGSEGV\n" +
			"verdict: RTE on sample/1\n"
		if diff := cmp.Diff(want, table); diff != "" {
			t.Errorf("table (-want +got):\n%s", diff)
		}
		b, err := os.ReadFile(filepath.Join(meta, "sample_1.meta"))
		if err != nil {
			t.Fatal(err)
		}
		// As CMS reads a meta file: key:value lines.
		kv := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("meta line %q: no colon", line)
			}
			kv[k] = v
		}
		for k, v := range map[string]string{"status": "SG", "exitsig": "11", "message": "Caught fatal signal 11"} {
			if kv[k] != v {
				t.Errorf("meta %s = %q, want %q\n%s", k, kv[k], v, b)
			}
		}
		for _, k := range []string{"time", "time-wall", "cg-mem", "csw-voluntary"} {
			if _, ok := kv[k]; !ok {
				t.Errorf("meta file without %s:\n%s", k, b)
			}
		}
		ents, _ := os.ReadDir(meta)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"sample_1.meta"}) {
			t.Errorf("meta dir holds %v, want one file per test run", names)
		}
	})
}
