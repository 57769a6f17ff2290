//go:build !linux

package hostcheck

import (
	"errors"
	"runtime"
)

var errNotLinux = errors.New("sandboxes need Linux")

func hostArch() string { return runtime.GOARCH }

// RealProbes fails every probe: there is no sandbox off Linux.
func RealProbes(cgroupRoot, runDir string) Probes {
	f := func() error { return errNotLinux }
	return Probes{UserNS: f, NetNS: f, Overlay: f, Cgroup: f, Seccomp: f, Pidfd: f, Openat2: f, IntoCgroup: f, TimeNS: f, KVM: f, Run: f}
}
