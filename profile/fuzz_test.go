package profile

import (
	"errors"
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// FuzzParse checks that Parse never panics and either succeeds, with a
// profile that applies, or fails with ErrInvalid.
//
//	go test ./profile/ -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	for _, name := range Names() {
		b, _ := Builtin(name)
		f.Add(b)
	}
	f.Add([]byte(goodProfile))
	f.Add([]byte(goodMounts))
	f.Add([]byte("[limits]\nmemory = \"banana\"\n"))
	f.Add([]byte("[[mount]]\ntype = \"bind\"\nsorce = \"x\"\ndestination = \"y\"\n"))
	f.Add([]byte("network = 3\nuser = \"nobody\"\n"))
	f.Add([]byte("x = \"\"\"\n[a]\n\"\"\"\n[[b]]\n[[b.c]]\nt = { u = [1,\n2] }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keyLines(data) // must not panic on any text, TOML or not
		p, err := Parse("fuzz.toml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := p.Apply(&sandbox.Spec{}); err != nil {
			t.Fatalf("Apply of a parsed profile: %v", err)
		}
	})
}
