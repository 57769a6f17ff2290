package limits

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RlimitSetting is one rlimit ready for prlimit(2) or setrlimit(2).
type RlimitSetting struct {
	Name     string // "nofile", as in the rlimit-nofile flag
	Resource int    // unix.RLIMIT_NOFILE
	Limit    unix.Rlimit
}

// Settings lists the set rlimits of r in a fixed order.
func (r Rlimits) Settings() []RlimitSetting {
	var out []RlimitSetting
	for _, s := range []struct {
		name     string
		resource int
		limit    *Rlimit
	}{
		{"nofile", unix.RLIMIT_NOFILE, r.NoFile},
		{"fsize", unix.RLIMIT_FSIZE, r.FSize},
		{"stack", unix.RLIMIT_STACK, r.Stack},
		{"core", unix.RLIMIT_CORE, r.Core},
		{"nproc", unix.RLIMIT_NPROC, r.NProc},
		{"as", unix.RLIMIT_AS, r.AS},
	} {
		if s.limit != nil {
			out = append(out, RlimitSetting{Name: s.name, Resource: s.resource, Limit: unix.Rlimit{Cur: s.limit.Soft, Max: s.limit.Hard}})
		}
	}
	return out
}

// ApplyRlimits sets r on process pid with prlimit(2), so that the runner
// can confine the sandbox's init process after starting it and before
// letting it run; pid 0 is the calling process. Raising a hard limit needs
// CAP_SYS_RESOURCE.
//
// A Go init process is fine: Go restores its startup RLIMIT_NOFILE in the
// children it execs only if nobody changed it meanwhile, and a prlimit from
// outside counts as a change (unless it sets exactly soft = hard-1 with
// the startup hard limit).
func ApplyRlimits(pid int, r Rlimits) error {
	for _, s := range r.Settings() {
		lim := s.Limit
		if err := unix.Prlimit(pid, s.Resource, &lim, nil); err != nil {
			return fmt.Errorf("setting rlimit %s to %s on pid %d: %w", s.Name, Rlimit{Soft: lim.Cur, Hard: lim.Max}, pid, err)
		}
	}
	return nil
}
