package sandbox

import (
	"context"
	"os/exec"
	"sort"
	"testing"
	"time"
)

// BenchmarkStartup times a throwaway /bin/true: bare fork/exec, Run with
// the full default sandbox, and bwrap with --unshare-all (when installed),
// each reporting its median next to Go's mean.
//
//	go test -run '^$' -bench Startup -benchtime 300x ./sandbox
func BenchmarkStartup(b *testing.B) {
	needRoot(b)
	runDir := b.TempDir()
	b.Run("bare", func(b *testing.B) {
		timed(b, func() error { return exec.Command("/bin/true").Run() })
	})
	b.Run("sandbox", func(b *testing.B) {
		timed(b, func() error {
			_, err := Run(context.Background(), &Spec{Args: []string{"/bin/true"}, RunDir: runDir, CgroupRoot: testCgroupRoot})
			return err
		})
	})
	b.Run("bwrap", func(b *testing.B) {
		bwrap, err := exec.LookPath("bwrap")
		if err != nil {
			b.Skip("bwrap not installed (Debian package bubblewrap): nothing to compare with")
		}
		timed(b, func() error {
			return exec.Command(bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true").Run()
		})
	})
}

// timed runs f b.N times and reports the median and 95th percentile.
func timed(b *testing.B, f func() error) {
	if err := f(); err != nil { // warm-up, and a clear failure
		b.Fatal(err)
	}
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(d[len(d)*95/100].Microseconds())/1000, "p95-ms")
}
