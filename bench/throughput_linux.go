package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// throughput measures throwaway /bin/true sandboxes completed per second
// with c of them under way at once, for each concurrency level: one sample
// is one window of cfg.Window.
func (s *suite) throughput(ctx context.Context, p plan) ([]*Result, error) {
	var backends []backend
	for _, b := range s.startupBackends() {
		switch b.name {
		case bBare, bSandbox, bAPI, bBwrap:
			if s.cfg.wantsBackend(b.name) {
				backends = append(backends, b)
			}
		}
	}
	var results []*Result
	var tasks []*task
	for _, b := range backends {
		s.prog.Phase(p.scenario, "setting up "+b.name)
		run, err := b.setup(ctx)
		for _, c := range s.cfg.Concurrency {
			r := result(ScenarioThroughput, fmt.Sprintf("c=%d", c), b.name, "rate", "1/s", Higher)
			r.Bare, r.Sandbox = bBare, bSandbox
			results = append(results, r)
			if err != nil {
				skipOrFail(r, err)
				continue
			}
			t := newTask(single(func(ctx context.Context) (float64, error) {
				return rate(ctx, run, c, s.cfg.Window)
			}), r)
			t.warmup = 1
			tasks = append(tasks, t)
		}
	}
	return results, measure(ctx, p, tasks)
}

// rate runs op in c workers for window and returns completions per second.
// Runs under way when the window closes are waited for and counted, over
// the time they took.
func rate(ctx context.Context, run op, c int, window time.Duration) (float64, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count int
		first error
	)
	start := time.Now()
	deadline := start.Add(window)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				err := run(ctx)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					count++
				}
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
