package oci

import "errors"

var (
	// ErrUnsupported is wrapped when config.json asks for something the
	// runner cannot honour: the error names the field.
	ErrUnsupported = errors.New("not supported by this runtime")
	// ErrInvalid is wrapped when config.json or the command line is wrong.
	ErrInvalid = errors.New("invalid")
	// ErrNotExist means no container has the id.
	ErrNotExist = errors.New("container does not exist")
	// ErrExists means a container already has the id.
	ErrExists = errors.New("container already exists")
	// ErrState means the container is not in a state the operation allows
	// (start of a running one, delete of a running one without --force).
	ErrState = errors.New("wrong container state")
)
