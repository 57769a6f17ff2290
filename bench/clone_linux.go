package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"

	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/sys/unix"
)

// clone measures making a writable root from a tree of each size: a
// snapshot (Prepare, overlay mount, unmount, Remove) against cp -a and,
// where the filesystem has reflinks, cp --reflink=always.
func (s *suite) clone(ctx context.Context, p plan) ([]*Result, error) {
	storeDir := filepath.Join(s.dir, "store")
	store, err := snapshot.Open(snapshot.Config{Root: storeDir})
	if err != nil {
		return nil, fmt.Errorf("opening the snapshot store: %w", err)
	}
	// The trees go as soon as the scenario ends: gigabytes of disk.
	defer os.RemoveAll(storeDir)
	defer store.Close()
	var results []*Result
	var tasks []*task
	var seq atomic.Int64
	for _, size := range s.cfg.CloneSizes {
		group := sizeName(size)
		mk := func(backend string) *Result {
			r := result(ScenarioClone, group, backend, "wall", "ms", Lower)
			r.Bare, r.Sandbox = bCp, bSnapshot
			results = append(results, r)
			return r
		}
		rSnap, rCp, rRef := mk(bSnapshot), mk(bCp), mk(bReflink)
		rSnap.Note = "snapshot Prepare + overlay mount + unmount + Remove, over a committed snapshot of the tree"
		rCp.Note = "cp -a of the tree, on " + s.host.Filesystem + " (removing the copy is not timed)"
		rRef.Note = "cp -a --reflink=always"

		s.prog.Phase(p.scenario, "writing a "+group+" tree")
		name := "tree-" + group
		info, err := s.importTree(ctx, store, name, size)
		if err != nil {
			for _, r := range []*Result{rSnap, rCp, rRef} {
				skipOrFail(r, fmt.Errorf("making the %s tree: %w", group, err))
			}
			continue
		}
		note := fmt.Sprintf("%s tree: %d files and directories, %d MB", group, info.Inodes, info.Size>>20)
		rSnap.Note += "; " + note
		rCp.Note += "; " + note
		src := info.Path

		target := filepath.Join(s.dir, "mnt-"+group)
		if err := os.Mkdir(target, 0o755); err != nil {
			return results, err
		}
		s.atEnd(func() { unmountUnder(target) })
		t := newTask(single(func(ctx context.Context) (float64, error) {
			key := fmt.Sprintf("clone-%d", seq.Add(1))
			return timed(func() error {
				mounts, err := store.Prepare(ctx, key, name)
				if err != nil {
					return err
				}
				if err := snapshot.MountAll(mounts, target); err != nil {
					store.Remove(context.Background(), key)
					return err
				}
				if err := snapshot.UnmountAll(target); err != nil {
					return err
				}
				return store.Remove(ctx, key)
			})
		}), rSnap)
		tasks = append(tasks, t)

		copyTask := func(args ...string) *task {
			dst := filepath.Join(s.dir, "copy-"+group)
			t := newTask(single(func(ctx context.Context) (float64, error) {
				defer func() {
					os.RemoveAll(dst)
					// The copy's writeback and its removal's journal
					// commits would land in the next run, another
					// backend's: wait for them here, untimed.
					syncFS(s.dir)
				}()
				return timed(func() error {
					return runCmd(exec.CommandContext(ctx, "cp", append(args, src, dst)...))
				})
			}))
			// Seconds per run at 1 GB: a few runs are all the budget has.
			t.warmup, t.minN, t.maxN = 1, 3, 10
			if size >= 512<<20 {
				t.maxN = 5
			}
			if s.cfg.Smoke {
				t.warmup, t.minN, t.maxN = 0, s.cfg.MinN, s.cfg.MinN
			}
			return t
		}
		tc := copyTask("-a")
		tc.results = []*Result{rCp}
		tasks = append(tasks, tc)
		if err := reflinkWorks(s.dir); err != nil {
			skipOrFail(rRef, err)
		} else {
			tr := copyTask("-a", "--reflink=always")
			tr.results = []*Result{rRef}
			tasks = append(tasks, tr)
		}
	}
	return results, measure(ctx, p, tasks)
}

// importTree writes a tree of about size bytes and imports it into the
// store as a committed snapshot; the written tree is then removed (the
// snapshot's layer is the copy the cp backends copy).
func (s *suite) importTree(ctx context.Context, store *snapshot.Store, name string, size int64) (snapshot.Info, error) {
	src := filepath.Join(s.dir, "src-"+name)
	defer os.RemoveAll(src)
	if err := writeTree(src, size); err != nil {
		return snapshot.Info{}, err
	}
	return store.Import(ctx, name, src, snapshot.ImportOptions{})
}

// writeTree writes about size bytes of random (incompressible, not
// sparse) files under dir, shaped like a root filesystem's libraries:
// many small files in directories of 128, 8 KiB each up to 256 MB and
// 64 KiB beyond (a 1 GB root has fewer, larger files than a 100 MB one).
func writeTree(dir string, size int64) error {
	fileSize := int64(8 << 10)
	if size > 256<<20 {
		fileSize = 64 << 10
	}
	files := int(max(size/fileSize, 1))
	rng := rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'})
	buf := make([]byte, fileSize)
	for i := 0; i < files; i++ {
		d := filepath.Join(dir, "usr/lib", fmt.Sprintf("d%03d", i/128))
		if i%128 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d.so", i%128)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// reflinkWorks tries cp --reflink=always on a small file in dir.
func reflinkWorks(dir string) error {
	a, b := filepath.Join(dir, "reflink-probe"), filepath.Join(dir, "reflink-probe.copy")
	defer os.Remove(a)
	defer os.Remove(b)
	if err := os.WriteFile(a, []byte("probe"), 0o644); err != nil {
		return err
	}
	if err := runCmd(exec.Command("cp", "--reflink=always", a, b)); err != nil {
		return fmt.Errorf("%s: %w: %v", fsType(dir), ErrNotApplicable, err)
	}
	return nil
}

// syncFS writes back the filesystem that holds dir.
func syncFS(dir string) {
	if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Syncfs(fd)
		unix.Close(fd)
	}
}
