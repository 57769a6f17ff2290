package sandbox

import "github.com/sandbox-dev/sandbox/limits"

// What enforces a limit, as the report's "enforced_by" names it.
const (
	ByCgroup     = "cgroup"     // the run's cgroup (v1, v2, or a delegated v2 subtree)
	ByRlimit     = "rlimit"     // setrlimit on the sandbox's processes
	BySupervisor = "supervisor" // the runner watches and kills
	ByTmpfs      = "tmpfs"      // the size of the tmpfs holding the writable layer
	ByNone       = "none"       // not asked for
)

// Enforcement says, per limit (keyed as the report's "limits" keys), what
// enforces it in this run.
type Enforcement map[string]string

// enforcement is the table for a run with limits l whose group is a
// cgroup (cg != nil) or none.
func enforcement(l limits.Limits) Enforcement {
	e := Enforcement{}
	set := func(key string, asked bool, by string) {
		if asked {
			e[key] = by
		} else {
			e[key] = ByNone
		}
	}
	set("memory_bytes", l.Memory > 0, ByCgroup)
	set("pids", l.Pids != nil, ByCgroup)
	set("cpus", l.CPUs != nil, ByCgroup)
	set("cpuset", l.Cpuset != "", ByCgroup)
	set("io_weight", l.IOWeight != 0, ByCgroup)
	set("cpu_time_ms", l.CPUTime > 0, BySupervisor)
	set("wall_time_ms", l.WallTime > 0, BySupervisor)
	set("output_limit_bytes", l.OutputLimit > 0, BySupervisor)
	e["disk_bytes"] = ByTmpfs // always: Disk 0 means DefaultDisk
	r := l.Rlimits
	set("rlimits", r.NoFile != nil || r.FSize != nil || r.Stack != nil || r.Core != nil || r.NProc != nil || r.AS != nil, ByRlimit)
	return e
}
