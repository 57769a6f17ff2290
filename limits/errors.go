package limits

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is wrapped by every error about a bad limit value, root or
	// id. Errors about a flag's value are *FlagError.
	ErrInvalid = errors.New("invalid value")
	// ErrUnsupported means the host cannot do what was asked: no usable cgroup
	// hierarchy, a required controller missing, or a v2-only operation on v1.
	ErrUnsupported = errors.New("not supported on this host")
	// ErrNotFound means the cgroup does not exist (any more).
	ErrNotFound = errors.New("cgroup not found")
	// ErrExists means New found a group of that id already there: a
	// collision or a leftover for `sandbox gc`, never one to share.
	ErrExists = errors.New("cgroup already exists")
	// ErrBusy means processes are still in the group after Kill's timeout,
	// or Delete found it populated.
	ErrBusy = errors.New("cgroup still has processes")
	// ErrMemory means a run holds more than its memory limit in a way the
	// kernel does not stop by itself (TCP buffers on cgroup v1, see
	// SocketBalancer): the caller kills it.
	ErrMemory = errors.New("memory limit exceeded")
)

// FlagError is a bad value of one limit, named by its command-line flag so
// that the same message serves the CLI, profiles and specs:
//
//	invalid --memory "banana": not a size (want bytes or a number with K, M, G or T, e.g. 256M, 1.5G)
//	invalid --pids 0: must be at least 1
type FlagError struct {
	Flag   string // without the leading dashes, e.g. "memory"
	Value  string // as the user wrote it (quoted) or as the field holds it
	Reason string
}

func (e *FlagError) Error() string {
	return fmt.Sprintf("invalid --%s %s: %s", e.Flag, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FlagError) Unwrap() error { return ErrInvalid }
