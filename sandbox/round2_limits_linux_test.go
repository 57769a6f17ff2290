package sandbox

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
)

func TestTmpfsInodes(t *testing.T) {
	for _, tt := range []struct{ size, want int64 }{{1, 64}, {4096, 64}, {1 << 20, 256}, {64 << 20, 16384}, {4 << 30, 1 << 20}} {
		if got := tmpfsInodes(tt.size); got != tt.want {
			t.Errorf("tmpfsInodes(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
	if want := fmt.Sprintf("size=65536k,nr_inodes=%d", tmpfsInodes(64<<20)); smallTmpfs != want {
		t.Errorf("smallTmpfs = %q, want %q", smallTmpfs, want)
	}
}

func TestSocketPoll(t *testing.T) {
	for _, tt := range []struct {
		limit, held int64
		want        time.Duration
	}{
		{64 << 20, 1, time.Millisecond},
		{64 << 20, 60 << 20, 488281 * time.Nanosecond},
		{64 << 20, 64 << 20, 100 * time.Microsecond},
		{64 << 20, 80 << 20, 100 * time.Microsecond},
	} {
		if got := socketPoll(tt.limit, tt.held); got != tt.want {
			t.Errorf("socketPoll(%d, %d) = %v, want %v", tt.limit, tt.held, got, tt.want)
		}
	}
}

// TestNprocApplies: an RLIMIT_NPROC the kernel would ignore is refused,
// naming the flag and why.
func TestNprocApplies(t *testing.T) {
	nproc := func(soft, hard uint64) limits.Limits {
		return limits.Limits{Rlimits: limits.Rlimits{NProc: &limits.Rlimit{Soft: soft, Hard: hard}}}
	}
	for _, tt := range []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"root", Spec{User: &User{}, Limits: nproc(32, 32)}, false},
		{"nobody", Spec{User: &User{UID: 65534, GID: 65534}, Limits: nproc(32, 32)}, true},
		{"nobody with CAP_SYS_ADMIN", Spec{User: &User{UID: 65534}, CapAdd: []string{"SYS_ADMIN"}, Limits: nproc(32, 32)}, false},
		{"nobody with CAP_SYS_RESOURCE", Spec{User: &User{UID: 65534}, CapAdd: []string{"cap_sys_resource"}, Limits: nproc(32, 32)}, false},
		{"root, unlimited", Spec{User: &User{}, Limits: nproc(limits.Unlimited, limits.Unlimited)}, true},
		{"root, none", Spec{User: &User{}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Args = []string{"true"}
			err := tt.spec.Validate()
			var fe *limits.FlagError
			switch {
			case tt.ok && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case !tt.ok && (!errors.Is(err, ErrInvalidSpec) || !errors.As(err, &fe) || fe.Flag != "rlimit-nproc"):
				t.Errorf("Validate = %v, want an invalid --rlimit-nproc", err)
			}
		})
	}
}
