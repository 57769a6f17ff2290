package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// RunCommand runs the user's command cfg.N times in identical fresh
// sandboxes (after cfg.Warmup runs not recorded) and records, per run, the
// wall time and, from the run's cgroup, CPU time, peak memory and block
// I/O: the CPU time and memory are far less noisy than the wall time, which
// is what makes them worth tracking over commits. A run that does not end
// with status OK stops the benchmark with its message.
func RunCommand(ctx context.Context, cfg CommandConfig) (*Report, error) {
	cfg = cfg.defaults()
	if len(cfg.Spec.Args) == 0 {
		return nil, fmt.Errorf("%w: no command given", ErrInvalid)
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{
		Version: SchemaVersion, Kind: KindCommand, Started: time.Now().UTC().Truncate(time.Second),
		Command: cfg.Spec.Args, Method: Method{Warmup: cfg.Warmup, FixedN: cfg.N, MinN: cfg.N, MaxN: cfg.N},
	}
	wd, _ := os.Getwd()
	rep.Host = hostFacts(wd)
	start := time.Now()
	metrics := []*Result{
		result(KindCommand, "", bSandbox, "wall", "ms", Lower),
		result(KindCommand, "", bSandbox, "cpu", "ms", Lower),
		result(KindCommand, "", bSandbox, "memory_peak", "MiB", Lower),
		result(KindCommand, "", bSandbox, "io_read", "MiB", Lower),
		result(KindCommand, "", bSandbox, "io_write", "MiB", Lower),
	}
	metrics[0].Note = "from the container's start to its end"
	metrics[1].Note = "CPU time of every process in the sandbox, from the cgroup"
	metrics[2].Note = "most memory charged at once, from the cgroup (page cache and tmpfs included)"
	metrics[3].Note = "block I/O from the cgroup (0 where it is not accounted)"
	metrics[4].Note = metrics[3].Note
	run := 0
	t := newTask(func(ctx context.Context) ([]float64, error) {
		run++
		spec := cfg.Spec
		var errb tailBuffer
		spec.IO = sandbox.IO{Stdout: discardWriter{}, Stderr: &errb}
		if cfg.Output != nil {
			spec.IO.Stdout, spec.IO.Stderr = cfg.Output, cfg.Output
		}
		res, err := sandbox.Run(ctx, &spec)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run, err)
		}
		if res.Status != sandbox.StatusOK {
			msg := res.Message
			if tail := strings.TrimSpace(errb.String()); tail != "" {
				msg += "; stderr: " + lastLines(tail, 5)
			}
			return nil, fmt.Errorf("run %d: status %s (exit status %d): %s", run, res.Status, res.ExitStatus(), msg)
		}
		ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
		return []float64{ms(res.Wall), ms(res.CPU), mib(res.MemoryPeak), mib(res.IORead), mib(res.IOWrite)}, nil
	}, metrics...)
	t.warmup = cfg.Warmup
	p := plan{scenario: KindCommand, warmup: cfg.Warmup, fixedN: cfg.N, minN: cfg.N, maxN: cfg.N, progress: cfg.Progress}
	if err := measure(ctx, p, []*task{t}); err != nil {
		return nil, err
	}
	if cfg.Progress != nil {
		cfg.Progress.End()
	}
	if t.err != nil {
		return nil, t.err
	}
	for _, r := range metrics {
		rep.Results = append(rep.Results, *r)
	}
	rep.DurationS = time.Since(start).Round(time.Millisecond).Seconds()
	rep.Host.LoadEnd = loadAvg()
	rep.finish()
	return rep, nil
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
