package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/sandbox"
)

func TestLoadSeccomp(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	good := write("good.toml", `
default_action = "allow"
[[rule]]
names = ["keyctl", "add_key"]
action = "kill"
[[rule]]
names = ["personality"]
action = "allow"
args = [{ index = 0, op = "eq", value = 0 }]
`)
	got, err := LoadSeccomp(good)
	if err != nil {
		t.Fatal(err)
	}
	want := &sandbox.Seccomp{DefaultAction: "allow", Rules: []sandbox.SeccompRule{
		{Names: []string{"keyctl", "add_key"}, Action: "kill"},
		{Names: []string{"personality"}, Action: "allow", Args: []sandbox.SeccompArg{{Index: 0, Op: "eq", Value: 0}}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadSeccomp (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ name, text, want string }{
		{"unknown.toml", "[[rule]]\nnames = [\"read\"]\naction = \"errno\"\nactoin = \"x\"\n", `unknown key rule.actoin`},
		{"action.toml", "[[rule]]\nnames = [\"read\"]\naction = \"deny\"\n", `action "deny"`},
		{"syntax.toml", "default_action = \n", "syntax.toml:1"},
	} {
		_, err := LoadSeccomp(write(tt.name, tt.text))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalid naming %q", tt.name, err, tt.want)
		}
	}
}
