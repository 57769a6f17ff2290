package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

// staleNew is how old a ".new-" run directory without its lock file must be
// before GC takes it for debris: a live runner makes the lock file and
// renames the directory within microseconds.
const staleNew = time.Second

// GC removes what runners that died (SIGKILL, a crash, a power cut) left
// under runDir (DefaultRunDirFor when empty): run directories and the cgroups
// they name. It returns the IDs it cleaned. A run whose runner is alive
// holds the lock in its run directory, and is left alone. Everything else a
// run makes (mounts, processes) dies with its namespaces.
func GC(runDir string) ([]string, error) {
	if runDir == "" {
		// Per user: a rootless caller cleans its own runs.
		var err error
		if runDir, err = DefaultRunDirFor(); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading run directory: %w", err)
	}
	var cleaned []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || e.Name() == ".ids" { // the unique ids' locks (ids_linux.go)
			continue
		}
		dir := filepath.Join(runDir, e.Name())
		id, pending := strings.CutPrefix(e.Name(), ".new-")
		if _, err := os.Stat(filepath.Join(dir, "lock")); pending && errors.Is(err, os.ErrNotExist) {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleNew {
				continue
			}
		} else if live, err := locked(dir); err != nil || live {
			continue
		}
		if err := removeCgroup(dir, id); err != nil {
			errs = append(errs, fmt.Errorf("removing run %s: %w", id, err))
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing run %s: %w", id, err))
			continue
		}
		cleaned = append(cleaned, id)
	}
	return cleaned, errors.Join(errs...)
}

// locked reports whether a live runner holds the run directory's lock.
func locked(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, "lock"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		return true, nil
	}
	return false, err
}

// removeCgroup deletes the cgroup of a dead run, named by the cgroup root
// its runner wrote into the lock file. The root itself stays: removing it
// could fail a run starting at the same moment.
func removeCgroup(dir, id string) error {
	root, err := os.ReadFile(filepath.Join(dir, "lock"))
	if errors.Is(err, os.ErrNotExist) || len(root) == 0 {
		return nil // died before it made a cgroup
	}
	if err != nil {
		return err
	}
	cg, err := limits.Load(string(root), id)
	if errors.Is(err, limits.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Kill's error says which processes are left and where they wait;
	// Delete's would only say the group is busy.
	if err := cg.Kill(); err != nil {
		return err
	}
	return cg.Delete()
}
