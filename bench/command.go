package bench

import (
	"io"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// CommandConfig is a user's command benchmarked in identical sandboxes.
type CommandConfig struct {
	// Spec is every run's spec (Args is the command); its IO is ignored.
	Spec sandbox.Spec
	// N is the number of recorded runs (default 30); Warmup runs come
	// first and are not recorded (the CLI's default is 1).
	N      int
	Warmup int
	// Output, when set, receives the command's stdout and stderr;
	// otherwise they are dropped (the tail of stderr is kept for errors).
	Output io.Writer
	// Progress, when set, hears how the runs go.
	Progress Progress
}

func (c CommandConfig) defaults() CommandConfig {
	if c.N <= 0 {
		c.N = 30
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	return c
}
