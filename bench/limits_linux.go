package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// limits measures how far from the limit the CPU-time and wall-time kills
// land: the report's cpu_ms (from the cgroup) or wall_ms minus the limit,
// for a busy loop and a sleep killed by `sandbox exec --cpu-time` and
// `--wall-time`.
func (s *suite) limits(ctx context.Context, p plan) ([]*Result, error) {
	limit := 200 * time.Millisecond
	if s.cfg.Smoke {
		limit = 100 * time.Millisecond
	}
	ms := fmt.Sprint(limit.Milliseconds()) + "ms"
	cases := []struct {
		group, field, note string
		args               []string
	}{
		{"cpu-time", "cpu_ms", "--cpu-time " + ms + " on one busy loop; cpu_ms - limit",
			[]string{"--cpu-time", ms, "--", "sh", "-c", "while :; do :; done"}},
		{"cpu-time-2", "cpu_ms", "--cpu-time " + ms + " on two busy loops; cpu_ms - limit",
			[]string{"--cpu-time", ms, "--", "sh", "-c", "while :; do :; done & while :; do :; done"}},
		{"wall-time", "wall_ms", "--wall-time " + ms + " on sleep 10; wall_ms - limit",
			[]string{"--wall-time", ms, "--", "sleep", "10"}},
	}
	if !s.cfg.wantsBackend(bSandbox) {
		return nil, nil
	}
	var results []*Result
	var tasks []*task
	var seq atomic.Int64
	for _, c := range cases {
		r := result(ScenarioLimits, c.group, bSandbox, "overshoot", "ms", Lower)
		r.Note = c.note
		results = append(results, r)
		t := newTask(single(func(ctx context.Context) (float64, error) {
			report := filepath.Join(s.dir, fmt.Sprintf("limit-%d.json", seq.Add(1)))
			defer os.Remove(report)
			args := s.sandboxArgs(append([]string{"--report", report}, c.args...)...)
			cmd := exec.CommandContext(ctx, s.cfg.Sandbox, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
			err := runCmd(cmd)
			b, rerr := os.ReadFile(report)
			if rerr != nil {
				if err == nil {
					err = rerr
				}
				return 0, fmt.Errorf("no run report: %w", err)
			}
			var rep map[string]any
			if err := json.Unmarshal(b, &rep); err != nil {
				return 0, fmt.Errorf("reading the run report: %w", err)
			}
			if rep["status"] != "TO" {
				return 0, fmt.Errorf("status %v, want TO: %v", rep["status"], rep["message"])
			}
			v, ok := rep[c.field].(float64)
			if !ok {
				return 0, fmt.Errorf("run report without %s", c.field)
			}
			return v - float64(limit.Milliseconds()), nil
		}), r)
		t.warmup = 1
		tasks = append(tasks, t)
	}
	return results, measure(ctx, p, tasks)
}
