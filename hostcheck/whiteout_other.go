//go:build !linux

package hostcheck

import "os"

func isWhiteout(fi os.FileInfo) bool { return false }
