package stage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// The Go reader of the config, a reference for the tests: the runner's
// encoder is checked against it (TestConfigWireRoundTrip), and it against
// the C init stage's on malformed messages.

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
	for _, s := range []*string{&cfg.Dir, &cfg.CallerWd, &cfg.Hostname, &cfg.Domainname, &cfg.Scratch, &cfg.Rootfs} {
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
			st.Optional, st.Fallback, st.NoSymlinks = f&stepOptional != 0, f&stepFallback != 0, f&stepNoSymlinks != 0
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
	if flags&configSelfMap != 0 {
		cfg.SelfMap = &SelfMap{UID: r.u32(), HostUID: r.u32(), GID: r.u32(), HostGID: r.u32()}
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
