package repro

import "errors"

var (
	// ErrUsage is wrapped by every error about a Config the caller gave
	// (exit status 2, as reprotest's bad usage).
	ErrUsage = errors.New("bad usage")
	// ErrUnavailable means a variation asked for by name cannot take effect
	// on this host; the error says why.
	ErrUnavailable = errors.New("variation unavailable here")
	// ErrControlFailed means the control build itself failed, so there is
	// nothing to compare against.
	ErrControlFailed = errors.New("control build failed")
	// ErrNoArtifacts means the globs named nothing the control build made.
	ErrNoArtifacts = errors.New("no artifacts")
)
