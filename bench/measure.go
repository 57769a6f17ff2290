package bench

import (
	"context"
	"fmt"
	"time"
)

// task is one backend's share of a scenario: a run function measured again
// and again, feeding one or more results (one per metric it returns).
type task struct {
	results []*Result
	// run does one unit of work and returns one value per result.
	run func(ctx context.Context) ([]float64, error)
	// warmup overrides the plan's warm-up count when >= 0; minN and maxN
	// override the plan's bounds when > 0 (a 1 GB cp -a is not run 300
	// times, whatever the budget).
	warmup     int
	minN, maxN int

	cost time.Duration // mean time of one run, from the warm-up
	n    int           // runs planned
	err  error         // the first failure; the task stops there
}

func newTask(run func(ctx context.Context) ([]float64, error), results ...*Result) *task {
	return &task{results: results, run: run, warmup: -1}
}

// single adapts a one-value run function.
func single(f func(ctx context.Context) (float64, error)) func(ctx context.Context) ([]float64, error) {
	return func(ctx context.Context) ([]float64, error) {
		v, err := f(ctx)
		if err != nil {
			return nil, err
		}
		return []float64{v}, nil
	}
}

// plan is how one scenario's tasks are measured.
type plan struct {
	scenario   string
	warmup     int
	minN, maxN int
	fixedN     int           // when > 0, every task runs exactly this often
	budget     time.Duration // time for the measured rounds, warm-up excluded
	progress   Progress
}

// fail marks every result of t failed with err, keeping samples taken.
func (t *task) fail(err error) {
	t.err = err
	for _, r := range t.results {
		r.Status, r.Error = StatusFailed, err.Error()
	}
}

// measure warms every task up, plans how many runs each gets from its
// cost and the budget, then runs them in interleaved rounds. A task that
// fails is marked failed (with its error) and left out of later rounds;
// the others go on. Only the context's end stops measure early.
func measure(ctx context.Context, p plan, tasks []*task) error {
	prog := p.progress
	if prog == nil {
		prog = nopProgress{}
	}
	var live []*task
	for _, t := range tasks {
		if t.err != nil {
			continue
		}
		w := p.warmup
		if t.warmup >= 0 {
			w = t.warmup
		}
		runs := w
		if runs == 0 && p.fixedN == 0 && (t.minN == 0 || t.minN != t.maxN) {
			runs = 1 // the budget needs the cost of a run
		}
		name := t.results[0].Backend
		if g := t.results[0].Group; g != "" {
			name += " " + g
		}
		if runs > 0 {
			prog.Phase(p.scenario, "warming up "+name)
		}
		start := time.Now()
		var err error
		for i := 0; i < runs && err == nil; i++ {
			_, err = t.run(ctx)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			t.fail(err)
			continue
		}
		if runs > 0 {
			t.cost = time.Since(start) / time.Duration(runs)
		}
		live = append(live, t)
	}
	allot(p, live)

	rounds, total := 0, 0
	for _, t := range live {
		rounds = max(rounds, t.n)
		total += t.n
	}
	done := 0
	left := func() time.Duration {
		var d time.Duration
		for _, t := range live {
			if t.err == nil {
				d += t.cost * time.Duration(t.n-len(t.results[0].Samples))
			}
		}
		return d
	}
	for r := 0; r < rounds; r++ {
		for _, t := range live {
			if t.err != nil || !due(r, rounds, t.n) {
				continue
			}
			prog.Measure(p.scenario, t.results[0].Backend, done, total, left())
			vals, err := t.run(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil && len(vals) != len(t.results) {
				err = fmt.Errorf("run returned %d values for %d metrics", len(vals), len(t.results))
			}
			if err != nil {
				t.fail(err)
				continue
			}
			for i, v := range vals {
				t.results[i].Samples = append(t.results[i].Samples, v)
			}
			done++
		}
	}
	prog.Measure(p.scenario, "", total, total, 0)
	return nil
}

// due reports whether a task planned for n of the rounds runs in round r:
// its runs are spread evenly over the rounds, so a slow backend that runs
// 5 times in 100 rounds runs in rounds 19, 39, ..., not in the first 5.
func due(r, rounds, n int) bool {
	return (r+1)*n/rounds > r*n/rounds
}

// allot sets each task's number of runs. With a fixed N every task gets
// it; otherwise every task gets the same share of the budget in time,
// bounded by minN and maxN, and the share is as large as the budget allows
// (what capped tasks leave goes to the others). A task whose minimum
// overruns the budget (a cp -a of a 1 GB tree, three times) overruns it
// alone: the share never drops below an equal part of the budget, so that
// a 3 ms backend measured beside it gets its hundreds of runs rather than
// its minimum, the few samples of which a median cannot be read from.
func allot(p plan, tasks []*task) {
	bounds := func(t *task) (int, int) {
		lo, hi := p.minN, p.maxN
		if t.minN > 0 {
			lo = t.minN
		}
		if t.maxN > 0 {
			hi = t.maxN
		}
		return lo, max(hi, lo)
	}
	if p.fixedN > 0 {
		for _, t := range tasks {
			t.n = p.fixedN
		}
		return
	}
	count := func(t *task, share time.Duration) int {
		lo, hi := bounds(t)
		n := hi
		if t.cost > 0 {
			n = int(share / t.cost)
		}
		return min(max(n, lo), hi)
	}
	spend := func(share time.Duration) time.Duration {
		var d time.Duration
		for _, t := range tasks {
			d += time.Duration(count(t, share)) * t.cost
		}
		return d
	}
	// Binary search for the largest share that fits the budget.
	lo, hi := time.Duration(0), p.budget
	for i := 0; i < 50 && hi-lo > time.Millisecond; i++ {
		mid := (lo + hi) / 2
		if spend(mid) <= p.budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	lo = max(lo, p.budget/time.Duration(max(len(tasks), 1)))
	for _, t := range tasks {
		t.n = count(t, lo)
	}
}
