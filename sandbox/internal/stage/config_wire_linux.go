package stage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"golang.org/x/sys/unix"
)

// The init stage is C where cgo is available (initstage_cgo_linux.go), so
// the Config the runner sends it, after GoByte, is a flat binary message
// too (see wire_linux.go for the exec stage's). Byte order is the
// machine's: the runner and PID 1 are the same binary.
//
//	u32 length of the rest
//	u32 flags (configTTY, configLoopback, configSeccomp, configNotify,
//	    configWdRequired)
//	u32 uid, u32 gid, u16 tty rows, u16 tty cols, i32 extra files
//	str dir, caller wd, hostname, scratch, rootfs
//	u32 n, str × n: args; the same for env
//	u32 n, i32 × n: caps
//	u32 n, step × n
//	u32 n, (i32 resource, u64 cur, u64 max) × n: rlimits
//	with configSeccomp: u32 n, struct sock_filter × n;
//	    u32 n, (i32 nr, str name) × n: names, by ascending nr
//
// A str is u32 length, the bytes (no NUL among them), and a NUL, so C can
// use it in place. A step is
//
//	u32 flags (stepRO, stepScratch, stepOptional, stepFallback)
//	u64 mount flags, u32 major, u32 minor
//	str kind, source, target, fs type, data
//	u32 n, str × n: mkdir
//
// The C reader (is_decode) and decodeConfig must stay alike.
const (
	configTTY      = 1 << 0
	configLoopback = 1 << 1
	configSeccomp  = 1 << 2 // Seccomp is not nil
	configNotify   = 1 << 3
	// Far from the bits above, so that another new flag added beside them
	// cannot silently take the same value in a merge.
	configWdRequired = 1 << 8

	stepRO       = 1 << 0
	stepScratch  = 1 << 1
	stepOptional = 1 << 2
	stepFallback = 1 << 3

	configHeaderLen = 20 // flags to extra files
)

func appendStr(out []byte, s string) []byte {
	out = binary.NativeEndian.AppendUint32(out, uint32(len(s)))
	return append(append(out, s...), 0)
}

func appendStrs(out []byte, ss []string) []byte {
	out = binary.NativeEndian.AppendUint32(out, uint32(len(ss)))
	for _, s := range ss {
		out = appendStr(out, s)
	}
	return out
}

func bit(b bool, v uint32) uint32 {
	if b {
		return v
	}
	return 0
}

// EncodeConfig is the runner's side of the init stage's config: the
// message, length word included, that follows GoByte.
func EncodeConfig(cfg *Config) []byte {
	ne := binary.NativeEndian
	p := cfg.Seccomp
	flags := bit(cfg.TTY, configTTY) | bit(cfg.Loopback, configLoopback) |
		bit(p != nil, configSeccomp) | bit(p != nil && p.Notify, configNotify) |
		bit(cfg.CallerWdRequired, configWdRequired)
	out := make([]byte, 4, 4096)
	out = ne.AppendUint32(out, flags)
	out = ne.AppendUint32(out, cfg.UID)
	out = ne.AppendUint32(out, cfg.GID)
	out = ne.AppendUint16(out, cfg.TTYRows)
	out = ne.AppendUint16(out, cfg.TTYCols)
	out = ne.AppendUint32(out, uint32(int32(cfg.ExtraFiles)))
	for _, s := range []string{cfg.Dir, cfg.CallerWd, cfg.Hostname, cfg.Scratch, cfg.Rootfs} {
		out = appendStr(out, s)
	}
	out = appendStrs(out, cfg.Args)
	out = appendStrs(out, cfg.Env)
	out = ne.AppendUint32(out, uint32(len(cfg.Caps)))
	for _, c := range cfg.Caps {
		out = ne.AppendUint32(out, uint32(int32(c)))
	}
	out = ne.AppendUint32(out, uint32(len(cfg.Steps)))
	for i := range cfg.Steps {
		st := &cfg.Steps[i]
		out = ne.AppendUint32(out, bit(st.RO, stepRO)|bit(st.Scratch, stepScratch)|
			bit(st.Optional, stepOptional)|bit(st.Fallback, stepFallback))
		out = ne.AppendUint64(out, uint64(st.Flags))
		out = ne.AppendUint32(out, st.Major)
		out = ne.AppendUint32(out, st.Minor)
		for _, s := range []string{st.Kind, st.Source, st.Target, st.FSType, st.Data} {
			out = appendStr(out, s)
		}
		out = appendStrs(out, st.Mkdir)
	}
	out = ne.AppendUint32(out, uint32(len(cfg.Rlimits)))
	for _, r := range cfg.Rlimits {
		out = ne.AppendUint32(out, uint32(int32(r.Resource)))
		out = ne.AppendUint64(out, r.Cur)
		out = ne.AppendUint64(out, r.Max)
	}
	if p != nil {
		out = ne.AppendUint32(out, uint32(len(p.Filter)))
		for _, f := range p.Filter {
			out = ne.AppendUint16(out, f.Code)
			out = append(out, f.Jt, f.Jf)
			out = ne.AppendUint32(out, f.K)
		}
		out = ne.AppendUint32(out, uint32(len(p.Names)))
		for _, nr := range slices.Sorted(maps.Keys(p.Names)) {
			out = ne.AppendUint32(out, uint32(int32(nr)))
			out = appendStr(out, p.Names[nr])
		}
	}
	ne.PutUint32(out, uint32(len(out)-4))
	return out
}

// readConfig reads the length word and the message from the runner.
func readConfig(r io.Reader) (*Config, error) {
	var lenb [4]byte
	if _, err := io.ReadFull(r, lenb[:]); err != nil {
		return nil, err
	}
	n := binary.NativeEndian.Uint32(lenb[:])
	if n < configHeaderLen || n > wireMaxLen {
		return nil, fmt.Errorf("%w: %d bytes", errConfigWire, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return decodeConfig(msg)
}

var errConfigWire = errors.New("malformed init stage config")

// configReader takes a message apart; the first overrun sets err, and
// every read after it returns zeros.
type configReader struct {
	b   []byte
	err error
}

func (r *configReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: %d bytes wanted, %d left", errConfigWire, n, len(r.b))
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *configReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.NativeEndian.Uint16(b)
	}
	return 0
}

func (r *configReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.NativeEndian.Uint32(b)
	}
	return 0
}

func (r *configReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.NativeEndian.Uint64(b)
	}
	return 0
}

// count reads a number of items of at least size bytes each: one the rest
// of the message cannot hold is malformed, not a huge allocation.
func (r *configReader) count(size int) int {
	n := r.u32()
	if r.err == nil && uint64(n)*uint64(size) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: %d items in %d bytes", errConfigWire, n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *configReader) str() string {
	n := r.u32()
	b := r.take(int(min(n, 1<<31-1)) + 1)
	if b == nil {
		return ""
	}
	if b[n] != 0 {
		r.err = fmt.Errorf("%w: unterminated string", errConfigWire)
		return ""
	}
	// C reads strings in place: one with a NUL inside is not what the
	// runner meant (Spec.Validate refuses them).
	if bytes.IndexByte(b[:n], 0) >= 0 {
		r.err = fmt.Errorf("%w: NUL inside a string", errConfigWire)
		return ""
	}
	return string(b[:n])
}

func (r *configReader) strs() []string {
	n := r.count(5)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

// decodeConfig is the Go init stage's side (builds without cgo); msg is
// everything after the length word.
func decodeConfig(msg []byte) (*Config, error) {
	r := &configReader{b: msg}
	cfg := &Config{}
	flags := r.u32()
	cfg.TTY, cfg.Loopback = flags&configTTY != 0, flags&configLoopback != 0
	cfg.CallerWdRequired = flags&configWdRequired != 0
	cfg.UID, cfg.GID = r.u32(), r.u32()
	cfg.TTYRows, cfg.TTYCols = r.u16(), r.u16()
	cfg.ExtraFiles = int(int32(r.u32()))
	for _, s := range []*string{&cfg.Dir, &cfg.CallerWd, &cfg.Hostname, &cfg.Scratch, &cfg.Rootfs} {
		*s = r.str()
	}
	cfg.Args, cfg.Env = r.strs(), r.strs()
	if n := r.count(4); n > 0 {
		cfg.Caps = make([]int, n)
		for i := range cfg.Caps {
			cfg.Caps[i] = int(int32(r.u32()))
		}
	}
	if n := r.count(4 + 8 + 8 + 5*5 + 4); n > 0 {
		cfg.Steps = make([]Step, n)
		for i := range cfg.Steps {
			st := &cfg.Steps[i]
			f := r.u32()
			st.RO, st.Scratch = f&stepRO != 0, f&stepScratch != 0
			st.Optional, st.Fallback = f&stepOptional != 0, f&stepFallback != 0
			st.Flags = uintptr(r.u64())
			st.Major, st.Minor = r.u32(), r.u32()
			for _, s := range []*string{&st.Kind, &st.Source, &st.Target, &st.FSType, &st.Data} {
				*s = r.str()
			}
			st.Mkdir = r.strs()
		}
	}
	if n := r.count(4 + 8 + 8); n > 0 {
		cfg.Rlimits = make([]Rlimit, n)
		for i := range cfg.Rlimits {
			cfg.Rlimits[i] = Rlimit{Resource: int(int32(r.u32())), Cur: r.u64(), Max: r.u64()}
		}
	}
	if flags&configSeccomp != 0 {
		p := &SeccompProgram{Notify: flags&configNotify != 0}
		if n := r.count(8); n > 0 {
			p.Filter = make([]unix.SockFilter, n)
			for i := range p.Filter {
				p.Filter[i] = unix.SockFilter{Code: r.u16()}
				if b := r.take(2); b != nil {
					p.Filter[i].Jt, p.Filter[i].Jf = b[0], b[1]
				}
				p.Filter[i].K = r.u32()
			}
		}
		if n := r.count(4 + 5); n > 0 {
			p.Names = make(map[int]string, n)
			for range n {
				nr := int(int32(r.u32()))
				p.Names[nr] = r.str()
			}
		}
		cfg.Seccomp = p
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes past the end", errConfigWire, len(r.b))
	}
	// Nothing to run: the C reader refuses it too.
	if r.err == nil && len(cfg.Args) == 0 {
		r.err = fmt.Errorf("%w: no command", errConfigWire)
	}
	if r.err != nil {
		return nil, r.err
	}
	return cfg, nil
}
