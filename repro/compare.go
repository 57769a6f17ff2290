package repro

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Hash is one artifact as one build made it.
type Hash struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Missing: the build made no such file.
	Missing bool `json:"missing,omitempty"`
	// Symlink: the artifact is a symlink; SHA256 is its target's string.
	Symlink bool `json:"symlink,omitempty"`
	// Special: neither a file nor a symlink (a fifo, a socket, a device);
	// SHA256 is its type's.
	Special bool `json:"special,omitempty"`

	path  string // where it was read, for diffs
	mtime time.Time
}

func (h Hash) same(o Hash) bool {
	return h.Missing == o.Missing && h.Symlink == o.Symlink && h.Special == o.Special && h.SHA256 == o.SHA256 && h.Size == o.Size
}

// hashFile reads one artifact at its host path p.
func hashFile(p string) (Hash, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return Hash{}, err
	}
	h := Hash{path: p, mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return Hash{}, err
		}
		sum := sha256.Sum256([]byte(t))
		h.SHA256, h.Size, h.Symlink = hex.EncodeToString(sum[:]), int64(len(t)), true
		return h, nil
	}
	if !fi.Mode().IsRegular() {
		// A fifo would block a read forever, a device is not the build's:
		// such an artifact is compared by its type alone.
		kind := fi.Mode().Type().String()
		sum := sha256.Sum256([]byte(kind))
		h.SHA256, h.Special = hex.EncodeToString(sum[:]), true
		return h, nil
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Hash{}, err
	}
	defer f.Close()
	sum := sha256.New()
	if h.Size, err = io.Copy(sum, f); err != nil {
		return Hash{}, err
	}
	h.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return h, nil
}

// maxDiffLines bounds a difference's description in the report.
const maxDiffLines = 60

// describeDiff says how artifact rel differs between two builds: with
// diffoscope where installed (diffoscope is the path, "" for none), else
// with a summary of its own.
func describeDiff(ctx context.Context, diffoscope, rel string, a, b Hash) string {
	switch {
	case a.Missing:
		return rel + ": missing in the control build"
	case b.Missing:
		return rel + ": missing in the other build"
	case a.Special || b.Special:
		return rel + ": not a regular file in one build or both; compared by type alone"
	case a.Symlink || b.Symlink:
		ta, _ := os.Readlink(a.path)
		tb, _ := os.Readlink(b.path)
		return fmt.Sprintf("%s: symlink to %q, then %q", rel, ta, tb)
	}
	if diffoscope != "" {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, diffoscope, "--no-progress", "--text", "-", a.path, b.path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code == 1 && out.Len() > 0 {
			text := strings.NewReplacer(a.path, "control/"+rel, b.path, "experiment/"+rel).Replace(out.String())
			return truncLines(text, maxDiffLines)
		} else if err != nil && code != 0 {
			// diffoscope itself failed: say so, and fall back to our own.
			return summarize(rel, a.path, b.path) + fmt.Sprintf("\n(diffoscope failed: %v)", err)
		}
	}
	return summarize(rel, a.path, b.path)
}

func truncLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "")
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("\n... (%d more lines)", len(lines)-n)
}

// maxSummaryRead bounds what the own summary reads of an artifact.
const maxSummaryRead = 64 << 20

// summarize is the difference without diffoscope: the member that differs
// in a tar, zip, ar or gzip; a line diff for text; else the first
// differing byte.
func summarize(rel, pa, pb string) string {
	a, errA := readBounded(pa)
	b, errB := readBounded(pb)
	if errA != nil || errB != nil {
		return fmt.Sprintf("%s: cannot read: %v", rel, firstErr(errA, errB))
	}
	return rel + ": " + describeBytes(a, b)
}

func describeBytes(a, b []byte) string {
	if ma, ka := members(a); ka != "" {
		if mb, kb := members(b); kb == ka {
			return ka + " " + diffMembers(ma, mb)
		}
	}
	if isText(a) && isText(b) {
		return "text differs:\n" + lineDiff(string(a), string(b))
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return fmt.Sprintf("%d and %d bytes; first difference at offset %d (0x%x)", len(a), len(b), i, i)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSummaryRead))
}

func isText(b []byte) bool {
	return len(b) < 1<<20 && bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// member is one entry of an archive: its name, and everything else about
// it in one comparable string.
type member struct {
	name, meta string
	data       []byte
}

// members lists the archive in b, and its kind ("" when b is none).
func members(b []byte) ([]member, string) {
	switch {
	case len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, ""
		}
		inner, err := io.ReadAll(io.LimitReader(zr, maxSummaryRead))
		if err != nil {
			return nil, ""
		}
		meta := fmt.Sprintf("name=%q mtime=%d os=%d", zr.Name, zr.ModTime.Unix(), zr.OS)
		if ms, kind := members(inner); kind != "" {
			return append([]member{{name: "(gzip header)", meta: meta}}, ms...), "gzip of " + kind
		}
		return []member{{name: "(gzip header)", meta: meta}, {name: "(contents)", data: inner}}, "gzip"
	case len(b) >= 262 && string(b[257:262]) == "ustar":
		var ms []member
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			data, _ := io.ReadAll(tr)
			ms = append(ms, member{name: h.Name, data: data, meta: fmt.Sprintf("mode=%04o uid=%d gid=%d uname=%q gname=%q mtime=%d type=%c link=%q",
				h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime.Unix(), h.Typeflag, h.Linkname)})
		}
		return ms, "tar"
	case len(b) > 4 && string(b[:4]) == "PK\x03\x04":
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, ""
		}
		var ms []member
		for _, f := range zr.File {
			var data []byte
			if rc, err := f.Open(); err == nil {
				data, _ = io.ReadAll(io.LimitReader(rc, maxSummaryRead))
				rc.Close()
			}
			ms = append(ms, member{name: f.Name, data: data, meta: fmt.Sprintf("mode=%v modified=%s extra=%x comment=%q",
				f.Mode(), f.Modified.UTC().Format(time.RFC3339), f.Extra, f.Comment)})
		}
		return ms, "zip"
	case len(b) >= 8 && string(b[:8]) == "!<arch>\n":
		var ms []member
		rest := b[8:]
		for len(rest) >= 60 {
			hdr := rest[:60]
			size, err := strconv.Atoi(strings.TrimSpace(string(hdr[48:58])))
			if err != nil || size < 0 || 60+size > len(rest) {
				break
			}
			ms = append(ms, member{name: strings.TrimRight(strings.TrimSpace(string(hdr[:16])), "/"),
				meta: "date=" + strings.TrimSpace(string(hdr[16:28])) + " uid=" + strings.TrimSpace(string(hdr[28:34])) +
					" gid=" + strings.TrimSpace(string(hdr[34:40])) + " mode=" + strings.TrimSpace(string(hdr[40:48])),
				data: rest[60 : 60+size]})
			rest = rest[60+size:]
			if size%2 == 1 && len(rest) > 0 {
				rest = rest[1:]
			}
		}
		return ms, "ar"
	}
	return nil, ""
}

// diffMembers names the first difference between two archives' members.
func diffMembers(a, b []member) string {
	names := func(ms []member) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	na, nb := names(a), names(b)
	if strings.Join(na, "\x00") != strings.Join(nb, "\x00") {
		sa, sb := sortedCopy(na), sortedCopy(nb)
		if strings.Join(sa, "\x00") == strings.Join(sb, "\x00") {
			return fmt.Sprintf("members in another order: %s, then %s", listShort(na), listShort(nb))
		}
		return fmt.Sprintf("members differ: %s, then %s", listShort(na), listShort(nb))
	}
	for i := range a {
		switch {
		case a[i].meta != b[i].meta:
			return fmt.Sprintf("member %s: %s, then %s", a[i].name, a[i].meta, b[i].meta)
		case !bytes.Equal(a[i].data, b[i].data):
			return fmt.Sprintf("member %s: %s", a[i].name, describeBytes(a[i].data, b[i].data))
		}
	}
	return "members alike; the archive's own framing differs"
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func listShort(s []string) string {
	if len(s) > 8 {
		return "[" + strings.Join(s[:8], " ") + fmt.Sprintf(" ... %d more]", len(s)-8)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// lineDiff is a unified-style diff of two texts (LCS over lines; long
// texts are compared by their first maxDiffInput lines), at most
// maxDiffLines lines.
func lineDiff(a, b string) string {
	const maxDiffInput = 2000
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) > maxDiffInput {
		la = la[:maxDiffInput]
	}
	if len(lb) > maxDiffInput {
		lb = lb[:maxDiffInput]
	}
	// lcs[i][j]: the longest common subsequence of la[i:] and lb[j:].
	lcs := make([][]int32, len(la)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(lb)+1)
	}
	for i := len(la) - 1; i >= 0; i-- {
		for j := len(lb) - 1; j >= 0; j-- {
			if la[i] == lb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(la) || j < len(lb) {
		switch {
		case i < len(la) && j < len(lb) && la[i] == lb[j]:
			i, j = i+1, j+1
		case i < len(la) && (j == len(lb) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, fmt.Sprintf("%d: -%s", i+1, la[i]))
			i++
		default:
			out = append(out, fmt.Sprintf("%d: +%s", j+1, lb[j]))
			j++
		}
	}
	return truncLines(strings.Join(out, "\n"), maxDiffLines)
}
