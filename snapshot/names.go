package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// MaxNameLen bounds names and keys; the metadata file is <name>.json.
const MaxNameLen = 200

// ValidateName reports whether name may name a snapshot: 1 to MaxNameLen
// bytes of letters, digits and . _ : @ + -, not starting with '.' or '-'.
// No slash, so a name is one file name; no leading dot, so it cannot be "."
// or ".." or collide with the store's hidden temporary files.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: longer than %d bytes", ErrInvalidName, shorten(name), MaxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w %q: must not start with %q", ErrInvalidName, name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '@', c == '+', c == '-':
		default:
			return fmt.Errorf("%w %q: character %q not allowed (letters, digits and . _ : @ + -)", ErrInvalidName, name, c)
		}
	}
	return nil
}

// EnvStore names the environment variable that overrides DefaultRoot.
const EnvStore = "SANDBOX_STORE"

// DefaultRoot is where the store lives unless --store or SANDBOX_STORE say
// otherwise.
const DefaultRoot = "/var/lib/sandbox"

// RootFromEnv returns $SANDBOX_STORE, or when it is unset DefaultRoot for
// root and, for anyone else, $XDG_DATA_HOME/sandbox (~/.local/share/sandbox
// when XDG_DATA_HOME is unset): a rootless user's snapshots are its own.
func RootFromEnv() string {
	if r := os.Getenv(EnvStore); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return DefaultRoot
	}
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "sandbox")
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) && home != "/" {
		return filepath.Join(home, ".local", "share", "sandbox")
	}
	return filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Geteuid())+"-store")
}
