package sandbox

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// uniqueID is an id of UniqueIDs held for one run: its lock file, open and
// locked, is what tells other runners it is taken.
type uniqueID struct {
	id   uint32
	lock *os.File
	// dir is removed, when empty, with the lock: a fallback's (below).
	dir string
}

// takeUniqueID finds an id of UniqueIDs that no other run holds and no
// account of the host has, and locks it. Lock files are removed on release;
// a runner that locked a file just removed finds it no longer at its path,
// and tries the next id.
//
// The locks live in IDLockDir, for every runner of the machine. Where that
// cannot be made (a read-only root, as in some containers), they live in
// fallback (the run directory's .ids), shared by the runners of that run
// directory, and the directory goes when its last lock does.
func takeUniqueID(fallback string) (*uniqueID, error) {
	r := UniqueIDs
	if r.Count == 0 {
		return nil, fmt.Errorf("%w: no unique ids: UniqueIDs is empty", ErrInvalidSpec)
	}
	dir, temp := IDLockDir, ""
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = unix.Access(dir, unix.W_OK) // there, and on a read-only root
	}
	if err != nil {
		if fallback == "" {
			return nil, fmt.Errorf("taking a unique id: %w", err)
		}
		dir, temp = fallback, fallback
	}
	var b [4]byte
	rand.Read(b[:])
	start := binary.LittleEndian.Uint32(b[:]) % r.Count
	for i := uint32(0); i < r.Count; i++ {
		id := r.First + (start+i)%r.Count
		if _, err := user.LookupId(strconv.FormatUint(uint64(id), 10)); err == nil {
			continue // an account of the host's
		}
		p := filepath.Join(dir, strconv.FormatUint(uint64(id), 10))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil && errors.Is(err, os.ErrNotExist) && temp != "" {
			// Another runner's release removed the fallback directory.
			if err = os.MkdirAll(dir, 0o700); err == nil {
				f, err = os.OpenFile(p, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("taking a unique id: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(p, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
			f.Close() // removed by its last holder after we opened it
			continue
		}
		return &uniqueID{id: id, lock: f, dir: temp}, nil
	}
	return nil, fmt.Errorf("taking a unique id: all %d of %d-%d are in use", r.Count, r.First, r.First+r.Count-1)
}

// release removes the lock file, then lets go of the id.
func (u *uniqueID) release() {
	os.Remove(u.lock.Name())
	u.lock.Close()
	if u.dir != "" {
		os.Remove(u.dir) // fails while another run holds an id there
	}
}

// ReservedID is an id of UniqueIDs held for a caller that must know it
// before its runs start (to give a directory to it, as a judge gives its
// build directory to the compiler's uid), as User.Unique holds one for a
// single run. No other run or reservation gets it until Release.
type ReservedID struct{ u *uniqueID }

// ReserveID takes an id of UniqueIDs that no live run, no other
// reservation and no host account has.
func ReserveID() (*ReservedID, error) {
	u, err := takeUniqueID("")
	if err != nil {
		return nil, err
	}
	return &ReservedID{u: u}, nil
}

// ID is the reserved uid (and gid).
func (r *ReservedID) ID() uint32 { return r.u.id }

// Release gives the id back.
func (r *ReservedID) Release() { r.u.release() }
