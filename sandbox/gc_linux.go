package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox/internal/stage"
	"golang.org/x/sys/unix"
)

// staleNew is how old a ".new-" entry that nobody holds locked must be
// before GC takes it for debris: a live runner makes its lock file, locks it
// and renames it within microseconds.
const staleNew = time.Second

// buildCacheTemp is the pattern of a build part being written
// (Container.saveBuild), beside stage.BuildCache.
const buildCacheTemp = ".build.*"

// GC removes what runners that died (SIGKILL, a crash, a power cut) left
// under runDir (DefaultRunDirFor when empty): runs' lock files and the
// cgroups they name. It returns the IDs it cleaned. A run whose runner is
// alive holds its lock file locked, and is left alone. Everything else a
// run makes (mounts, processes) dies with its namespaces. A run directory
// of an older runner (a directory named by the ID, holding the lock file)
// is cleaned the same way.
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
		if e.Name() == ".ids" { // the unique ids' locks (ids_linux.go)
			continue
		}
		// The last run's build part (Container.saveBuild) is kept; one
		// left half-written by a runner that died is not.
		if e.Name() == stage.BuildCache {
			continue
		}
		if strings.HasPrefix(e.Name(), buildCacheTemp[:len(buildCacheTemp)-1]) {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) >= staleNew {
				os.Remove(filepath.Join(runDir, e.Name()))
			}
			continue
		}
		path := filepath.Join(runDir, e.Name())
		lock := path
		if e.IsDir() {
			lock = filepath.Join(path, "lock")
		}
		id, pending := strings.CutPrefix(e.Name(), ".new-")
		if pending {
			// Perhaps made a moment ago and not yet locked.
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleNew {
				continue
			}
		}
		if live, err := locked(lock); err != nil || live {
			continue
		}
		if err := removeCgroup(lock, id); err != nil {
			errs = append(errs, fmt.Errorf("removing run %s: %w", id, err))
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("removing run %s: %w", id, err))
			continue
		}
		cleaned = append(cleaned, id)
	}
	return cleaned, errors.Join(errs...)
}

// locked reports whether a live runner holds a run's lock file.
func locked(lock string) (bool, error) {
	f, err := os.Open(lock)
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
// its runner wrote into its lock file. The root itself stays: removing it
// could fail a run starting at the same moment.
func removeCgroup(lock, id string) error {
	root, err := os.ReadFile(lock)
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
