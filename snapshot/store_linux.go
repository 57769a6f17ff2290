package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Store is an overlay snapshot store in one directory. It is safe for
// concurrent use by goroutines and by processes.
type Store struct {
	root      string
	maxLayers int

	mu    sync.Mutex // serialises this process's users of lockf
	lockf *os.File   // <root>/lock, flock'd for every change to the metadata

	leaseMu sync.Mutex
	leases  map[string]*os.File // key -> its directory, held with LOCK_SH while we own it
}

// record is a snapshot's metadata file, <root>/metadata/<name>.json.
type record struct {
	Name      string            `json:"name"`
	ID        string            `json:"id"`
	Kind      Kind              `json:"kind"`
	Parent    string            `json:"parent,omitempty"`
	Created   time.Time         `json:"created"`
	Labels    map[string]string `json:"labels,omitempty"`
	Size      int64             `json:"size,omitempty"`
	Inodes    int64             `json:"inodes,omitempty"`
	Flattened bool              `json:"flattened,omitempty"`
	// Lowers are the ids of the read-only layers a mount stacks, top first:
	// for a committed snapshot itself and then its parent's Lowers, cut at
	// a flattened layer; for an active snapshot or view its parent's Lowers.
	// Cached because committed snapshots are immutable and cannot be removed
	// while children stand on them, so Prepare reads one file, not a chain.
	Lowers []string `json:"lowers,omitempty"`
	// OwnerPID is informational; the owner's liveness is its flock on the
	// snapshot directory, which the kernel drops when the process dies,
	// whatever pid reuse happens later.
	OwnerPID int `json:"owner_pid,omitempty"`
}

const (
	dirSnapshots = "snapshots"
	dirMetadata  = "metadata"
	dirTmp       = "tmp"
	lockFile     = "lock"
	idLen        = 8
)

// overlayDefaults are explicit so that a host whose overlay module defaults
// differ still writes layers the store's own readers (export, diff,
// flatten) understand: no redirects, no metacopy, no index.
var overlayDefaults = []string{"index=off", "redirect_dir=off", "metacopy=off"}

// testHook lets the crash tests kill the process at named points.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// Open opens (creating if needed) the store in cfg.Root.
func Open(cfg Config) (*Store, error) {
	root := cfg.Root
	if root == "" {
		root = RootFromEnv()
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", cfg.Root, err)
	}
	// Layer paths go into overlay's option string, which splits on , and :.
	if strings.ContainsAny(root, ",:\n") {
		return nil, fmt.Errorf("opening store %s: path contains ',' ':' or a newline, which overlayfs options cannot carry", root)
	}
	for _, d := range []string{root, filepath.Join(root, dirSnapshots), filepath.Join(root, dirMetadata), filepath.Join(root, dirTmp)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("opening store %s: %w", root, err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(root, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	max := cfg.MaxLayers
	if max <= 0 {
		max = DefaultMaxLayers
	}
	return &Store{root: root, maxLayers: max, lockf: lf, leases: map[string]*os.File{}}, nil
}

// Close releases the store. Active snapshots and views this process owns
// become abandoned: GC will remove them.
func (s *Store) Close() error {
	s.leaseMu.Lock()
	for k, f := range s.leases {
		f.Close()
		delete(s.leases, k)
	}
	s.leaseMu.Unlock()
	return s.lockf.Close()
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) lock() error {
	s.mu.Lock()
	for {
		err := unix.Flock(int(s.lockf.Fd()), unix.LOCK_EX)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("locking store: %w", err)
		}
		return nil
	}
}

func (s *Store) unlock() {
	unix.Flock(int(s.lockf.Fd()), unix.LOCK_UN)
	s.mu.Unlock()
}

func (s *Store) snapDir(id string) string  { return filepath.Join(s.root, dirSnapshots, id) }
func (s *Store) layerDir(id string) string { return filepath.Join(s.root, dirSnapshots, id, "fs") }
func (s *Store) workDir(id string) string  { return filepath.Join(s.root, dirSnapshots, id, "work") }
func (s *Store) recordPath(name string) string {
	return filepath.Join(s.root, dirMetadata, name+".json")
}

func (s *Store) layerDirs(ids []string) []string {
	dirs := make([]string, len(ids))
	for i, id := range ids {
		dirs[i] = s.layerDir(id)
	}
	return dirs
}

func newID() string {
	var b [idLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) readRecord(name string) (*record, error) {
	b, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding record %s: %w", name, err)
	}
	if r.Name != name || r.ID == "" {
		return nil, fmt.Errorf("decoding record %s: inconsistent record (name %q, id %q)", name, r.Name, r.ID)
	}
	return &r, nil
}

// writeRecord replaces a record atomically: temp file, rename. durable
// records (committed snapshots) are fsynced with their directory so they
// survive power loss; records of active snapshots and views are not, since
// losing one only turns its directory into debris for GC, and the hot path
// should not wait for the disk.
func (s *Store) writeRecord(r *record, durable bool) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.root, dirMetadata, "."+r.Name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.recordPath(r.Name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing record %s: %w", r.Name, err)
	}
	if durable {
		return syncDir(filepath.Join(s.root, dirMetadata))
	}
	return nil
}

func (s *Store) deleteRecord(name string) error {
	err := os.Remove(s.recordPath(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing record %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

func (s *Store) exists(name string) (bool, error) {
	_, err := os.Lstat(s.recordPath(name))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// records reads every record; unreadable ones (only power loss can make
// them) are left to GC and skipped here, so that listing always works.
func (s *Store) records() ([]*record, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, dirMetadata))
	if err != nil {
		return nil, fmt.Errorf("reading metadata: %w", err)
	}
	var rs []*record
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		r, err := s.readRecord(name)
		if err != nil {
			continue
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	return rs, nil
}

func (s *Store) parentRecord(parent string) (*record, error) {
	p, err := s.readRecord(parent)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	if p.Kind != KindCommitted {
		return nil, fmt.Errorf("parent %s is %s: %w", parent, p.Kind, ErrNotCommitted)
	}
	return p, nil
}

// Prepare creates the active snapshot key: a fresh writable upper over the
// committed parent ("" for an empty root). It returns the mounts that
// assemble it; the caller performs them, and later calls Commit or Remove.
func (s *Store) Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error) {
	m, err := s.create(ctx, KindActive, key, parent, opts)
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", key, err)
	}
	return m, nil
}

// View creates the view key: a read-only mount of the committed parent
// that pins it (Remove of the parent is refused while the view exists).
// Its mounts are an overlay of the parent's layers, or a read-only bind
// when there is one layer; Lowerdirs extracts the layers for a caller that
// stacks its own upper.
func (s *Store) View(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error) {
	m, err := s.create(ctx, KindView, key, parent, opts)
	if err != nil {
		return nil, fmt.Errorf("viewing %s: %w", key, err)
	}
	return m, nil
}

func (s *Store) create(ctx context.Context, kind Kind, key, parent string, opts []Opt) ([]Mount, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateName(key); err != nil {
		return nil, err
	}
	if parent != "" {
		if err := ValidateName(parent); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.unlock()
	if ok, err := s.exists(key); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrExists, key)
		}
		return nil, err
	}
	r := &record{Name: key, Kind: kind, Parent: parent, Created: time.Now().UTC(), Labels: o.labels}
	if parent != "" {
		p, err := s.parentRecord(parent)
		if err != nil {
			return nil, err
		}
		r.Lowers = p.Lowers
	}
	id, err := s.mkSnapDir()
	if err != nil {
		return nil, err
	}
	r.ID = id
	fail := func(err error) ([]Mount, error) {
		os.RemoveAll(s.snapDir(id))
		return nil, err
	}
	hook("prepare:mkdir")
	for _, d := range []string{s.layerDir(id), s.workDir(id)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
	}
	if kind == KindActive && len(r.Lowers) > 0 {
		// overlayfs shows the upper's root as the merged root: it must
		// look like the parent's.
		if err := copyDirMeta(s.layerDir(id), s.layerDir(r.Lowers[0])); err != nil {
			return fail(err)
		}
	}
	mounts, err := s.mounts(r)
	if err != nil {
		return fail(err)
	}
	var lease *os.File
	if !o.detached {
		lease, err = os.Open(s.snapDir(id))
		if err == nil {
			err = unix.Flock(int(lease.Fd()), unix.LOCK_SH)
		}
		if err != nil {
			if lease != nil {
				lease.Close()
			}
			return fail(fmt.Errorf("taking ownership: %w", err))
		}
		r.OwnerPID = os.Getpid()
	}
	if err := s.writeRecord(r, false); err != nil {
		if lease != nil {
			lease.Close()
		}
		return fail(err)
	}
	if lease != nil {
		s.leaseMu.Lock()
		s.leases[key] = lease
		s.leaseMu.Unlock()
	}
	return mounts, nil
}

// mkSnapDir creates <root>/snapshots/<new id>.
func (s *Store) mkSnapDir() (string, error) {
	for {
		id := newID()
		err := os.Mkdir(s.snapDir(id), 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("creating snapshot directory: %w", err)
		}
		return id, nil
	}
}

// moveIn renames a finished build (or a committed upper) to
// <root>/snapshots/<new id>, never replacing anything.
func (s *Store) moveIn(dir string) (string, error) {
	for {
		id := newID()
		err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, s.snapDir(id), unix.RENAME_NOREPLACE)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("moving %s into the store: %w", dir, err)
		}
		return id, nil
	}
}

// Mounts returns the mounts of an active snapshot or view again.
func (s *Store) Mounts(ctx context.Context, key string) ([]Mount, error) {
	r, err := s.readRecord(key)
	if err != nil {
		return nil, fmt.Errorf("reading mounts of %s: %w", key, err)
	}
	m, err := s.mounts(r)
	if err != nil {
		return nil, fmt.Errorf("reading mounts of %s: %w", key, err)
	}
	return m, nil
}

func (s *Store) mounts(r *record) ([]Mount, error) {
	lowers := s.layerDirs(r.Lowers)
	switch r.Kind {
	case KindActive:
		if len(lowers) == 0 {
			return []Mount{{Type: "bind", Source: s.layerDir(r.ID), Options: []string{"rbind", "rw"}}}, nil
		}
		opts := append(append([]string{}, overlayDefaults...), "lowerdir="+strings.Join(lowers, ":"),
			"upperdir="+s.layerDir(r.ID), "workdir="+s.workDir(r.ID))
		if n := optionBytes(opts); n > maxOptionBytes {
			return nil, fmt.Errorf("overlay options of %d layers take %d bytes, more than a page (the store moved to a longer path?)", len(lowers), n)
		}
		return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	case KindView:
		switch len(lowers) {
		case 0:
			return []Mount{{Type: "bind", Source: s.layerDir(r.ID), Options: []string{"rbind", "ro"}}}, nil
		case 1:
			// overlayfs wants two lowerdirs when there is no upper.
			return []Mount{{Type: "bind", Source: lowers[0], Options: []string{"rbind", "ro"}}}, nil
		}
		opts := append(append([]string{"ro"}, overlayDefaults...), "lowerdir="+strings.Join(lowers, ":"))
		return []Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	}
	return nil, fmt.Errorf("%s is %s: %w", r.Name, r.Kind, ErrNotActive)
}

// maxOptionBytes: mount(2) copies at most one page of options, NUL included.
const maxOptionBytes = 4095

func optionBytes(opts []string) int {
	n := len(opts) - 1
	for _, o := range opts {
		n += len(o)
	}
	return n
}

// maxChain is the longest lowerdir chain a committed snapshot may have:
// MaxLayers, and short enough that Prepare's option string (chain, upper and
// work) fits in a page.
func (s *Store) maxChain() int {
	l := len(s.layerDir(strings.Repeat("x", idLen)))
	fixed := optionBytes(overlayDefaults) + len(",lowerdir=") + len(",upperdir=") + l + len(",workdir=") + l
	n := (maxOptionBytes - fixed + 1) / (l + 1)
	return min(n, s.maxLayers, 500)
}

// Commit turns the active snapshot key into the committed snapshot name,
// whose parent is key's parent. The caller must have unmounted key. When
// the chain would exceed the store's limit the new layer is flattened: it
// then holds the whole merged tree.
func (s *Store) Commit(ctx context.Context, name, key string, opts ...Opt) error {
	if err := s.commit(ctx, name, key, opts); err != nil {
		return fmt.Errorf("committing %s as %s: %w", key, name, err)
	}
	return nil
}

func (s *Store) commit(ctx context.Context, name, key string, opts []Opt) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidateName(key); err != nil {
		return err
	}
	r, err := s.readRecord(key)
	if err != nil {
		return err
	}
	if r.Kind != KindActive {
		return fmt.Errorf("%s is %s: %w", key, r.Kind, ErrNotActive)
	}
	if err := s.checkOwner(r); err != nil {
		return err
	}
	if ok, err := s.exists(name); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrExists, name)
		}
		return err
	}
	// The slow parts (flattening, measuring, syncing) run unlocked: the
	// upper belongs to its owner, and nothing removes a parent with children.
	var flat *build
	if len(r.Lowers)+1 > s.maxChain() {
		flat, err = s.flatten(ctx, append([]string{s.layerDir(r.ID)}, s.layerDirs(r.Lowers)...))
		if err != nil {
			return err
		}
		defer flat.discard()
		hook("commit:flattened")
	}
	usageDir := s.layerDir(r.ID)
	if flat != nil {
		usageDir = flat.fs()
	}
	u, err := diskUsage(usageDir)
	if err != nil {
		return err
	}
	if err := unix.Syncfs(int(s.lockf.Fd())); err != nil {
		return fmt.Errorf("syncing store: %w", err)
	}

	if err := s.lock(); err != nil {
		return err
	}
	trash, err := s.commitLocked(name, key, r, flat, u, o)
	s.unlock()
	if trash != "" {
		removeTrash(trash)
	}
	return err
}

// commitLocked switches the records; it returns what is left to delete.
func (s *Store) commitLocked(name, key string, r *record, flat *build, u Usage, o options) (string, error) {
	if ok, err := s.exists(name); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrExists, name)
		}
		return "", err
	}
	cur, err := s.readRecord(key)
	if err != nil {
		return "", err
	}
	if cur.ID != r.ID || cur.Kind != KindActive {
		return "", fmt.Errorf("%s changed during commit: %w", key, ErrNotActive)
	}
	if err := s.checkOwner(r); err != nil {
		return "", err
	}
	labels := r.Labels
	if o.labels != nil {
		labels = o.labels
	}
	c := &record{Name: name, Kind: KindCommitted, Parent: r.Parent, Created: time.Now().UTC(),
		Labels: labels, Size: u.Size, Inodes: u.Inodes}
	var leftover string
	if flat != nil {
		if c.ID, err = s.moveIn(flat.dir); err != nil {
			return "", err
		}
		flat.moved()
		c.Lowers, c.Flattened = []string{c.ID}, true
		leftover = s.snapDir(r.ID)
	} else {
		// A new id, so no moment exists when two records share a
		// directory: if we die after this rename, key's record points
		// nowhere and the new directory has no record, and GC clears both.
		if c.ID, err = s.moveIn(s.snapDir(r.ID)); err != nil {
			return "", err
		}
		c.Lowers = append([]string{c.ID}, r.Lowers...)
		leftover = s.workDir(c.ID)
	}
	hook("commit:renamed")
	if err := s.writeRecord(c, true); err != nil {
		if flat != nil {
			os.RemoveAll(s.snapDir(c.ID))
		} else {
			os.Rename(s.snapDir(c.ID), s.snapDir(r.ID))
		}
		return "", err
	}
	hook("commit:recorded")
	if err := s.deleteRecord(key); err != nil {
		return "", err
	}
	s.dropLease(key)
	// What remains (the old upper after a flatten, the overlay work dir)
	// is no part of any record: move it aside to delete after unlocking.
	trash := s.trashPath("rm-" + r.ID)
	if err := os.Rename(leftover, trash); err != nil {
		return "", nil // GC's business now
	}
	return trash, nil
}

// trashPath names a fresh path in tmp for something to delete.
func (s *Store) trashPath(prefix string) string {
	return filepath.Join(s.root, dirTmp, prefix+"-"+newID())
}

// checkOwner refuses to act on an active snapshot or view that another
// live process owns.
func (s *Store) checkOwner(r *record) error {
	if r.OwnerPID == 0 || r.OwnerPID == os.Getpid() || s.ownsLease(r.Name) {
		return nil
	}
	alive, f, err := ownerAlive(s.snapDir(r.ID))
	if f != nil {
		f.Close()
	}
	if err != nil {
		return err
	}
	if alive {
		return fmt.Errorf("%w: %s %s is owned by running process %d", ErrInUse, r.Kind, r.Name, r.OwnerPID)
	}
	return nil
}

func (s *Store) dropLease(key string) {
	s.leaseMu.Lock()
	if f := s.leases[key]; f != nil {
		f.Close()
		delete(s.leases, key)
	}
	s.leaseMu.Unlock()
}

// ownerAlive reports whether some process other than us holds the
// snapshot directory's ownership lock. It returns, locked, a descriptor
// the caller must close when the owner is dead (so that GC skips the
// directory while the caller deletes it).
func ownerAlive(dir string) (bool, *os.File, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		f.Close()
		return true, nil, nil
	}
	if err != nil {
		f.Close()
		return false, nil, err
	}
	return false, f, nil
}

// Remove deletes a snapshot. A committed snapshot with children (committed
// ones, or active snapshots and views standing on it) is refused, and so is
// an active snapshot or view that another live process owns.
func (s *Store) Remove(ctx context.Context, key string) error {
	if err := s.remove(ctx, key); err != nil {
		return fmt.Errorf("removing %s: %w", key, err)
	}
	return nil
}

func (s *Store) remove(ctx context.Context, key string) error {
	if err := ValidateName(key); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	trash, held, err := s.removeLocked(key)
	s.unlock()
	if trash != "" {
		removeTrash(trash)
	}
	if held != nil {
		held.Close()
	}
	return err
}

// removeLocked unlinks key's record and moves its directory into tmp, where
// the caller deletes it after unlocking (holding the returned descriptor's
// lock meanwhile, so GC leaves it alone).
func (s *Store) removeLocked(key string) (trash string, held *os.File, err error) {
	r, err := s.readRecord(key)
	if err != nil {
		return "", nil, err
	}
	switch r.Kind {
	case KindCommitted:
		if err := s.checkNoChildren(key); err != nil {
			return "", nil, err
		}
		// Locked so GC leaves it alone in tmp while we delete it; nobody
		// else locks a committed snapshot, so this does not wait.
		if f, err := os.Open(s.snapDir(r.ID)); err == nil {
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
				held = f
			} else {
				f.Close()
			}
		}
	default:
		s.leaseMu.Lock()
		mine := s.leases[key]
		s.leaseMu.Unlock()
		if mine != nil {
			held = mine
		} else if r.OwnerPID != 0 && r.OwnerPID != os.Getpid() {
			alive, f, err := ownerAlive(s.snapDir(r.ID))
			if err != nil {
				return "", nil, err
			}
			if alive {
				return "", nil, fmt.Errorf("%w: %s %s is owned by running process %d", ErrInUse, r.Kind, key, r.OwnerPID)
			}
			held = f
		}
	}
	trash = s.trashPath("rm-" + r.ID)
	if err := os.Rename(s.snapDir(r.ID), trash); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.leaseMu.Lock()
			if held != nil && held == s.leases[key] {
				held = nil // still ours: the snapshot stays
			}
			s.leaseMu.Unlock()
			return "", held, fmt.Errorf("moving %s to trash: %w", r.ID, err)
		}
		trash = ""
	}
	s.leaseMu.Lock()
	delete(s.leases, key)
	s.leaseMu.Unlock()
	hook("remove:moved")
	if err := s.deleteRecord(key); err != nil {
		return trash, held, err
	}
	return trash, held, nil
}

func (s *Store) checkNoChildren(name string) error {
	rs, err := s.records()
	if err != nil {
		return err
	}
	var users, children []string
	for _, c := range rs {
		if c.Parent != name {
			continue
		}
		if c.Kind == KindCommitted {
			children = append(children, c.Name)
		} else {
			u := string(c.Kind) + " " + c.Name
			if c.OwnerPID != 0 {
				u += fmt.Sprintf(" (pid %d)", c.OwnerPID)
			}
			users = append(users, u)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("%w: %s is the parent of %s", ErrInUse, name, strings.Join(users, ", "))
	}
	if len(children) > 0 {
		return fmt.Errorf("%w: %s is the parent of %s", ErrHasChildren, name, strings.Join(children, ", "))
	}
	return nil
}

// Stat describes one snapshot.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateName(key); err != nil {
		return Info{}, fmt.Errorf("stating %s: %w", key, err)
	}
	r, err := s.readRecord(key)
	if err != nil {
		return Info{}, fmt.Errorf("stating %s: %w", key, err)
	}
	return s.info(r), nil
}

func (s *Store) info(r *record) Info {
	i := Info{Name: r.Name, Kind: r.Kind, Parent: r.Parent, Created: r.Created, Labels: r.Labels,
		Size: r.Size, Inodes: r.Inodes, Layers: len(r.Lowers), Flattened: r.Flattened,
		OwnerPID: r.OwnerPID, ID: r.ID, Path: s.layerDir(r.ID)}
	if r.Kind == KindView {
		i.Path = ""
	}
	return i
}

// Walk calls fn for every snapshot, in name order. Records written or
// removed meanwhile may or may not be seen.
func (s *Store) Walk(ctx context.Context, fn func(context.Context, Info) error) error {
	rs, err := s.records()
	if err != nil {
		return fmt.Errorf("walking snapshots: %w", err)
	}
	for _, r := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ctx, s.info(r)); err != nil {
			return err
		}
	}
	return nil
}

// Usage measures a snapshot's own layer: recorded at commit for committed
// snapshots, walked now for active ones.
func (s *Store) Usage(ctx context.Context, key string) (Usage, error) {
	r, err := s.readRecord(key)
	if err != nil {
		return Usage{}, fmt.Errorf("measuring %s: %w", key, err)
	}
	switch r.Kind {
	case KindCommitted:
		return Usage{Size: r.Size, Inodes: r.Inodes}, nil
	case KindView:
		return Usage{}, nil
	}
	u, err := diskUsage(s.layerDir(r.ID))
	if err != nil {
		return Usage{}, fmt.Errorf("measuring %s: %w", key, err)
	}
	return u, nil
}
