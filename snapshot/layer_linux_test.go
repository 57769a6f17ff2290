package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestCopyLayer copies an upper layer with every kind of object overlayfs
// leaves in one and finds it the same: owners, modes, times, hard links,
// whiteouts, opaque markers and other xattrs, holes.
func TestCopyLayer(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	mk := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(os.Mkdir(filepath.Join(src, "a"), 0o750))
	mk(os.WriteFile(filepath.Join(src, "a", "f"), []byte("setuid\n"), 0o755))
	mk(os.Chmod(filepath.Join(src, "a", "f"), 0o4755|os.ModeSetuid))
	mk(os.Link(filepath.Join(src, "a", "f"), filepath.Join(src, "g")))
	mk(os.Lchown(filepath.Join(src, "a"), 1000, 100))
	mk(os.Symlink("/etc/passwd", filepath.Join(src, "s")))
	mk(os.Lchown(filepath.Join(src, "s"), 1000, 100))
	mk(unix.Mknod(filepath.Join(src, "w"), unix.S_IFCHR, 0))
	mk(unix.Mkfifo(filepath.Join(src, "p"), 0o640))
	mk(os.Mkdir(filepath.Join(src, "o"), 0o755))
	mk(unix.Lsetxattr(filepath.Join(src, "o"), opaqueXattr, []byte("y"), 0))
	mk(os.WriteFile(filepath.Join(src, "o", "x"), []byte("x"), 0o600))
	mk(unix.Lsetxattr(filepath.Join(src, "o", "x"), "user.note", []byte("kept"), 0))
	big, err := os.Create(filepath.Join(src, "sparse"))
	mk(err)
	_, err = big.WriteAt([]byte("data in the middle"), 32<<20)
	mk(err)
	mk(big.Truncate(64 << 20))
	mk(big.Close())

	mk(CopyLayer(context.Background(), dst, src))

	if diff := cmp.Diff(fsTree(t, src, true), fsTree(t, dst, true)); diff != "" {
		t.Errorf("copied layer (-src +dst):\n%s", diff)
	}
	if !isOpaque(filepath.Join(dst, "o")) {
		t.Error("the opaque marker was not copied")
	}
	var st unix.Stat_t
	mk(unix.Stat(filepath.Join(dst, "sparse"), &st))
	if st.Size != 64<<20 || st.Blocks*512 > 1<<20 {
		t.Errorf("sparse file: size %d, %d bytes allocated; want 64 MiB with its holes kept", st.Size, st.Blocks*512)
	}
	b, err := os.ReadFile(filepath.Join(dst, "g"))
	if err != nil || string(b) != "setuid\n" {
		t.Errorf("hard link: %q, %v", b, err)
	}
}
