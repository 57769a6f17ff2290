package seccomp

import "errors"

var (
	// ErrArch is returned where no syscall table exists for the
	// architecture the binary was built for.
	ErrArch = errors.New("no seccomp syscall table for this architecture")
	// ErrTooLong is returned for a filter longer than the kernel loads.
	ErrTooLong = errors.New("seccomp filter too long")
)
