package profile

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// The keys each table knows, in their underscore spelling; a dash is the
// same key ("keep-env" is "keep_env"), as in the flags.
var (
	topKeys = []string{"description", "root", "host_root", "network", "hostname", "workdir", "user", "keep_env", "env", "cap_add",
		"no_symlinks", "mount", "limits"}
	mountKeys = []string{"type", "source", "destination", "read_only", "no_symlinks", "size"}
)

// maxHostname is the kernel's HOST_NAME_MAX.
const maxHostname = 64

func parse(name string, data []byte) (*Profile, error) {
	// The document is decoded into plain maps rather than a struct so that
	// every type check is ours and can name the key and its line; the
	// decoder itself only reports syntax.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Err: errors.New(pe.Message)}
		}
		return nil, &Error{File: name, Err: err}
	}
	d := &decoder{name: name, lines: keyLines(data)}
	p := &Profile{Name: name, Limits: limits.DefaultLimits()}
	d.profile(p, raw)
	if p.Root != "" && p.HostRoot != nil {
		key := "host_root"
		if _, ok := raw[key]; !ok {
			key = "host-root"
		}
		d.bad(keyPath{key}, "a root of host paths and root %q: want one of them", p.Root)
	}
	switch len(d.errs) {
	case 0:
		return p, nil
	case 1:
		return nil, d.errs[0]
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		li, lj := d.errs[i].Line, d.errs[j].Line
		return li != 0 && (lj == 0 || li < lj)
	})
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return nil, errors.Join(errs...)
}

// decoder turns a decoded document into a Profile, collecting every
// problem with its key and line.
type decoder struct {
	name  string
	lines lineIndex
	errs  []*Error
}

func (d *decoder) add(kp keyPath, err error) {
	d.errs = append(d.errs, &Error{File: d.name, Line: d.lines.line(kp), Key: display(kp), Err: err})
}

// bad reports a problem with the value at kp.
func (d *decoder) bad(kp keyPath, format string, args ...any) {
	d.add(kp, fmt.Errorf("key %q: "+format, append([]any{display(kp)}, args...)...))
}

// display is a key as TOML writes it, without array indexes:
// "mount.destination".
func display(kp keyPath) string {
	var k toml.Key
	for _, e := range kp {
		if !isIndexElem(e) {
			k = append(k, e)
		}
	}
	return k.String()
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

// fields calls set for each key of table t (at kp) that is one of known,
// with the key in its underscore spelling, and reports the others.
func (d *decoder) fields(kp keyPath, t map[string]any, known []string, set func(key string, kp keyPath, v any)) {
	// In file order, so that of two spellings the later one is reported.
	keys := slices.Sorted(maps.Keys(t))
	sort.SliceStable(keys, func(i, j int) bool {
		return d.lines.line(kp.with(keys[i])) < d.lines.line(kp.with(keys[j]))
	})
	seen := map[string]string{}
	for _, k := range keys {
		fk := kp.with(k)
		key := strings.ReplaceAll(k, "-", "_")
		if !slices.Contains(known, key) {
			d.add(fk, fmt.Errorf("unknown key %q", display(fk)))
			continue
		}
		if other, dup := seen[key]; dup {
			d.bad(fk, "already set as %q", display(kp.with(other)))
			continue
		}
		seen[key] = k
		set(key, fk, t[k])
	}
}

func (d *decoder) str(kp keyPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.bad(kp, "want a string, got %s", typeName(v))
		return "", false
	}
	if strings.ContainsRune(s, 0) {
		d.bad(kp, "%q: contains a NUL byte", s)
		return "", false
	}
	return s, true
}

func (d *decoder) boolean(kp keyPath, v any) bool {
	b, ok := v.(bool)
	if !ok {
		d.bad(kp, "want a boolean, got %s", typeName(v))
	}
	return b
}

func (d *decoder) strings(kp keyPath, v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		d.bad(kp, "want an array of strings, got %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			d.bad(kp, "entry %d: want a string, got %s", i+1, typeName(e))
			return nil, false
		}
		if strings.ContainsRune(s, 0) {
			d.bad(kp, "entry %d %q: contains a NUL byte", i+1, s)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (d *decoder) table(kp keyPath, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		d.bad(kp, "want a table, got %s", typeName(v))
	}
	return t, ok
}

// tables accepts [[name]] tables and an array of inline tables alike.
func (d *decoder) tables(kp keyPath, v any) ([]map[string]any, bool) {
	switch list := v.(type) {
	case []map[string]any:
		return list, true
	case []any:
		out := make([]map[string]any, 0, len(list))
		for i, e := range list {
			t, ok := e.(map[string]any)
			if !ok {
				d.bad(kp, "entry %d: want a table, got %s", i+1, typeName(e))
				return nil, false
			}
			out = append(out, t)
		}
		return out, true
	}
	d.bad(kp, "want an array of tables ([[%s]]), got %s", display(kp), typeName(v))
	return nil, false
}

// absolute resolves a relative path against the profile's directory. A
// relative profile name is taken from the working directory as the kernel
// names it (not $PWD, which may go through symlinks), so that a bind that
// follows no symlinks (no_symlinks) checks the profile's own paths, not the
// way the caller came to its directory.
func (d *decoder) absolute(kp keyPath, s string) (string, bool) {
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	dir := filepath.Dir(d.name)
	if !filepath.IsAbs(dir) {
		wd, err := syscall.Getwd()
		if err != nil {
			d.bad(kp, "%q: resolving against the profile's directory: %v", s, err)
			return "", false
		}
		dir = filepath.Join(wd, dir)
	}
	return filepath.Join(dir, s), true
}

func (d *decoder) profile(p *Profile, raw map[string]any) {
	d.fields(nil, raw, topKeys, func(key string, kp keyPath, v any) {
		if key == "mount" {
			ts, _ := d.tables(kp, v)
			for i, t := range ts {
				if m, ok := d.mount(kp.with(indexElem(i)), t); ok {
					p.Mounts = append(p.Mounts, m)
				}
			}
			return
		}
		if key == "limits" {
			if t, ok := d.table(kp, v); ok {
				d.limits(p, kp, t)
			}
			return
		}
		if key == "keep_env" {
			p.KeepEnv = d.boolean(kp, v)
			return
		}
		if key == "no_symlinks" {
			p.NoSymlinks = d.boolean(kp, v)
			return
		}
		if key == "host_root" {
			list, ok := d.strings(kp, v)
			if !ok {
				return
			}
			hr := &sandbox.HostRoot{Paths: []string{}}
			for i, s := range list {
				if !filepath.IsAbs(s) || filepath.Clean(s) == "/" {
					d.bad(kp, "entry %d %q: want an absolute host path other than /", i+1, s)
					return
				}
				hr.Paths = append(hr.Paths, filepath.Clean(s))
			}
			p.HostRoot = hr
			return
		}
		if key == "env" || key == "cap_add" {
			list, ok := d.strings(kp, v)
			if !ok {
				return
			}
			for i, s := range list {
				if key == "env" {
					if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
						d.bad(kp, "entry %d %q: want KEY=VALUE", i+1, s)
						return
					}
				} else if !validCap(s) {
					d.bad(kp, "entry %d: unknown capability %q", i+1, s)
					return
				}
			}
			if key == "env" {
				p.Env = list
			} else {
				p.CapAdd = list
			}
			return
		}
		s, ok := d.str(kp, v)
		if !ok {
			return
		}
		switch key {
		case "description":
			p.Description = s
		case "root":
			p.Root = d.root(kp, s)
		case "network":
			if s != sandbox.NetworkNone && s != sandbox.NetworkHost {
				d.bad(kp, "want %q or %q, got %q", sandbox.NetworkNone, sandbox.NetworkHost, s)
				return
			}
			p.Network = s
		case "hostname":
			if !validHostname(s) {
				d.bad(kp, "%q: want 1 to %d letters, digits, '-', '.' or '_'", s, maxHostname)
				return
			}
			p.Hostname = s
		case "workdir":
			if !filepath.IsAbs(s) {
				d.bad(kp, "%q: not an absolute path", s)
				return
			}
			p.Workdir = filepath.Clean(s)
		case "user":
			u, ok := parseUser(s)
			if !ok {
				d.bad(kp, "%q: want \"unique\" or UID[:GID] as numbers, e.g. \"65534:65534\" (names depend on the host's user database)", s)
				return
			}
			p.User = u
		}
	})
}

// root is "" (the host's "/"), an absolute path, or a path relative to the
// profile's directory spelled with "./" or "../". Bare names are kept for
// snapshot names.
func (d *decoder) root(kp keyPath, s string) string {
	switch {
	case s == "":
		return ""
	case filepath.IsAbs(s), s == ".", s == "..", strings.HasPrefix(s, "./"), strings.HasPrefix(s, "../"):
		abs, _ := d.absolute(kp, s)
		return abs
	}
	d.bad(kp, "%q: want an absolute path, or one starting with ./ or ../ (relative to the profile's directory)", s)
	return ""
}

func (d *decoder) mount(kp keyPath, t map[string]any) (sandbox.Mount, bool) {
	var m sandbox.Mount
	var sourceKey, sizeKey keyPath
	errs := len(d.errs)
	d.fields(kp, t, mountKeys, func(key string, fk keyPath, v any) {
		switch key {
		case "read_only":
			m.ReadOnly = d.boolean(fk, v)
			return
		case "no_symlinks":
			m.NoSymlinks = d.boolean(fk, v)
			return
		case "size":
			sizeKey = fk
			switch n := v.(type) {
			case int64:
				if n < 0 {
					d.bad(fk, "%d: must not be negative", n)
				}
				m.Size = n
			case string:
				size, err := limits.ParseSize(n)
				if err != nil {
					d.bad(fk, "%v", err)
				}
				m.Size = size
			default:
				d.bad(fk, "want a size (a string such as \"64M\", or a whole number of bytes), got %s", typeName(v))
			}
			return
		}
		s, ok := d.str(fk, v)
		if !ok {
			return
		}
		switch key {
		case "type":
			if s != sandbox.MountBind && s != sandbox.MountTmpfs {
				d.bad(fk, "want %q or %q, got %q", sandbox.MountBind, sandbox.MountTmpfs, s)
			}
			m.Type = s
		case "source":
			sourceKey = fk
			if s == "" {
				d.bad(fk, "empty")
				return
			}
			m.Source, _ = d.absolute(fk, s)
		case "destination":
			switch {
			case !filepath.IsAbs(s):
				d.bad(fk, "%q: not an absolute path", s)
			case filepath.Clean(s) == "/":
				d.bad(fk, "%q: cannot mount over the root", s)
			}
			m.Destination = filepath.Clean(s)
		}
	})
	if len(d.errs) > errs {
		return m, false
	}
	switch {
	case m.Type == "":
		d.bad(kp, "missing \"type\" (%q or %q)", sandbox.MountBind, sandbox.MountTmpfs)
	case m.Destination == "":
		d.bad(kp, "missing \"destination\"")
	case m.Type == sandbox.MountBind && sourceKey == nil:
		d.bad(kp, "a bind needs a \"source\"")
	case m.Type == sandbox.MountBind && sizeKey != nil:
		d.bad(sizeKey, "only a tmpfs has a size")
	case m.Type == sandbox.MountTmpfs && sourceKey != nil:
		d.bad(sourceKey, "only a bind has a source")
	case m.Type == sandbox.MountTmpfs && m.NoSymlinks:
		d.bad(kp, "only a bind has \"no_symlinks\"")
	}
	return m, len(d.errs) == errs
}

func (d *decoder) limits(p *Profile, kp keyPath, t map[string]any) {
	var known []string
	for _, f := range limits.Flags() {
		known = append(known, strings.ReplaceAll(f.Name, "-", "_"))
	}
	set := map[string]bool{}
	d.fields(kp, t, known, func(key string, fk keyPath, v any) {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			d.bad(fk, "want a string or a number, got %s", typeName(v))
			return
		}
		if err := p.Limits.Set(key, s); err != nil {
			d.add(fk, fmt.Errorf("%s: %w", display(fk), err))
			return
		}
		set[strings.ReplaceAll(key, "_", "-")] = true
	})
	for _, f := range limits.Flags() {
		if set[f.Name] {
			p.LimitKeys = append(p.LimitKeys, f.Name)
		}
	}
}

// parseUser reads "unique" (an id of the run's own) or "UID[:GID]",
// numbers only; the GID defaults to the UID.
func parseUser(s string) (*sandbox.User, bool) {
	if s == "unique" {
		return &sandbox.User{Unique: true}, true
	}
	id := func(s string) (uint32, bool) {
		n, err := strconv.ParseUint(s, 10, 32)
		// (uid_t)-1 means "unchanged" to setresuid: never an identity.
		return uint32(n), err == nil && n != math.MaxUint32
	}
	us, gs, hasGroup := strings.Cut(s, ":")
	uid, ok := id(us)
	if !ok {
		return nil, false
	}
	gid := uid
	if hasGroup {
		if gid, ok = id(gs); !ok {
			return nil, false
		}
	}
	return &sandbox.User{UID: uid, GID: gid}, true
}

func validHostname(s string) bool {
	if s == "" || len(s) > maxHostname {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// validCap asks the sandbox package, which owns the capability names, by
// validating a Spec that holds nothing else.
func validCap(name string) bool {
	s := sandbox.Spec{Args: []string{"true"}, CapAdd: []string{name}}
	return s.Validate() == nil
}
