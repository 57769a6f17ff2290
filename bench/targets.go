package bench

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/montanaflynn/stats"
)

// Target is one of the suite's goals, judged against a report. Met is nil
// when the report lacks what it needs (a backend skipped or failed); Why
// then says what.
type Target struct {
	Name  string   `json:"name"`
	Want  string   `json:"want"`
	Got   string   `json:"got,omitempty"`
	Value *float64 `json:"value,omitempty"`
	Met   *bool    `json:"met"`
	Why   string   `json:"why,omitempty"`
}

// Status is "met", "MISSED" or "n/a".
func (t Target) Status() string {
	switch {
	case t.Met == nil:
		return "n/a"
	case *t.Met:
		return "met"
	}
	return "MISSED"
}

func judged(name, want string, value float64, got string, met bool) Target {
	return Target{Name: name, Want: want, Got: got, Value: &value, Met: &met}
}

func unjudged(name, want, why string) Target { return Target{Name: name, Want: want, Why: why} }

// EvaluateTargets judges the targets against a suite report:
// ratios of medians from the same run, as the targets are stated.
func EvaluateTargets(rep *Report) []Target {
	var ts []Target
	median := func(scenario, group, backend, metric string) (float64, string) {
		r := rep.Find(scenario, group, backend, metric)
		switch {
		case r == nil:
			return 0, backend + " not run"
		case !r.OK():
			return 0, fmt.Sprintf("%s %s: %s", backend, r.Status, r.Error)
		}
		return r.Summary.Median, ""
	}
	// ratio judges a's median over b's, both of one scenario, group and
	// metric, against limit: at most (or, with atLeast, at least) limit.
	ratio := func(name, want, scenario, group, metric, a, b string, limit float64, atLeast bool) {
		va, why := median(scenario, group, a, metric)
		vb, why2 := median(scenario, group, b, metric)
		if why == "" {
			why = why2
		}
		if why != "" || vb == 0 {
			if why == "" {
				why = b + " median 0"
			}
			ts = append(ts, unjudged(name, want, why))
			return
		}
		v := va / vb
		met := v <= limit
		if atLeast {
			met = v >= limit
		}
		unit := " ms"
		switch metric {
		case "rate":
			unit = "/s"
		case "csw":
			unit = ""
		}
		ts = append(ts, judged(name, want, v, fmt.Sprintf("%s (%s vs %s%s)", ratioText(v), fmtNum(va), fmtNum(vb), unit), met))
	}
	ratioTarget := func(name, other string, limit float64, want string) {
		ratio(name, want, ScenarioStartup, "", "wall", bSandbox, other, limit, false)
	}
	// startup
	ratioTarget("startup vs bwrap", bBwrap, 1.0, "sandbox median <= 1.0x bwrap's")
	crun := bCrun
	if r := rep.Find(ScenarioStartup, "", bCrun, "wall"); r == nil || !r.OK() {
		if r2 := rep.Find(ScenarioStartup, "", bCrun+"-no-cgroup2", "wall"); r2 != nil && r2.OK() {
			crun = r2.Backend
		}
	}
	ratioTarget("startup vs "+crun, crun, 0.5, "sandbox median <= 0.5x crun's")
	ratioTarget("startup vs runc", bRunc, 0.5, "sandbox median <= 0.5x runc's")
	// The runner as an OCI runtime (issue 17): the same bundle through
	// each runtime's run (create, start, wait, delete), and under podman.
	ratio("startup OCI runtime vs "+crun, "sandbox-oci median <= 0.5x crun's", ScenarioStartup, "", "wall", bSandboxOCI, crun, 0.5, false)
	ratio("startup OCI runtime vs runc", "sandbox-oci median <= runc's", ScenarioStartup, "", "wall", bSandboxOCI, bRunc, 1.0, false)
	podmanCrun := "podman-crun"
	if r := rep.Find(ScenarioStartup, "", podmanCrun, "wall"); r == nil || !r.OK() {
		podmanCrun = "podman-crun-no-cgroup2"
	}
	ratio("startup podman+sandbox-oci vs "+podmanCrun, "podman-sandbox-oci median <= "+podmanCrun+"'s", ScenarioStartup, "", "wall", "podman-sandbox-oci", podmanCrun, 1.0, false)
	vm := ""
	for _, r := range rep.Results {
		if r.Scenario == ScenarioStartup && strings.HasPrefix(r.Backend, bVM) {
			vm = r.Backend
		}
	}
	if vm == "" {
		vm = bVM
	}
	ratioTarget("startup vs VM ("+vm+")", vm, 0.01, "sandbox median <= 1/100 of the VM's")
	ratioTarget("startup vs bare", bBare, 4, "sandbox median <= 4x bare fork/exec")
	// The hot path (issue 12): CPU as well as wall time, the API as well
	// as the CLI.
	ratio("startup CPU vs bwrap", "sandbox CPU per run <= 1.0x bwrap's", ScenarioStartup, "", "cpu", bSandbox, bBwrap, 1.0, false)
	ratio("startup API vs bwrap", "sandbox-api median <= 0.6x bwrap's", ScenarioStartup, "", "wall", bAPI, bBwrap, 0.6, false)
	ratio("startup API vs bare", "sandbox-api median <= 3x bare fork/exec", ScenarioStartup, "", "wall", bAPI, bBare, 3, false)
	// rootless: against a root start, and bwrap by the same user
	pair := func(name, a, b string, limit float64, want string) {
		va, why := median(ScenarioStartup, "", a, "wall")
		vb, why2 := median(ScenarioStartup, "", b, "wall")
		if why == "" {
			why = why2
		}
		if why != "" {
			ts = append(ts, unjudged(name, want, why))
			return
		}
		v := va / vb
		ts = append(ts, judged(name, want, v, fmt.Sprintf("%s (%s vs %s ms)", ratioText(v), fmtNum(va), fmtNum(vb)), v <= limit))
	}
	pair("startup rootless vs root", bRootless, bSandbox, 1.2, "sandbox-rootless median <= 1.2x sandbox's (root)")
	pair("startup rootless vs bwrap", bRootless, bBwrapRootless, math.Inf(1), "sandbox-rootless next to bwrap run by the same user (reported, not judged)")

	// throughput
	if v, why := median(ScenarioThroughput, "c=2", bSandbox, "rate"); why != "" {
		ts = append(ts, unjudged("throughput at c=2", ">= 300 sandboxes/s", why))
	} else {
		ts = append(ts, judged("throughput at c=2", ">= 300 sandboxes/s", v, fmt.Sprintf("%s/s", fmtNum(v)), v >= 300))
	}

	ratio("throughput CLI vs bwrap at c=2", "sandbox rate >= 1.0x bwrap's", ScenarioThroughput, "c=2", "rate", bSandbox, bBwrap, 1.0, true)
	ratio("throughput API vs bwrap at c=2", "sandbox-api rate >= 1.5x bwrap's", ScenarioThroughput, "c=2", "rate", bAPI, bBwrap, 1.5, true)

	// clone: the smallest and largest trees measured
	var sizes []string
	for _, r := range rep.Results {
		if r.Scenario == ScenarioClone && r.Backend == bSnapshot && !contains(sizes, r.Group) {
			sizes = append(sizes, r.Group)
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return groupBytes(sizes[i]) < groupBytes(sizes[j]) })
	if len(sizes) < 2 {
		ts = append(ts, unjudged("clone flat", "snapshot time flat from 100MB to 1GB", "fewer than two tree sizes measured"))
	} else {
		small, large := sizes[0], sizes[len(sizes)-1]
		a, why := median(ScenarioClone, small, bSnapshot, "wall")
		b, why2 := median(ScenarioClone, large, bSnapshot, "wall")
		if why == "" {
			why = why2
		}
		if why != "" {
			ts = append(ts, unjudged("clone flat", "snapshot time flat from "+small+" to "+large, why))
			ts = append(ts, unjudged("clone time", "snapshot median < 2 ms", why))
		} else {
			v := b / a
			ts = append(ts, judged("clone flat", fmt.Sprintf("snapshot median at %s within 1.25x of %s's", large, small), v,
				fmt.Sprintf("%s (%s vs %s ms)", ratioText(v), fmtNum(b), fmtNum(a)), v <= 1.25))
			worst := math.Max(a, b)
			ts = append(ts, judged("clone time", "snapshot median < 2 ms at every size", worst, fmtNum(worst)+" ms", worst < 2))
		}
		c, why := median(ScenarioClone, large, bCp, "wall")
		if why == "" && b > 0 {
			v := c / b
			ts = append(ts, judged("clone vs cp -a", "snapshot > 1000x faster than cp -a at "+large, v,
				fmt.Sprintf("%s (%s vs %s ms)", ratioText(v), fmtNum(b), fmtNum(c)), v > 1000))
		} else {
			if why == "" {
				why = "snapshot not measured"
			}
			ts = append(ts, unjudged("clone vs cp -a", "snapshot > 1000x faster than cp -a at "+large, why))
		}
	}

	// io
	for _, place := range []string{bUpperDisk, bBind} {
		for _, m := range []struct{ group, metric string }{{IOSeqWrite, "throughput"}, {IORandRW, "iops"}} {
			name := fmt.Sprintf("io %s %s", place, m.group)
			want := ">= 95% of the host's " + bHostDisk
			a, why := median(ScenarioIO, m.group, place, m.metric)
			h, why2 := median(ScenarioIO, m.group, bHostDisk, m.metric)
			if why == "" {
				why = why2
			}
			if why != "" || h == 0 {
				ts = append(ts, unjudged(name, want, why))
				continue
			}
			v := a / h
			// The p-value says whether the difference is more than noise.
			_, pv := MannWhitneyU(rep.Find(ScenarioIO, m.group, place, m.metric).Samples, rep.Find(ScenarioIO, m.group, bHostDisk, m.metric).Samples)
			ts = append(ts, judged(name, want, v, fmt.Sprintf("%.1f%% (Mann-Whitney p=%.2f)", 100*v, pv), v >= 0.95))
		}
	}

	// memory
	if v, why := median(ScenarioMemory, "", bSandbox, "pss"); why != "" {
		ts = append(ts, unjudged("memory per idle sandbox", "<= 4 MiB (runner + init, PSS)", why))
	} else {
		ts = append(ts, judged("memory per idle sandbox", "<= 4 MiB (runner + init, PSS)", v, fmtNum(v)+" MiB", v <= 4))
	}

	// limits: p95 of the distance from the limit, either side
	for _, g := range []string{"cpu-time", "wall-time"} {
		name, want := "limits "+g, "kill within 10 ms of the limit at p95"
		r := rep.Find(ScenarioLimits, g, bSandbox, "overshoot")
		if r == nil || !r.OK() {
			why := g + " not run"
			if r != nil {
				why = fmt.Sprintf("%s: %s", r.Status, r.Error)
			}
			ts = append(ts, unjudged(name, want, why))
			continue
		}
		abs := make([]float64, len(r.Samples))
		for i, x := range r.Samples {
			abs[i] = math.Abs(x)
		}
		v, _ := stats.Percentile(abs, 95)
		ts = append(ts, judged(name, want, v, fmtNum(v)+" ms", v <= 10))
	}
	// judge: the cost of one test against one bwrap start, same rounds
	{
		name, want := "judge per-test overhead vs bwrap", "judge time per test <= 1.0x one bwrap start"
		jt, why := median(ScenarioJudge, "", bJudge, "wall")
		bw, why2 := median(ScenarioJudge, "", bBwrap, "wall")
		if why == "" {
			why = why2
		}
		if why != "" {
			ts = append(ts, unjudged(name, want, why))
		} else {
			v := jt / bw
			ts = append(ts, judged(name, want, v, fmt.Sprintf("%s (%s vs %s ms)", ratioText(v), fmtNum(jt), fmtNum(bw)), v <= 1.0))
		}
	}
	// Targets of scenarios that did not run at all are left out.
	ran := map[string]bool{}
	for _, r := range rep.Results {
		ran[r.Scenario] = true
	}
	out := ts[:0]
	for _, t := range ts {
		if ran[strings.Fields(t.Name)[0]] {
			out = append(out, t)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// groupBytes reads a size group name (8MB, 1GB) back.
func groupBytes(g string) int64 {
	var n int64
	var unit string
	fmt.Sscanf(g, "%d%s", &n, &unit)
	switch unit {
	case "GB":
		return n << 30
	case "MB":
		return n << 20
	case "KB":
		return n << 10
	}
	return n
}
