package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
)

// countingReader counts what an import reads from its source, for Progress.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decompress sniffs r's first bytes: gzip, zstd or plain.
func decompress(r io.Reader) (io.Reader, func(), bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: gzip: %w", ErrFormat, err)
		}
		return z, func() { z.Close() }, true, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, done, err := newZstdReader(br)
		if err != nil {
			return nil, nil, false, err
		}
		return z, done, true, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, nil, false, fmt.Errorf("%w: xz compression (use plain, gzip or zstd)", ErrFormat)
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, nil, false, fmt.Errorf("%w: bzip2 compression (use plain, gzip or zstd)", ErrFormat)
	}
	return br, func() {}, false, nil
}

// cleanEntryPath turns an archive name into a path relative to the root.
// A leading slash is neutralised (the path is taken inside the root, with a
// warning); a path that climbs out with .. is refused.
func cleanEntryPath(name string) (string, *EntryError, error) {
	if name == "" {
		return "", nil, unsafeEntry(name, "empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", nil, unsafeEntry(name, "name holds a NUL byte")
	}
	trimmed := strings.TrimLeft(name, "/")
	c := path.Clean(trimmed)
	if trimmed == "" {
		c = "."
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", nil, unsafeEntry(name, "path escapes the root")
	}
	var warn *EntryError
	if trimmed != name && c != "." {
		warn = &EntryError{Entry: name, Reason: fmt.Sprintf("absolute path taken as %q inside the root", shorten(c))}
	}
	if len(c) > maxPathLen {
		return "", nil, unsafeEntry(name, "path longer than %d bytes", maxPathLen)
	}
	for _, comp := range strings.Split(c, "/") {
		if len(comp) > maxNameLen {
			return "", nil, unsafeEntry(name, "name %q longer than %d bytes", shorten(comp), maxNameLen)
		}
	}
	return c, warn, nil
}

// entryFromHeader validates a tar header. It returns a nil entry for
// headers that carry nothing to create (global PAX headers).
func entryFromHeader(h *tar.Header) (*entry, []*EntryError, error) {
	var warns []*EntryError
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil, nil, nil
	}
	p, w, err := cleanEntryPath(h.Name)
	if err != nil {
		return nil, nil, err
	}
	if w != nil {
		warns = append(warns, w)
	}
	if h.Uid < 0 || h.Gid < 0 || h.Uid >= math.MaxUint32 || h.Gid >= math.MaxUint32 {
		return nil, nil, unsafeEntry(h.Name, "owner %d:%d out of range", h.Uid, h.Gid)
	}
	e := &entry{Name: h.Name, Path: p, Mode: uint32(h.Mode) & 0o7777, UID: h.Uid, GID: h.Gid,
		Size: h.Size, ModTime: h.ModTime, ATime: h.AccessTime, Type: h.Typeflag}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		e.Type = tar.TypeReg
	case tar.TypeDir, tar.TypeFifo:
		e.Size = 0
	case tar.TypeSymlink:
		e.Linkname, e.Size = h.Linkname, 0
	case tar.TypeLink:
		t, w, err := cleanEntryPath(h.Linkname)
		if err != nil {
			var ee *EntryError
			if errors.As(err, &ee) {
				return nil, nil, unsafeEntry(h.Name, "hard link target %q: %s", shorten(h.Linkname), ee.Reason)
			}
			return nil, nil, err
		}
		if w != nil {
			warns = append(warns, &EntryError{Entry: h.Name, Reason: "hard link target " + w.Reason})
		}
		e.Linkname, e.Size = t, 0
	case tar.TypeChar, tar.TypeBlock:
		if h.Devmajor < 0 || h.Devminor < 0 || h.Devmajor > math.MaxUint32 || h.Devminor > math.MaxUint32 {
			return nil, nil, unsafeEntry(h.Name, "device number out of range")
		}
		e.Major, e.Minor, e.Size = uint32(h.Devmajor), uint32(h.Devminor), 0
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = v
		}
	}
	return e, warns, nil
}

// applyTar applies a tar stream through a.
func applyTar(ctx context.Context, a *applier, r io.Reader, warn func(error)) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		e, warns, err := entryFromHeader(h)
		if err != nil {
			return err
		}
		for _, w := range warns {
			if warn != nil {
				warn(w)
			}
		}
		if e == nil {
			continue
		}
		e.Body = tr
		if err := a.apply(e); err != nil {
			return err
		}
		hook("import:entry")
	}
}

// tarKind is what an archive's first entries say it holds.
type tarKind int

const (
	kindUnsure tarKind = iota // "./", a dir: layout's version file: look further
	kindRoot                  // a root filesystem
	kindImage                 // an image layout or an engine's save
)

// entryKind: names that open an OCI layout, a docker-archive or a dir:
// layout (tarred), never a root filesystem's first entry. Engines write
// blobs first: podman and skopeo's docker-archive <hex>.tar, Docker 25's
// blobs/, older docker saves <hex>/.
func entryKind(h *tar.Header) tarKind {
	n := strings.TrimLeft(h.Name, "/")
	for strings.HasPrefix(n, "./") {
		n = strings.TrimLeft(n[2:], "/")
	}
	n = strings.TrimSuffix(n, "/")
	switch n {
	case "", ".":
		if h.Typeflag == tar.TypeDir {
			return kindUnsure
		}
		return kindRoot
	case "version":
		if h.Typeflag == tar.TypeReg && h.Size < 256 {
			return kindUnsure
		}
		return kindRoot
	case "oci-layout", "index.json", "manifest.json", "repositories", "blobs":
		return kindImage
	}
	if strings.HasPrefix(n, "blobs/") {
		return kindImage
	}
	// <hex>, <hex>.json, <hex>.tar, <hex>.manifest.json, <hex>/...
	h64, _, _ := strings.Cut(n, "/")
	if i := strings.IndexByte(h64, '.'); i >= 0 {
		switch h64[i:] {
		case ".json", ".tar", ".manifest.json":
			h64 = h64[:i]
		}
	}
	if len(h64) == 64 && strings.Trim(h64, "0123456789abcdef") == "" {
		return kindImage
	}
	return kindRoot
}

// peekTar reads r's first tar headers (past a leading "./" and other
// entries that decide nothing) and returns a reader that replays everything
// read, and whether the archive looks like an image.
func peekTar(r io.Reader) (io.Reader, bool, error) {
	var buf bytes.Buffer
	tr := tar.NewReader(io.TeeReader(r, &buf))
	image := false
	for i := 0; i < 8; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if i == 0 {
				return nil, false, fmt.Errorf("%w: not a tar archive: %w", ErrFormat, err)
			}
			break // the applier reports it
		}
		if k := entryKind(h); k != kindUnsure {
			image = k == kindImage
			break
		}
	}
	return io.MultiReader(&buf, r), image, nil
}
