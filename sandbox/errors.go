package sandbox

import "errors"

var (
	// ErrInvalidSpec is wrapped by every error about a Spec the caller gave.
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrUnsupported means this host lacks a kernel feature a run needs.
	ErrUnsupported = errors.New("not supported on this host")
	// ErrSetup is wrapped by failures of the init stage while it builds the
	// container, before CMD is started.
	ErrSetup = errors.New("setting up the sandbox")
	// ErrNotStarted is returned by Container methods called before Start.
	ErrNotStarted = errors.New("sandbox not started")
)
