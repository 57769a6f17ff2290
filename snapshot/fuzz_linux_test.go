package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzImportTar feeds the tar importer arbitrary archives (seeded with the
// hostile cases), on an empty root and on a parent. Whatever the input:
// no panic, nothing outside the store changes, a refusal leaves no
// snapshot, and what is imported exports and re-imports to the same tree.
//
// Each run builds a store, so runs are slow for a fuzzer (~150/s here);
// go test -fuzz FuzzImportTar -fuzzminimizetime 1s keeps the fuzzer from
// spending minutes minimising every new input.
func FuzzImportTar(f *testing.F) {
	needRoot(f)
	// The seeds aim their absolute paths and link targets at fixed, a
	// directory of this fuzz run's own; every input is checked against it
	// as well as against the directory beside its store.
	fixed, err := os.MkdirTemp("", "fuzz-outside-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(fixed) })
	writeFile(f, filepath.Join(fixed, "sentinel"), []byte("untouched"))
	for _, tc := range hostileCases(f, fixed) {
		f.Add(tarBytes(f, tc.ents), false)
		f.Add(tarBytes(f, tc.ents), true)
	}
	layers, _ := imageLayers(f)
	f.Add(layers[0], false)
	f.Add(layers[1], true)
	f.Add(compress(f, "gzip", layers[1]), true)
	f.Add(compress(f, "zstd", layers[0]), false)
	f.Add(tarBytes(f, []tent{{name: "a", typ: tar.TypeLink, link: "a"}, {name: "b/"}, {name: "b/.wh..wh..opq"}, {name: ".wh..wh..opq"}}), true)

	f.Fuzz(func(t *testing.T, data []byte, onParent bool) {
		ctx := context.Background()
		dir := t.TempDir()
		outside := filepath.Join(dir, "outside")
		os.Mkdir(outside, 0o755)
		writeFile(t, filepath.Join(outside, "sentinel"), []byte("untouched"))
		s, err := Open(Config{Root: filepath.Join(dir, "store")})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		opts := ImportOptions{}
		if onParent {
			importBase(t, s, "base", nil)
			opts.Parent = "base"
		}
		_, err = s.ImportReader(ctx, "x", bytes.NewReader(data), opts)
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("something appeared beside the store: %v", ents)
		}
		for _, out := range []string{outside, fixed} {
			ents, _ = os.ReadDir(out)
			if b, _ := os.ReadFile(filepath.Join(out, "sentinel")); len(ents) != 1 || string(b) != "untouched" {
				t.Fatalf("%s changed: %v %q", out, ents, b)
			}
		}
		if err != nil {
			if _, serr := s.Stat(ctx, "x"); !errors.Is(serr, ErrNotFound) {
				t.Fatalf("refused import (%v) left a snapshot", err)
			}
			if tmp, _ := os.ReadDir(filepath.Join(s.Root(), dirTmp)); len(tmp) != 0 {
				t.Fatalf("refused import left %d builds", len(tmp))
			}
			return
		}
		var first bytes.Buffer
		if err := s.Export(ctx, "x", &first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ImportReader(ctx, "again", bytes.NewReader(first.Bytes()), ImportOptions{Format: FormatTar, Devices: DevicesAllow}); err != nil {
			t.Fatalf("re-importing the export: %v", err)
		}
		want := tarTree(t, bytes.NewReader(first.Bytes()), true)
		if d := cmp.Diff(want, exportTree(t, s, "again", true)); d != "" {
			t.Fatalf("export of the re-import differs (-first +second):\n%s", d)
		}
	})
}
