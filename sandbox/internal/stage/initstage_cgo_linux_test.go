//go:build cgo

package stage

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The C init stage reads the config and writes the exec stage's
// instructions from it: both are checked against the Go twins here, on the
// configs of TestConfigWireRoundTrip's kind and on malformed ones.
func TestCInitStageReadsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		dir  string
	}{
		{"minimal", Config{Args: []string{"/bin/true"}}, "/"},
		{"everything", Config{
			Args: []string{"sh", "-c", "echo 'a b'", ""}, Env: []string{"PATH=/bin", "EMPTY="},
			Dir: "/work", CallerWd: "/home/user", Hostname: "h", Domainname: "example.org", UID: 1000, GID: 100,
			Caps: []int{40, 0, 21, 64, -1}, TTY: true, TTYRows: 24, TTYCols: 80, Loopback: true,
			Scratch: "/run/s", Rootfs: "/run/s/root", ExtraFiles: 3,
			Steps: []Step{
				{Kind: StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: "/run/s", Data: "size=1g"},
				{Kind: StepBind, Source: "/etc", Target: "/etc", RO: true, Mkdir: []string{"/a", "/b"}},
			},
			Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 4096}, {Resource: unix.RLIMIT_CORE, Cur: 0, Max: 1 << 63}},
			Seccomp: &SeccompProgram{Notify: true, Filter: []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x6, K: 0x7fff0000}},
				Names: map[int]string{250: "keyctl"}},
		}, "/work"},
		{"filter without notify", Config{Args: []string{"x"}, Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6}}}}, "/"},
		{"notify without a filter", Config{Args: []string{"x"}, Seccomp: &SeccompProgram{Notify: true}}, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cExecFromConfig(EncodeConfig(&tt.cfg)[4:], tt.dir)
			if !ok {
				t.Fatal("the C init stage finds the config malformed")
			}
			c := &tt.cfg
			want := encodeExec(&execConfig{Args: c.Args, Env: c.Env, Dir: tt.dir, UID: c.UID, GID: c.GID,
				Caps: c.Caps, ExtraFiles: c.ExtraFiles, Seccomp: c.Seccomp, Rlimits: c.Rlimits})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("exec stage instructions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCInitStageRejectsMalformedConfig(t *testing.T) {
	good, tests := malformedConfigs()
	if _, ok := cExecFromConfig(good, "/"); !ok {
		t.Fatal("the C init stage finds a good config malformed")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := cExecFromConfig(tt.msg, "/"); ok {
				t.Error("the C init stage accepts it")
			}
		})
	}
}
