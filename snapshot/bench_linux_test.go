package snapshot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// benchTree writes a root of dirs*files regular files of size bytes each,
// random (so neither sparse nor compressible), in a temp dir under
// /var/tmp (disk, not tmpfs), removed when the benchmark ends.
func benchTree(b *testing.B, dirs, files, size int) string {
	b.Helper()
	base, err := os.MkdirTemp("/var/tmp", "snapshot-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	root := filepath.Join(base, "root")
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, size)
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("usr/lib/d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < files; f++ {
			for i := 0; i+8 <= len(buf); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8; j++ {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.so", f)), buf, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return base
}

// BenchmarkClone compares the cost of a fresh root per run: an active
// snapshot (Prepare, overlay mount, unmount, Remove) against cp -a of the
// same tree, at ~100 MB and ~1 GB. The snapshot's cost should not depend on
// the size. -short skips the 1 GB tree (which takes ~30 s to set up).
func BenchmarkClone(b *testing.B) {
	needRoot(b)
	for _, sz := range []struct {
		name               string
		dirs, files, bytes int
	}{
		{"100MB", 100, 128, 8 << 10}, // 12800 files, 105 MB
		{"1GB", 256, 64, 64 << 10},   // 16384 files, 1.07 GB
	} {
		b.Run(sz.name, func(b *testing.B) {
			if testing.Short() && sz.dirs == 256 {
				b.Skip("-short: skipping the 1 GB tree")
			}
			base := benchTree(b, sz.dirs, sz.files, sz.bytes)
			src := filepath.Join(base, "root")
			s, err := Open(Config{Root: filepath.Join(base, "store")})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			info, err := s.Import(ctx, "root", src, ImportOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("tree: %d inodes, %d MB on disk", info.Inodes, info.Size>>20)
			target := filepath.Join(base, "mnt")
			if err := os.Mkdir(target, 0o755); err != nil {
				b.Fatal(err)
			}

			b.Run("prepare-mount-remove", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					key := fmt.Sprintf("run-%d", i)
					m, err := s.Prepare(ctx, key, "root")
					if err != nil {
						b.Fatal(err)
					}
					if err := MountAll(m, target); err != nil {
						b.Fatal(err)
					}
					if err := UnmountAll(target); err != nil {
						b.Fatal(err)
					}
					if err := s.Remove(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
			// The runner's other way: pin the root with a view and
			// stack a tmpfs upper of its own.
			b.Run("view-tmpfs-upper", func(b *testing.B) {
				scratch := filepath.Join(base, "scratch")
				os.Mkdir(scratch, 0o755)
				for i := 0; i < b.N; i++ {
					key := fmt.Sprintf("view-%d", i)
					m, err := s.View(ctx, key, "root")
					if err != nil {
						b.Fatal(err)
					}
					if err := unix.Mount("tmpfs", scratch, "tmpfs", 0, "size=64m"); err != nil {
						b.Fatal(err)
					}
					os.Mkdir(filepath.Join(scratch, "u"), 0o755)
					os.Mkdir(filepath.Join(scratch, "w"), 0o755)
					opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/u,workdir=%s/w", Lowerdirs(m)[0], scratch, scratch)
					if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
						b.Fatal(err)
					}
					if err := UnmountAll(target); err != nil {
						b.Fatal(err)
					}
					if err := UnmountAll(scratch); err != nil {
						b.Fatal(err)
					}
					if err := s.Remove(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("cp-a", func(b *testing.B) {
				dst := filepath.Join(base, "copy")
				for i := 0; i < b.N; i++ {
					if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
						b.Fatalf("cp -a: %v: %s", err, out)
					}
					b.StopTimer()
					os.RemoveAll(dst)
					b.StartTimer()
				}
			})
		})
	}
}

// BenchmarkPrepareRemove is the store's share alone, no mount.
func BenchmarkPrepareRemove(b *testing.B) {
	s := newStore(b, Config{})
	importBase(b, s, "base", nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key := fmt.Sprintf("run-%d", i)
		if _, err := s.Prepare(ctx, key, "base"); err != nil {
			b.Fatal(err)
		}
		if err := s.Remove(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
