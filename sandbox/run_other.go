//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

// Container is a started run; on this system none can be started.
type Container struct{ ID string }

// Run is not supported on this system.
func Run(ctx context.Context, spec *Spec) (*Result, error) { return nil, unsupported() }

// Start is not supported on this system.
func Start(ctx context.Context, spec *Spec) (*Container, error) { return nil, unsupported() }

// Prepare does nothing: no sandbox starts on this system.
func Prepare(spec *Spec) {}

// HandOffInit does nothing: no sandbox starts on this system.
func HandOffInit() {}

// HandOffZygote is 0: no sandbox starts on this system.
func HandOffZygote() int { return 0 }

// Exec is not supported on this system.
func Exec(ctx context.Context, pid int, s *Spec, detach bool) (*Container, error) {
	return nil, unsupported()
}

// Pid is 0: no container runs here.
func (c *Container) Pid() int { return 0 }

// Signal is not supported on this system.
func (c *Container) Signal(sig os.Signal) error { return unsupported() }

// Resize is not supported on this system.
func (c *Container) Resize(ws WindowSize) error { return unsupported() }

// Wait is not supported on this system.
func (c *Container) Wait() (*Result, error) { return nil, unsupported() }

// GC is not supported on this system.
func GC(runDir string) ([]string, error) { return nil, unsupported() }

// MountPoints is unsupported: the runner supports Linux only.
func MountPoints() ([]string, error) { return nil, unsupported() }

func unsupported() error {
	return fmt.Errorf("%w: sandboxes need Linux, not %s", ErrUnsupported, runtime.GOOS)
}

// ReservedID is an id held for a caller; there are none off Linux.
type ReservedID struct{}

// ReserveID is unsupported off Linux.
func ReserveID() (*ReservedID, error) { return nil, unsupported() }

// ID is 0.
func (r *ReservedID) ID() uint32 { return 0 }

// Release does nothing.
func (r *ReservedID) Release() {}

// CommitDiskBounded is false off Linux.
func CommitDiskBounded() bool { return false }
