//go:build !cgo || !linux

package snapshot

import (
	"fmt"
	"io"
)

// newZstdReader: the zstd decoder is libzstd's, built by cgo on Linux.
func newZstdReader(io.Reader) (io.Reader, func(), error) {
	return nil, nil, fmt.Errorf("%w: zstd compression needs libzstd, which this binary was built without (cgo, on Linux)", ErrFormat)
}
