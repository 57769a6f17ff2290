package stage

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The C exec stage reads what encodeExec writes; decodeExec (the Go exec
// stage's reader) is checked against it here, and the C reader by every
// sandbox test that runs a command.
func TestExecWireRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ec   execConfig
	}{
		{"minimal", execConfig{Args: []string{"/bin/true"}, Dir: "/"}},
		{"everything", execConfig{
			Args: []string{"sh", "-c", "echo 'a b'", ""}, Env: []string{"PATH=/bin", "LANG=C.UTF-8", "EMPTY="},
			Dir: "/home/user/project", UID: 1000, GID: 100, Caps: []int{0, 21, 40}, ExtraFiles: 2,
			Seccomp: &SeccompProgram{Notify: true, Filter: []unix.SockFilter{
				{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000},
			}},
		}},
		{"filter without notify", execConfig{Args: []string{"x"}, Dir: "/tmp",
			Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6, K: 0x7fff0000}}}}},
		{"empty filter is none", execConfig{Args: []string{"x"}, Dir: "/", Seccomp: &SeccompProgram{Notify: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeExec(&tt.ec)
			if got := binary.NativeEndian.Uint32(b); int(got) != len(b)-4 {
				t.Fatalf("length word %d, message %d bytes", got, len(b)-4)
			}
			got, err := decodeExec(b[4:])
			if err != nil {
				t.Fatal(err)
			}
			want := tt.ec
			if want.Seccomp != nil && len(want.Seccomp.Filter) == 0 {
				want.Seccomp = nil
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecWireMalformed(t *testing.T) {
	good := encodeExec(&execConfig{Args: []string{"/bin/true", "x"}, Env: []string{"A=1"}, Dir: "/",
		Seccomp: &SeccompProgram{Filter: []unix.SockFilter{{Code: 0x6}}}})[4:]
	tests := []struct {
		name string
		msg  func() []byte
	}{
		{"short header", func() []byte { return good[:10] }},
		{"truncated strings", func() []byte { return good[:len(good)-3] }},
		{"unterminated last string", func() []byte { return good[:len(good)-1] }},
		{"filter longer than the message", func() []byte {
			b := append([]byte{}, good...)
			binary.NativeEndian.PutUint32(b[24:], 1<<20)
			return b
		}},
		{"more arguments than strings", func() []byte {
			b := append([]byte{}, good...)
			binary.NativeEndian.PutUint32(b[28:], 5)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeExec(tt.msg()); !errors.Is(err, errWire) {
				t.Errorf("decodeExec: %v, want %v", err, errWire)
			}
		})
	}
}

func TestExecReply(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		want   execReply
		wantOK bool
	}{
		{"exec'd: nothing", nil, execReply{}, false},
		{"not found", encodeReply(execReply{Code: 127, Error: "exec x: command not found"}),
			execReply{Code: 127, Error: "exec x: command not found"}, true},
		{"code only", encodeReply(execReply{Code: 125}), execReply{Code: 125}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeReply(tt.in)
			if ok != tt.wantOK {
				t.Errorf("ok %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}
