package snapshot

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// zstdFrames follows frames of every kind to their end, and says where a
// stream stops inside one.
func TestZstdFrames(t *testing.T) {
	magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	raw := cat(magic, []byte{0x00, 0x50, 0x09, 0x00, 0x00, 'x'})                                     // window descriptor, one raw block
	sum := cat(magic, []byte{0x04, 0x50, 0x09, 0x00, 0x00, 'x', 1, 2, 3, 4})                         // and a checksum
	rle := cat(magic, []byte{0x00, 0x50, 0x2b, 0x00, 0x00, 'y'})                                     // one RLE block of five
	single := cat(magic, []byte{0x20, 0x05, 0x29, 0x00, 0x00, 'a', 'b', 'c', 'd', 'e'})              // single segment, a 1-byte size
	big := cat(magic, []byte{0xe3, 1, 2, 3, 4, 0, 0, 1, 0, 0, 0, 0, 0, 0x09, 0x00, 0x00, 'p'})       // 8-byte size, 4-byte dictionary id
	blocks := cat(magic, []byte{0x00, 0x50, 0x10, 0x00, 0x00, 'a', 'b', 0x11, 0x00, 0x00, 'c', 'd'}) // two blocks, the second last
	skippable := cat([]byte{0x53, 0x2a, 0x4d, 0x18, 0x03, 0x00, 0x00, 0x00}, []byte("abc"))
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"raw block", [][]byte{raw}},
		{"checksum", [][]byte{sum}},
		{"rle block", [][]byte{rle}},
		{"single segment", [][]byte{single}},
		{"content size and dictionary", [][]byte{big}},
		{"two blocks", [][]byte{blocks}},
		{"skippable", [][]byte{skippable}},
		{"frames in a row", [][]byte{skippable, raw, sum, single, rle, blocks, big}},
		{"from the writer", [][]byte{zstdCompress(t, bytes.Repeat([]byte("zstd frames "), 40000))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := cat(tc.frames...)
			ends := map[int]bool{}
			for i := range tc.frames {
				ends[len(cat(tc.frames[:i+1]...))] = true
			}
			for _, one := range []bool{false, true} {
				for n := 0; n <= len(stream); n++ {
					var r io.Reader = bytes.NewReader(stream[:n])
					if one {
						r = iotest.OneByteReader(r)
					}
					_, err := io.Copy(io.Discard, newZstdFrames(r))
					switch {
					case ends[n] && err != nil:
						t.Fatalf("%d bytes, where a frame ends (one byte at a time: %v): %v", n, one, err)
					case !ends[n] && !errors.Is(err, io.ErrUnexpectedEOF):
						t.Fatalf("%d of %d bytes (one byte at a time: %v): %v, want unexpected EOF", n, len(stream), one, err)
					}
				}
			}
		})
	}
}
