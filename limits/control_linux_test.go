package limits

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// readControl reads a file whole, in one read where it fits the buffer
// and in as many as it takes where it does not; the kernel's files too.
func TestReadControl(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 1024, 5000} {
		want := bytes.Repeat([]byte("x"), n)
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readControl(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("a file of %d bytes: %d bytes read, %v", n, len(got), err)
		}
	}
	want, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readControl("/proc/self/mountinfo"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("/proc/self/mountinfo: %d bytes read, want %d (%v)", len(got), len(want), err)
	}
	if _, err := readControl(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}
