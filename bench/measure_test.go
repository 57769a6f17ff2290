package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDue(t *testing.T) {
	tests := []struct {
		rounds, n int
		want      string // the rounds a task runs in, as x and .
	}{
		{10, 10, "xxxxxxxxxx"},
		{10, 5, ".x.x.x.x.x"},
		{10, 3, "...x..x..x"},
		{10, 1, ".........x"},
		{4, 0, "...."},
	}
	for _, tt := range tests {
		var b strings.Builder
		for r := 0; r < tt.rounds; r++ {
			if due(r, tt.rounds, tt.n) {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		if b.String() != tt.want {
			t.Errorf("due over %d rounds for n=%d: %s, want %s", tt.rounds, tt.n, b.String(), tt.want)
		}
	}
}

func TestAllot(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		p     plan
		costs []time.Duration
		caps  [][2]int // per-task minN, maxN overrides
		want  []int
	}{
		{"fixed", plan{fixedN: 7, minN: 5, maxN: 300}, []time.Duration{ms, time.Second}, nil, []int{7, 7}},
		// Equal shares of 1 s: 1 ms runs get 300 (capped), 10 ms runs get
		// the rest of the budget.
		{"capped-and-share", plan{budget: time.Second, minN: 5, maxN: 300}, []time.Duration{ms, 10 * ms}, nil, []int{300, 70}},
		// A 4 s VM boot in a 10 s budget gets its minimum, which overruns
		// its half of the budget; the other keeps its half.
		{"slow-backend-gets-min", plan{budget: 10 * time.Second, minN: 5, maxN: 300}, []time.Duration{4 * time.Second, 20 * ms}, nil, []int{5, 250}},
		// The clone scenario: a snapshot's 3 ms beside cp -a's 12 and 14 s,
		// whose three runs each are more than the budget. The snapshots
		// still get their runs (the median of five was noise).
		{"minimums-over-budget", plan{budget: time.Minute, minN: 5, maxN: 300},
			[]time.Duration{3 * ms, 12 * time.Second, 3 * ms, 14 * time.Second}, [][2]int{{0, 0}, {3, 10}, {0, 0}, {3, 5}}, []int{300, 3, 300, 3}},
		{"task-bounds", plan{budget: time.Minute, minN: 5, maxN: 300}, []time.Duration{ms, ms}, [][2]int{{3, 10}, {0, 0}}, []int{10, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tasks []*task
			for i, c := range tt.costs {
				tk := &task{cost: c}
				if tt.caps != nil {
					tk.minN, tk.maxN = tt.caps[i][0], tt.caps[i][1]
				}
				tasks = append(tasks, tk)
			}
			allot(tt.p, tasks)
			var got []int
			var spent time.Duration // by the tasks above their minimum
			for _, tk := range tasks {
				got = append(got, tk.n)
				lo := tt.p.minN
				if tk.minN > 0 {
					lo = tk.minN
				}
				if tk.n > lo {
					spent += time.Duration(tk.n) * tk.cost
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			if tt.p.fixedN == 0 && spent > tt.p.budget {
				t.Errorf("planned %s beyond the minimums, over the budget %s", spent, tt.p.budget)
			}
		})
	}
}

// fakeTask records the order in which tasks run and fails on request.
func fakeTask(name string, log *[]string, failAt int) *task {
	r := result("test", "", name, "wall", "ms", Lower)
	calls := 0
	return newTask(single(func(ctx context.Context) (float64, error) {
		calls++
		if calls == failAt {
			return 0, errors.New(name + " broke")
		}
		*log = append(*log, name)
		return float64(calls), nil
	}), r)
}

func TestMeasureInterleavesAndKeepsFailures(t *testing.T) {
	var log []string
	a, b, c := fakeTask("A", &log, 0), fakeTask("B", &log, 0), fakeTask("C", &log, 3)
	p := plan{scenario: "test", warmup: 1, fixedN: 3, minN: 1, maxN: 10}
	if err := measure(context.Background(), p, []*task{a, b, c}); err != nil {
		t.Fatal(err)
	}
	// Warm-ups (one each), then rounds A B C; C's third call (its second
	// measured run) fails, and C sits out the rounds after.
	want := []string{"A", "B", "C", "A", "B", "C", "A", "B", "A", "B"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("order of runs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{2, 3, 4}, a.results[0].Samples); diff != "" {
		t.Errorf("A's samples (-want +got):\n%s", diff)
	}
	if r := c.results[0]; r.Status != StatusFailed || r.Error != "C broke" || len(r.Samples) != 1 {
		t.Errorf("C: status %s, error %q, %d samples; want failed, \"C broke\", 1", r.Status, r.Error, len(r.Samples))
	}
}

func TestMeasureWarmupFailure(t *testing.T) {
	var log []string
	a, b := fakeTask("A", &log, 1), fakeTask("B", &log, 0)
	p := plan{scenario: "test", warmup: 2, fixedN: 2, minN: 1, maxN: 10}
	if err := measure(context.Background(), p, []*task{a, b}); err != nil {
		t.Fatal(err)
	}
	if a.results[0].Status != StatusFailed || len(b.results[0].Samples) != 2 {
		t.Errorf("A %s, B %d samples; want A failed in its warm-up and B measured twice", a.results[0].Status, len(b.results[0].Samples))
	}
}

func TestMeasureStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := result("test", "", "A", "wall", "ms", Lower)
	calls := 0
	tk := newTask(single(func(ctx context.Context) (float64, error) {
		if calls++; calls == 3 {
			cancel()
		}
		return 1, ctx.Err()
	}), r)
	err := measure(ctx, plan{scenario: "test", warmup: 1, fixedN: 100, minN: 1, maxN: 100}, []*task{tk})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("measure after cancel: %v, want context.Canceled", err)
	}
}
