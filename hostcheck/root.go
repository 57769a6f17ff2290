package hostcheck

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// RootReport says whether a root fits this host's kernel.
type RootReport struct {
	Version int     `json:"version"`
	Root    string  `json:"root"`
	Checks  []Check `json:"checks"`
	// Fits: no check failed.
	Fits bool `json:"fits"`
}

// layered is a root as its layers, topmost first (one for a directory, a
// snapshot's lower directories for a snapshot): a file is the topmost
// layer's, and an overlay whiteout hides it below.
type layered []string

// resolve finds p inside the root, following symlinks as the root would
// (an absolute target is the root's, not the host's), and returns the host
// path of the file it names.
func (l layered) resolve(p string) (string, bool) {
	todo := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	done := ""
	for links := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			done = path.Dir(done)
			if done == "." {
				done = ""
			}
			continue
		}
		cand := path.Join(done, name)
		hp, fi, ok := l.lookup(cand)
		if !ok {
			return "", false
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if links++; links > 40 {
				return "", false
			}
			t, err := os.Readlink(hp)
			if err != nil {
				return "", false
			}
			if strings.HasPrefix(t, "/") {
				done = ""
			}
			todo = append(strings.Split(strings.Trim(t, "/"), "/"), todo...)
			continue
		}
		done = cand
	}
	hp, _, ok := l.lookup(done)
	return hp, ok
}

// lookup is one path, no symlinks followed, through the layers.
func (l layered) lookup(rel string) (string, os.FileInfo, bool) {
	for _, dir := range l {
		hp := filepath.Join(dir, rel)
		fi, err := os.Lstat(hp)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeCharDevice != 0 && fi.Sys() != nil && isWhiteout(fi) {
			return "", nil, false
		}
		return hp, fi, true
	}
	return "", nil, false
}

// CheckRoot reads the root (its layers, topmost first) and says whether it
// fits this host.
func (h *Host) CheckRoot(name string, layers []string) *RootReport {
	l := layered(layers)
	r := &RootReport{Version: SchemaVersion, Root: name}
	bins := l.sampleBinaries()
	r.Checks = append(r.Checks, h.rootArch(l, bins), h.rootLibc(l), h.rootVsyscall(l, bins), h.rootDistro(l))
	r.Fits = true
	for _, c := range r.Checks {
		if c.Status == Fail {
			r.Fits = false
		}
	}
	return r
}

// sampleBinaries are ELF files the root's programs are made of: the usual
// suspects first, then the first executables of its bin directories.
func (l layered) sampleBinaries() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if hp, ok := l.resolve(p); ok && !seen[hp] && isELF(hp) {
			seen[hp] = true
			out = append(out, hp)
		}
	}
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls", "/sbin/init", "/usr/bin/python3"} {
		add(p)
	}
	for _, d := range []string{"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/"} {
		hd, ok := l.resolve(d)
		if !ok {
			continue
		}
		ents, _ := os.ReadDir(hd)
		n := 0
		for _, e := range ents {
			if n >= 20 {
				break
			}
			if e.Type().IsRegular() {
				before := len(out)
				add(path.Join(d, e.Name()))
				if len(out) > before {
					n++
				}
			}
		}
	}
	return out
}

func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == elf.ELFMAG
}

// elfMachines are uname -m's names of the ELF machines.
var elfMachines = map[elf.Machine]string{
	elf.EM_X86_64: "x86_64", elf.EM_AARCH64: "aarch64", elf.EM_386: "i686", elf.EM_ARM: "arm",
	elf.EM_RISCV: "riscv64", elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x", elf.EM_MIPS: "mips",
	elf.EM_LOONGARCH: "loongarch64",
}

func machineName(m elf.Machine) string {
	if n, ok := elfMachines[m]; ok {
		return n
	}
	return m.String()
}

func (h *Host) rootArch(l layered, bins []string) Check {
	c := Check{Name: "architecture", Needed: true}
	counts := map[elf.Machine]int{}
	var first = map[elf.Machine]string{}
	for _, b := range bins {
		f, err := elf.Open(b)
		if err != nil {
			continue
		}
		counts[f.Machine]++
		if first[f.Machine] == "" {
			first[f.Machine] = b
		}
		f.Close()
	}
	if len(counts) == 0 {
		c.Status, c.Detail = Warn, "no ELF binaries found in the root's /bin, /usr/bin, /sbin or /"
		return c
	}
	var names []string
	host := hostArch()
	foreign := elf.Machine(0)
	for m, n := range counts {
		names = append(names, fmt.Sprintf("%s (%d)", machineName(m), n))
		if machineName(m) != host && foreign == 0 {
			foreign = m
		}
	}
	sort.Strings(names)
	c.Detail = "binaries for " + strings.Join(names, ", ") + "; this host is " + host
	if foreign == 0 {
		c.Status = OK
		return c
	}
	if foreign == elf.EM_386 && host == "x86_64" {
		c.Status = Warn
		c.Detail += ": i386 binaries run here, but the default seccomp filter refuses the i386 syscall ABI"
		c.Fix = "sandbox exec --seccomp unconfined (or a policy of your own)"
		return c
	}
	if hd, interp, fix := h.binfmtHandler(first[foreign]); hd != "" {
		c.Status = Warn
		c.Detail += fmt.Sprintf(": binfmt_misc handler %s runs them through %s (emulated: slow)", hd, interp)
		if !fix {
			c.Detail += "; without its F flag the interpreter must be inside the root at that path"
		}
		return c
	}
	c.Status = Fail
	c.Detail += ": this kernel cannot run them (exec format error), and no binfmt_misc handler would"
	c.Fix = "use a root for " + host + ", or register an emulator: apt-get install qemu-user-static binfmt-support"
	return c
}

// binfmtHandler finds an enabled binfmt_misc handler whose magic matches
// the binary's header: its name, interpreter, and whether it has the F flag.
func (h *Host) binfmtHandler(bin string) (name, interp string, fix bool) {
	hdr := make([]byte, 128)
	f, err := os.Open(bin)
	if err != nil {
		return "", "", false
	}
	n, _ := io.ReadFull(f, hdr)
	f.Close()
	hdr = hdr[:n]
	dir := h.path("proc/sys/fs/binfmt_misc")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var enabled, flagF bool
		var in, magic, mask string
		offset := 0
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, " ")
			switch {
			case line == "enabled":
				enabled = true
			case k == "interpreter":
				in = v
			case k == "flags:":
				flagF = strings.Contains(v, "F")
			case k == "offset":
				fmt.Sscan(v, &offset)
			case k == "magic":
				magic = v
			case k == "mask":
				mask = v
			}
		}
		if !enabled || magic == "" {
			continue
		}
		mg, err1 := hexBytes(magic)
		mk, err2 := hexBytes(mask)
		if err1 != nil || (mask != "" && err2 != nil) || offset+len(mg) > len(hdr) {
			continue
		}
		match := true
		for i := range mg {
			x := hdr[offset+i]
			if i < len(mk) {
				x &= mk[i]
			}
			if x != mg[i] {
				match = false
				break
			}
		}
		if match {
			return e.Name(), in, flagF
		}
	}
	return "", "", false
}

func hexBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s)%2 != 0 {
		return nil, errors.New("odd hex")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		if _, err := fmt.Sscanf(s[2*i:2*i+2], "%02x", &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// libcPaths are where distributions keep libc.so.6.
var libcPaths = []string{
	"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6",
	"/usr/lib64/libc.so.6", "/lib/libc.so.6", "/usr/lib/libc.so.6",
	"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6",
	"/lib/i386-linux-gnu/libc.so.6", "/lib/arm-linux-gnueabihf/libc.so.6",
}

func (l layered) libc() string {
	for _, p := range libcPaths {
		if hp, ok := l.resolve(p); ok {
			return hp
		}
	}
	return ""
}

// abiTag reads the ELF ABI-tag note (NT_GNU_ABI_TAG): the oldest Linux the
// file supports.
func abiTag(p string) (major, minor, patch uint32, ok bool) {
	f, err := elf.Open(p)
	if err != nil {
		return 0, 0, 0, false
	}
	defer f.Close()
	read := func(data []byte) bool {
		for len(data) >= 12 {
			namesz, descsz, typ := f.ByteOrder.Uint32(data), f.ByteOrder.Uint32(data[4:]), f.ByteOrder.Uint32(data[8:])
			align := func(n uint32) int { return int((n + 3) &^ 3) }
			if 12+align(namesz)+align(descsz) > len(data) {
				return false
			}
			name := data[12 : 12+namesz]
			desc := data[12+align(namesz) : 12+align(namesz)+int(descsz)]
			if typ == 1 && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("GNU")) && len(desc) >= 16 && f.ByteOrder.Uint32(desc) == 0 {
				major, minor, patch = f.ByteOrder.Uint32(desc[4:]), f.ByteOrder.Uint32(desc[8:]), f.ByteOrder.Uint32(desc[12:])
				return true
			}
			data = data[12+align(namesz)+align(descsz):]
		}
		return false
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := s.Data(); err == nil && read(b) {
				return major, minor, patch, true
			}
		}
	}
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_NOTE {
			b := make([]byte, pr.Filesz)
			if _, err := pr.ReadAt(b, 0); err == nil && read(b) {
				return major, minor, patch, true
			}
		}
	}
	return 0, 0, 0, false
}

func (h *Host) rootLibc(l layered) Check {
	c := Check{Name: "libc-kernel", Needed: true, Status: OK}
	lc := l.libc()
	if lc == "" {
		c.Detail = "no glibc (libc.so.6) in the root: static binaries, or another libc, ask nothing of the kernel's version here"
		return c
	}
	kernel, _ := h.read("proc/sys/kernel/osrelease")
	ma, mi, pa, ok := abiTag(lc)
	if !ok {
		c.Detail = "the root's libc has no ABI-tag note"
		return c
	}
	want := fmt.Sprintf("%d.%d.%d", ma, mi, pa)
	kma, kmi := kernelVersion(kernel)
	c.Detail = fmt.Sprintf("the root's libc supports Linux %s and later; this is %s", want, kernel)
	if uint32(kma) < ma || (uint32(kma) == ma && uint32(kmi) < mi) {
		c.Status = Fail
		c.Detail = fmt.Sprintf("the root's libc needs Linux %s or later, and this is %s: its programs end with ENOSYS or FATAL: kernel too old", want, kernel)
		c.Fix = "use a root of an older release, or boot a newer kernel"
	}
	return c
}

// vsyscallMode is the host's: "none", "xonly" or "emulate", from its own
// mappings.
func (h *Host) vsyscallMode() string {
	b, err := os.ReadFile(h.path("proc/self/maps"))
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(l, "[vsyscall]") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "r") {
				return "emulate"
			}
			return "xonly"
		}
	}
	return "none"
}

// callsVsyscall looks for the x86-64 code that calls into the vsyscall page
// (0xffffffffff600000, 0x...400, 0x...800), as glibc before 2.14 did for
// gettimeofday, time and getcpu: a mov of the address, whole (movabs) or
// sign-extended from 32 bits (REX.W C7, to a register or to memory).
func callsVsyscall(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() > 64<<20 {
		return false
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return false
	}
	for _, page := range []byte{0x00, 0x04, 0x08} {
		imm64 := binary.LittleEndian.AppendUint64(nil, 0xffffffffff600000|uint64(page)<<8)
		for op := byte(0xb8); op <= 0xbf; op++ { // movabs $imm64, %r
			if bytes.Contains(b, append([]byte{0x48, op}, imm64...)) {
				return true
			}
		}
		imm32 := []byte{0x00, page, 0x60, 0xff}
		for rest := b; ; {
			i := bytes.Index(rest, imm32)
			if i < 0 {
				break
			}
			// REX.W C7, a ModRM, and up to a SIB and a 32-bit displacement.
			for k := 3; k <= 8 && k <= i; k++ {
				if rest[i-k] == 0x48 && rest[i-k+1] == 0xc7 {
					return true
				}
			}
			rest = rest[i+1:]
		}
	}
	return false
}

func (h *Host) rootVsyscall(l layered, bins []string) Check {
	c := Check{Name: "vsyscall", Needed: true, Status: OK}
	mode := h.vsyscallMode()
	var users []string
	cands := bins
	if lc := l.libc(); lc != "" {
		cands = append([]string{lc}, bins...)
	}
	for _, b := range cands {
		if callsVsyscall(b) {
			users = append(users, b)
		}
	}
	if len(users) == 0 {
		c.Detail = "no binary of the root calls into the vsyscall page (this host's: " + mode + ")"
		return c
	}
	c.Detail = fmt.Sprintf("%s calls into the vsyscall page; this host's is %s", users[0], mode)
	if mode == "none" {
		c.Status = Fail
		c.Detail += ": those calls end in SIGSEGV"
		c.Fix = "boot the host with vsyscall=emulate (or vsyscall=xonly, which runs such calls), or use a newer root"
	}
	return c
}

// osRelease reads PRETTY_NAME (else NAME and VERSION_ID).
func osRelease(read func(string) (string, bool)) string {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		s, ok := read(p)
		if !ok {
			continue
		}
		kv := map[string]string{}
		for _, l := range strings.Split(s, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				kv[k] = strings.Trim(v, `"'`)
			}
		}
		if kv["PRETTY_NAME"] != "" {
			return kv["PRETTY_NAME"]
		}
		return strings.TrimSpace(kv["NAME"] + " " + kv["VERSION_ID"])
	}
	return "unknown"
}

func (h *Host) rootDistro(l layered) Check {
	root := osRelease(func(p string) (string, bool) {
		hp, ok := l.resolve(p)
		if !ok {
			return "", false
		}
		b, err := os.ReadFile(hp)
		return string(b), err == nil
	})
	host := osRelease(h.read)
	return Check{Name: "distribution", Status: OK, Detail: fmt.Sprintf("the root is %s; the host is %s", root, host)}
}
