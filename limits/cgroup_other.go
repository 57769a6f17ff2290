//go:build !linux

package limits

import "fmt"

// New needs Linux cgroups.
func New(root, id string, l Limits) (Cgroup, error) {
	return nil, fmt.Errorf("creating cgroup: %w", ErrUnsupported)
}

// Version needs Linux cgroups.
func Version(l Limits) (int, error) {
	return 0, fmt.Errorf("choosing the cgroup version: %w", ErrUnsupported)
}

// Load needs Linux cgroups.
func Load(root, id string) (Cgroup, error) {
	return nil, fmt.Errorf("loading cgroup: %w", ErrUnsupported)
}

// List needs Linux cgroups.
func List(root string) ([]string, error) {
	return nil, fmt.Errorf("listing cgroups: %w", ErrUnsupported)
}

// RemoveRoot needs Linux cgroups.
func RemoveRoot(root string) error {
	return fmt.Errorf("removing cgroup root: %w", ErrUnsupported)
}

// ApplyRlimits needs Linux prlimit(2).
func ApplyRlimits(pid int, r Rlimits) error {
	return fmt.Errorf("setting rlimits: %w", ErrUnsupported)
}
