package hostcheck

import (
	"os"
	"syscall"
)

// isWhiteout: an overlay whiteout is a character device 0:0.
func isWhiteout(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}
