package snapshot

import (
	"errors"
	"fmt"
)

// Sentinel errors; check them with errors.Is.
var (
	// ErrNotFound: no snapshot has that name or key.
	ErrNotFound = errors.New("snapshot not found")
	// ErrExists: the name or key is taken.
	ErrExists = errors.New("snapshot already exists")
	// ErrInvalidName: a name or key fails the rules in doc.go.
	ErrInvalidName = errors.New("invalid snapshot name")
	// ErrInUse: an active snapshot or view stands on the snapshot, or its
	// owning process is still alive.
	ErrInUse = errors.New("snapshot in use")
	// ErrHasChildren: committed snapshots name this one as their parent.
	ErrHasChildren = errors.New("snapshot has children")
	// ErrNotActive: the operation needs an active snapshot (Commit, Mounts).
	ErrNotActive = errors.New("snapshot is not active")
	// ErrNotCommitted: a parent must be a committed snapshot.
	ErrNotCommitted = errors.New("snapshot is not committed")
	// ErrUnsafeEntry: an archive or tree entry would escape the layer root,
	// or is of a kind the import refuses; see EntryError.
	ErrUnsafeEntry = errors.New("unsafe entry")
	// ErrFormat: the import source is not a format the store reads, or an
	// image inside it is malformed.
	ErrFormat = errors.New("unrecognised source format")
	// ErrAmbiguous: the image source holds several images that fit what
	// was asked (ImportOptions.Ref, Platform); the message names them.
	ErrAmbiguous = errors.New("several images match")
	// ErrPlatform: no image in the source is for the platform asked for
	// (ImportOptions.Platform, else linux and the running architecture); the
	// message names the platforms it holds.
	ErrPlatform = errors.New("no image for the platform")
	// ErrUnsupported: the platform has no overlayfs (anything but Linux).
	ErrUnsupported = errors.New("snapshots are not supported on this platform")
)

// EntryError names the archive or tree entry an import refused or
// neutralised. Import returns it (wrapped) for refusals; ImportOptions.Warn
// receives it for entries that were neutralised and skipped or rewritten.
type EntryError struct {
	Entry  string `json:"entry"`  // the name as the source spelled it
	Reason string `json:"reason"` // what is wrong with it, and what was done
	Unsafe bool   `json:"unsafe"` // the entry is hostile or refused by policy: errors.Is(err, ErrUnsafeEntry)
	Err    error  `json:"-"`      // the underlying system error, if any
}

func (e *EntryError) Error() string {
	s := fmt.Sprintf("entry %q: %s", shorten(e.Entry), e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *EntryError) Unwrap() []error {
	var errs []error
	if e.Unsafe {
		errs = append(errs, ErrUnsafeEntry)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func unsafeEntry(name, format string, args ...any) *EntryError {
	return &EntryError{Entry: name, Reason: fmt.Sprintf(format, args...), Unsafe: true}
}

// shorten keeps messages about hostile 10000-deep names readable.
func shorten(s string) string {
	const max = 160
	if len(s) <= max {
		return s
	}
	return s[:max/2] + fmt.Sprintf("...(%d bytes)...", len(s)) + s[len(s)-max/2:]
}
