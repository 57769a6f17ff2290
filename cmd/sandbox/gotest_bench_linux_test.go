package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// What `go test -exec 'sandbox exec --'` costs per test binary, on this
// project's packages that need no root (docs/bench.md): each package's
// test binary run as go test runs it, natively and through the static
// sandbox binary (make build's), interleaved with a throwaway bwrap
// /bin/true and a bare /bin/true, one of each per round, so that drift
// hits all alike (and a sandbox exec -- /bin/true, the CLI's own start,
// to tell apart what wrapping a test binary adds). The overhead per binary is the median sandboxed run
// less the median native run; the target is at most 1.5 times one bwrap
// start (its median wall time).
//
// A row for sandboxtest.Main (its fixture package, hermeticmain) shows the
// same through the Go API, the test binary its own runner: no CLI starts.
//
// BenchmarkGoTestExec runs the binaries with -test.run=^$: start to exit,
// no tests, the fixed cost of the wrapping alone, precise. The Full
// variant runs every test (-test.short), the real thing, noisier; it takes
// seconds a round, so make bench-go skips it and make bench-gotest runs
// both.

// noRootPackages pass inside a sandbox with every test run (fixtures does
// not qualify: its root-building tests skip there, so it runs faster
// sandboxed than natively, and its difference would mean nothing).
var noRootPackages = []string{"profile", "sandbox/internal/seccomp", "sandbox/internal/stage"}

func BenchmarkGoTestExec(b *testing.B)     { benchGoTestExec(b, "-test.run=^$") }
func BenchmarkGoTestExecFull(b *testing.B) { benchGoTestExec(b, "-test.short") }

type goTestBinary struct {
	pkg, dir, bin string
}

func benchGoTestExec(b *testing.B, selection string) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: the runner creates namespaces and mounts")
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		b.Skip("bwrap: not installed (make deps installs it)")
	}
	root, _ := filepath.Abs("../..")
	tmp := b.TempDir()
	sandboxBin := filepath.Join(tmp, "sandbox")
	build := buildRunner("go", sandboxBin, "./cmd/sandbox")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building sandbox: %v\n%s", err, out)
	}
	var bins []goTestBinary
	for _, p := range noRootPackages {
		bin := filepath.Join(tmp, "go-build", strings.ReplaceAll(p, "/", "_"), filepath.Base(p)+".test")
		cmd := exec.Command("go", "test", "-c", "-o", bin, "./"+p)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go test -c ./%s: %v\n%s", p, err, out)
		}
		bins = append(bins, goTestBinary{pkg: p, dir: filepath.Join(root, p), bin: bin})
	}
	// sandboxtest.Main's way: the test binary is its own runner, through
	// the Go API (no CLI to start). Natively: Main told it runs inside.
	mainBin := filepath.Join(tmp, "go-build", "hermeticmain", "hermeticmain.test")
	cmd := exec.Command("go", "test", "-c", "-o", mainBin, "./sandbox/sandboxtest/testdata/hermeticmain")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go test -c hermeticmain: %v\n%s", err, out)
	}
	mainDir := filepath.Join(root, "sandbox/sandboxtest/testdata/hermeticmain")
	env := append(os.Environ(), "SANDBOX_CGROUP_ROOT="+cgroupRoot, "SANDBOX_RUN_DIR="+filepath.Join(tmp, "run"))
	// As go test runs a test binary (its flags but -test.timeout's value).
	testArgs := []string{"-test.paniconexit0", "-test.timeout=10m0s", selection}
	timed := func(dir string, args ...string) time.Duration {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, env
		if args[0] == mainBin+"-native" {
			cmd.Path, cmd.Env = mainBin, append(env, "SANDBOXTEST_INNER=1")
		}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	samples := map[string][]time.Duration{}
	round := func() {
		for _, t := range bins {
			samples[t.pkg+"/native"] = append(samples[t.pkg+"/native"], timed(t.dir, append([]string{t.bin}, testArgs...)...))
			samples[t.pkg+"/sandbox"] = append(samples[t.pkg+"/sandbox"], timed(t.dir, append([]string{sandboxBin, "exec", "--", t.bin}, testArgs...)...))
		}
		samples["Main/native"] = append(samples["Main/native"], timed(mainDir, append([]string{mainBin + "-native"}, testArgs...)...))
		samples["Main/sandbox"] = append(samples["Main/sandbox"], timed(mainDir, append([]string{mainBin}, testArgs...)...))
		samples["bwrap"] = append(samples["bwrap"], timed("/", bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"))
		samples["bare"] = append(samples["bare"], timed("/", "/bin/true"))
		// What the CLI costs on its own, to tell apart what wrapping a test
		// binary adds to it.
		samples["sandbox-true"] = append(samples["sandbox-true"], timed("/", sandboxBin, "exec", "--", "/bin/true"))
	}
	round() // warm-up: page cache, the first overlay of each binary
	clear(samples)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		round()
	}
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	bw := median(samples["bwrap"])
	var overheads []time.Duration
	var table strings.Builder
	fmt.Fprintf(&table, "%d rounds, %s; medians:\n%-26s %10s %10s %10s %8s\n", b.N, selection, "package", "native", "sandboxed", "overhead", "/bwrap")
	for _, t := range bins {
		n, s := median(samples[t.pkg+"/native"]), median(samples[t.pkg+"/sandbox"])
		overheads = append(overheads, s-n)
		fmt.Fprintf(&table, "%-26s %8.1f ms %8.1f ms %8.1f ms %7.2fx\n", t.pkg, ms(n), ms(s), ms(s-n), float64(s-n)/float64(bw))
	}
	over := median(overheads)
	mn, msb := median(samples["Main/native"]), median(samples["Main/sandbox"])
	fmt.Fprintf(&table, "%-26s %8.1f ms %8.1f ms %8.1f ms %7.2fx\n", "sandboxtest.Main fixture", ms(mn), ms(msb), ms(msb-mn), float64(msb-mn)/float64(bw))
	fmt.Fprintf(&table, "bwrap /bin/true %.2f ms, sandbox exec -- /bin/true %.2f ms, bare /bin/true %.2f ms\n"+
		"overhead per binary (median over packages) %.1f ms = %.2fx one bwrap start (target <= 1.5x)",
		ms(bw), ms(median(samples["sandbox-true"])), ms(median(samples["bare"])), ms(over), float64(over)/float64(bw))
	// Not b.Log: go test keeps only the first lines of a benchmark's log.
	fmt.Fprintf(os.Stderr, "%s: %s\n", b.Name(), table.String())
	b.ReportMetric(ms(over), "overhead-ms/binary")
	b.ReportMetric(ms(bw), "bwrap-ms")
	b.ReportMetric(float64(over)/float64(bw), "x-bwrap")
	b.ReportMetric(float64(msb-mn)/float64(bw), "Main-x-bwrap")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
