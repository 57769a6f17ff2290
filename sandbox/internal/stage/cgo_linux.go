//go:build cgo

package stage

/*
#cgo CFLAGS: -std=gnu11 -Wall -Wextra -Wno-unused-parameter
#include <stdlib.h>
#include <linux/filter.h>
#include "stage.h"
*/
import "C"

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// cExecFromConfig is the C init stage's reading of a config message (after
// the length word), for the tests: the instructions it would send the exec
// stage with workdir dir, or ok false if it finds the message malformed.
func cExecFromConfig(msg []byte, dir string) (ec []byte, ok bool) {
	cmsg, cdir := C.CBytes(append([]byte{0}, msg...)), C.CString(dir)
	defer C.free(cmsg)
	defer C.free(unsafe.Pointer(cdir))
	var n C.size_t
	out := C.is_exec_from_config((*C.char)(unsafe.Add(cmsg, 1)), C.size_t(len(msg)), cdir, &n)
	if out == nil {
		return nil, false
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), true
}

// cInitFilter is PID 1's own seccomp filter, as the C init stage loads it,
// and the syscalls it means to let through, for the tests.
func cInitFilter() (prog []unix.SockFilter, allowed []uint32) {
	f := make([]unix.SockFilter, C.IS_INIT_MAXINSNS)
	n := C.is_init_filter((*C.struct_sock_filter)(unsafe.Pointer(&f[0])))
	nrs := make([]C.long, C.IS_INIT_MAXINSNS)
	m := C.is_init_syscalls(&nrs[0])
	for _, nr := range nrs[:m] {
		allowed = append(allowed, uint32(nr))
	}
	return f[:n], allowed
}
