package profile

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// Profile is a parsed profile: what it sets. An unset field (empty, nil,
// false) leaves the Spec alone when applied.
//
// It has json tags but no toml ones on purpose: the file format is not this
// struct's encoding (limits are written as flag values, "2s", not as
// nanoseconds), and it is read by hand so that every error has a line.
type Profile struct {
	// Name is the file's path or the built-in's name, for messages.
	Name string `json:"name"`
	// Description is the profile's own one-line summary, for listings.
	Description string `json:"description,omitempty"`
	// Root is an absolute host directory; "" leaves the Spec's (the host's
	// "/" by default).
	Root string `json:"root,omitempty"`
	// HostRoot is a root of the run's own made of host paths
	// (sandbox.HostRoot); nil leaves the Spec's. A profile sets Root or
	// HostRoot, not both.
	HostRoot *sandbox.HostRoot `json:"host_root,omitempty"`
	// Network is sandbox.NetworkNone or sandbox.NetworkHost.
	Network  string `json:"network,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Workdir is an absolute, clean path inside the sandbox.
	Workdir string        `json:"workdir,omitempty"`
	User    *sandbox.User `json:"user,omitempty"`
	// KeepEnv and Env are for the CLI, which composes the environment:
	// Apply leaves them out.
	KeepEnv bool     `json:"keep_env,omitempty"`
	Env     []string `json:"env,omitempty"` // KEY=VALUE, in file order
	CapAdd  []string `json:"cap_add,omitempty"`
	// Mounts have absolute sources and destinations, in file order.
	Mounts []sandbox.Mount `json:"mounts,omitempty"`
	// NoSymlinks makes every bind of the run, the caller's included,
	// refuse a source with a symlink in it (sandbox.Spec.NoSymlinks).
	NoSymlinks bool `json:"no_symlinks,omitempty"`
	// Limits are limits.DefaultLimits() with the profile's [limits] set
	// over them, through limits.Limits.Set.
	Limits limits.Limits `json:"limits"`
	// LimitKeys are the limits the profile set, by flag name ("memory",
	// "rlimit-nofile"), in limits.Flags() order.
	LimitKeys []string `json:"limit_keys,omitempty"`
}

//go:embed builtin/*.toml
var builtinFS embed.FS

// Names returns the built-in profiles' names, sorted.
func Names() []string {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic("profile: embedded profiles missing: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Builtin returns the text of a built-in profile: commented TOML, meant to
// be printed as a starting point for a file of one's own.
func Builtin(name string) ([]byte, bool) {
	if !slices.Contains(Names(), name) {
		return nil, false
	}
	b, err := builtinFS.ReadFile(path.Join("builtin", name+".toml"))
	return b, err == nil
}

// IsPath reports whether Load takes nameOrPath as a file rather than a
// built-in's name: it contains a slash or ends in ".toml".
func IsPath(nameOrPath string) bool {
	return strings.ContainsRune(nameOrPath, '/') || strings.HasSuffix(nameOrPath, ".toml")
}

// Load parses a built-in profile ("test", "build", "grade") or a file
// (see IsPath). Relative paths in a file are resolved against its
// directory.
func Load(nameOrPath string) (*Profile, error) {
	if IsPath(nameOrPath) {
		data, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("loading profile: %w", err)
		}
		return Parse(nameOrPath, data)
	}
	data, ok := Builtin(nameOrPath)
	if !ok {
		return nil, fmt.Errorf("loading profile %q: %w (built-in profiles: %s; a file's name needs a slash or the .toml suffix)",
			nameOrPath, ErrNotFound, strings.Join(Names(), ", "))
	}
	return Parse(nameOrPath, data)
}

// Parse reads a profile from data. name is the file's path: it names the
// profile in errors, and relative paths in the profile are resolved against
// its directory. Parse reads nothing from the file system; whether a bind's
// source exists is checked when the run starts (sandbox.Spec.Validate).
//
// Every problem found is reported, each an *Error; more than one are
// joined (errors.Join), in line order.
func Parse(name string, data []byte) (*Profile, error) {
	return parse(name, data)
}

// Apply copies what p sets into s: root or host root (either replaces
// both), network, hostname, workdir (as s.Dir) and user replace s's when
// set; no_symlinks, when set, sets s.NoSymlinks; p's mounts and capabilities are
// appended to s's (as repeated flags add to each other); s.Limits is
// replaced by p.Limits (which start from limits.DefaultLimits()). Env and
// KeepEnv are not applied: the CLI composes the environment.
func (p *Profile) Apply(s *sandbox.Spec) error {
	if s == nil {
		return errors.New("applying profile: nil spec")
	}
	// A Profile from Parse has valid limits; one built by hand may not, and
	// the error should name the profile rather than surface at Run.
	if err := p.Limits.Validate(); err != nil {
		return fmt.Errorf("applying profile %s: %w: %w", p.Name, ErrInvalid, err)
	}
	if p.Root != "" {
		s.Root, s.HostRoot = p.Root, nil
	}
	if p.HostRoot != nil {
		s.HostRoot, s.Root = &sandbox.HostRoot{Paths: slices.Clone(p.HostRoot.Paths)}, ""
	}
	if p.NoSymlinks {
		s.NoSymlinks = true
	}
	if p.Network != "" {
		s.Network = p.Network
	}
	if p.Hostname != "" {
		s.Hostname = p.Hostname
	}
	if p.Workdir != "" {
		s.Dir = p.Workdir
	}
	if p.User != nil {
		u := *p.User
		s.User = &u
	}
	if len(p.Mounts) > 0 {
		s.Mounts = slices.Concat(s.Mounts, p.Mounts)
	}
	if len(p.CapAdd) > 0 {
		s.CapAdd = slices.Concat(s.CapAdd, p.CapAdd)
	}
	s.Limits = cloneLimits(p.Limits)
	return nil
}

// cloneLimits copies l deeply, so that a Spec never shares a pointer with
// the Profile it came from.
func cloneLimits(l limits.Limits) limits.Limits {
	ptr := func(p *limits.Rlimit) *limits.Rlimit {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	if l.Pids != nil {
		v := *l.Pids
		l.Pids = &v
	}
	if l.CPUs != nil {
		v := *l.CPUs
		l.CPUs = &v
	}
	r := &l.Rlimits
	r.NoFile, r.FSize, r.Stack = ptr(r.NoFile), ptr(r.FSize), ptr(r.Stack)
	r.Core, r.NProc, r.AS = ptr(r.Core), ptr(r.NProc), ptr(r.AS)
	return l
}
