package profile

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// LoadSeccomp reads a seccomp policy file (`sandbox exec --seccomp FILE`):
//
//	default_action = "allow"          # allow | errno | enosys | kill
//	[[rule]]
//	names = ["keyctl", "add_key"]
//	action = "kill"                   # allow | errno (EPERM) | enosys | kill
//	[[rule]]
//	names = ["personality"]
//	action = "allow"
//	args = [{ index = 0, op = "eq", value = 0 }]
//
// Rules match in order, the first match winning. Unknown keys are errors
// naming the file and the key.
func LoadSeccomp(path string) (*sandbox.Seccomp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp policy: %w", err)
	}
	var f struct {
		DefaultAction string `toml:"default_action"`
		Rule          []struct {
			Names  []string `toml:"names"`
			Action string   `toml:"action"`
			Args   []struct {
				Index uint32 `toml:"index"`
				Op    string `toml:"op"`
				Value uint64 `toml:"value"`
			} `toml:"args"`
		} `toml:"rule"`
	}
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s: %w", path, pe.Position.Line, pe.Message, ErrInvalid)
		}
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrInvalid)
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown key %s: %w", path, strings.Join(keys, ", "), ErrInvalid)
	}
	p := &sandbox.Seccomp{DefaultAction: f.DefaultAction}
	for _, r := range f.Rule {
		rule := sandbox.SeccompRule{Names: r.Names, Action: r.Action}
		for _, a := range r.Args {
			rule.Args = append(rule.Args, sandbox.SeccompArg{Index: a.Index, Op: a.Op, Value: a.Value})
		}
		p.Rules = append(p.Rules, rule)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, err, ErrInvalid)
	}
	return p, nil
}
