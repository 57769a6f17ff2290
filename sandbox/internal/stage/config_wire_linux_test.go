package stage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// The C init stage reads what EncodeConfig writes; decodeConfig (the Go
// init stage's reader) is checked against it here, and the C reader by
// every sandbox test that runs a command.
func TestConfigWireRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"minimal: a command and nothing else", Config{Args: []string{"x"}}},
		{"minimal", Config{Args: []string{"/bin/true"}, Hostname: "sandbox", Scratch: "/run/x", Rootfs: "/run/x/root"}},
		{"everything", Config{
			Args: []string{"sh", "-c", "echo 'a b'", ""}, Env: []string{"PATH=/bin", "EMPTY="},
			Dir: "/work", CallerWd: "/home/user/project", CallerWdRequired: true, Hostname: "h", Domainname: "example.org", UID: 1000, GID: 100,
			Caps: []int{40, 0, 21}, TTY: true, TTYRows: 24, TTYCols: 80, Loopback: true,
			Scratch: "/run/sandbox/1", Rootfs: "/run/sandbox/1/root", ExtraFiles: 3,
			Steps: []Step{
				{Kind: StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: "/run/sandbox/1",
					Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "size=1g,mode=0700"},
				{Kind: StepMount, FSType: "overlay", Source: "/usr", Target: "/usr", Fallback: true,
					Mkdir: []string{"/run/sandbox/1/u", "/run/sandbox/1/w"}, Data: "lowerdir=/usr,upperdir=/run/sandbox/1/u"},
				{Kind: StepBind, Source: "/etc/resolv.conf", Target: "/etc/resolv.conf", RO: true},
				{Kind: StepBind, Source: "/srv/w/build", Target: "/box", NoSymlinks: true},
				{Kind: StepMknod, Target: "/dev/null", Major: 1, Minor: 3},
				{Kind: StepSymlink, Source: "pts/ptmx", Target: "/dev/ptmx"},
				{Kind: StepMask, Target: "/proc/kcore", Optional: true},
				{Kind: StepReadOnly, Target: "/proc/sys", Optional: true},
			},
			Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 4096}, {Resource: unix.RLIMIT_AS, Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}},
			Seccomp: &SeccompProgram{Notify: true, Filter: []unix.SockFilter{
				{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000},
			}, Names: map[int]string{101: "ptrace", 0: "read", 321: "bpf"}},
		}},
		{"filter without notify or names", Config{Args: []string{"x"},
			Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6, K: 0x7fff0000}}}}},
		{"empty seccomp is kept", Config{Args: []string{"x"}, Seccomp: &SeccompProgram{}}},
		{"a rootless run's own map", Config{Args: []string{"x"}, SelfMap: &SelfMap{UID: 0, HostUID: 1000, GID: 0, HostGID: 100}}},
		{"own map after a filter", Config{Args: []string{"x"}, Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6}}},
			SelfMap: &SelfMap{UID: 1000, HostUID: 1000, GID: 100, HostGID: 100}}},
		{"long strings", Config{Args: []string{string(bytes.Repeat([]byte("a"), 1<<16))},
			Steps: []Step{{Kind: StepBind, Source: "/" + string(bytes.Repeat([]byte("b/"), 2048)), Target: "/x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeConfig(&tt.cfg)
			if got := binary.NativeEndian.Uint32(b); int(got) != len(b)-4 {
				t.Fatalf("length word %d, message %d bytes", got, len(b)-4)
			}
			got, err := readConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.cfg, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// malformedConfigs is a good config message (after its length word) and
// broken copies of it, which both readers of the config, the Go one and
// the C init stage's, must refuse.
func malformedConfigs() (good []byte, bad []struct {
	name string
	msg  []byte
}) {
	good = EncodeConfig(&Config{Args: []string{"/bin/true"}, Env: []string{"A=1"}, Rootfs: "/r",
		Steps:   []Step{{Kind: StepMount, Target: "/proc", Mkdir: []string{"/d"}}},
		Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6}}, Names: map[int]string{1: "write"}}})[4:]
	// Offsets into good: the six strings of the header are 4+1 bytes
	// each, "/r" 4+3.
	const argcAt = configHeaderLen + 5*5 + 7
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	bad = []struct {
		name string
		msg  []byte
	}{
		{"nothing", nil},
		{"short header", good[:10]},
		{"truncated", good[:len(good)-3]},
		{"unterminated last string", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"string without its NUL", edit(func(b []byte) []byte { b[argcAt+4+4+len("/bin/true")] = 'x'; return b })},
		{"NUL inside a string", edit(func(b []byte) []byte { b[argcAt+4+4+1] = 0; return b })},
		{"string longer than the message", edit(func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[argcAt+4:], 1<<31)
			return b
		})},
		{"more arguments than the message holds", edit(func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[argcAt:], 1<<30)
			return b
		})},
		{"more arguments than strings", edit(func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[argcAt:], 5)
			return b
		})},
		{"no arguments", EncodeConfig(&Config{})[4:]},
	}
	return good, bad
}

func TestConfigWireMalformed(t *testing.T) {
	good, tests := malformedConfigs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeConfig(tt.msg); !errors.Is(err, errConfigWire) {
				t.Errorf("decodeConfig: %v, want %v", err, errConfigWire)
			}
		})
	}
	t.Run("length word out of bounds", func(t *testing.T) {
		for _, n := range []uint32{0, configHeaderLen - 1, wireMaxLen + 1} {
			b := binary.NativeEndian.AppendUint32(nil, n)
			if _, err := readConfig(bytes.NewReader(append(b, good...))); !errors.Is(err, errConfigWire) {
				t.Errorf("readConfig with length %d: %v, want %v", n, err, errConfigWire)
			}
		}
	})
}
