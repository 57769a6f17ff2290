package stage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The exec stage is C where cgo is available (execstage_cgo_linux.go), so
// what PID 1 tells it, and what it answers, is a flat binary message rather
// than JSON. Byte order is the machine's: both ends are the same binary.
//
// Instructions, after the one-byte message that may carry the pty:
//
//	u32 length of the rest
//	u32 uid, u32 gid, u64 capability mask, i32 extra files, u32 flags,
//	u32 filter length (instructions), u32 argc, u32 envc
//	filter: struct sock_filter × filter length
//	strings, each NUL-terminated: dir, argv..., envp...
//
// The reply, only when the exec stage could not become CMD: u32 exit code,
// then the message, up to EOF. A socket that closes with nothing to read
// (it is close-on-exec) means CMD runs.
const (
	wireHeaderLen = 36 // after the length word

	// wireNotify asks for the seccomp filter's user-notification listener.
	wireNotify = 1 << 0

	// wireMaxLen bounds what the exec stage accepts: arguments and
	// environment are limited by the kernel to far less.
	wireMaxLen = 64 << 20
)

var errWire = errors.New("malformed exec stage instructions")

func capMask(caps []int) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

func maskCaps(m uint64) []int {
	var caps []int
	for c := 0; c < 64; c++ {
		if m&(1<<uint(c)) != 0 {
			caps = append(caps, c)
		}
	}
	return caps
}

// encodeExec is PID 1's side of the instructions.
func encodeExec(ec *execConfig) []byte {
	var filter []unix.SockFilter
	flags := uint32(0)
	if ec.Seccomp != nil {
		filter = ec.Seccomp.Filter
		if ec.Seccomp.Notify && len(filter) > 0 {
			flags |= wireNotify
		}
	}
	ne := binary.NativeEndian
	out := make([]byte, 4, 256)
	for _, v := range []uint32{ec.UID, ec.GID} {
		out = ne.AppendUint32(out, v)
	}
	out = ne.AppendUint64(out, capMask(ec.Caps))
	for _, v := range []uint32{uint32(int32(ec.ExtraFiles)), flags, uint32(len(filter)), uint32(len(ec.Args)), uint32(len(ec.Env))} {
		out = ne.AppendUint32(out, v)
	}
	for _, f := range filter {
		out = ne.AppendUint16(out, f.Code)
		out = append(out, f.Jt, f.Jf)
		out = ne.AppendUint32(out, f.K)
	}
	for _, s := range append(append([]string{ec.Dir}, ec.Args...), ec.Env...) {
		out = append(append(out, s...), 0)
	}
	ne.PutUint32(out, uint32(len(out)-4))
	return out
}

// decodeExec is the Go exec stage's side (builds without cgo); msg is
// everything after the length word.
func decodeExec(msg []byte) (*execConfig, error) {
	if len(msg) < wireHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", errWire, len(msg))
	}
	u32 := func(i int) uint32 { return binary.NativeEndian.Uint32(msg[i*4:]) }
	ec := &execConfig{UID: u32(0), GID: u32(1), Caps: maskCaps(binary.NativeEndian.Uint64(msg[8:])),
		ExtraFiles: int(int32(u32(4)))}
	flags, nfilter, argc, envc := u32(5), int(u32(6)), int(u32(7)), int(u32(8))
	rest := msg[wireHeaderLen:]
	const size = 8 // struct sock_filter
	if nfilter > len(rest)/size {
		return nil, fmt.Errorf("%w: filter of %d instructions in %d bytes", errWire, nfilter, len(rest))
	}
	if nfilter > 0 {
		p := &SeccompProgram{Filter: make([]unix.SockFilter, nfilter), Notify: flags&wireNotify != 0}
		for i := range p.Filter {
			f := rest[i*size:]
			p.Filter[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(f), Jt: f[2], Jf: f[3], K: binary.NativeEndian.Uint32(f[4:])}
		}
		ec.Seccomp = p
	}
	strs := bytes.Split(rest[nfilter*size:], []byte{0})
	// The last string is NUL-terminated too: Split leaves an empty tail.
	if len(strs) != 1+argc+envc+1 || len(strs[len(strs)-1]) != 0 {
		return nil, fmt.Errorf("%w: want %d strings", errWire, 1+argc+envc)
	}
	ec.Dir = string(strs[0])
	for _, s := range strs[1 : 1+argc] {
		ec.Args = append(ec.Args, string(s))
	}
	for _, s := range strs[1+argc : 1+argc+envc] {
		ec.Env = append(ec.Env, string(s))
	}
	return ec, nil
}

func encodeReply(r execReply) []byte {
	out := binary.NativeEndian.AppendUint32(nil, uint32(int32(r.Code)))
	return append(out, r.Error...)
}

// decodeReply reads the exec stage's answer; ok is false when there is
// none, which means CMD was exec'd.
func decodeReply(b []byte) (r execReply, ok bool) {
	if len(b) < 4 {
		return execReply{}, false
	}
	return execReply{Code: int(int32(binary.NativeEndian.Uint32(b))), Error: string(b[4:])}, true
}
