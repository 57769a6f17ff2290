package repro

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	sbfixtures "github.com/sandbox-dev/sandbox/fixtures"
)

// BenchmarkVersusReprotest times sandbox repro and Debian's reprotest on
// the same fixture with the same variations (every one; reprotest told
// which user to be), interleaved, and reports each one's median wall time
// per check and their ratio. A reprotest check takes seconds, so at most
// maxPairs pairs run whatever b.N is (make bench-go's -benchtime 200x
// included): read the custom metrics, not ns/op.
//
//	go test -run '^$' -bench VersusReprotest -benchtime 5x ./repro
func BenchmarkVersusReprotest(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if _, err := exec.LookPath("reprotest"); err != nil {
		b.Skip("needs reprotest (make deps)")
	}
	if _, why := probeHost(DefaultLocale); len(why) > 0 {
		b.Skipf("variations this host cannot make: %v", why)
	}
	const maxPairs = 5
	for _, bc := range []struct {
		name, fixture string
		bisect        bool
	}{
		{"reproducible", "reproducible", false},
		{"date", "date", false},
		{"date-bisect", "date", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src, _ := filepath.Abs(filepath.Join("testdata", bc.fixture))
			var ours, theirs []time.Duration
			for i := 0; i < min(b.N, maxPairs); i++ {
				t0 := time.Now()
				cfg := Config{Source: src, Build: []string{"sh", "build.sh"}, Artifacts: []string{"out/*"},
					Bisect: bc.bisect, Jobs: 1, CgroupRoot: testCgroupRoot}
				if _, err := Check(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				ours = append(ours, time.Since(t0))
				theirs = append(theirs, timeReprotest(b, src, bc.bisect))
				if bc.bisect {
					break // reprotest --auto-build takes most of a minute
				}
			}
			mo, mt := median(ours), median(theirs)
			b.ReportMetric(mo.Seconds(), "repro-s/check")
			b.ReportMetric(mt.Seconds(), "reprotest-s/check")
			b.ReportMetric(mt.Seconds()/mo.Seconds(), "reprotest/repro")
		})
	}
}

func timeReprotest(b *testing.B, src string, auto bool) time.Duration {
	shim := b.TempDir()
	if err := os.WriteFile(filepath.Join(shim, "sudo"), []byte(sudoShim), 0o755); err != nil {
		b.Fatal(err)
	}
	args := append(append([]string{}, reprotestArgs...), reprotestVary("")...)
	if auto {
		args = append(args, "--auto-build")
	}
	args = append(args, "-s", src, "sh build.sh", "out/*")
	cmd := exec.Command("reprotest", args...)
	cmd.Env = append(os.Environ(), "PATH="+shim+":"+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
		b.Fatalf("reprotest: %v\n%s", err, out.String())
	}
	if auto {
		// What --auto-build concluded: on a __TIME__ build, its own control
		// builds may already differ (the clock ticks between them), or it
		// blames every variation.
		for _, verdict := range []string{"Not reproducible, even when fixing", "Observed unreproducibility", "Reproducible"} {
			if i := bytes.Index(out.Bytes(), []byte(verdict)); i >= 0 {
				line, _, _ := bytes.Cut(out.Bytes()[i:], []byte("The build is"))
				b.Logf("reprotest --auto-build: %s", bytes.TrimSpace(line))
				break
			}
		}
	}
	return took
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkRootless times the same check as root and as the unprivileged
// user (make test-user), each in a process of its own (the test binary,
// started as either), interleaved, and reports each one's median wall time
// per check and their ratio. Read the custom metrics, not ns/op.
//
//	go test -run '^$' -bench Rootless -benchtime 5x ./repro
func BenchmarkRootless(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root, to become the unprivileged user")
	}
	if _, why := probeHost(DefaultLocale); len(why) > 0 {
		b.Skipf("variations this host cannot make: %v", why)
	}
	u, bin := sbfixtures.TestUser(b)
	const maxPairs = 5
	for _, fixture := range []string{"reproducible", "date"} {
		b.Run(fixture, func(b *testing.B) {
			wd := u.TestWorkDir(b)
			src := filepath.Join(wd, "src")
			if err := u.CopyTree(filepath.Join("testdata", fixture), src); err != nil {
				b.Fatal(err)
			}
			// Root's copy is root's: a build as root has no CAP_DAC_OVERRIDE
			// to write in another user's tree.
			rootSrc := filepath.Join(b.TempDir(), "src")
			if out, err := exec.Command("cp", "-r", filepath.Join("testdata", fixture), rootSrc).CombinedOutput(); err != nil {
				b.Fatalf("copying the fixture: %v: %s", err, out)
			}
			check := func(cmd *exec.Cmd, src string) time.Duration {
				cmd.Dir = src
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = io.Discard, &out
				t0 := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("check: %v\n%s", err, out.String())
				}
				return time.Since(t0)
			}
			var root, rootless []time.Duration
			for i := 0; i < min(b.N, maxPairs); i++ {
				cmd := exec.Command(bin)
				cmd.Env = append(os.Environ(), envRootlessCheck+"="+rootSrc, envCheckBisect+"=0", "TMPDIR="+b.TempDir())
				root = append(root, check(cmd, rootSrc))
				rootless = append(rootless, check(u.Command([]string{envRootlessCheck + "=" + src, envCheckBisect + "=0", "TMPDIR=" + wd}, bin), src))
			}
			mr, mu := median(root), median(rootless)
			b.ReportMetric(mr.Seconds(), "root-s/check")
			b.ReportMetric(mu.Seconds(), "rootless-s/check")
			b.ReportMetric(mu.Seconds()/mr.Seconds(), "rootless/root")
		})
	}
}
