//go:build cgo && linux

package snapshot

import (
	"io"

	"github.com/DataDog/zstd"
)

// newZstdReader decodes a zstd stream with libzstd (bundled, built by
// cgo). The pure Go decoder this replaced (klauspost's) built a CRC-32C
// table at init: 0.15 ms of every start of this binary, a sandbox's run
// among them, for the rare import of a zstd layer. libzstd refuses a
// frame whose window is over 128 MiB (ZSTD_WINDOWLOG_LIMIT_DEFAULT), so a
// hostile frame cannot ask for more memory than that; zstdFrames says
// where the input ended inside a frame, which the binding does not.
func newZstdReader(r io.Reader) (io.Reader, func(), error) {
	z := zstd.NewReader(newZstdFrames(r))
	return z, func() { z.Close() }, nil
}
