// Package oci is the runner as an OCI runtime: runc's command line, as
// containerd's shim, conmon (podman) and a Kubernetes RuntimeClass call
// it, over runtime-spec bundles, with each container a sandbox.Start.
//
// # Why a package of its own
//
// An engine does not speak Specs. It writes a bundle (config.json and a
// root), runs `create`, then `start`, `state`, `kill` and `delete` as
// separate processes, and expects the container to outlive each of them.
// Turning config.json into a sandbox.Spec (translate.go, plain data,
// tested on every OS), keeping container state between calls under
// --root (state.go), and the lifecycle with a process that holds the
// container meanwhile (runtime_linux.go) is a boundary of its own; the
// sandbox package stays plain data in, Result out.
//
// # Translation
//
// Translate maps config.json onto a Plan: a sandbox.Spec and what the
// runtime does around it (the network namespace, net.* sysctls, the OOM
// score, hooks, the console). A field the runner cannot honour is an error
// naming it, wrapping ErrUnsupported: never ignored. What the runner does
// beyond what config.json asks (its seccomp guard, no_new_privs, its own
// masked paths, a cgroup namespace) is hardening every run gets; docs/oci.md
// lists it. The runner's extras come through annotations: AnnotationReport
// (the run report, written when the container stops), AnnotationCPUTime
// and AnnotationWallTime (limits, enforced by the supervisor).
//
// # Lifecycle
//
// `create` translates the bundle, makes the container's directory under
// the state root (<root>/<id>, made under a temporary name and renamed),
// and starts the monitor: this program re-executed as MonitorArg0, out of
// the engine's session, holding the engine's stdio. The container's
// process as the engine sees it (the pid file and state's pid name it) is
// the sandbox's PID 1, handed off to create (sandbox.HandOffInit): create's
// child, as runc's init is, so that conmon and containerd's shim, the
// subreapers it is re-parented to when create exits, wait for it and read
// the container's status from its own (CMD's, 128+N for a signal). The
// monitor waits for it through a pidfd; its end (the control socket
// closing) ends PID 1 and the sandbox with it, and it exits as the
// container did too, for `run`'s wait.
// The monitor prepares the network namespace, runs the prestart and
// createRuntime hooks, reports "created", and holds the user process
// until `start` (its control socket, <root>/<id>/ctl); then it starts the
// sandbox, runs the poststart hooks, records "running", waits, writes the
// report and records "stopped" with the exit status.
//
// `kill` asks the monitor, which signals the container (SIGKILL kills
// the whole sandbox at once); `delete` refuses a container that is not
// stopped unless --force, which kills it; then it runs the poststop hooks,
// cleans what a killed monitor left (sandbox.GC on the container's own
// run directory) and removes the container's directory. A monitor killed
// by the engine takes the sandbox with it; `delete` then finds it stopped.
//
// `exec` runs a process in a created or running container without the
// monitor: the runtime process itself has its process cloned into the
// sandbox (sandbox.Exec, through a pidfd of the sandbox's PID 1, which the
// monitor records as InitPid), translated from process.json against the
// container's config.json. Detached (as conmon runs it), the pid file
// names the exec's own init, which outlives the runtime and exits with the
// process's status for the engine's subreaper.
package oci
