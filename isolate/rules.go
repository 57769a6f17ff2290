package isolate

import (
	"path"
	"strings"
)

// DirRule is one -d rule: In is the path inside the box (absolute,
// clean), Out what is put there: a host directory (absolute, or "./x"
// relative to the box directory), or a filesystem type with FS. A Tmp rule
// has no Out; any other rule with an empty Out removes an earlier rule for
// In (see Removes).
type DirRule struct {
	In, Out string
	RW      bool // read-write; read-only otherwise
	Dev     bool // devices allowed
	NoExec  bool // no execution of binaries
	Maybe   bool // skipped when Out does not exist
	FS      bool // Out is a filesystem type to mount (proc, sysfs, tmpfs)
	Tmp     bool // a fresh temporary directory, writable by the box
	NoRec   bool // only Out itself, not the mounts below it
}

// Removes says whether r only removes an earlier rule ("-d IN=").
func (r DirRule) Removes() bool { return r.Out == "" && !r.Tmp }

// ParseDirRule reads "IN=OUT[:OPTS]", "DIR[:OPTS]" (OUT is "/DIR") and
// "IN=" (remove the rule for IN), with OPTS a colon-separated list of rw,
// dev, noexec, maybe, fs, tmp, norec.
func ParseDirRule(s string) (DirRule, error) {
	spec, opts, _ := strings.Cut(s, ":")
	var r DirRule
	if opts != "" || strings.Contains(s, ":") {
		for _, o := range strings.Split(opts, ":") {
			switch o {
			case "rw":
				r.RW = true
			case "dev":
				r.Dev = true
			case "noexec":
				r.NoExec = true
			case "maybe":
				r.Maybe = true
			case "fs":
				r.FS = true
			case "tmp":
				r.Tmp, r.RW = true, true
			case "norec":
				r.NoRec = true
			default:
				return r, usageErrorf("-d %q: unknown directory option %q (want rw, dev, noexec, maybe, fs, tmp, norec)", s, o)
			}
		}
	}
	in, out, hasOut := strings.Cut(spec, "=")
	if !hasOut && !r.Tmp {
		out = "/" + strings.TrimLeft(in, "/")
	}
	in = strings.TrimLeft(in, "/")
	if in == "" {
		return r, usageErrorf("-d %q: no directory inside the box", s)
	}
	for _, c := range strings.Split(in, "/") {
		if c == ".." {
			return r, usageErrorf("-d %q: %q leaves the box", s, in)
		}
	}
	r.In = path.Clean("/" + in)
	switch {
	case r.Tmp && hasOut && out != "":
		return r, usageErrorf("-d %q: a tmp rule takes no outside directory", s)
	case r.FS && (out == "" || strings.HasPrefix(out, "/")):
		return r, usageErrorf("-d %q: an fs rule wants a filesystem type, e.g. /proc=proc:fs", s)
	case !r.FS && out != "" && !strings.HasPrefix(out, "/") && !strings.HasPrefix(out, "./"):
		return r, usageErrorf("-d %q: the outside directory must be absolute or start with ./ (the box directory)", s)
	}
	r.Out = out
	return r, nil
}

// defaultDirRules are isolate's: the box directory read-write at /box,
// /bin, /dev with devices, /lib, /lib64 where it exists, /proc, /usr, and
// a fresh /tmp.
var defaultDirRules = []string{"box=./box:rw", "bin", "dev:dev", "lib", "lib64:maybe", "proc=proc:fs", "usr", "tmp:tmp"}

// DirRules are the rules a run gets: isolate's defaults (unless
// noDefaults), then the caller's in order. A rule for an In already ruled
// replaces that rule in its place, so order stays the defaults' (a rule
// for a/b after one for a lands inside it).
func DirRules(noDefaults bool, user []DirRule) []DirRule {
	var all []DirRule
	if !noDefaults {
		for _, s := range defaultDirRules {
			r, err := ParseDirRule(s)
			if err != nil {
				panic(err)
			}
			all = append(all, r)
		}
	}
	for _, r := range user {
		replaced := false
		for i := range all {
			if all[i].In == r.In {
				all[i], replaced = r, true
				break
			}
		}
		if !replaced {
			all = append(all, r)
		}
	}
	return all
}

// EnvRule is one -E rule: Inherit copies Var from the caller; otherwise
// Var is set to Value, or removed when Value is empty.
type EnvRule struct {
	Var, Value string
	Inherit    bool
}

// ParseEnvRule reads "VAR" (inherit) or "VAR=VALUE".
func ParseEnvRule(s string) (EnvRule, error) {
	k, v, ok := strings.Cut(s, "=")
	if k == "" {
		return EnvRule{}, usageErrorf("-E %q: no variable name", s)
	}
	return EnvRule{Var: k, Value: v, Inherit: !ok}, nil
}

// Environment is the program's environment as isolate builds it: the
// caller's whole environment with fullEnv (else nothing), then
// LIBC_FATAL_STDERR_=1, then each rule in order; a variable set twice
// keeps its last value.
func Environment(caller []string, fullEnv bool, rules []EnvRule) []string {
	env := []string{}
	set := func(k, v string, del bool) {
		out := env[:0]
		for _, kv := range env {
			if kk, _, _ := strings.Cut(kv, "="); kk != k {
				out = append(out, kv)
			}
		}
		env = out
		if !del {
			env = append(env, k+"="+v)
		}
	}
	if fullEnv {
		env = append(env, caller...)
	}
	lookup := func(k string) (string, bool) {
		for i := len(caller) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(caller[i], k+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	all := append([]EnvRule{{Var: "LIBC_FATAL_STDERR_", Value: "1"}}, rules...)
	for _, r := range all {
		if r.Inherit {
			v, ok := lookup(r.Var)
			set(r.Var, v, !ok)
			continue
		}
		set(r.Var, r.Value, r.Value == "")
	}
	return env
}
