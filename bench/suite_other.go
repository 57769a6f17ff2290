//go:build !linux

package bench

import "context"

// Run needs Linux.
func Run(ctx context.Context, cfg Config) (*Report, error) { return nil, ErrUnsupported }

// RunCommand needs Linux.
func RunCommand(ctx context.Context, cfg CommandConfig) (*Report, error) { return nil, ErrUnsupported }
