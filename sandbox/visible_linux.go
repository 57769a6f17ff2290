package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// The caller's view. With the host's root, CMD sees the host's tree, except
// where the sandbox makes directories of its own: /tmp and /run (and
// /var/run, usually a link to it) start empty. That is where test runners
// keep what they run: `go test -exec` hands over a test binary in
// $GOTMPDIR (/tmp/go-build...), a checkout may live under /tmp, a cargo
// crate's test binaries live in its target/. So two things of the caller's
// stay in view there, at the same paths:
//
//   - the caller's working directory (when Spec.Dir is empty), as an
//     overlay of its own whose writes vanish with the run, like the rest of
//     the root (see showDir: never a bind);
//   - CMD's own file, looked up as the exec stage will look it up, bound
//     read-only.
//
// Nothing else of the host's /tmp or /run is shown, and the kernel's views
// (/proc, /sys, /dev) are never taken from the host: a working directory
// there must exist in the sandbox's own, or the run fails naming it. A
// root of the Spec's own (Root, Snapshot) is another tree: none of this
// applies there, and the caller's directory is used only where that root
// has one by the same path (else "/").

// privateDirs are the host directories the sandbox replaces with empty
// ones of its own.
var privateDirs = []string{"/tmp", "/run", "/var/run"}

func inPrivateDir(p string) bool {
	for _, d := range privateDirs {
		if under(p, d) {
			return true
		}
	}
	return false
}

// workdirError is the error of a run that must have the caller's working
// directory and cannot: err is os.Getwd's. A deleted directory is named
// (getcwd fails; the kernel still names it in /proc/self/cwd, with
// " (deleted)").
func workdirError(err error) error {
	name, lerr := os.Readlink("/proc/self/cwd")
	if lerr != nil {
		name = "."
	}
	return fmt.Errorf("%w: working directory %s: %w", ErrInvalidSpec, name, errors.Unwrap(err))
}

// callerView returns the steps that keep the caller's working directory
// (wd, "" when Spec.Dir is set) and CMD's file in view where the host's root
// would have them hidden; they come after the private /tmp and /run are
// mounted and before the Spec's mounts, which may cover them.
func callerView(s *Spec, scratch, wd string) ([]stage.Step, error) {
	var steps []stage.Step
	shown := "" // the directory the working directory's overlay shows
	if wd != "" {
		// Shown at its real path: a link to it may live outside /tmp.
		// One gone since the caller looked is reported by the stage.
		real, err := filepath.EvalSymlinks(wd)
		if err != nil {
			real = filepath.Clean(wd)
		}
		if inPrivateDir(real) {
			// The run directory is the scratch tmpfs's mountpoint, which
			// holds the upper layers and the new root: it cannot be a
			// lower layer of itself.
			if under(real, scratch) {
				return nil, fmt.Errorf("%w: working directory %s: inside the run directory %s", ErrInvalidSpec, real, scratch)
			}
			st, err := showDir(scratch, real)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
			shown = real
		}
	}
	for _, p := range cmdPaths(s, wd) {
		if !inPrivateDir(p) || (shown != "" && under(p, shown)) {
			continue
		}
		steps = append(steps, stage.Step{Kind: stage.StepBind, Source: p, Target: p, RO: true})
	}
	return steps, nil
}

// showDir layers dir at its own path, with an upper in the scratch tmpfs:
// CMD may write there as anywhere in its root, and the host never sees it.
// An overlay, never a bind: a live socket in the directory (an X server's
// under /tmp, a container engine's under /run) is not the host's socket
// through overlayfs, so connect(2) to it is refused, where through a bind,
// read-only or not, it would reach the host's server. So where overlayfs
// cannot take the directory (a ',' or ':' in its path, which its options
// cannot carry; a filesystem it refuses as a lower layer) the run fails,
// naming it.
func showDir(scratch, dir string) (stage.Step, error) {
	if _, err := overlayPath(dir); err != nil {
		return stage.Step{}, fmt.Errorf("working directory %s: %w (give the run a workdir, or bind the directory in)", dir, err)
	}
	upper, work := filepath.Join(scratch, "u", "wd"), filepath.Join(scratch, "w", "wd")
	return stage.Step{Kind: stage.StepMount, FSType: "overlay", Source: dir, Target: dir,
		Flags: unix.MS_NOSUID | unix.MS_NODEV,
		Data:  "lowerdir=" + dir + ",upperdir=" + upper + ",workdir=" + work,
		Mkdir: []string{upper, work}}, nil
}

// cmdPaths names CMD's file on the host, as the exec stage will find it
// inside: a path with a slash as it is (relative to the caller's directory
// when that is CMD's), a bare name through the run's PATH. When it is a
// symbolic link, what it points to is named too: exec follows it.
func cmdPaths(s *Spec, wd string) []string {
	name := s.Args[0]
	var p string
	switch {
	case filepath.IsAbs(name):
		p = filepath.Clean(name)
	case strings.Contains(name, "/"):
		if wd == "" {
			return nil // relative to Spec.Dir, inside the sandbox
		}
		p = filepath.Join(wd, name)
	default:
		if p = lookPathIn(name, s.Env); p == "" {
			return nil
		}
	}
	// A CMD missing on the host stays missing inside: exit status 127, not
	// a failure to bind it.
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	paths := []string{p}
	if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
		paths = append(paths, real)
	}
	return paths
}

// lookPathIn finds an executable name in env's PATH, as execvp would.
func lookPathIn(name string, env []string) string {
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue // relative to a directory the plan cannot know yet
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && unix.Access(p, unix.X_OK) == nil {
			return p
		}
	}
	return ""
}

// ShowsHostPath says whether the host's path p may appear at p inside a
// run of s, so that a mask there (an empty mount over p, which hides only
// what appears at p) is worth its mount. Under the host's root, p appears
// unless it is in a private directory, where only the caller's working
// directory and CMD's own file stay in view; under a HostRoot, at or above
// one of its Paths; under a root of the Spec's own, nowhere. A bind of a
// host path at that same path shows it too. In doubt (a symlink on the
// way, a CMD looked up on PATH), it says yes.
func (s *Spec) ShowsHostPath(p string) bool {
	if !filepath.IsAbs(p) {
		return true
	}
	p = filepath.Clean(p)
	if s.showsAt(p) {
		return true
	}
	real, err := resolveExisting(p)
	return err != nil || (real != p && s.showsAt(real))
}

// resolveExisting follows the symlinks of p's longest existing prefix.
func resolveExisting(p string) (string, error) {
	rest := ""
	for q := p; ; q = filepath.Dir(q) {
		r, err := filepath.EvalSymlinks(q)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) || q == "/" {
			return "", err
		}
		rest = filepath.Join(filepath.Base(q), rest)
	}
}

func (s *Spec) showsAt(p string) bool {
	related := func(a, b string) bool { return under(a, b) || under(b, a) }
	for _, m := range s.Mounts {
		if m.Type == MountBind && related(p, m.Source) && related(p, m.Destination) {
			return true
		}
	}
	switch {
	case s.Root != "" || s.Snapshot != nil:
		return false
	case s.HostRoot != nil:
		for _, hp := range s.HostRoot.Paths {
			if related(p, hp) {
				return true
			}
		}
		return false
	case !inPrivateDir(p):
		return true
	}
	if s.Dir == "" {
		if wd, err := os.Getwd(); err != nil || related(p, wd) {
			return true
		}
	}
	return len(s.Args) > 0 && (!filepath.IsAbs(s.Args[0]) || related(p, s.Args[0]))
}
