package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestKernelFeatures(t *testing.T) {
	fs := KernelFeatures()
	if len(fs) == 0 {
		t.Fatal("no features probed")
	}
	for _, f := range fs {
		t.Log(f)
		if f.Name == "" || f.Since == "" || f.Why == "" || f.Missing == "" {
			t.Errorf("incomplete feature %+v", f)
		}
	}
	// Whatever kernel runs the tests runs the rest of this suite too: it
	// must have what the runner refuses to run without.
	if err := checkKernel(1); err != nil {
		t.Errorf("checkKernel: %v", err)
	}
}

func TestCheckFeatures(t *testing.T) {
	fs := []Feature{
		{Name: "openat2", Since: "5.6", Present: true, Missing: "refuse", Why: "targets"},
		{Name: "CLONE_INTO_CGROUP", Since: "5.7", Present: false, Missing: "refuse", Why: "born in the cgroup"},
		{Name: "memory.peak", Since: "5.19", Present: false, Missing: "fallback: 0", Why: "peak"},
	}
	if err := checkFeatures(fs, 1); err != nil {
		t.Errorf("on cgroup v1 CLONE_INTO_CGROUP is not needed: %v", err)
	}
	err := checkFeatures(fs, 2)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "CLONE_INTO_CGROUP (Linux 5.7") {
		t.Errorf("checkFeatures on v2 without CLONE_INTO_CGROUP = %v, want ErrUnsupported naming it", err)
	}
	fs[0].Present = false
	if err := checkFeatures(fs, 1); err == nil || !strings.Contains(err.Error(), "openat2 (Linux 5.6") {
		t.Errorf("checkFeatures without openat2 = %v, want it named", err)
	}
	for _, tc := range []struct {
		f    Feature
		want string
	}{
		{fs[0], "missing: the runner refuses to start"},
		{fs[2], "missing: fallback: 0"},
		{Feature{Present: true, Missing: "fallback: x"}, "used"},
		{Feature{Present: true, Missing: "unused"}, "unused by the runner"},
	} {
		if got := tc.f.Applied(); got != tc.want {
			t.Errorf("%+v.Applied() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// A v2 run's own clone3 stands for the CLONE_INTO_CGROUP probe: the
// errors a kernel without the flag gives are worded as the probe's
// refusal, any other start error is left alone.
func TestCloneIntoCgroupRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("fork/exec: %w", unix.ENOSYS), true},
		{unix.E2BIG, true},
		{unix.EINVAL, true},
		{unix.EPERM, false},
		{unix.ENOMEM, false},
	} {
		got := cloneIntoCgroupRefused(tc.err)
		if (got != nil) != tc.want {
			t.Errorf("cloneIntoCgroupRefused(%v) = %v, want refusal %v", tc.err, got, tc.want)
		}
		if got != nil && (!errors.Is(got, ErrUnsupported) || !strings.Contains(got.Error(), "CLONE_INTO_CGROUP (Linux 5.7")) {
			t.Errorf("cloneIntoCgroupRefused(%v) = %v, want ErrUnsupported naming CLONE_INTO_CGROUP", tc.err, got)
		}
	}
	// And the run's path probes nothing that forks.
	checkKernel(1)
	for _, f := range required {
		if f.Name == cloneIntoCgroup {
			t.Errorf("checkKernel probed %s", f.Name)
		}
	}
}
