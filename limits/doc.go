// Package limits confines a sandbox with cgroups and rlimits and accounts
// what it used.
//
// # Vocabulary
//
//   - Limits: the quota part of a run's spec, plain data. Memory, Pids, CPUs,
//     Cpuset and IOWeight are written to the run's cgroup; Rlimits are set on
//     its init process; CPUTime, WallTime, ExtraTime, OutputLimit and Disk
//     are only carried and validated here and enforced by the sandbox
//     (supervisor and mounts).
//   - Flag: each limit's name as a command-line flag ("memory", "pids",
//     "rlimit-nofile", see Flags). Every error about a value names its flag
//     (*FlagError, wrapping ErrInvalid), whether the value came from a flag,
//     a profile or a JSON spec.
//   - Root: an absolute cgroup path of ours (DefaultRoot, "/sandbox"; tests
//     use "/sandbox-test/<random>"). Every run's group is <root>/<id> in each
//     hierarchy it uses, never relative to the runner's own cgroup.
//   - Cgroup: one run's group, v1 or v2 behind one interface.
//   - Stats: what the group used, read at the end of a run.
//
// # Lifecycle
//
// The runner, for one run:
//
//	l.Validate()                              // or l.Set per flag, which validates
//	cg, err := limits.New(root, id, l)        // the group, limits written
//	defer cg.Delete()
//	defer cg.Kill()
//	// v2: fd, _ := cg.OpenFD(); SysProcAttr{UseCgroupFD: true, CgroupFD: fd};
//	//     close fd after Start. The child is born in the group.
//	cmd.Start()                               // init, blocked on its "go" pipe
//	// v1: cg.Attach(cmd.Process.Pid)          before the init runs anything
//	limits.ApplyRlimits(cmd.Process.Pid, l.Rlimits)
//	// release "go"; poll cg.CPUUsage() against l.CPUTime
//	// when init is reaped: s, _ := cg.Stats(); cg.Kill(); cg.Delete()
//
// Attach (v1) or CLONE_INTO_CGROUP (v2) must happen before the init stage
// unshares its cgroup namespace, or the namespace's root is the runner's
// cgroup: start the init without CLONE_NEWCGROUP and let it call
// unshare(CLONE_NEWCGROUP) after "go". It must also happen before the init
// allocates much: v1 leaves memory charged before the move with the old
// group.
//
// For `sandbox gc`: List(root) gives ids, Load(root, id) the group, then
// Kill and Delete. RemoveRoot removes an empty root (tests, gc).
//
// # Invariants
//
//   - New either returns a group with every limit written or leaves no group
//     behind (root itself, shared by all runs, stays).
//   - New claims an id with an exclusive mkdir: a group that exists is never
//     shared (ErrExists), so a leftover of a dead runner is gc's to remove.
//   - A group holds only the controllers its limits and its accounting need.
//   - Delete never kills: on a populated group it fails with ErrBusy. It is
//     idempotent, and removes any child groups the sandbox made.
//   - Kill is bounded (3s) and returns ErrBusy rather than hang on tasks in
//     uninterruptible sleep.
//   - CPUUsage does one pread on a descriptor kept open and allocates
//     nothing (about 0.3-0.4us here), so a supervisor can poll every ms.
//
// # Version choice
//
// cgroups.Mode() decides, as a pure function of the mode, the controllers
// of the v2 root and those a run needs (chooseVersion):
//
//   - Unified: v2 (ErrUnsupported if the v2 root lacks a needed controller).
//   - Legacy: v1.
//   - Hybrid: v1, unless the v2 mount (/sys/fs/cgroup/unified) has every
//     needed controller. A controller lives in one hierarchy only; on hybrid
//     hosts they are normally all in v1 and the v2 mount only tracks
//     processes, as on this project's machines. A run is never split across
//     versions: it could not be attached, killed or accounted in one place.
//
// Needed on v2: memory always (accounting), pids with Pids, cpu with CPUs,
// cpuset with Cpuset; taken where available: pids (for pids.peak) and io
// (io.stat, weight). CPU time needs no controller on v2: cpu.stat is core.
//
// Needed on v1: memory and cpuacct always, pids with Pids, cpu with CPUs,
// cpuset with Cpuset; taken where mounted: freezer (so Kill freezes before
// it reads pids: no fork escapes and no pid is reused meanwhile) and blkio
// with IOWeight. Each v1 hierarchy costs 25-50us per run, and blkio on v1
// misses buffered writes (charged to the flusher threads), so it is not
// joined for I/O accounting alone. On this project's hybrid machine
// (2 cores, Linux 6.18) New+Attach+Delete takes about 0.2ms for accounting
// only, 0.3ms with memory+pids, 0.7ms with memory+pids+cpus+cpuset
// (BenchmarkCgroupLifecycle).
//
// # Limits as written
//
//	limit      v1                                        v2
//	Memory     memory.limit_in_bytes, then               memory.max; memory.swap.max = 0
//	           memory.memsw.limit_in_bytes = Memory      where swap is accounted
//	           where swap is accounted;
//	           memory.kmem.tcp.limit_in_bytes = Memory
//	           (-1 without a limit: accounting on)
//	Pids       pids.max                                  pids.max
//	CPUs       cpu.cfs_period_us = 100000,               cpu.max = "CPUs*100000 100000"
//	           cpu.cfs_quota_us = CPUs*100000
//	Cpuset     cpuset.cpus (mems copied from parent)     cpuset.cpus
//	IOWeight   blkio.weight or blkio.bfq.weight          io.weight "default W'" (W' = 1+(W-10)*9999/990,
//	                                                     runc's mapping) or io.bfq.weight W
//
// Devices: every group is confined to the sandbox's own devices (null,
// zero, full, random, urandom, tty, ptmx, pts): on v1 by the devices
// cgroup where it is mounted, on v2, which has no devices controller, by a
// BPF_CGROUP_DEVICE program attached to the group (New fails where the
// host refuses it).
//
// IOWeight is skipped where no weight file exists (this project's machine
// has neither blkio.weight nor blkio.bfq.weight): a weight is a scheduling
// hint, not a confinement, and failing runs for it would be worse.
//
// # Stats per version
//
//	stat             v1                                          v2
//	CPUTotal         cpuacct.usage (ns)                          cpu.stat usage_usec
//	CPUUser/CPUSys   cpuacct.usage_user/_sys (ns), else          cpu.stat user_usec/system_usec
//	                 cpuacct.stat ticks (USER_HZ = 100)
//	MemoryPeak       memory.max_usage_in_bytes +                 memory.peak (Linux 5.19+, else 0)
//	                 memory.kmem.tcp.max_usage_in_bytes
//	MemoryLimitHits  memory.failcnt + memory.memsw.failcnt       memory.events max
//	OOMKills         memory.oom_control oom_kill (Linux 4.13+)   memory.events oom_kill
//	PidsPeak         nil (v1 has no peak)                        pids.peak (Linux 6.1+, else nil)
//	IORead/IOWrite   blkio.throttle.io_service_bytes_recursive   io.stat rbytes/wbytes, summed
//	                 (Read/Write, summed), else the bfq file;
//	                 only when blkio is joined (IOWeight)
//
// OOMKills counts processes the OOM killer killed: the ML verdict.
// MemoryLimitHits counts charges that hit the limit and had to reclaim;
// most end well. Caveat: on v1 with swap accounting, recent kernels count
// failures only on the memory counter (page_counter track_failcnt), and the
// memsw limit, equal to it, fails first: MemoryLimitHits then stays 0 even
// with OOM kills, as on this project's machine. Use OOMKills for verdicts.
//
// # Rlimits
//
// ApplyRlimits sets Limits.Rlimits on the init process with prlimit(2)
// before it runs; the init and all it starts inherit them. DefaultLimits
// sets NOFILE 1024:524288 (systemd's service default, below the default
// fs.nr_open) and CORE 0; the rest stay as the runner has them. A Go init
// is fine: Go restores its startup NOFILE on exec only if nobody changed it
// meanwhile, and a prlimit from outside counts (TestApplyRlimitsGoExec).
// NPROC is per user and host-wide and not enforced for root: bound a
// sandbox with Pids (package sandbox refuses an NPROC that would not
// apply, and gives every run DefaultPids unless told otherwise).
//
// # Socket buffers
//
// v2 charges socket buffers to memory.current, so memory.max and
// memory.peak hold them (unless the host booted with
// cgroup.memory=nosocket). v1 charges TCP buffers only to a group whose
// memory.kmem.tcp.limit_in_bytes was written, and then to a counter of
// their own: every v1 group has it written, its memory peak adds the TCP
// peak, and a memory-limited v1 group is a SocketBalancer, which the
// supervisor polls to keep memory and TCP buffers together within the
// limit (sockets_v1_linux.go). A v1 host without the file cannot bound
// them: a memory limit there is refused (ErrUnsupported).
package limits
