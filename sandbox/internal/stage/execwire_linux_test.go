package stage

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// What PID 1 tells the exec stage (execstage.c), and what it answers, is a flat binary message rather
// than JSON. Byte order is the machine's: both ends are the same binary.
//
// Instructions, after the one-byte message that may carry the pty:
//
//	u32 length of the rest
//	u32 uid, u32 gid, u64 capability mask, i32 extra files, u32 flags,
//	u32 filter length (instructions), u32 argc, u32 envc, u32 rlimits
//	filter: struct sock_filter × filter length
//	rlimits: (i32 resource, u64 cur, u64 max) × rlimits, unpadded
//	strings, each NUL-terminated: dir, argv..., envp...
//
// The reply, only when the exec stage could not become CMD: u32 exit code,
// then the message, up to EOF. A socket that closes with nothing to read
// (it is close-on-exec) means CMD runs.
const (
	// wireNotify asks for the seccomp filter's user-notification listener.
	wireNotify = 1 << 0

	// wireMaxLen bounds what the exec stage accepts: arguments and
	// environment are limited by the kernel to far less.
	wireMaxLen = 64 << 20
)

// execConfig is what PID 1 tells the exec stage once the container is built.
// It travels as a flat binary message (above).
type execConfig struct {
	Args       []string
	Env        []string
	Dir        string
	UID        uint32
	GID        uint32
	Caps       []int
	ExtraFiles int
	Seccomp    *SeccompProgram
	Rlimits    []Rlimit
}

// capMask and encodeExec write the instructions as PID 1 does, for the
// tests to check the C init stage against.
func capMask(caps []int) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << uint(c)
	}
	return m
}

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
	for _, v := range []uint32{uint32(int32(ec.ExtraFiles)), flags, uint32(len(filter)), uint32(len(ec.Args)), uint32(len(ec.Env)), uint32(len(ec.Rlimits))} {
		out = ne.AppendUint32(out, v)
	}
	for _, f := range filter {
		out = ne.AppendUint16(out, f.Code)
		out = append(out, f.Jt, f.Jf)
		out = ne.AppendUint32(out, f.K)
	}
	for _, r := range ec.Rlimits {
		out = ne.AppendUint32(out, uint32(int32(r.Resource)))
		out = ne.AppendUint64(out, r.Cur)
		out = ne.AppendUint64(out, r.Max)
	}
	for _, s := range append(append([]string{ec.Dir}, ec.Args...), ec.Env...) {
		out = append(append(out, s...), 0)
	}
	ne.PutUint32(out, uint32(len(out)-4))
	return out
}
