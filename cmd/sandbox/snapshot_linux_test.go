package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"golang.org/x/sys/unix"
)

// storeCmd is sandboxCmd with a store of the test's own.
func storeCmd(t *testing.T, store string, args ...string) *exec.Cmd {
	cmd := sandboxCmd(t, args...)
	cmd.Env = append(cmd.Env, "SANDBOX_STORE="+store)
	return cmd
}

func output(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v\n%s", cmd.Args[1:], err, out)
	}
	return string(out)
}

func TestSnapshotCommands(t *testing.T) {
	needRoot(t)
	store := t.TempDir()
	root := fixtures.Busybox(t)
	if out := output(t, storeCmd(t, store, "snapshot", "import", "base", root)); !strings.HasPrefix(out, "imported base: ") {
		t.Errorf("import: %q", out)
	}
	// The natural way to build a layered environment.
	output(t, storeCmd(t, store, "exec", "--root", "base", "--commit", "base+data", "--", "sh", "-c", "echo v1 > /etc/data; rm /bin/vi"))
	if out := output(t, storeCmd(t, store, "exec", "--root", "base+data", "--", "cat", "/etc/data")); out != "v1\n" {
		t.Errorf("run on the committed snapshot: %q", out)
	}
	if out := output(t, storeCmd(t, store, "snapshot", "diff", "base+data")); out != "M /bin\nD /bin/vi\nM /etc\nA /etc/data\n" {
		t.Errorf("diff:\n%s", out)
	}
	ls := output(t, storeCmd(t, store, "snapshot", "ls"))
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[2], "base+data") || !strings.Contains(lines[2], " base ") {
		t.Errorf("ls:\n%s", ls)
	}
	if out := output(t, storeCmd(t, store, "snapshot", "inspect", "base+data")); !strings.Contains(out, `"parent": "base"`) {
		t.Errorf("inspect:\n%s", out)
	}
	rm := storeCmd(t, store, "snapshot", "rm", "base")
	if out, err := rm.CombinedOutput(); err == nil || rm.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "base is the parent of base+data") {
		t.Errorf("rm of a parent: %q %v", out, err)
	}
	tarFile := filepath.Join(t.TempDir(), "x.tar")
	output(t, storeCmd(t, store, "snapshot", "export", "base+data", tarFile))
	if out, err := exec.Command("tar", "-xOf", tarFile, "etc/data").Output(); err != nil || string(out) != "v1\n" {
		t.Errorf("export: %q %v", out, err)
	}
	output(t, storeCmd(t, store, "snapshot", "rm", "base+data"))
	output(t, storeCmd(t, store, "snapshot", "rm", "base"))
	if out := output(t, storeCmd(t, store, "snapshot", "ls")); strings.Count(out, "\n") != 1 {
		t.Errorf("ls after rm:\n%s", out)
	}

	t.Run("commit needs a snapshot root", func(t *testing.T) {
		cmd := storeCmd(t, store, "exec", "--commit", "x", "--", "true")
		if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "--commit: needs --root NAME") {
			t.Errorf("--commit without --root: %q", out)
		}
	})
}

// TestSnapshotCrash kills the runner mid-import and mid-run of a commit,
// then checks that the store still lists and runs, and that gc clears what
// the dead processes left.
func TestSnapshotCrash(t *testing.T) {
	needRoot(t)
	store := t.TempDir()
	root := fixtures.Busybox(t)
	output(t, storeCmd(t, store, "snapshot", "import", "base", root))

	// An import big enough to be killed half way: many small files.
	big := t.TempDir()
	for i := 0; i < 40; i++ {
		d := filepath.Join(big, "d", strings.Repeat("x", i%7+1), time.Now().Format("150405")+string(rune('a'+i%26)))
		os.MkdirAll(d, 0o755)
		for j := 0; j < 250; j++ {
			os.WriteFile(filepath.Join(d, "f"+strings.Repeat("y", j%5)+string(rune('a'+j%26))+time.Now().Format(".000000000")), []byte("data"), 0o644)
		}
	}
	imp := storeCmd(t, store, "snapshot", "import", "half", big)
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	imp.Process.Kill()
	imp.Wait()

	// A run that would commit, killed while it runs: its active snapshot
	// stays behind, owned by a dead process.
	run := storeCmd(t, store, "exec", "--root", "base", "--commit", "never", "--", "sh", "-c", "echo ready; sleep 30")
	stdout, _ := run.StdoutPipe()
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	stdout.Read(buf)
	runDir := strings.TrimPrefix(run.Env[len(run.Env)-2], "SANDBOX_RUN_DIR=")
	run.Process.Kill()
	run.Wait()

	ls := output(t, storeCmd(t, store, "snapshot", "ls"))
	if strings.Contains(ls, "never") || (strings.Contains(ls, "half") && !strings.Contains(ls, "half  committed")) {
		t.Errorf("ls after the crashes shows half-made snapshots:\n%s", ls)
	}
	if out := output(t, storeCmd(t, store, "exec", "--root", "base", "--", "echo", "still runs")); out != "still runs\n" {
		t.Errorf("a run after the crashes: %q", out)
	}
	gc := output(t, storeCmd(t, store, "gc", "--run-dir", runDir))
	if !strings.Contains(gc, "removed run ") || !strings.Contains(gc, "removed snapshot run-") {
		t.Errorf("gc after the crashes:\n%s", gc)
	}
	if again := output(t, storeCmd(t, store, "gc", "--run-dir", runDir)); again != "" {
		t.Errorf("a second gc still found:\n%s", again)
	}
	for _, d := range []string{"tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
			t.Errorf("store %s/ not empty after gc: %v", d, ents)
		}
	}
}

// TestSnapshotStoreFull imports into a store on a filesystem too small for
// the tree: the import fails with a clear error and exit 125, and leaves
// neither a snapshot nor a half-built layer.
func TestSnapshotStoreFull(t *testing.T) {
	needRoot(t)
	store := t.TempDir()
	if err := unix.Mount("tmpfs", store, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mounting a tiny tmpfs: %v", err)
	}
	defer unix.Unmount(store, unix.MNT_DETACH)
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, "big"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := storeCmd(t, store, "snapshot", "import", "big", big)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "no space left on device") {
		t.Errorf("import into a full store: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
	if ls := output(t, storeCmd(t, store, "snapshot", "ls")); strings.Count(ls, "\n") != 1 {
		t.Errorf("ls after the failed import:\n%s", ls)
	}
	var left []string
	filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") && !strings.HasSuffix(p, "/lock") {
			left = append(left, strings.TrimPrefix(p, store))
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("files left in the store: %v", left)
	}
}

// The import flags that choose among images: refused where they could not
// take effect, or when they name nothing.
func TestSnapshotImportFlags(t *testing.T) {
	needRoot(t)
	store := t.TempDir()
	root := fixtures.Busybox(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"platform without an architecture", []string{"snapshot", "import", "--platform", "linux", "x", root}, `--platform: "linux" is not OS/ARCH`},
		{"platform with an empty part", []string{"snapshot", "import", "--platform", "linux//v7", "x", root}, "is not OS/ARCH"},
		{"ref for ls", []string{"snapshot", "ls", "--ref", "x"}, "--parent, --ref and --platform are for import"},
		{"ref of a root directory", []string{"snapshot", "import", "--ref", "busybox", "x", root}, "the source is a root filesystem, not an image"},
		{"platform of a root directory", []string{"snapshot", "import", "--platform", "linux/amd64", "x", root}, "not an image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := storeCmd(t, store, tc.args...)
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit status %d, output %q; want 125 and %q", cmd.ProcessState.ExitCode(), out, tc.want)
			}
		})
	}
	if out := output(t, storeCmd(t, store, "snapshot", "ls")); strings.Count(out, "\n") != 1 {
		t.Errorf("refused imports left snapshots:\n%s", out)
	}
}
