//go:build !linux

package oci

import (
	"fmt"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MonitorArg0: see the Linux build.
const MonitorArg0 = "sandbox-oci-monitor"

// CreateOptions are runc create's.
type CreateOptions struct {
	Root, ID, Bundle string
	PidFile          string
	ConsoleSocket    string
	PreserveFDs      int
	Warn             func(string)
}

func unsupportedHere() error {
	return fmt.Errorf("%w: containers need Linux, not %s", ErrUnsupported, runtime.GOOS)
}

// Create is not supported on this system.
func Create(o CreateOptions) error { return unsupportedHere() }

// Start is not supported on this system.
func Start(root, id string) error { return unsupportedHere() }

// Load is not supported on this system.
func Load(root, id string) (*Record, error) { return nil, unsupportedHere() }

// Kill is not supported on this system.
func Kill(root, id string, sig syscall.Signal, all bool) error { return unsupportedHere() }

// Delete is not supported on this system.
func Delete(root, id string, force bool) error { return unsupportedHere() }

// Run is not supported on this system.
func Run(o CreateOptions, detach bool) (int, error) { return 0, unsupportedHere() }

// Pids is not supported on this system.
func Pids(root, id string) ([]int, error) { return nil, unsupportedHere() }

// ContainerProcess is not supported on this system.
func ContainerProcess(root, id string) (*specs.Process, error) { return nil, unsupportedHere() }

// Exec is not supported on this system.
func Exec(o ExecOptions) (int, error) { return 0, unsupportedHere() }

// Pause is not supported on this system.
func Pause(root, id string) error { return unsupportedHere() }

// Resume is not supported on this system.
func Resume(root, id string) error { return unsupportedHere() }

// Monitor is not supported on this system.
func Monitor(args []string) int { return 125 }
