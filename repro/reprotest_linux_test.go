package repro

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// reprotestArgs make reprotest vary what sandbox repro varies: another
// user (reprotest skips user_group unless told which), and the domain
// name through sudo (its unshare -r fallback refuses user_group).
var reprotestArgs = []string{"--no-diffoscope", "--min-cpus=1"}

// reprotestVary is reprotest's --vary for every variation (only == ""),
// or for only one.
func reprotestVary(only string) []string {
	if only == "" {
		return []string{"--vary=user_group.available+=nobody:nogroup,domain_host.use_sudo=1"}
	}
	v := []string{"--vary=-all,+" + only}
	switch only {
	case UserGroup:
		v = append(v, "--vary=user_group.available+=nobody:nogroup")
	case DomainHost:
		v = append(v, "--vary=domain_host.use_sudo=1")
	}
	return v
}

// sudoShim drops the "-h localhost" that reprotest 0.7.23 passes to sudo,
// which sudo 1.9 (Debian 12) takes for a remote host and refuses with
// "a remote host may only be specified when listing privileges".
const sudoShim = `#!/bin/sh
if [ "$1" = "-h" ] && [ "$2" = "localhost" ]; then shift 2; fi
exec /usr/bin/sudo "$@"
`

// runReprotest runs Debian's reprotest on the fixture dir and reports
// whether it found it reproducible (exit status 0) or not (1).
func runReprotest(t *testing.T, dir, only string) (bool, time.Duration) {
	t.Helper()
	shim := t.TempDir()
	if err := os.WriteFile(filepath.Join(shim, "sudo"), []byte(sudoShim), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append(append(append([]string{}, reprotestArgs...), reprotestVary(only)...), "-s", dir, "sh build.sh", "out/*")
	cmd := exec.CommandContext(ctx, "reprotest", args...)
	// reprotest makes its build trees in $TMPDIR, which the build user
	// (nobody) must be able to enter: not t.TempDir, which is private.
	cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	begin := time.Now()
	err := cmd.Run()
	took := time.Since(begin)
	switch cmd.ProcessState.ExitCode() {
	case 0:
		return true, took
	case 1:
		return false, took
	}
	t.Fatalf("reprotest %q: %v\n%s", args, err, out.String())
	return false, took
}

// TestReprotestAgrees runs Debian's reprotest on every fixture that
// TestFixtures runs sandbox repro on: both must agree on reproducible or
// not; and, for a fixture that is not, reprotest varying only the
// variation sandbox repro names must find it not reproducible too
// (reprotest's own --auto-build is not used: on the __TIME__ fixture it
// blames every variation, or gives up, see docs/bench.md). About 5 to 10 s
// a reprotest run here, two at a time.
func TestReprotestAgrees(t *testing.T) {
	needRoot(t)
	needHost(t)
	for _, tool := range []string{"reprotest", "disorderfs", "faketime", "sudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps installs reprotest, disorderfs, faketime and sudo)", tool)
		}
	}
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Skip("reprotest's fileordering needs FUSE (disorderfs): no /dev/fuse")
	}
	// With user_group varied, reprotest mounts disorderfs as the varied
	// user (nobody), which can open /dev/fuse only where others may: the
	// kernel makes it 0666, some container runtimes 0600.
	if fi.Mode().Perm()&0o006 != 0o006 {
		t.Skipf("reprotest runs disorderfs as nobody, and /dev/fuse here is %v: others cannot open it", fi.Mode().Perm())
	}
	for _, fx := range fixtures {
		t.Run(fx.dir, func(t *testing.T) {
			t.Parallel()
			src, _ := filepath.Abs(filepath.Join("testdata", fx.dir))
			theirs, took := runReprotest(t, src, "")
			t.Logf("reprotest: reproducible %v in %v", theirs, took.Round(time.Millisecond))
			if theirs != fx.reproducible {
				t.Errorf("reprotest says reproducible %v, sandbox repro (TestFixtures) %v", theirs, fx.reproducible)
			}
			if fx.reproducible {
				return
			}
			if alone, _ := runReprotest(t, src, fx.culprits[0]); alone {
				t.Errorf("reprotest varying only %s says reproducible: sandbox repro blames it", fx.culprits[0])
			}
		})
	}
}
