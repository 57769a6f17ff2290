package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// BaselineDir is where named baselines live: $SANDBOX_BENCH_DIR, else
// $XDG_DATA_HOME/sandbox/bench, else ~/.local/share/sandbox/bench.
func BaselineDir() string {
	if d := os.Getenv("SANDBOX_BENCH_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "sandbox", "bench")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".local", "share", "sandbox", "bench")
}

// baselineName is compiled on first use: every process of the sandbox
// binary, the init stage of every run included, would otherwise pay for
// its compilation (a bounded repetition makes a large program) at start-up.
var baselineName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
})

// BaselinePath is where baseline name is kept in dir. A name with a slash
// or ending in .json is a file path of its own, so that a CI job can keep
// its baselines in the repository.
func BaselinePath(dir, name string) (string, error) {
	if strings.Contains(name, "/") || strings.HasSuffix(name, ".json") {
		return name, nil
	}
	if !baselineName().MatchString(name) {
		return "", fmt.Errorf("%w: baseline name %q: want letters, digits, '.', '_', '+' or '-'", ErrInvalid, name)
	}
	return filepath.Join(dir, name+".json"), nil
}

// SaveBaseline writes rep as baseline name in dir.
func SaveBaseline(dir, name string, rep *Report) (string, error) {
	path, err := BaselinePath(dir, name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("saving baseline %s: %w", name, err)
	}
	if err := rep.WriteFile(path); err != nil {
		return "", fmt.Errorf("saving baseline %s: %w", name, err)
	}
	return path, nil
}

// LoadBaseline reads baseline name from dir.
func LoadBaseline(dir, name string) (*Report, error) {
	path, err := BaselinePath(dir, name)
	if err != nil {
		return nil, err
	}
	rep, err := ReadReport(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (looked for %s)", ErrNoBaseline, name, path)
	}
	return rep, err
}
