package limits

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// readControl reads a small kernel file (a cgroup control file, a sysfs
// or procfs fact) whole, through a plain descriptor. cgroupfs and sysfs
// files are pollable, so os.Open would register each with the runtime's
// poller and make it non-blocking, and os.ReadFile would stat it: six
// syscalls more a file, for the dozen files a run reads.
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
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
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
