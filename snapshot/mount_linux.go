package snapshot

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":         {false, unix.MS_RDONLY},
	"rw":         {true, unix.MS_RDONLY},
	"bind":       {false, unix.MS_BIND},
	"rbind":      {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":     {false, unix.MS_NOSUID},
	"suid":       {true, unix.MS_NOSUID},
	"nodev":      {false, unix.MS_NODEV},
	"dev":        {true, unix.MS_NODEV},
	"noexec":     {false, unix.MS_NOEXEC},
	"exec":       {true, unix.MS_NOEXEC},
	"noatime":    {false, unix.MS_NOATIME},
	"relatime":   {false, unix.MS_RELATIME},
	"nodiratime": {false, unix.MS_NODIRATIME},
	"sync":       {false, unix.MS_SYNCHRONOUS},
}

// ParseOptions splits mount options into mount(2) flags and the data
// string the filesystem parses.
func ParseOptions(opts []string) (flags uintptr, data string) {
	var rest []string
	for _, o := range opts {
		for _, p := range strings.Split(o, ",") {
			if f, ok := mountFlags[p]; ok {
				if f.clear {
					flags &^= f.flag
				} else {
					flags |= f.flag
				}
				continue
			}
			if p != "" {
				rest = append(rest, p)
			}
		}
	}
	return flags, strings.Join(rest, ",")
}

// Mount performs m at target (m.Target, if set, is taken below target).
func (m Mount) Mount(target string) error {
	if m.Target != "" {
		target = filepath.Join(target, m.Target)
	}
	flags, data := ParseOptions(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 || typ == "bind" {
		typ = ""
		flags |= unix.MS_BIND
		// A bind ignores MS_RDONLY: read-only takes a remount.
		if err := unix.Mount(m.Source, target, "", flags&^unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.Source, target, err)
		}
		if flags&unix.MS_RDONLY != 0 {
			rf := unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | (flags & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC))
			if err := unix.Mount("", target, "", rf, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("remounting %s read-only: %w", target, err)
			}
		}
		return nil
	}
	if err := unix.Mount(m.Source, target, typ, flags, data); err != nil {
		return fmt.Errorf("mounting %s %s on %s: %w", typ, m.Source, target, err)
	}
	return nil
}

// MountAll performs mounts at target in order; on failure it undoes what it
// did.
func MountAll(mounts []Mount, target string) error {
	for i, m := range mounts {
		if err := m.Mount(target); err != nil {
			for j := i - 1; j >= 0; j-- {
				t := target
				if mounts[j].Target != "" {
					t = filepath.Join(target, mounts[j].Target)
				}
				unix.Unmount(t, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts everything stacked at target.
func UnmountAll(target string) error {
	for {
		err := unix.Unmount(target, 0)
		switch err {
		case nil:
			continue
		case unix.EINVAL: // not (or no longer) a mount point
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("unmounting %s: %w", target, err)
	}
}
