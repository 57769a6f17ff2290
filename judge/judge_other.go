//go:build !linux

package judge

import (
	"context"
	"fmt"
)

// Judge runs submissions over one problem; only on Linux.
type Judge struct{ p *Problem }

// New reports that judging needs Linux.
func New(ctx context.Context, p *Problem, opts Options) (*Judge, error) {
	return nil, fmt.Errorf("%w: judging needs Linux", ErrUnsupported)
}

func (j *Judge) Close() error      { return nil }
func (j *Judge) Problem() *Problem { return j.p }

func (j *Judge) Judge(ctx context.Context, submission string) (*Report, error) {
	return nil, fmt.Errorf("%w: judging needs Linux", ErrUnsupported)
}
