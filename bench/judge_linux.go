package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/judge"
)

// judgeTests is how many tests the judge scenario's a+b problem has.
const judgeTests = 100

// judge measures what `sandbox judge` costs per test: an a+b problem of
// judgeTests tests and a trivial C solution, judged in this process (the
// Go API, as a grader would link it), one test at a time. One sample is one
// whole judgement's tests, from the first test's start to the last one's
// end, divided by the number of tests: the sandbox's start and end around
// the solution, the solution itself, and the built-in checker. The compile
// is outside the span. One bwrap start is measured in the same rounds, to
// compare with.
func (s *suite) judge(ctx context.Context, p plan) ([]*Result, error) {
	jr := result(ScenarioJudge, "", bJudge, "wall", "ms", Lower)
	jr.Note = fmt.Sprintf("sandbox judge (Go API, -j 1) over an a+b problem of %d tests, per test: "+
		"the test's sandbox start and end, the solution, the built-in checker; compile excluded", judgeTests)
	br := result(ScenarioJudge, "", bBwrap, "wall", "ms", Lower)
	br.Note = "one bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev /bin/true, in the same rounds"
	results := []*Result{jr, br}
	var tasks []*task

	s.prog.Phase(p.scenario, "setting up "+bJudge)
	if run, err := s.judgeOp(ctx); err != nil {
		skipOrFail(jr, err)
	} else {
		t := newTask(single(run), jr)
		t.warmup, t.maxN = 1, 40
		if s.cfg.Smoke {
			t.warmup, t.minN, t.maxN = 0, 1, 1
		}
		tasks = append(tasks, t)
	}
	if run, err := s.bwrapOp(ctx); err != nil {
		skipOrFail(br, err)
	} else {
		tasks = append(tasks, newTask(single(func(ctx context.Context) (float64, error) {
			return timed(func() error { return run(ctx) })
		}), br))
	}
	return results, measure(ctx, p, tasks)
}

// judgeOp writes the problem and the solution, prepares a judge, and
// returns a run that judges the solution once and gives the time per test.
func (s *suite) judgeOp(ctx context.Context) (func(context.Context) (float64, error), error) {
	if _, err := exec.LookPath("gcc"); err != nil {
		return nil, missing("gcc", "gcc")
	}
	dir := filepath.Join(s.dir, "judge")
	prob := filepath.Join(dir, "aplusb")
	if err := os.MkdirAll(filepath.Join(prob, "data", "secret"), 0o755); err != nil {
		return nil, err
	}
	files := map[string]string{
		"problem.yaml": "name: a+b\nlimits:\n  time_limit: 1\n  memory: 64\n",
	}
	for i := range judgeTests {
		files[fmt.Sprintf("data/secret/%03d.in", i)] = fmt.Sprintf("%d %d\n", i, 2*i)
		files[fmt.Sprintf("data/secret/%03d.ans", i)] = fmt.Sprintf("%d\n", 3*i)
	}
	files["../ab.c"] = "#include <stdio.h>\nint main(void){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}\n"
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(prob, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	p, err := judge.Load(prob, judge.LoadOptions{})
	if err != nil {
		return nil, err
	}
	var (
		mu          sync.Mutex
		first, last time.Time
		n           int
	)
	progress := func(t *judge.TestResult, done bool) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if !done && first.IsZero() {
			first = now
		}
		if done {
			last = now
			n++
		}
	}
	j, err := judge.New(ctx, p, judge.Options{RunDir: s.run, CgroupRoot: s.cfg.CgroupRoot, TempDir: dir, Progress: progress})
	if err != nil {
		return nil, err
	}
	s.atEnd(func() { j.Close() })
	sol := filepath.Join(dir, "ab.c")
	return func(ctx context.Context) (float64, error) {
		mu.Lock()
		first, last, n = time.Time{}, time.Time{}, 0
		mu.Unlock()
		rep, err := j.Judge(ctx, sol)
		if err != nil {
			return 0, err
		}
		if rep.Verdict != judge.AC {
			return 0, fmt.Errorf("the a+b solution got %s on %s: %s", rep.Verdict, rep.FailedTest, rep.Message)
		}
		mu.Lock()
		defer mu.Unlock()
		if n != judgeTests {
			return 0, fmt.Errorf("%d tests judged, want %d", n, judgeTests)
		}
		return float64(last.Sub(first).Nanoseconds()) / 1e6 / judgeTests, nil
	}, nil
}
