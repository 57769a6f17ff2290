//go:build !cgo

package snapshot

import (
	"fmt"
	"io"
)

// newZstdReader: the zstd decoder is libzstd's, which needs cgo.
func newZstdReader(io.Reader) (io.Reader, func(), error) {
	return nil, nil, fmt.Errorf("%w: zstd compression needs a build with cgo (this binary was built without)", ErrFormat)
}
