package limits

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Delegation is a cgroup v2 subtree that a caller without root may write:
// systemd's user@UID.service delegates one to each user, and an
// administrator may chown one to a user by hand (cgroup.procs,
// cgroup.subtree_control, cgroup.threads and the directory). Top is the
// topmost group on the caller's own path (/proc/self/cgroup) that the
// caller owns; runs get groups at Top/sandbox/<id>, so the runner never
// moves itself and never writes above Top. The kernel's "no internal
// processes" rule lets Top give controllers to its children only while no
// process is in Top itself: systemd keeps its user manager in a leaf
// (init.scope) for that reason, and so must a hand-made delegation.
type Delegation struct {
	Mount string // the cgroup2 mount: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts
	Top   string // e.g. /user.slice/user-1000.slice/user@1000.service
	// Controllers are those Top can give the runs' groups.
	Controllers []string
}

// Root is the cgroup root (see New) of the runs' groups.
func (d *Delegation) Root() string { return path.Join(d.Top, "sandbox") }

// Has reports whether the delegation gives controller c.
func (d *Delegation) Has(c string) bool { return slices.Contains(d.Controllers, c) }

// FindDelegation finds the caller's delegated cgroup v2 subtree. It returns
// ErrNotFound when there is none (cgroup v1 only, or a group owned by
// someone else, as on a host without systemd's user sessions).
func FindDelegation() (*Delegation, error) {
	h, err := probeHost()
	if err != nil {
		return nil, err
	}
	if h.v2Mount == "" {
		return nil, notDelegated("this host has cgroup v1 only")
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("finding a delegated cgroup: %w", err)
	}
	defer f.Close()
	own, ok := parseV2Path(f)
	if !ok {
		return nil, notDelegated("the caller is in no cgroup v2 group")
	}
	top := delegatedTop(h.v2Mount, own, os.Geteuid())
	if top == "" {
		why := fmt.Sprintf("the caller's cgroup v2 group %s is not delegated to it (uid %d)", own, os.Geteuid())
		if len(h.v2Controllers) == 0 {
			why += ", and this host's controllers are all on cgroup v1"
		}
		return nil, notDelegated(why)
	}
	d := &Delegation{Mount: h.v2Mount, Top: top}
	dir := filepath.Join(h.v2Mount, top)
	if enabled := readFields(filepath.Join(dir, "cgroup.subtree_control")); len(enabled) > 0 {
		d.Controllers = enabled
	} else if procs, err := readProcs(dir); err == nil && len(procs) == 0 {
		d.Controllers = readFields(filepath.Join(dir, "cgroup.controllers"))
	}
	return d, nil
}

// parseV2Path finds the "0::/path" line of /proc/self/cgroup.
func parseV2Path(r io.Reader) (string, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return path.Clean(p), true
		}
	}
	return "", false
}

// delegatedTop walks up from the group own while the caller owns the
// directory and may write its cgroup.procs and cgroup.subtree_control.
func delegatedTop(mount, own string, uid int) string {
	top := ""
	for p := own; p != "/" && p != "."; p = path.Dir(p) {
		dir := filepath.Join(mount, p)
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil || int(st.Uid) != uid ||
			unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) != nil ||
			unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) != nil {
			break
		}
		top = p
	}
	return top
}

// NewDelegated is New in a delegation: the run's group is
// d.Root()/<id>, on v2, with the controllers l needs (ErrUnsupported,
// naming the controller, when the delegation lacks one) and those that
// accounting takes where delegated (memory, pids, io). CPU time needs none:
// cpu.stat is in every v2 group.
func NewDelegated(d *Delegation, id string, l Limits) (Cgroup, error) {
	group, err := groupPath(d.Root(), id)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup: %w", err)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	// No device filter: loading one needs CAP_SYS_ADMIN, and what devices
	// a delegated user's run opens are the user's own to open anyway.
	fsys := v2fs{mount: d.Mount, mkdir: mkdir, avail: d.Controllers, from: d.Top, optional: []string{"memory", "pids", "io"}}
	g, err := newV2(fsys, group, l)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", group, err)
	}
	return g, nil
}

// DelegationError says why a caller has no delegated subtree; it wraps
// ErrNotFound.
type DelegationError struct{ Reason string }

func (e *DelegationError) Error() string { return e.Reason }
func (e *DelegationError) Unwrap() error { return ErrNotFound }

func notDelegated(why string) error { return &DelegationError{Reason: why} }
