package limits

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// readControl reads a small kernel file (a cgroup control file, a sysfs
// or procfs fact) whole, through a plain descriptor. cgroupfs and sysfs
// files are pollable, so os.Open would register each with the runtime's
// poller and make it non-blocking, and os.ReadFile would stat it: six
// syscalls more a file, for the dozen files a run reads. Nor is there a
// read for the end of the file after one that came back short: these
// files are generated whole at the read (seq_file fills what it is given,
// or ends), so a short read is the end.
func readControl(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		buf = buf[:len(buf)+n]
		if n < room {
			return buf, nil
		}
	}
}

// writeControl writes value to the kernel file path, which must exist
// (cgroupfs answers an O_CREAT of a missing file with EACCES, not ENOENT),
// through a plain descriptor: see readControl. O_TRUNC is for the tests'
// fake groups of regular files; cgroupfs ignores it.
func writeControl(path, value string) error {
	const flags = unix.O_WRONLY | unix.O_TRUNC | unix.O_CLOEXEC
	fd, err := unix.Open(path, flags, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(value))
	for err == unix.EINTR {
		_, err = unix.Write(fd, []byte(value))
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
