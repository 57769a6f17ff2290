package profile

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalid is wrapped by every error about a profile's content: its
	// TOML syntax, an unknown key, a value of the wrong type or out of range.
	ErrInvalid = errors.New("invalid profile")
	// ErrNotFound means Load was given a name that is neither a built-in
	// profile nor (by its form) a file.
	ErrNotFound = errors.New("no such profile")
)

// Error is one problem in a profile, located as an editor wants it:
//
//	grade.toml:7: unknown key "limits.memroy"
//	p.toml:3: key "network": want a string, got integer
//	p.toml:9: limits.memory: invalid --memory "banana": not a size (...)
//
// It wraps ErrInvalid and, for a bad limit, the *limits.FlagError.
type Error struct {
	File string // the profile's name as given to Parse (a path or a built-in name)
	Line int    // 1-based; 0 when not known
	Key  string // dotted TOML key, e.g. "limits.memory", "mount.destination"; "" for syntax errors
	Err  error  // what is wrong; its text names the key
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	return loc + ": " + e.Err.Error()
}

// Unwrap makes errors.Is(err, ErrInvalid) hold, and errors.As reach the
// cause (a *limits.FlagError for a bad limit).
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }
