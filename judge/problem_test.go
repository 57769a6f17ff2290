package judge

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// TestLoad reads every fixture problem: its format, type, limits, checker
// and tests.
func TestLoad(t *testing.T) {
	type summary struct {
		Format, Checker      string
		Scoring, Interactive bool
		Time, Wall           time.Duration
		Memory, Output       int64
		Tests                []string
		MaxScore             float64
	}
	tests := []struct {
		dir  string
		want summary
	}{
		{"aplusb", summary{Format: FormatKattis, Checker: "tokens", Time: time.Second, Wall: 3 * time.Second, Memory: 128 << 20, Output: 1 << 20,
			Tests: []string{"sample/1", "secret/1", "secret/2", "secret/3"}, MaxScore: 3}},
		{"floatdiv", summary{Format: FormatKattis, Checker: "kattis:testdata/floatdiv/output_validators/tolerance", Time: time.Second, Wall: 3 * time.Second,
			Memory: 128 << 20, Output: DefaultOutput, Tests: []string{"sample/1", "secret/1", "secret/2"}, MaxScore: 2}},
		{"sumlines", summary{Format: FormatPolygon, Checker: "testlib:testdata/sumlines/files/check.c", Time: time.Second, Wall: 3 * time.Second,
			Memory: 128 << 20, Output: DefaultOutput, Tests: []string{"01", "02", "03"}, MaxScore: 3}},
		{"guess", summary{Format: FormatKattis, Checker: "", Interactive: true, Time: time.Second, Wall: 3 * time.Second, Memory: 64 << 20,
			Output: DefaultOutput, Tests: []string{"sample/1", "secret/1", "secret/500", "secret/733", "secret/1000"}, MaxScore: 4}},
		{"subtasks", summary{Format: FormatKattis, Checker: "tokens", Scoring: true, Time: time.Second, Wall: 3 * time.Second, Memory: 64 << 20,
			Output: DefaultOutput, Tests: []string{"sample/1", "secret/group1/1", "secret/group1/2", "secret/group2/1", "secret/group2/2"}, MaxScore: 100}},
		{"plain", summary{Format: FormatPlain, Checker: "exact", Time: 500 * time.Millisecond, Wall: 2 * time.Second, Memory: 64 << 20, Output: 64 << 10,
			Tests: []string{"1", "2"}, MaxScore: 2}},
	}
	wd, _ := os.Getwd()
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			p, err := Load(filepath.Join("testdata", tt.dir), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(wd, p.Checker.Source)
			c := p.Checker
			c.Source = rel
			got := summary{Format: p.Format, Checker: c.String(), Scoring: p.Scoring, Interactive: p.Interactive,
				Time: p.Limits.Time, Wall: p.Limits.Wall, Memory: p.Limits.Memory, Output: p.Limits.Output, MaxScore: p.MaxScore()}
			for _, ts := range p.Tests() {
				got.Tests = append(got.Tests, ts.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadOverrides(t *testing.T) {
	p, err := Load("testdata/aplusb", LoadOptions{Time: 2 * time.Second, Memory: 1 << 30, Checker: "floats:0.1"})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{p.Limits.Time, p.Limits.Wall, p.Limits.Memory, p.Checker.String(), p.TimeGiven}
	want := []any{2 * time.Second, 5 * time.Second, int64(1 << 30), "floats:0.1:0.1", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no tests", map[string]string{"README": "x"}},
		{"input without answer", map[string]string{"1.in": "1"}},
		{"bad yaml", map[string]string{"problem.yaml": "name: [unclosed"}},
		{"kattis input without answer", map[string]string{"problem.yaml": "name: x\n", "data/secret/1.in": "1"}},
		{"custom validation without validator", map[string]string{"problem.yaml": "validation: custom\n", "data/secret/1.in": "1", "data/secret/1.ans": "1"}},
		{"polygon test without answer", map[string]string{"tests/01": "1"}},
		{"unknown toml key", map[string]string{"problem.toml": "time = 1\n", "1.in": "1", "1.ans": "1"}},
		{"bad toml limit", map[string]string{"problem.toml": "time_limit = \"fast\"\n", "1.in": "1", "1.ans": "1"}},
		{"bad checker", map[string]string{"problem.toml": "checker = \"diff\"\n", "1.in": "1", "1.ans": "1"}},
		{"negative score", map[string]string{"problem.yaml": "type: scoring\n", "data/secret/g/testdata.yaml": "accept_score: -1\n",
			"data/secret/g/1.in": "1", "data/secret/g/1.ans": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				if err := writeFile(filepath.Join(dir, name), text); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Load(dir, LoadOptions{})
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, %v; want an ErrInvalid", p, err)
			}
			t.Log(err)
		})
	}
	if _, err := Load("testdata/missing", LoadOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing directory: %v, want ErrInvalid", err)
	}
}

func TestLanguagesTable(t *testing.T) {
	ls, err := LoadLanguages()
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"a.c": "c", "a.cpp": "cpp", "a.cc": "cpp", "a.go": "go", "a.py": "python3", "Main.java": "java"} {
		l, err := ls.Detect(file, "")
		if err != nil || l.ID != want {
			t.Errorf("Detect(%s) = %v, %v; want %s", file, l, err, want)
		}
	}
	if _, err := ls.Detect("a.rs", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Detect(a.rs): %v, want ErrInvalid", err)
	}
	if l, err := ls.Detect("a.txt", "python3"); err != nil || l.ID != "python3" {
		t.Errorf("Detect with an id: %v, %v", l, err)
	}
	extra := filepath.Join(t.TempDir(), "langs.toml")
	writeFile(extra, "[bash]\nextensions = [\"sh\"]\nrun = [\"bash\", \"{src}\"]\n")
	ls, err = LoadLanguages(extra)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := ls.Detect("x.sh", ""); err != nil || l.ID != "bash" || l.Name != "bash" {
		t.Errorf("a user's language: %v, %v", l, err)
	}
	writeFile(extra, "[bash]\nextension = [\"sh\"]\n")
	if _, err := LoadLanguages(extra); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad table: %v, want ErrInvalid", err)
	}
	missing := &Language{ID: "x", Run: []string{"no-such-interpreter-here"}}
	if err := missing.Installed(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Installed of a missing tool: %v, want ErrUnsupported", err)
	}
}

// TestLoadPolygonPoints reads per-test points and groups from problem.xml.
func TestLoadPolygonPoints(t *testing.T) {
	dir := t.TempDir()
	xml := `<problem><judging><testset name="tests"><time-limit>2000</time-limit><memory-limit>268435456</memory-limit>
<tests><test points="10" group="1"/><test points="10" group="1"/><test points="80" group="2"/></tests></testset></judging></problem>`
	for name, text := range map[string]string{"problem.xml": xml, "tests/01": "1", "tests/01.a": "1",
		"tests/02": "2", "tests/02.a": "2", "tests/03": "3", "tests/03.a": "3"} {
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, g := range p.Groups {
		groups = append(groups, g.Name)
	}
	got := []any{p.Scoring, p.MaxScore(), groups, p.Limits.Time, p.Limits.Memory, p.Checker.Kind}
	want := []any{true, 100.0, []string{"1", "2"}, 2 * time.Second, int64(256 << 20), CheckTokens}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
