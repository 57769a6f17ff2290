package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// Paths the runner replaces with fresh filesystems: host mounts at or below
// them are not carried into the sandbox.
var replacedPaths = []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/var/run"}

// Filesystem types that are views of the kernel, never layered into a root.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "devtmpfs": true,
	"devpts": true, "mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true,
	"pstore": true, "bpf": true, "autofs": true, "binfmt_misc": true, "configfs": true,
	"fusectl": true, "hugetlbfs": true, "efivarfs": true, "nsfs": true, "rpc_pipefs": true,
	"selinuxfs": true,
}

// maskedPaths are hidden from the sandbox as runc hides them by default:
// they leak host information or reach the host's kernel.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger",
	"/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
}

// readOnlyPaths stay visible but cannot be written.
var readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"}

// devices are the character devices of the sandbox's /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// hostMount is one line of /proc/self/mountinfo, the part the plan needs.
type hostMount struct {
	Point  string
	FSType string
}

// MountPoints lists the caller's mount points, in mount order, as the
// kernel has them (mountinfo's escapes undone).
func MountPoints() ([]string, error) {
	ms, err := readHostMounts()
	if err != nil {
		return nil, err
	}
	ps := make([]string, len(ms))
	for i, m := range ms {
		ps[i] = m.Point
	}
	return ps, nil
}

// hostMounts keeps the caller's mount table between the runs of one
// process (a judge's hundred tests, an API caller's loop), and a
// descriptor of /proc/self/mountinfo kept open: the kernel makes it poll
// with POLLPRI once the mount namespace's table has changed since it was
// opened or last polled, so the table is read again only then. It is a
// plain descriptor, never on the Go runtime's poller, whose own polls
// would take the change notice first.
var hostMounts struct {
	sync.Mutex
	fd int // -1 or 0 when there is none
	ms []hostMount
}

// readHostMounts lists the caller's mounts in mount order.
func readHostMounts() ([]hostMount, error) {
	c := &hostMounts
	c.Lock()
	defer c.Unlock()
	if c.fd > 0 {
		pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLPRI}}
		if n, err := unix.Poll(pfd, 0); err == nil && n == 0 {
			return slices.Clone(c.ms), nil
		}
		unix.Close(c.fd)
		c.fd, c.ms = -1, nil
	}
	// Read through the descriptor it polls: a change while it is read
	// shows at the next poll.
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	var b []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("reading mount table: %w", err)
		}
		if n == 0 {
			break
		}
		b = append(b, buf[:n]...)
	}
	ms, err := parseMountinfo(bytes.NewReader(b))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.fd, c.ms = fd, ms
	return slices.Clone(ms), nil
}

func parseMountinfo(f io.Reader) ([]hostMount, error) {
	var ms []hostMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root point options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, fl := range fields {
			if fl == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		ms = append(ms, hostMount{Point: unescapeMountinfo(fields[4]), FSType: fields[sep+1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	return ms, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// layeredSubmounts picks the host mounts below / that get an overlay of
// their own in the sandbox's root: real filesystems, not kernel views, not
// what the runner replaces, not the run directory, topmost mount per path.
func layeredSubmounts(ms []hostMount, runDir string) []string {
	seen := map[string]bool{}
	var points []string
	for i := len(ms) - 1; i >= 0; i-- { // the last mount at a point is the visible one
		m := ms[i]
		if m.Point == "/" || !filepath.IsAbs(m.Point) || seen[m.Point] || pseudoFS[m.FSType] || under(m.Point, runDir) {
			continue
		}
		seen[m.Point] = true
		skip := false
		for _, p := range replacedPaths {
			if under(m.Point, p) {
				skip = true
				break
			}
		}
		if !skip {
			points = append(points, m.Point)
		}
	}
	sort.Strings(points) // parents before children
	return points
}

// overlayPath refuses paths that overlayfs's mount options cannot carry.
func overlayPath(p string) (string, error) {
	if strings.ContainsAny(p, ",:") {
		return "", fmt.Errorf("%w: overlay path %q contains ',' or ':'", ErrUnsupported, p)
	}
	return p, nil
}

// rootLayers is the overlay that makes the root: read-only lower layers,
// top first, and either an upper of the store's (Upper, Work and the store's
// Options, for a run whose changes may be committed) or none, for an upper
// in the run's scratch tmpfs that vanishes with it.
type rootLayers struct {
	Lowers      []string
	Upper, Work string
	Options     []string
	// UserNS: the overlays are mounted inside a user namespace (a rootless
	// run), and so need userxattr (Linux 5.11+).
	UserNS bool
	// Split, for a rootless run on the host's root, replaces the one
	// overlay of "/" (see splitHostRoot): set, Lowers is ignored.
	Split []rootEntry
}

// buildPlan turns a validated Spec into the init stage's instructions.
// hostMounts is nil unless the root is the host's.
func buildPlan(s *Spec, scratch string, root rootLayers, hostMounts []hostMount, callerWd string) (*stage.Config, error) {
	disk := s.Limits.Disk
	if disk == 0 {
		disk = DefaultDisk
	}
	rootfs := filepath.Join(scratch, "root")
	cfg := &stage.Config{
		Args:       s.Args,
		Env:        s.Env,
		Dir:        s.Dir,
		CallerWd:   callerWd,
		Hostname:   s.Hostname,
		Domainname: s.Domainname,
		TTY:        s.TTY,
		TTYRows:    s.TTYSize.Rows,
		TTYCols:    s.TTYSize.Cols,
		Loopback:   s.Network != NetworkHost,
		Scratch:    scratch,
		Rootfs:     rootfs,
		Rlimits:    rlimits(s.Limits.Rlimits),
	}
	if cfg.Hostname == "" {
		cfg.Hostname = DefaultHostname
	}
	if s.User != nil {
		cfg.UID, cfg.GID = s.User.UID, s.User.GID
	} else {
		cfg.UID, cfg.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	for _, c := range s.CapAdd {
		n, err := capability(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		cfg.Caps = append(cfg.Caps, n)
	}
	add := func(st stage.Step) { cfg.Steps = append(cfg.Steps, st) }

	// The scratch tmpfs holds every upper layer, so Disk caps all the run can
	// write to its root; it lives in the sandbox's mount namespace and goes
	// with it. Its mountpoint is the run directory itself (every run's, each
	// in its own namespace): on the host the run has no directory to make
	// and remove.
	add(stage.Step{Kind: stage.StepMount, Scratch: true, FSType: "tmpfs", Source: "sandbox", Target: scratch,
		Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: fmt.Sprintf("size=%d,nr_inodes=%d,mode=0700", disk, tmpfsInodes(disk))})

	if _, err := overlayPath(scratch); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	overlay := func(n int, target string, l rootLayers, scratchTarget, fallback bool) error {
		for _, p := range append([]string{l.Upper, l.Work}, l.Lowers...) {
			if _, err := overlayPath(p); err != nil {
				return err
			}
		}
		var mk []string
		if l.Upper == "" {
			l.Upper = filepath.Join(scratch, "u", strconv.Itoa(n))
			l.Work = filepath.Join(scratch, "w", strconv.Itoa(n))
			mk = []string{l.Upper, l.Work}
		}
		if scratchTarget {
			mk = append(mk, target)
		}
		data := "lowerdir=" + strings.Join(l.Lowers, ":") + ",upperdir=" + l.Upper + ",workdir=" + l.Work
		for _, o := range l.Options {
			if root.UserNS && o == "redirect_dir=off" {
				// userxattr does not follow redirects: "off" would.
				o = "redirect_dir=nofollow"
			}
			data += "," + o
		}
		if root.UserNS {
			// trusted.* xattrs need CAP_SYS_ADMIN on the host.
			data += ",userxattr"
		}
		// A host submount may vanish between the runner's look at the
		// mount table and PID 1's mount (someone else's container ending):
		// then there is nothing to layer, and the step is skipped.
		add(stage.Step{Kind: stage.StepMount, Scratch: scratchTarget, FSType: "overlay", Source: l.Lowers[0], Target: target,
			Data: data, Mkdir: mk, Fallback: fallback, Optional: fallback})
		return nil
	}
	switch {
	case s.HostRoot != nil && s.Root == "" && s.Snapshot == nil:
		// A root of its own, and the host paths asked for: an empty
		// directory of the scratch tmpfs, bound on itself to be a mount
		// point for pivot_root. Not a tmpfs of its own: what the run
		// writes there counts against Disk with its upper layers, and a
		// superblock less is made and torn down at every run.
		add(stage.Step{Kind: stage.StepMount, Scratch: true, Source: rootfs, Target: rootfs, Flags: unix.MS_BIND, Mkdir: []string{rootfs}})
		steps, err := hostRootSteps(s.HostRoot)
		if err != nil {
			return nil, err
		}
		cfg.Steps = append(cfg.Steps, steps...)
	case root.Split != nil:
		// The root is a directory of the scratch tmpfs, bound on itself
		// to be a mount point for pivot_root; the host's entries are
		// layered into it one by one.
		add(stage.Step{Kind: stage.StepMount, Scratch: true, Source: rootfs, Target: rootfs, Flags: unix.MS_BIND, Mkdir: []string{rootfs}})
		for i, e := range root.Split {
			switch e.Kind {
			case entryOverlay:
				if _, err := overlayPath(e.Path); err == nil {
					if err := overlay(i+1, e.Path, rootLayers{Lowers: []string{e.Path}}, false, true); err != nil {
						return nil, err
					}
					continue
				}
				// overlayfs cannot name it: a read-only bind instead.
				add(stage.Step{Kind: stage.StepBind, Source: e.Path, Target: e.Path, RO: true})
			case entryFile, entryRO:
				add(stage.Step{Kind: stage.StepBind, Source: e.Path, Target: e.Path, RO: true})
			case entrySymlink:
				add(stage.Step{Kind: stage.StepSymlink, Source: e.Link, Target: e.Path})
			case entryDir:
				add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "tmpfs", Target: e.Path,
					Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY, Data: "size=0,mode=0755"})
			}
		}
	case s.RootInPlace:
		// The directory itself, bound (a mount point for pivot_root).
		add(stage.Step{Kind: stage.StepMount, Scratch: true, Source: s.Root, Target: rootfs,
			Flags: unix.MS_BIND | unix.MS_REC, Mkdir: []string{rootfs}})
	case len(root.Lowers) == 0:
		return nil, fmt.Errorf("%w: a root needs a lower layer", ErrInvalidSpec)
	default:
		if err := overlay(0, rootfs, root, true, false); err != nil {
			return nil, err
		}
		// Overlayfs does not cross mounts: each real filesystem below the
		// host's root (a separate /home, say) gets an overlay of its own.
		for i, p := range layeredSubmounts(hostMounts, scratch) {
			if err := overlay(i+1, p, rootLayers{Lowers: []string{p}, UserNS: root.UserNS}, false, true); err != nil {
				return nil, err
			}
		}
	}

	const nsd = unix.MS_NOSUID | unix.MS_NODEV
	add(stage.Step{Kind: stage.StepMount, FSType: "proc", Source: "proc", Target: "/proc", Flags: nsd | unix.MS_NOEXEC})
	add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "tmpfs", Target: "/dev", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME,
		Data: "mode=755," + smallTmpfs})
	for _, d := range devices {
		add(stage.Step{Kind: stage.StepMknod, Target: "/dev/" + d.name, Major: d.major, Minor: d.minor})
	}
	add(stage.Step{Kind: stage.StepMount, FSType: "devpts", Source: "devpts", Target: "/dev/pts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC,
		Data: "newinstance,ptmxmode=0666,mode=0620"})
	add(stage.Step{Kind: stage.StepSymlink, Source: "pts/ptmx", Target: "/dev/ptmx"})
	add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "shm", Target: "/dev/shm", Flags: nsd,
		Data: "mode=1777," + smallTmpfs})
	add(stage.Step{Kind: stage.StepMount, FSType: "mqueue", Source: "mqueue", Target: "/dev/mqueue", Flags: nsd | unix.MS_NOEXEC})
	for _, l := range [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}} {
		add(stage.Step{Kind: stage.StepSymlink, Source: l[0], Target: l[1]})
	}
	if root.UserNS && s.Network == NetworkHost {
		// sysfs needs CAP_SYS_ADMIN over the network namespace, which the
		// host's is not ours: the host's /sys, read-only, as bwrap does.
		add(stage.Step{Kind: stage.StepBind, Source: "/sys", Target: "/sys", RO: true})
	} else {
		add(stage.Step{Kind: stage.StepMount, FSType: "sysfs", Source: "sysfs", Target: "/sys", Flags: nsd | unix.MS_NOEXEC | unix.MS_RDONLY})
	}
	add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "tmpfs", Target: "/tmp", Flags: nsd,
		Data: fmt.Sprintf("mode=1777,size=%d,nr_inodes=%d", disk, tmpfsInodes(disk))})
	add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "tmpfs", Target: "/run", Flags: nsd | unix.MS_NOEXEC,
		Data: "mode=755," + smallTmpfs})
	// With the host's root, the caller's working directory and CMD's own
	// file stay in view under the private /tmp and /run, and the working
	// directory must be had (visible_linux.go).
	if hostMounts != nil {
		wd := callerWd
		if s.Dir != "" {
			wd = ""
		}
		view, err := callerView(s, scratch, wd)
		if err != nil {
			return nil, err
		}
		cfg.Steps = append(cfg.Steps, view...)
		cfg.CallerWdRequired = wd != ""
	}

	for _, m := range s.Mounts {
		switch m.Type {
		case MountBind:
			if m.NoExec {
				// The bind step sets nosuid, nodev and ro only: a noexec
				// bind is a bind mount and a remount of it.
				fl := uintptr(nsd | unix.MS_NOEXEC)
				if m.ReadOnly {
					fl |= unix.MS_RDONLY
				}
				add(stage.Step{Kind: stage.StepMount, Source: m.Source, Target: m.Destination, Flags: unix.MS_BIND | unix.MS_REC})
				add(stage.Step{Kind: stage.StepMount, Target: m.Destination, Flags: unix.MS_REMOUNT | unix.MS_BIND | fl})
				continue
			}
			add(stage.Step{Kind: stage.StepBind, Source: m.Source, Target: m.Destination, RO: m.ReadOnly,
				NoSymlinks: m.NoSymlinks || s.NoSymlinks})
		case MountTmpfs:
			data := "mode=1777"
			if m.Mode != 0 {
				data = "mode=" + strconv.FormatUint(uint64(tmpfsMode(m.Mode)), 8)
			}
			// Without a size, tmpfs's own default holds: half the RAM,
			// and as many inodes as that has pages.
			if m.Size > 0 {
				data += ",size=" + strconv.FormatInt(m.Size, 10) + ",nr_inodes=" + strconv.FormatInt(tmpfsInodes(m.Size), 10)
			}
			fl := uintptr(nsd)
			if m.ReadOnly {
				fl |= unix.MS_RDONLY
			}
			if m.NoExec {
				fl |= unix.MS_NOEXEC
			}
			add(stage.Step{Kind: stage.StepMount, FSType: "tmpfs", Source: "tmpfs", Target: m.Destination, Flags: fl, Data: data})
		case MountOverlay:
			// Upper and Work are the caller's (so the writes outlive the
			// run); the mount itself lives in the sandbox's namespace.
			// nosuid and nodev, as binds: the caller's files are data.
			fl := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
			if m.ReadOnly {
				fl |= unix.MS_RDONLY
			}
			add(stage.Step{Kind: stage.StepMount, FSType: "overlay", Source: "overlay", Target: m.Destination, Flags: fl,
				Data: "lowerdir=" + strings.Join(m.Lower, ":") + ",upperdir=" + m.Upper + ",workdir=" + m.Work})
		}
	}
	for _, p := range union(maskedPaths, s.MaskedPaths) {
		add(stage.Step{Kind: stage.StepMask, Target: p, Optional: true})
	}
	for _, p := range union(readOnlyPaths, s.ReadOnlyPaths) {
		add(stage.Step{Kind: stage.StepReadOnly, Target: p, Optional: true})
	}
	if s.ReadOnlyRoot || s.NoDevRoot {
		// Last, so that every mount point inside could still be made;
		// the remount is of the root's own mount, not of those below.
		fl := uintptr(unix.MS_REMOUNT | unix.MS_BIND)
		if s.ReadOnlyRoot {
			fl |= unix.MS_RDONLY
		}
		if s.NoDevRoot {
			fl |= unix.MS_NODEV
		}
		add(stage.Step{Kind: stage.StepMount, Target: "/", Flags: fl})
	}
	return cfg, nil
}

// A tmpfs hands out inodes apart from blocks, and an empty file costs no
// block but an inode, about a kilobyte of kernel memory (charged to the
// run's memory cgroup): left to tmpfs's default, one per page of half the
// host's RAM, a "64 MiB" /dev/shm holds 150 000 empty files in 176 MiB.
// So every tmpfs the runner mounts has one inode per 4 KiB page of its
// size, as tmpfs's own default has for its default size, and at least
// minTmpfsInodes: what one can cost at most is its size again and about a
// quarter more in inodes (docs/security.md).
func tmpfsInodes(size int64) int64 { return max(size/4096, minTmpfsInodes) }

const minTmpfsInodes = 64

// smallTmpfs are the options of the runner's own small tmpfs (/dev,
// /dev/shm, /run): 64 MiB, and tmpfsInodes(64 MiB) inodes.
const smallTmpfs = "size=65536k,nr_inodes=16384"

// union is own and then what extra adds to it, each path once.
func union(own, extra []string) []string {
	out := append([]string(nil), own...)
	for _, p := range extra {
		if p = filepath.Clean(p); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// tmpfsMode is mode as tmpfs's mode= option spells it.
func tmpfsMode(mode os.FileMode) uint32 {
	m := uint32(mode.Perm())
	for bit, v := range map[os.FileMode]uint32{os.ModeSticky: 0o1000, os.ModeSetgid: 0o2000, os.ModeSetuid: 0o4000} {
		if mode&bit != 0 {
			m |= v
		}
	}
	return m
}

// hostRootSteps lays out a HostRoot's paths: what the host has at each,
// looked at now, without following a symlink in the last component. A
// symlink is made again; anything else is bound read-only with no symlink
// followed (PID 1 checks that again as it binds), so a path swapped for a
// symlink meanwhile is refused, never followed out.
func hostRootSteps(hr *HostRoot) ([]stage.Step, error) {
	var steps []stage.Step
	for _, p := range hr.Paths {
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // e.g. /libx32 on a host without x32 libraries
		case err != nil:
			return nil, fmt.Errorf("host root path %s: %w", p, err)
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil, fmt.Errorf("host root path %s: %w", p, err)
			}
			steps = append(steps, stage.Step{Kind: stage.StepSymlink, Source: target, Target: p})
		default:
			steps = append(steps, stage.Step{Kind: stage.StepBind, Source: p, Target: p, RO: true, NoSymlinks: true, Optional: true})
		}
	}
	return steps, nil
}

// rlimits turns the Spec's rlimits into the settings PID 1 makes.
func rlimits(r limits.Rlimits) []stage.Rlimit {
	var out []stage.Rlimit
	for _, s := range r.Settings() {
		out = append(out, stage.Rlimit{Resource: s.Resource, Cur: s.Limit.Cur, Max: s.Limit.Max})
	}
	return out
}
