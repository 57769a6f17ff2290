//go:build cgo

package stage

/*
#cgo CFLAGS: -std=gnu11 -Wall -Wextra -Wno-unused-parameter
#include <stdlib.h>
#include <linux/filter.h>
#include "stage.h"
#include "zygote.h"
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

// cSameBuild is the C side's reading of a build part (EncodeBuild's bytes)
// beside a config message (after the length word), for the tests: whether
// they build the same container (is_same_build), the build part's hash as
// the zygote takes it, and ok false if either is malformed.
func cSameBuild(build, msg []byte) (same bool, hash uint64, ok bool) {
	cb, cm := C.CBytes(append([]byte{0}, build...)), C.CBytes(append([]byte{0}, msg...))
	defer C.free(cb)
	defer C.free(cm)
	var h C.uint64_t
	rc := C.is_same_build_msgs((*C.char)(unsafe.Add(cb, 1)), C.size_t(len(build)), (*C.char)(unsafe.Add(cm, 1)), C.size_t(len(msg)), &h)
	return rc == 1, uint64(h), rc >= 0
}

// cReadBuild is what the zygote reads of the build part kept in run
// directory dir (zy_read_build): nil for none.
func cReadBuild(dir string) []byte {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	buf := C.malloc(C.ZY_MAXBUILD)
	defer C.free(buf)
	n := C.zy_read_build(cdir, (*C.char)(buf), C.ZY_MAXBUILD)
	if n == 0 {
		return nil
	}
	return C.GoBytes(buf, C.int(n))
}

// cBuildCache is BuildCache as the zygote reads it.
func cBuildCache() string { return C.ZY_BUILD_NAME }

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
