package snapshot

import (
	"encoding/binary"
	"io"
)

// zstdFrames passes a zstd stream through as the decoder reads it, and
// follows its frames' headers (RFC 8878: a frame's header, then blocks,
// each with a three-byte header giving its size, then an optional
// checksum; or a skippable frame with its size). libzstd's Go binding
// returns io.EOF where its input ends, whether or not its last frame did:
// a layer cut short would import as the part of it that came. At the
// input's end, zstdFrames says io.ErrUnexpectedEOF unless the stream
// ended where a frame did. It checks only the framing: the decoder reads
// everything inside.
type zstdFrames struct {
	r      io.Reader
	state  int
	hdr    [14]byte // the header being gathered: a magic, the rest of a frame's header, a block's header
	got    int      // bytes of hdr gathered
	need   int      // bytes of hdr the state wants
	skip   uint64   // bytes to pass over: a block's content, a checksum, a skippable frame
	sum    bool     // the current frame ends with a checksum
	frames int      // frames begun
}

const (
	zsMagic     = iota // a frame's magic number (4 bytes)
	zsFHD              // a frame's header descriptor (1 byte)
	zsFrameRest        // the rest of a frame's header: window, dictionary, content size
	zsBlock            // a block's header (3 bytes)
	zsSkipSize         // a skippable frame's size (4 bytes)
	zsBad              // not zstd framing: the decoder says what is wrong
)

func newZstdFrames(r io.Reader) *zstdFrames {
	return &zstdFrames{r: r, state: zsMagic, need: 4}
}

func (z *zstdFrames) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	z.follow(p[:n])
	if err == io.EOF && !z.ended() {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ended: the bytes so far are whole frames, at least one.
func (z *zstdFrames) ended() bool {
	return z.state == zsMagic && z.got == 0 && z.skip == 0 && z.frames > 0
}

func (z *zstdFrames) follow(b []byte) {
	for len(b) > 0 && z.state != zsBad {
		if z.skip > 0 {
			k := uint64(len(b))
			if k > z.skip {
				k = z.skip
			}
			b = b[k:]
			z.skip -= k
			continue
		}
		k := copy(z.hdr[z.got:z.need], b)
		z.got += k
		b = b[k:]
		if z.got == z.need {
			z.next()
		}
	}
}

// next reads the header gathered and says what comes after it.
func (z *zstdFrames) next() {
	h := z.hdr[:z.got]
	z.got = 0
	switch z.state {
	case zsMagic:
		m := binary.LittleEndian.Uint32(h)
		switch {
		case m == 0xfd2fb528:
			z.frames++
			z.state, z.need = zsFHD, 1
		case m&0xfffffff0 == 0x184d2a50:
			z.frames++
			z.state, z.need = zsSkipSize, 4
		default:
			z.state = zsBad
		}
	case zsFHD:
		fhd := h[0]
		single := fhd&0x20 != 0
		z.sum = fhd&0x04 != 0
		rest := [4]int{0, 1, 2, 4}[fhd&3] + [4]int{0, 2, 4, 8}[fhd>>6]
		if !single {
			rest++ // the window descriptor
		} else if fhd>>6 == 0 {
			rest++ // a single segment's content size takes one byte at least
		}
		z.state, z.need = zsFrameRest, rest
		if rest == 0 {
			z.state, z.need = zsBlock, 3
		}
	case zsFrameRest:
		z.state, z.need = zsBlock, 3
	case zsBlock:
		bh := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16
		last, typ, size := bh&1 != 0, (bh>>1)&3, uint64(bh>>3)
		switch typ {
		case 1: // RLE: one byte, repeated size times
			size = 1
		case 3:
			z.state = zsBad
			return
		}
		z.skip = size
		z.state, z.need = zsBlock, 3
		if last {
			if z.sum {
				z.skip += 4
			}
			z.state, z.need = zsMagic, 4
		}
	case zsSkipSize:
		z.skip = uint64(binary.LittleEndian.Uint32(h))
		z.state, z.need = zsMagic, 4
	}
}
