//go:build !linux

package repro

import (
	"context"
	"fmt"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Check needs Linux: every build is a sandbox run.
func Check(ctx context.Context, cfg Config) (*Report, error) {
	return nil, fmt.Errorf("sandbox repro: %w", sandbox.ErrUnsupported)
}
