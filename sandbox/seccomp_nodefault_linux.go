//go:build linux && !amd64

package sandbox

import "golang.org/x/sys/unix"

// defaultFilter is nil where no precompiled default exists: it is assembled
// at the first run instead.
var defaultFilter []unix.SockFilter
