//go:build !linux

package sandbox

// Feature is a kernel feature the runner uses (see the Linux build).
type Feature struct {
	Name, Since, Missing, Why string
	Present                   bool
}

func (f Feature) String() string { return f.Name }

// KernelFeatures is empty: the runner supports Linux only.
func KernelFeatures() []Feature { return nil }
