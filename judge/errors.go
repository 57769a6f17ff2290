package judge

import "errors"

var (
	// ErrInvalid is wrapped by every error about what the caller gave: a
	// problem directory that is not one, a submission of no known language,
	// a bad option. The CLI exits 2 for it.
	ErrInvalid = errors.New("invalid input")
	// ErrUnsupported means this host cannot do what was asked: a language
	// whose compiler is not installed, more parallel tests than CPUs.
	ErrUnsupported = errors.New("not supported here")
)
