// Package bench measures what isolation costs: the sandbox side by side
// with bare processes, other sandboxes and a VM, on the machine it runs
// on; and, for performance-regression tracking, a user's own command run
// again and again in identical fresh sandboxes. `sandbox bench` is its
// command line; docs/bench.md shows one run and documents the JSON schema.
//
// # Vocabulary
//
// A scenario is one question (startup, throughput, clone, io, memory,
// limits, judge). A backend is one way of answering it: bare fork/exec, the
// sandbox CLI or Go API, bwrap, runc, crun, podman, qemu for startup; a
// snapshot, cp -a, cp --reflink for clone; a place to write for io. A
// result is one metric of one backend in one scenario, with a group where
// a scenario splits (concurrency, tree size, I/O mode); it holds every
// sample, their Summary, and ratios to the group's bare and sandbox rows.
// A Report is every result of a run, with the host facts the numbers
// depend on and the targets judged against them.
//
// # Method
//
//  1. Setup: each backend makes what it needs (an OCI bundle, a podman
//     image in a store of its own, an initramfs, a 1 GB tree in a snapshot
//     store). A backend whose program is missing is skipped, one that
//     fails is failed, each with its error: no backend is dropped silently.
//  2. Warm-up: each backend runs Config.Warmup times untimed; the time
//     those runs took is its cost.
//  3. Allotment: each backend gets an equal share of the scenario's part of
//     the budget, as runs of its cost, within MinN and MaxN; what capped
//     backends leave goes to the others (allot).
//  4. Rounds: every round runs each backend once, in the same order
//     (A B C A B C ...), so that drift (thermal, page cache, a neighbour's
//     load) hits every backend alike; a backend planned for fewer runs
//     runs in rounds spread evenly over the whole time (due).
//  5. Summary: min, p25, median, p75, p95, max, mean, standard deviation
//     and a distribution-free 95% confidence interval of the median
//     (order statistics), and each median's ratio to the bare and sandbox
//     medians of the same run.
//
// Compare tells two reports apart metric by metric with a Mann-Whitney U
// test (two-sided, normal approximation with tie and continuity
// corrections): "~" when the difference is not significant, as benchstat
// says it; a significant change in the worse direction beyond a threshold
// is a regression, which CI turns into a failing exit status.
//
// # Invariants
//
//   - Everything a run makes is removed when Run returns, on every path:
//     its temporary directory (trees, stores, bundles, podman's storage),
//     every mount below it, the cgroups of the sandbox and of the OCI
//     runtimes (in every hierarchy), and every process it started
//     (children get a parent-death signal too).
//   - The sandbox backends run the real `sandbox` binary (Config.Sandbox),
//     because the start of the runner is part of what users pay; the Go
//     API is a separate row.
//   - The suite never touches cgroups outside Config.CgroupRoot and
//     Config.CgroupRoot+"-oci".
//   - Nothing is asserted about speed: targets are reported as met, missed
//     or n/a, with the numbers.
//
// # Approximations
//
// The "namespaces only" and "+ fresh overlay root" startup
// configurations need sandbox.Spec knobs that do not exist (no overlay, no
// cgroup). The rows "namespaces" (clone(2) with the sandbox's namespace
// flags, no runner) and "sandbox-small-root" (--root over a 2 MB tree: one
// overlay instead of one per host filesystem, the cgroup still made) stand
// in for them, and say so in their notes. crun 1.8 refuses hybrid cgroup
// hosts; the "-no-cgroup2" rows run it (and podman) in a mount namespace of
// their own without the empty cgroup2 mount, next to the rows that report
// the refusal. The disk-backed overlay upper is a snapshot store's
// Prepare mounted on the host and bound into the sandbox: the same
// overlay, with its upper on the same filesystem, as `exec --root NAME
// --commit` makes.
package bench
