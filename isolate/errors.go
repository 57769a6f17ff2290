package isolate

import "errors"

var (
	// ErrUsage is wrapped by every error about the command line.
	ErrUsage = errors.New("bad usage")
	// ErrUnsupported is wrapped when an option cannot take effect here; it
	// is refused with the reason rather than ignored.
	ErrUnsupported = errors.New("not supported")
	// ErrBusy means another instance manages the box (see --wait).
	ErrBusy = errors.New("box in use")
	// ErrNotInitialized means --run found no box: --init was not run.
	ErrNotInitialized = errors.New("box not initialized")
)
