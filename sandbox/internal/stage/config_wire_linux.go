package stage

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"slices"
)

// The init stage is C (initstage.c), so the Config the runner
// sends it, before GoByte, is a flat binary message (and so is what PID 1
// tells the exec stage: encode_exec). Byte order is the machine's: the
// runner and PID 1 are the same binary.
//
//	u32 length of the rest
//	u32 flags (configTTY, configLoopback, configSeccomp, configNotify,
//	    configWdRequired)
//	u32 uid, u32 gid, u16 tty rows, u16 tty cols, i32 extra files
//	str dir, caller wd, hostname, domain name, scratch, rootfs
//	u32 n, str × n: args; the same for env
//	u32 n, i32 × n: caps
//	u32 n, step × n
//	u32 n, (i32 resource, u64 cur, u64 max) × n: rlimits
//	with configSeccomp: u32 n, struct sock_filter × n;
//	    u32 n, (i32 nr, str name) × n: names, by ascending nr
//	with configSelfMap: u32 uid, host uid, gid, host gid
//
// A str is u32 length, the bytes (no NUL among them), and a NUL, so C can
// use it in place. A step is
//
//	u32 flags (stepRO, stepScratch, stepOptional, stepFallback, stepNoSymlinks)
//	u64 mount flags, u32 major, u32 minor
//	str kind, source, target, fs type, data
//	u32 n, str × n: mkdir
//
// The C reader is is_decode; the tests keep a Go reader as a reference.
const (
	configTTY      = 1 << 0
	configLoopback = 1 << 1
	configSeccomp  = 1 << 2 // Seccomp is not nil
	configNotify   = 1 << 3
	// Far from the bits above, so that another new flag added beside them
	// cannot silently take the same value in a merge.
	configWdRequired = 1 << 8
	configJoined     = 1 << 9
	configDetached   = 1 << 10
	configHandedOff  = 1 << 11
	configSelfMap    = 1 << 12

	stepRO         = 1 << 0
	stepScratch    = 1 << 1
	stepOptional   = 1 << 2
	stepFallback   = 1 << 3
	stepNoSymlinks = 1 << 4

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
// message, length word included, that comes before GoByte.
func EncodeConfig(cfg *Config) []byte {
	ne := binary.NativeEndian
	p := cfg.Seccomp
	flags := bit(cfg.TTY, configTTY) | bit(cfg.Loopback, configLoopback) |
		bit(p != nil, configSeccomp) | bit(p != nil && p.Notify, configNotify) |
		bit(cfg.CallerWdRequired, configWdRequired) | bit(cfg.Joined, configJoined) |
		bit(cfg.Detached, configDetached) | bit(cfg.HandedOff, configHandedOff) |
		bit(cfg.SelfMap != nil, configSelfMap)
	out := make([]byte, 4, 4096)
	out = ne.AppendUint32(out, flags)
	out = ne.AppendUint32(out, cfg.UID)
	out = ne.AppendUint32(out, cfg.GID)
	out = ne.AppendUint16(out, cfg.TTYRows)
	out = ne.AppendUint16(out, cfg.TTYCols)
	out = ne.AppendUint32(out, uint32(int32(cfg.ExtraFiles)))
	for _, s := range []string{cfg.Dir, cfg.CallerWd, cfg.Hostname, cfg.Domainname, cfg.Scratch, cfg.Rootfs} {
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
			bit(st.Optional, stepOptional)|bit(st.Fallback, stepFallback)|bit(st.NoSymlinks, stepNoSymlinks))
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
	if m := cfg.SelfMap; m != nil {
		for _, v := range []uint32{m.UID, m.HostUID, m.GID, m.HostGID} {
			out = ne.AppendUint32(out, v)
		}
	}
	ne.PutUint32(out, uint32(len(out)-4))
	return out
}

// EncodeBuild is the build part of cfg, as a config message of its own
// (length word included) with nothing else set: what PID 1 builds the
// container from (the steps, the root, the hostname and domain name,
// loopback, a rootless run's own id map), and the capabilities CMD may
// keep, which bound what PID 1 forks after (the C side's is_build and
// is_same_build). A spare built
// ahead (AheadOfNext) is sent it instead of a whole config, which holds
// a run's arguments and environment.
func EncodeBuild(cfg *Config) []byte {
	return EncodeConfig(&Config{
		Hostname: cfg.Hostname, Domainname: cfg.Domainname, Scratch: cfg.Scratch, Rootfs: cfg.Rootfs,
		Loopback: cfg.Loopback, Steps: cfg.Steps, Caps: cfg.Caps, SelfMap: cfg.SelfMap,
	})
}

// BuildHash names a build part (EncodeBuild's bytes) in a request: FNV-1a,
// 64 bits, as the zygote's is_fnv.
func BuildHash(build []byte) uint64 {
	h := fnv.New64a()
	h.Write(build)
	return h.Sum64()
}
