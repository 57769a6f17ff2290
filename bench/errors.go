package bench

import (
	"errors"
	"fmt"
)

var (
	// ErrMissing means a backend's program is not installed (or the host
	// lacks what it needs): its results are reported as skipped, not failed.
	ErrMissing = errors.New("not installed")
	// ErrNotApplicable means the host cannot do what a backend measures
	// (cp --reflink on a filesystem without reflinks): skipped, not failed.
	ErrNotApplicable = errors.New("not applicable on this host")
	// ErrBadReport means a JSON report is malformed or of another schema
	// version.
	ErrBadReport = errors.New("not a benchmark report")
	// ErrNoBaseline means no saved baseline has the name asked for.
	ErrNoBaseline = errors.New("no such baseline")
	// ErrUnsupported means the platform cannot run the suite (not Linux).
	ErrUnsupported = errors.New("benchmarks need Linux")
	// ErrInvalid is wrapped by errors about a bad configuration.
	ErrInvalid = errors.New("invalid benchmark configuration")
)

// missing makes an ErrMissing error naming what is missing and, where one
// exists, the Debian package that provides it.
func missing(what, pkg string) error {
	if pkg == "" {
		return fmt.Errorf("%s: %w", what, ErrMissing)
	}
	return fmt.Errorf("%s: %w (Debian package %s; make bench-deps)", what, ErrMissing, pkg)
}
