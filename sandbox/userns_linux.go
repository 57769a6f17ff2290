package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
)

// Rootless runs. A caller without root (euid != 0) gets the same sandbox
// in a user namespace of its own: PID 1 holds every capability there, and
// none on the host. The ids inside are mapped in one of two ways:
//
//   - IDMapSubuid: the caller's ranges in /etc/subuid and /etc/subgid,
//     written by the setuid helpers newuidmap and newgidmap (package
//     uidmap). The caller's own id is mapped to itself (to 0 with --user 0)
//     and the range fills the other ids from 0 up, so --user other ids and
//     roots with several owners work.
//   - IDMapSingle: the caller's uid and gid alone, written by PID 1
//     itself, first in its build (stage.Config.SelfMap; setgroups denied,
//     as the kernel requires of an unprivileged writer): a process may map
//     its own ids in a namespace it made, so a spare can build its
//     container before the runner knows its pid. CMD is the caller, or
//     root inside with --user 0. Any other id does not exist in the
//     namespace and is refused.
//
// A run as the caller on the host's root gets the single-id map even where
// the caller has ranges: no file of the host's root is owned by a
// subordinate id, so the range would only let CMD setuid(2) to other ids,
// and the two setuid helpers cost more than the rest of a rootless start
// (about 8 ms of CPU of 28 here). Every other run (--user, --root, a
// snapshot) gets the ranges. SANDBOX_IDMAP=subuid or =single forces one.
//
// PID 1 is cloned with the namespace, holding every capability in it (no
// exec comes between); the exec stage clears every set, ambient included,
// before CMD, and raises as ambient only what a non-root CMD is given.

// ID map kinds, as the report names them.
const (
	IDMapNone   = ""       // root: no user namespace
	IDMapSingle = "single" // the caller's own uid and gid only
	IDMapSubuid = "subuid" // the caller's subordinate ranges, through newuidmap
)

// EnvIDMap forces a rootless run's id map: "single" uses the caller's ids
// alone even where subordinate ranges and newuidmap exist.
const EnvIDMap = "SANDBOX_IDMAP"

// idRange is one line of a uid_map or gid_map: Size ids from Inside, in the
// namespace, are Outside.. on the host.
type idRange struct{ Inside, Outside, Size uint32 }

// userNS is how a rootless run's user namespace is made.
type userNS struct {
	Kind           string
	UIDMap, GIDMap []idRange
	// newuidmap and newgidmap, for IDMapSubuid.
	newuidmap, newgidmap string
}

// subRange is a caller's entry in /etc/subuid or /etc/subgid.
type subRange struct{ Start, Count uint32 }

// planUserNS chooses the id maps of a rootless run whose CMD runs as
// uid:gid inside, for a caller with host ids callerUID:callerGID. sub
// holds the caller's subordinate ranges (nil when it has none or the
// helpers are missing).
func planUserNS(callerUID, callerGID, uid, gid uint32, subU, subG *subRange, force string) (*userNS, error) {
	// The caller is itself inside, or root with --user 0.
	selfU, selfG := callerUID, callerGID
	if uid == 0 {
		selfU = 0
	}
	if gid == 0 {
		selfG = 0
	}
	ns := &userNS{Kind: IDMapSingle}
	if subU != nil && subG != nil && force != IDMapSingle {
		ns.Kind = IDMapSubuid
		ns.UIDMap = withRange(selfU, callerUID, *subU)
		ns.GIDMap = withRange(selfG, callerGID, *subG)
	} else {
		ns.UIDMap = []idRange{{selfU, callerUID, 1}}
		ns.GIDMap = []idRange{{selfG, callerGID, 1}}
	}
	if !mapped(ns.UIDMap, uid) || !mapped(ns.GIDMap, gid) {
		why := "the caller's subordinate ids do not reach it"
		if ns.Kind == IDMapSingle {
			why = fmt.Sprintf("without subordinate ids a rootless sandbox has only the caller's own ids (%d:%d, or 0:0 with --user 0)", callerUID, callerGID)
		}
		return nil, fmt.Errorf("%w: --user %d:%d: not mapped in the user namespace: %s; give the user a range in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER) and install newuidmap (Debian: apt-get install uidmap), or run as root",
			ErrUnsupported, uid, gid, why)
	}
	return ns, nil
}

// withRange maps self to the caller and fills the ids around it, from 0
// up, with the subordinate range.
func withRange(self, caller uint32, r subRange) []idRange {
	var m []idRange
	if self < r.Count {
		if self > 0 {
			m = append(m, idRange{0, r.Start, self})
		}
		m = append(m, idRange{self, caller, 1})
		if rest := r.Count - self; rest > 0 {
			m = append(m, idRange{self + 1, r.Start + self, rest})
		}
		return m
	}
	return []idRange{{0, r.Start, r.Count}, {self, caller, 1}}
}

func mapped(m []idRange, id uint32) bool {
	for _, r := range m {
		if id >= r.Inside && id-r.Inside < r.Size {
			return true
		}
	}
	return false
}

// outside is the host id that id inside is, for messages and tests.
func outside(m []idRange, id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.Inside && id-r.Inside < r.Size {
			return r.Outside + id - r.Inside, true
		}
	}
	return 0, false
}

// parseSubIDs finds the first range of a user (by name or uid) in the text
// of /etc/subuid or /etc/subgid, as shadow's tools do.
func parseSubIDs(text, name string, id uint32) *subRange {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.FormatUint(uint64(id), 10)) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			continue
		}
		return &subRange{uint32(start), uint32(count)}
	}
	return nil
}

// callerSubIDs are the caller's subordinate ranges where it has both and
// newuidmap and newgidmap are installed; nil, nil otherwise.
func callerSubIDs(ns *userNS) (*subRange, *subRange) {
	var err error
	if ns.newuidmap, err = lookHelper("newuidmap"); err != nil {
		return nil, nil
	}
	if ns.newgidmap, err = lookHelper("newgidmap"); err != nil {
		return nil, nil
	}
	name := ""
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		name = u.Username
	}
	su, _ := os.ReadFile("/etc/subuid")
	sg, _ := os.ReadFile("/etc/subgid")
	return parseSubIDs(string(su), name, uint32(os.Getuid())), parseSubIDs(string(sg), name, uint32(os.Getuid()))
}

// lookHelper finds newuidmap or newgidmap: in PATH, else where Debian puts
// them (a hermetic PATH may lack /usr/bin).
func lookHelper(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/bin/" + name
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// rootlessUserNS plans the user namespace of a run by a non-root caller.
// ownRoot is a run as the caller on the host's root, which needs no range.
func rootlessUserNS(uid, gid uint32, ownRoot bool) (*userNS, error) {
	force := os.Getenv(EnvIDMap)
	if force != "" && force != IDMapSingle && force != IDMapSubuid {
		return nil, fmt.Errorf("%w: %s=%q: want %q or %q", ErrInvalidSpec, EnvIDMap, force, IDMapSingle, IDMapSubuid)
	}
	if force == "" && ownRoot && uid == uint32(os.Getuid()) && gid == uint32(os.Getgid()) {
		force = IDMapSingle
	}
	probe := &userNS{}
	var su, sg *subRange
	if force != IDMapSingle {
		su, sg = callerSubIDs(probe)
		if force == IDMapSubuid && (su == nil || sg == nil) {
			return nil, fmt.Errorf("%w: %s=subuid: the caller has no range in /etc/subuid and /etc/subgid, or newuidmap and newgidmap (package uidmap) are missing", ErrUnsupported, EnvIDMap)
		}
	}
	ns, err := planUserNS(uint32(os.Getuid()), uint32(os.Getgid()), uid, gid, su, sg, force)
	if err != nil {
		return nil, err
	}
	ns.newuidmap, ns.newgidmap = probe.newuidmap, probe.newgidmap
	return ns, nil
}

// writeMaps maps the ids of the started PID 1's user namespace, before
// PID 1 is let go: ranges, which newuidmap and newgidmap write. A
// single-id map PID 1 writes itself (selfMap).
func (ns *userNS) writeMaps(pid int) error {
	if ns.Kind != IDMapSubuid {
		return nil
	}
	run := func(helper string, m []idRange) error {
		args := []string{strconv.Itoa(pid)}
		for _, r := range m {
			args = append(args, strconv.FormatUint(uint64(r.Inside), 10), strconv.FormatUint(uint64(r.Outside), 10), strconv.FormatUint(uint64(r.Size), 10))
		}
		out, err := exec.Command(helper, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w: %s", userNSSetup, helper, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	// Side by side: each is the exec of a setuid binary, a millisecond or
	// two of a start, and neither needs the other.
	gidErr := make(chan error, 1)
	go func() { gidErr <- run(ns.newgidmap, ns.GIDMap) }()
	uerr := run(ns.newuidmap, ns.UIDMap)
	return errors.Join(uerr, <-gidErr)
}

// userNSSetup begins the errors of mapping ids, the runner's and PID 1's.
const userNSSetup = "setting up the user namespace"

// selfMap is the map PID 1 writes itself, for a single-id map: the kernel
// lets a process map its own effective ids in a user namespace it made
// (setgroups denied first). nil for none: root, or ranges.
func (ns *userNS) selfMap() *stage.SelfMap {
	if ns == nil || ns.Kind != IDMapSingle || len(ns.UIDMap) != 1 || len(ns.GIDMap) != 1 {
		return nil
	}
	u, g := ns.UIDMap[0], ns.GIDMap[0]
	return &stage.SelfMap{UID: u.Inside, HostUID: u.Outside, GID: g.Inside, HostGID: g.Outside}
}

// Where unprivileged user namespaces are off, or AppArmor confines them,
// the clone or the uid_map write fails with EPERM or EACCES and nothing
// says why: userNSRefused reads the knobs and says.
func userNSRefused(err error) error {
	return userNSRefusedBy(err, func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	})
}

// userNSRefusedBy is userNSRefused reading the sysctls through read.
func userNSRefusedBy(err error, read func(path string) string) error {
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.EINVAL) {
		return nil
	}
	switch {
	case read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
		return fmt.Errorf("%w: creating a user namespace: %w: AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10 and later); install the profile shipped in contrib/apparmor/sandbox (see contrib/apparmor/README.md: edit the binary's path, copy it to /etc/apparmor.d/ and run apparmor_parser -r /etc/apparmor.d/sandbox), or run as root", ErrUnsupported, err)
	case read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
		return fmt.Errorf("%w: creating a user namespace: %w: unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); enable them with sysctl -w kernel.unprivileged_userns_clone=1, or run as root", ErrUnsupported, err)
	case read("/proc/sys/user/max_user_namespaces") == "0":
		return fmt.Errorf("%w: creating a user namespace: %w: user namespaces are disabled (user.max_user_namespaces=0); raise it with sysctl -w user.max_user_namespaces=15000, or run as root", ErrUnsupported, err)
	}
	return nil
}

// CanRunAs reports whether a run of this process can have CMD run as u,
// for callers that choose an identity before they run (sandbox repro's
// user_group): as root always; rootless when the user namespace can map u,
// the caller's own ids or its subordinate ranges through newuidmap. The
// error is the one such a run would fail with: why not, and the fix.
func CanRunAs(u User) error {
	if !Rootless() || u.Unique {
		return nil
	}
	_, err := rootlessUserNS(u.UID, u.GID, false)
	return err
}

// Rootless reports whether runs of this process are rootless: made in a
// user namespace of their own because the caller is not root.
func Rootless() bool { return os.Geteuid() != 0 }

// DefaultRunDirFor is where run state lives when Spec.RunDir is empty:
// DefaultRunDir for root; for anyone else $XDG_RUNTIME_DIR/sandbox, else a
// directory of the user's own in the temp directory (sandbox-UID, made
// 0700 and refused if someone else owns it).
func DefaultRunDirFor() (string, error) {
	if !Rootless() {
		return DefaultRunDir, nil
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		if fi, err := os.Stat(x); err == nil && fi.IsDir() {
			return filepath.Join(x, "sandbox"), nil
		}
	}
	dir := filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Geteuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating run directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return "", fmt.Errorf("creating run directory: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		return "", fmt.Errorf("%w: run directory %s: not a private directory of uid %d (set XDG_RUNTIME_DIR, or remove it)", ErrUnsupported, dir, os.Geteuid())
	}
	return dir, nil
}

// checkUserNSOverlay refuses a rootless run where overlayfs cannot be
// mounted in a user namespace: Linux 5.11 made it possible (userxattr).
func checkUserNSOverlay() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil
	}
	return checkUserNSOverlayOn(unix.ByteSliceToString(u.Release[:]))
}

func checkUserNSOverlayOn(rel string) error {
	var major, minor int
	if _, err := fmt.Sscanf(rel, "%d.%d", &major, &minor); err != nil {
		return nil
	}
	if major < 5 || major == 5 && minor < 11 {
		return fmt.Errorf("%w: a rootless sandbox mounts its overlay root inside a user namespace, which needs Linux 5.11 or later; this kernel is %s: run as root, or on a newer kernel", ErrUnsupported, rel)
	}
	return nil
}
