package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"base", true},
		{"run-1_2.3", true},
		{"sha256:0123abcd", true},
		{"user@host+x", true},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-flag", false},
		{"a/b", false},
		{"../etc", false},
		{"a b", false},
		{"a\x00b", false},
		{strings.Repeat("a", MaxNameLen), true},
		{strings.Repeat("a", MaxNameLen+1), false},
	} {
		t.Run(fmt.Sprintf("%q", shorten(tc.name)), func(t *testing.T) {
			err := ValidateName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !isErr(err, ErrInvalidName) {
				t.Fatalf("error %v is not ErrInvalidName", err)
			}
		})
	}
}

// importBase makes a small committed snapshot from a tar.
func importBase(t testing.TB, s *Store, name string, ents []tent) Info {
	t.Helper()
	if ents == nil {
		ents = []tent{
			{name: "./", mode: 0o750},
			{name: "etc/"},
			{name: "etc/hostname", body: "base\n"},
			{name: "etc/keep", body: "keep\n"},
			{name: "etc/gone", body: "gone\n"},
			{name: "lib/"},
			{name: "lib/a", body: "a"},
			{name: "lib/sub/"},
			{name: "lib/sub/b", body: "b"},
		}
	}
	info, err := s.ImportReader(context.Background(), name, bytes.NewReader(tarBytes(t, ents)), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "base", nil)

	mounts, err := s.Prepare(ctx, "work", "base")
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, mounts, func(root string) {
		st, err := os.Stat(root)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o750 {
			t.Errorf("root of the active snapshot has mode %o, want the parent's 750", got)
		}
		writeFile(t, filepath.Join(root, "etc/hostname"), []byte("child\n"))
		writeFile(t, filepath.Join(root, "new"), []byte("new\n"))
		if err := os.Remove(filepath.Join(root, "etc/gone")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(root, "lib")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "lib"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "lib/c"), []byte("c"))
	})
	if err := s.Commit(ctx, "child", "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "work"); !isErr(err, ErrNotFound) {
		t.Errorf("Stat(work) after commit = %v, want ErrNotFound", err)
	}

	want := map[string]string{".": "dir", "etc": "dir", "etc/hostname": "file:child\n", "etc/keep": "file:keep\n",
		"lib": "dir", "lib/c": "file:c", "new": "file:new\n"}
	if d := cmp.Diff(want, contents(exportTree(t, s, "child", false))); d != "" {
		t.Errorf("child (-want +got):\n%s", d)
	}
	vm, err := s.View(ctx, "look", "child")
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, vm, func(root string) {
		if d := cmp.Diff(want, contents(fsTree(t, root, false))); d != "" {
			t.Errorf("mounted child (-want +got):\n%s", d)
		}
	})
	if err := s.Remove(ctx, "look"); err != nil {
		t.Fatal(err)
	}
	wantBase := map[string]string{".": "dir", "etc": "dir", "etc/hostname": "file:base\n", "etc/keep": "file:keep\n",
		"etc/gone": "file:gone\n", "lib": "dir", "lib/a": "file:a", "lib/sub": "dir", "lib/sub/b": "file:b"}
	if d := cmp.Diff(wantBase, contents(exportTree(t, s, "base", false))); d != "" {
		t.Errorf("base changed (-want +got):\n%s", d)
	}

	changes, err := s.Diff(ctx, "child")
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []Change{
		{ChangeModified, "/etc"}, {ChangeDeleted, "/etc/gone"}, {ChangeModified, "/etc/hostname"},
		{ChangeModified, "/lib"}, {ChangeDeleted, "/lib/a"}, {ChangeAdded, "/lib/c"}, {ChangeDeleted, "/lib/sub"},
		{ChangeAdded, "/new"},
	}
	if d := cmp.Diff(wantChanges, changes); d != "" {
		t.Errorf("Diff(child) (-want +got):\n%s", d)
	}

	info, err := s.Stat(ctx, "child")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != KindCommitted || info.Parent != "base" || info.Layers != 2 || info.Size == 0 {
		t.Errorf("Stat(child) = %+v", info)
	}

	if err := s.Remove(ctx, "base"); !isErr(err, ErrHasChildren) || !strings.Contains(err.Error(), "child") {
		t.Errorf("Remove(base) with a child = %v, want ErrHasChildren naming child", err)
	}
	if err := s.Remove(ctx, "child"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "base"); err != nil {
		t.Fatal(err)
	}
	assertEmptyStore(t, s)
}

// assertEmptyStore checks that nothing is left: no records, layers, builds.
func assertEmptyStore(t testing.TB, s *Store) {
	t.Helper()
	for _, d := range []string{dirMetadata, dirSnapshots, dirTmp} {
		ents, err := os.ReadDir(filepath.Join(s.Root(), d))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s not empty: %v", d, names)
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "base", nil)
	if _, err := s.Prepare(ctx, "act", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		run  func() error
	}{
		{"prepare existing key", ErrExists, func() error { _, err := s.Prepare(ctx, "act", "base"); return err }},
		{"prepare missing parent", ErrNotFound, func() error { _, err := s.Prepare(ctx, "x", "nope"); return err }},
		{"prepare on active parent", ErrNotCommitted, func() error { _, err := s.Prepare(ctx, "x", "act"); return err }},
		{"prepare bad key", ErrInvalidName, func() error { _, err := s.Prepare(ctx, "../x", "base"); return err }},
		{"prepare bad parent", ErrInvalidName, func() error { _, err := s.Prepare(ctx, "x", "a/b"); return err }},
		{"commit a view", ErrNotActive, func() error { return s.Commit(ctx, "c", "view") }},
		{"commit a committed", ErrNotActive, func() error { return s.Commit(ctx, "c", "base") }},
		{"commit onto a taken name", ErrExists, func() error { return s.Commit(ctx, "base", "act") }},
		{"commit missing", ErrNotFound, func() error { return s.Commit(ctx, "c", "nope") }},
		{"remove missing", ErrNotFound, func() error { return s.Remove(ctx, "nope") }},
		{"remove parent in use", ErrInUse, func() error { return s.Remove(ctx, "base") }},
		{"import taken name", ErrExists, func() error {
			_, err := s.ImportReader(ctx, "base", bytes.NewReader(tarBytes(t, nil)), ImportOptions{})
			return err
		}},
		{"import bad name", ErrInvalidName, func() error {
			_, err := s.ImportReader(ctx, "a/b", bytes.NewReader(tarBytes(t, nil)), ImportOptions{})
			return err
		}},
		{"import xz", ErrFormat, func() error {
			_, err := s.ImportReader(ctx, "xz", bytes.NewReader([]byte("\xfd7zXZ\x00rest")), ImportOptions{})
			return err
		}},
		{"mounts of committed", ErrNotActive, func() error { _, err := s.Mounts(ctx, "base"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !isErr(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
	if err := s.Remove(ctx, "view"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "act"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "base"); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyParent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	m, err := s.Prepare(ctx, "scratch", "")
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, m, func(root string) {
		writeFile(t, filepath.Join(root, "hello"), []byte("hi"))
	})
	if err := s.Commit(ctx, "first", "scratch"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".": "dir", "hello": "file:hi"}
	if d := cmp.Diff(want, contents(exportTree(t, s, "first", false))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A view over a one-layer chain is a read-only bind.
	vm, err := s.View(ctx, "v", "first")
	if err != nil {
		t.Fatal(err)
	}
	withMount(t, vm, func(root string) {
		if err := os.WriteFile(filepath.Join(root, "x"), nil, 0o644); err == nil {
			t.Error("writing into a view succeeded")
		}
	})
	if d := cmp.Diff([]string{s.layerDir(mustStat(t, s, "first").ID)}, Lowerdirs(vm)); d != "" {
		t.Errorf("Lowerdirs (-want +got):\n%s", d)
	}
}

func mustStat(t testing.TB, s *Store, key string) Info {
	t.Helper()
	i, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// 16 runs on one parent at once: each gets its own upper, sees only its
// own writes, and the parent is untouched.
func TestConcurrentPrepare(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "base", nil)
	const n = 16
	var wg sync.WaitGroup
	uppers := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = func() error {
				key := fmt.Sprintf("run-%d", i)
				m, err := s.Prepare(ctx, key, "base")
				if err != nil {
					return err
				}
				for _, o := range m[0].Options {
					if u, ok := strings.CutPrefix(o, "upperdir="); ok {
						uppers[i] = u
					}
				}
				target, err := os.MkdirTemp("", "snapshot-run-")
				if err != nil {
					return err
				}
				defer os.Remove(target)
				if err := MountAll(m, target); err != nil {
					return err
				}
				werr := os.WriteFile(filepath.Join(target, "etc/hostname"), []byte(key), 0o644)
				b, rerr := os.ReadFile(filepath.Join(target, "etc/hostname"))
				if err := UnmountAll(target); err != nil {
					return err
				}
				if werr != nil || rerr != nil {
					return fmt.Errorf("%s: write %v read %v", key, werr, rerr)
				}
				if string(b) != key {
					return fmt.Errorf("%s reads %q", key, b)
				}
				return s.Remove(ctx, key)
			}()
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, u := range uppers {
		if u == "" || seen[u] {
			t.Errorf("uppers not distinct: %v", uppers)
			break
		}
		seen[u] = true
	}
	if got := contents(exportTree(t, s, "base", false))["etc/hostname"]; got != "file:base\n" {
		t.Errorf("base's etc/hostname = %q", got)
	}
	var names []string
	s.Walk(ctx, func(_ context.Context, i Info) error { names = append(names, i.Name); return nil })
	if d := cmp.Diff([]string{"base"}, names); d != "" {
		t.Errorf("snapshots left (-want +got):\n%s", d)
	}
}

func TestWalkAndUsage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	importBase(t, s, "b", nil)
	if _, err := s.Prepare(ctx, "a", "b", WithLabels(map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "c", "b", Detached()); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.Walk(ctx, func(_ context.Context, i Info) error {
		got = append(got, fmt.Sprintf("%s %s parent=%q owner=%v labels=%v", i.Name, i.Kind, i.Parent, i.OwnerPID != 0, i.Labels))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`a active parent="b" owner=true labels=map[k:v]`,
		`b committed parent="" owner=false labels=map[]`,
		`c view parent="b" owner=false labels=map[]`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Walk (-want +got):\n%s", d)
	}
	u, err := s.Usage(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if u.Inodes != 9 || u.Size <= 0 {
		t.Errorf("Usage(b) = %+v, want 9 inodes", u)
	}
	m, _ := s.Mounts(ctx, "a")
	withMount(t, m, func(root string) {
		writeFile(t, filepath.Join(root, "big"), bytes.Repeat([]byte("x"), 1<<20))
	})
	u, err = s.Usage(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size < 1<<20 {
		t.Errorf("Usage(a) = %+v, want at least 1 MiB", u)
	}
}

// Chains longer than the limit are flattened at commit, and the flattened
// layer still mounts, exports and diffs as its parent chain plus its change.
func TestFlatten(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{MaxLayers: 3})
	importBase(t, s, "l0", nil)
	want := contents(exportTree(t, s, "l0", false))
	parent := "l0"
	for i := 1; i <= 5; i++ {
		key := fmt.Sprintf("w%d", i)
		m, err := s.Prepare(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		withMount(t, m, func(root string) {
			f := fmt.Sprintf("f%d", i)
			writeFile(t, filepath.Join(root, f), []byte(f))
			want[f] = "file:" + f
			if i == 2 {
				os.Remove(filepath.Join(root, "etc/keep"))
				delete(want, "etc/keep")
			}
			if i == 4 {
				os.RemoveAll(filepath.Join(root, "lib"))
				for k := range want {
					if strings.HasPrefix(k, "lib") {
						delete(want, k)
					}
				}
			}
		})
		name := fmt.Sprintf("l%d", i)
		if err := s.Commit(ctx, name, key); err != nil {
			t.Fatal(err)
		}
		info := mustStat(t, s, name)
		if info.Layers > 3 {
			t.Errorf("%s stacks %d layers, limit 3", name, info.Layers)
		}
		if d := cmp.Diff(want, contents(exportTree(t, s, name, false))); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
		vm, err := s.View(ctx, "v", name)
		if err != nil {
			t.Fatal(err)
		}
		withMount(t, vm, func(root string) {
			if d := cmp.Diff(want, contents(fsTree(t, root, false))); d != "" {
				t.Errorf("mounted %s (-want +got):\n%s", name, d)
			}
		})
		if err := s.Remove(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		parent = name
	}
	l3 := mustStat(t, s, "l3")
	if !l3.Flattened || l3.Layers != 1 || l3.Parent != "l2" {
		t.Errorf("l3 = %+v, want flattened, 1 layer, parent l2", l3)
	}
	ch, err := s.Diff(ctx, "l3")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]Change{{ChangeAdded, "/f3"}}, ch); d != "" {
		t.Errorf("Diff of a flattened layer (-want +got):\n%s", d)
	}
	if err := s.Remove(ctx, "l2"); !isErr(err, ErrHasChildren) {
		t.Errorf("Remove(l2) = %v, want ErrHasChildren", err)
	}
	if got := s.maxChain(); got != 3 {
		t.Errorf("maxChain = %d", got)
	}
	// The option-length limit, for a store with the default layer limit.
	s2 := &Store{root: "/var/lib/sandbox", maxLayers: 500}
	n := s2.maxChain()
	lowers := make([]string, n)
	for i := range lowers {
		lowers[i] = "abcd0123"
	}
	m, err := s2.mounts(&record{Kind: KindActive, ID: "abcd0123", Lowers: lowers})
	if err != nil {
		t.Fatalf("maxChain %d: %v", n, err)
	}
	if l := optionBytes(m[0].Options); l > maxOptionBytes || n < 90 {
		t.Errorf("maxChain %d makes %d option bytes", n, l)
	}
	sort.Strings(nil)
}
