package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// GC clears what crashed or killed processes left behind: builds in tmp
// whose builder is gone, half-written and broken metadata records, layer
// directories no record names, and active snapshots and views whose owner
// process is gone. With PruneLayers it also removes image layers nothing
// stands on. It never touches what a live process holds.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	rep, err := s.gc(ctx, opts)
	if err != nil {
		return rep, fmt.Errorf("collecting garbage: %w", err)
	}
	return rep, nil
}

// trashItem is a path GC deletes after unlocking the store, holding a
// lock on it meanwhile.
type trashItem struct {
	path string
	lock *os.File
}

func (s *Store) gc(ctx context.Context, opts GCOptions) (GCReport, error) {
	var rep GCReport
	if err := s.lock(); err != nil {
		return rep, err
	}
	trash, err := s.gcLocked(ctx, opts, &rep)
	s.unlock()
	for _, t := range trash {
		removeTrash(t.path)
		if t.lock != nil {
			t.lock.Close()
		}
	}
	return rep, err
}

func (s *Store) gcLocked(ctx context.Context, opts GCOptions, rep *GCReport) ([]trashItem, error) {
	var trash []trashItem
	tmpDir := filepath.Join(s.root, dirTmp)

	// Builds and deletions in progress hold a lock on their directory.
	ents, err := os.ReadDir(tmpDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		p := filepath.Join(tmpDir, e.Name())
		alive, held, err := ownerAlive(p)
		if err != nil {
			// Not lockable (a stray file we cannot open): it is debris.
			trash = append(trash, trashItem{path: p})
			rep.Dirs++
			continue
		}
		if !alive {
			trash = append(trash, trashItem{path: p, lock: held})
			rep.Dirs++
		}
	}

	// Records: temporary ones are half-written (every writer holds the
	// store lock, which we hold); undecodable ones are lost to power loss.
	mdDir := filepath.Join(s.root, dirMetadata)
	ents, err = os.ReadDir(mdDir)
	if err != nil {
		return trash, err
	}
	var recs []*record
	for _, e := range ents {
		p := filepath.Join(mdDir, e.Name())
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			os.Remove(p)
			rep.Records++
			continue
		}
		b, err := os.ReadFile(p)
		var r record
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil || r.Name != name || r.ID == "" || ValidateName(name) != nil {
			os.Remove(p)
			rep.Records++
			continue
		}
		recs = append(recs, &r)
	}

	// Records whose directory is gone (a crash between the steps of a
	// commit or a remove), and active snapshots and views whose owner died.
	live := map[string]*record{}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return trash, err
		}
		dir := s.snapDir(r.ID)
		if _, err := os.Lstat(dir); os.IsNotExist(err) {
			s.deleteRecord(r.Name)
			rep.Records++
			continue
		}
		if r.Kind != KindCommitted && r.OwnerPID != 0 && !s.ownsLease(r.Name) {
			alive, held, err := ownerAlive(dir)
			if err != nil {
				return trash, err
			}
			if !alive {
				t, err := s.trashSnapshot(r, held)
				if err != nil {
					return trash, err
				}
				trash = append(trash, t)
				rep.Snapshots = append(rep.Snapshots, r.Name)
				continue
			}
		}
		live[r.Name] = r
	}

	if opts.PruneLayers {
		for changed := true; changed; {
			changed = false
			children := map[string]bool{}
			for _, r := range live {
				if r.Parent != "" {
					children[r.Parent] = true
				}
			}
			var names []string
			for n, r := range live {
				if r.Kind == KindCommitted && r.Labels[LabelLayer] != "" && !children[n] {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				t, err := s.trashSnapshot(live[n], nil)
				if err != nil {
					return trash, err
				}
				trash = append(trash, t)
				rep.Snapshots = append(rep.Snapshots, n)
				delete(live, n)
				changed = true
			}
		}
	}

	// Directories no record names: a crash between creating a snapshot's
	// directory and writing its record.
	ids := map[string]bool{}
	for _, r := range live {
		ids[r.ID] = true
	}
	snapDir := filepath.Join(s.root, dirSnapshots)
	ents, err = os.ReadDir(snapDir)
	if err != nil {
		return trash, err
	}
	for _, e := range ents {
		if ids[e.Name()] {
			continue
		}
		p := s.trashPath("gc-" + e.Name())
		if err := os.Rename(filepath.Join(snapDir, e.Name()), p); err != nil {
			return trash, err
		}
		trash = append(trash, trashItem{path: p})
		rep.Dirs++
	}
	return trash, nil
}

func (s *Store) ownsLease(key string) bool {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.leases[key] != nil
}

// trashSnapshot unlinks r's record and moves its directory into tmp.
func (s *Store) trashSnapshot(r *record, held *os.File) (trashItem, error) {
	p := s.trashPath("gc-" + r.ID)
	if err := os.Rename(s.snapDir(r.ID), p); err != nil && !os.IsNotExist(err) {
		if held != nil {
			held.Close()
		}
		return trashItem{}, err
	}
	if err := s.deleteRecord(r.Name); err != nil {
		return trashItem{path: p, lock: held}, err
	}
	return trashItem{path: p, lock: held}, nil
}

// removeTrash is os.RemoveAll for the store's trash. overlayfs leaves its
// work/work directory with mode 0 in the upper's workdir; root removes it
// regardless, a rootless caller (who owns it) must first give itself
// access.
func removeTrash(path string) error {
	err := os.RemoveAll(path)
	if err == nil || os.Geteuid() == 0 {
		return err
	}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		if err != nil && d != nil && d.IsDir() {
			// Unreadable until the chmod above: walk it now.
			filepath.WalkDir(p, func(q string, e fs.DirEntry, _ error) error {
				if e != nil && e.IsDir() {
					os.Chmod(q, 0o700)
				}
				return nil
			})
			return fs.SkipDir
		}
		return nil
	})
	return os.RemoveAll(path)
}
