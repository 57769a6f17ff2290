package repro

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sbfixtures "github.com/sandbox-dev/sandbox/fixtures"
)

// envRootlessCheck makes the test binary, started as the unprivileged
// user, check the fixture in the directory it names and print the Report
// (see TestMain): a rootless Check is one whose process is not root, which
// a test running as root can only have in another process.
const envRootlessCheck = "SANDBOX_REPRO_TEST_ROOTLESS_CHECK"

// envCheckBisect=0 turns that check's bisection off (BenchmarkRootless).
const envCheckBisect = "SANDBOX_REPRO_TEST_BISECT"

// rootlessCheck is the other process's side: exit status 0 with the
// report on stdout, 125 with the check's error on stderr.
func rootlessCheck(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Check(ctx, Config{Source: dir, Build: []string{"sh", "build.sh"}, Artifacts: []string{"out/*"},
		Bisect: os.Getenv(envCheckBisect) != "0", Jobs: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	return 0
}

// TestFixturesRootless checks every fixture as an unprivileged user (make
// test-user): the same verdicts and culprits as root, every variation in
// force (num_cpus by CPU affinity where no delegated cpuset is had,
// user_group as a subordinate id), and nothing left in the user's
// directories.
func TestFixturesRootless(t *testing.T) {
	needRoot(t) // to become the unprivileged user
	needHost(t)
	if testing.Short() {
		t.Skip("checks every fixture as another user: skipped with -short")
	}
	u, bin := sbfixtures.TestUser(t)
	for _, fx := range fixtures {
		t.Run(fx.dir, func(t *testing.T) {
			wd := u.TestWorkDir(t)
			src := filepath.Join(wd, "src")
			if err := u.CopyTree(filepath.Join("testdata", fx.dir), src); err != nil {
				t.Fatal(err)
			}
			before := treeDigest(t, src)
			cmd := u.Command([]string{envRootlessCheck + "=" + src, "TMPDIR=" + wd}, bin)
			cmd.Dir = src
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("a rootless check as %s: %v\n%s", u.Name, err, stderr.String())
			}
			var rep Report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("the report: %v\n%s", err, stdout.String())
			}
			checkFixture(t, &rep, fx.reproducible, fx.culprits)
			if !strings.HasPrefix(rep.VariedBy[UserGroup], "a subordinate id") {
				t.Errorf("user_group varied by %q", rep.VariedBy[UserGroup])
			}
			if after := treeDigest(t, src); after != before {
				t.Errorf("the source tree changed:\n%s\nthen\n%s", before, after)
			}
			// What a rootless check may leave: the source, and its own
			// (empty) run directory.
			ents, _ := os.ReadDir(wd)
			for _, e := range ents {
				if e.Name() == "src" {
					continue
				}
				if inner, _ := os.ReadDir(filepath.Join(wd, e.Name())); e.Name() != fmt.Sprintf("sandbox-%d", u.UID) || len(inner) > 0 {
					t.Errorf("left in the user's temp directory: %s %v", e.Name(), inner)
				}
			}
		})
	}
}
