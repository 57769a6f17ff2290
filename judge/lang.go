package judge

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Language is how a submission is built and run. Commands use the
// placeholders {src}, {exe}, {dir}, {main} and {memory_mb} (see
// languages.toml).
type Language struct {
	ID         string   `toml:"-" json:"id"`
	Name       string   `toml:"name" json:"name"`
	Extensions []string `toml:"extensions" json:"extensions"`
	Compile    []string `toml:"compile" json:"compile,omitempty"`
	Run        []string `toml:"run" json:"run"`
	Env        []string `toml:"env" json:"env,omitempty"`
	Pids       int64    `toml:"pids" json:"pids,omitempty"`
	// Cache is where the compile's sandbox gets a writable directory that
	// outlives the compile (see Options.CacheDir); "" for none.
	Cache string `toml:"cache" json:"cache,omitempty"`
}

//go:embed languages.toml
var builtinLanguages []byte

// BuiltinLanguages returns the text of the built-in language table.
func BuiltinLanguages() []byte { return builtinLanguages }

// SandboxPath is PATH inside every sandbox the judge starts: the system's
// directories only, so that a tool found is one every uid can run.
const SandboxPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/go/bin"

// Languages is a language table, by id.
type Languages map[string]*Language

// LoadLanguages returns the built-in table with the files' tables read
// over it, in order: a table of the same id replaces the built-in one.
func LoadLanguages(files ...string) (Languages, error) {
	ls := Languages{}
	if err := ls.parse("built-in languages.toml", builtinLanguages); err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: reading languages: %w", ErrInvalid, err)
		}
		if err := ls.parse(f, data); err != nil {
			return nil, err
		}
	}
	return ls, nil
}

func (ls Languages) parse(name string, data []byte) error {
	var raw map[string]*Language
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%w: %s: unknown key %q", ErrInvalid, name, und[0].String())
	}
	for id, l := range raw {
		l.ID = id
		if l.Name == "" {
			l.Name = id
		}
		if len(l.Run) == 0 {
			return fmt.Errorf("%w: %s: language %s: no run command", ErrInvalid, name, id)
		}
		if len(l.Extensions) == 0 {
			return fmt.Errorf("%w: %s: language %s: no extensions", ErrInvalid, name, id)
		}
		if l.Cache != "" && (!filepath.IsAbs(l.Cache) || filepath.Clean(l.Cache) == "/" || strings.HasPrefix(filepath.Clean(l.Cache), "/box")) {
			return fmt.Errorf("%w: %s: language %s: cache %q: want an absolute path outside /box", ErrInvalid, name, id, l.Cache)
		}
		if l.Pids < 0 {
			return fmt.Errorf("%w: %s: language %s: pids %d: want a number >= 1", ErrInvalid, name, id, l.Pids)
		}
		for _, kv := range l.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return fmt.Errorf("%w: %s: language %s: env entry %q: want KEY=VALUE", ErrInvalid, name, id, kv)
			}
		}
		ls[id] = l
	}
	return nil
}

// IDs returns the table's ids, sorted.
func (ls Languages) IDs() []string {
	var ids []string
	for id := range ls {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Detect picks the language of a submission: by id when id is not empty,
// else by the file's extension (or, for a directory, its files').
func (ls Languages) Detect(path, id string) (*Language, error) {
	if id != "" {
		if l, ok := ls[id]; ok {
			return l, nil
		}
		return nil, fmt.Errorf("%w: language %q: unknown (known: %s)", ErrInvalid, id, strings.Join(ls.IDs(), ", "))
	}
	files := []string{path}
	if isDir(path) {
		entries, _ := os.ReadDir(path)
		files = nil
		for _, e := range entries {
			files = append(files, e.Name())
		}
	}
	for _, f := range files {
		ext := strings.TrimPrefix(filepath.Ext(f), ".")
		for _, lid := range ls.IDs() {
			if slices.Contains(ls[lid].Extensions, ext) {
				return ls[lid], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s: no language for its extension (known: %s; or say --lang)", ErrInvalid, path, strings.Join(ls.IDs(), ", "))
}

// Installed reports, as an error naming the tool, when a command the
// language needs is not in SandboxPath on this host.
func (l *Language) Installed() error {
	for _, cmd := range [][]string{l.Compile, l.Run} {
		if len(cmd) == 0 || strings.Contains(cmd[0], "{") {
			continue
		}
		if _, err := lookPath(cmd[0]); err != nil {
			return fmt.Errorf("%w: language %s: %s not installed (not in %s)", ErrUnsupported, l.ID, cmd[0], SandboxPath)
		}
	}
	return nil
}

func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if fi, err := os.Stat(name); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return name, nil
		}
		return "", os.ErrNotExist
	}
	for _, d := range filepath.SplitList(SandboxPath) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// expand fills in a command's placeholders.
func expand(cmd []string, vars map[string]string) []string {
	out := make([]string, len(cmd))
	for i, a := range cmd {
		for k, v := range vars {
			a = strings.ReplaceAll(a, "{"+k+"}", v)
		}
		out[i] = a
	}
	return out
}

func memoryMB(n int64) string { return strconv.FormatInt(max(n>>20, 16), 10) }
