package judge

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompare(t *testing.T) {
	exact := &Checker{Kind: CheckExact}
	tokens := &Checker{Kind: CheckTokens}
	kattis, err := kattisDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	floats := &Checker{Kind: CheckFloats, AbsTol: 1e-6, RelTol: 1e-6}
	spaces, err := kattisDefault([]string{"space_change_sensitive", "case_sensitive"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		c           *Checker
		out, answer string
		want        Verdict
	}{
		{"exact same", exact, "1 2\n", "1 2\n", AC},
		{"exact other spacing", exact, "1  2\n", "1 2\n", PE},
		{"exact no newline", exact, "1 2", "1 2\n", PE},
		{"exact wrong", exact, "1 3\n", "1 2\n", WA},
		{"tokens spacing", tokens, "1\n\n2   ", "1 2\n", AC},
		{"tokens case", tokens, "Yes", "YES", WA},
		{"tokens short", tokens, "1", "1 2", WA},
		{"tokens long", tokens, "1 2 3", "1 2", WA},
		{"tokens empty", tokens, "", "", AC},
		{"kattis default ignores case", kattis, "yes\n", "YES\n", AC},
		{"kattis space sensitive", spaces, "1  2\n", "1 2\n", WA},
		{"kattis case sensitive", spaces, "yes\n", "YES\n", WA},
		{"floats absolute", floats, "0.0000005", "0", AC},
		{"floats relative", floats, "1000000.5", "1000000", AC},
		{"floats outside", floats, "0.1", "0.2", WA},
		{"floats not a number", floats, "abc", "0.5", WA},
		{"floats words too", floats, "ok 1.0000001", "ok 1", AC},
		{"floats nan", floats, "nan", "1", WA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := tt.c.compare([]byte(tt.out), []byte(tt.answer))
			if got != tt.want {
				t.Errorf("compare(%q, %q) = %s (%s), want %s", tt.out, tt.answer, got, msg, tt.want)
			}
			if got != AC && msg == "" {
				t.Errorf("compare(%q, %q) = %s with no message", tt.out, tt.answer, got)
			}
		})
	}
}

func TestTestlibVerdict(t *testing.T) {
	type res struct {
		V      Verdict
		Points bool
		OK     bool
	}
	tests := []struct {
		flavour string
		code    int
		want    res
	}{
		{FlavourTestlib, 0, res{AC, false, true}},
		{FlavourTestlib, 1, res{WA, false, true}},
		{FlavourTestlib, 2, res{PE, false, true}},
		{FlavourTestlib, 3, res{JE, false, true}},
		{FlavourTestlib, 4, res{PE, false, true}},
		{FlavourTestlib, 7, res{AC, true, true}},
		{FlavourTestlib, 8, res{PE, false, true}},
		{FlavourTestlib, 5, res{JE, false, false}},
		{FlavourEjudge, 0, res{AC, false, true}},
		{FlavourEjudge, 5, res{WA, false, true}},
		{FlavourEjudge, 4, res{PE, false, true}},
		{FlavourEjudge, 6, res{JE, false, true}},
		{FlavourEjudge, 7, res{AC, true, true}},
		{FlavourEjudge, 1, res{JE, false, false}},
		{FlavourContester, 0xAC, res{AC, false, true}},
		{FlavourContester, 0xAB, res{WA, false, true}},
		{FlavourContester, 0xAA, res{PE, false, true}},
		{FlavourContester, 0xA3, res{JE, false, true}},
		{FlavourContester, 0xA6, res{PE, false, true}},
		{FlavourContester, 0, res{JE, false, false}},
	}
	for _, tt := range tests {
		v, p, ok := testlibVerdict(tt.flavour, tt.code)
		if diff := cmp.Diff(tt.want, res{v, p, ok}); diff != "" {
			t.Errorf("%s exit %d (-want +got):\n%s", tt.flavour, tt.code, diff)
		}
	}
}

func TestParseCheckerSpec(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		spec string
		want *Checker
		err  bool
	}{
		{spec: "exact", want: &Checker{Kind: CheckExact}},
		{spec: "tokens", want: &Checker{Kind: CheckTokens}},
		{spec: "floats", want: &Checker{Kind: CheckFloats, AbsTol: 1e-6, RelTol: 1e-6}},
		{spec: "floats:1e-4", want: &Checker{Kind: CheckFloats, AbsTol: 1e-4, RelTol: 1e-4}},
		{spec: "floats:1e-4:0.01", want: &Checker{Kind: CheckFloats, AbsTol: 1e-4, RelTol: 0.01}},
		{spec: "testlib:check.c", want: &Checker{Kind: CheckTestlib, Flavour: FlavourTestlib, Source: dir + "/check.c"}},
		{spec: "testlib-ejudge:check.c", want: &Checker{Kind: CheckTestlib, Flavour: FlavourEjudge, Source: dir + "/check.c"}},
		{spec: "testlib-contester:check.c", want: &Checker{Kind: CheckTestlib, Flavour: FlavourContester, Source: dir + "/check.c"}},
		{spec: "kattis:check.c", want: &Checker{Kind: CheckKattis, Source: dir + "/check.c"}},
		{spec: "cms:check.c", want: &Checker{Kind: CheckCMS, Source: dir + "/check.c"}},
		{spec: "floats:-1", err: true},
		{spec: "floats:x", err: true},
		{spec: "floats:1:2:3", err: true},
		{spec: "exact:1", err: true},
		{spec: "testlib", err: true},
		{spec: "testlib:missing.c", err: true},
		{spec: "diff", err: true},
	}
	if err := writeFile(dir+"/check.c", "int main(void){return 0;}\n"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got, err := ParseCheckerSpec(tt.spec, dir)
		if tt.err {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseCheckerSpec(%q) = %v, %v; want an ErrInvalid", tt.spec, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCheckerSpec(%q): %v", tt.spec, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Checker{})); diff != "" {
			t.Errorf("ParseCheckerSpec(%q) (-want +got):\n%s", tt.spec, diff)
		}
	}
}
