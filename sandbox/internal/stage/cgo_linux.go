//go:build cgo

package stage

/*
#cgo CFLAGS: -std=gnu11 -Wall -Wextra -Wno-unused-parameter
#include <stdlib.h>
#include "stage.h"
*/
import "C"

import "unsafe"

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
