// Package profile reads sandbox profiles: TOML files that hold everything a
// run can be given on the command line (root, mounts, environment, workdir,
// hostname, user, network, limits), and the built-in profiles embedded in
// the binary.
//
// # Why a package of its own
//
// A profile is resolved by more than one caller: the CLI today
// (`sandbox exec --profile`, `sandbox profile show`), and later
// `sandbox judge`, `sandbox repro` and the Go test helper. The sandbox
// package runs a sandbox.Spec, plain data, and knows nothing of files or
// TOML; this package is the one place that turns a file into the parts of
// a Spec, with errors that point into the file. Merging with command-line
// flags is the caller's: a flag overrides what the profile sets.
//
// # Vocabulary
//
//   - Profile: what one file sets (a field left unset leaves the Spec
//     alone). Load reads a built-in or a file, Parse reads bytes, Apply
//     copies a Profile into a sandbox.Spec.
//   - Built-in: one of the profiles embedded in the binary, by name: "test"
//     (hermetic test suites), "build" (reproducible builds), "grade"
//     (untrusted submissions under strict limits). Builtin returns the
//     commented text, which `sandbox profile show NAME` prints as a starting
//     point for a file of one's own. Names lists them.
//   - A name containing a slash or ending in ".toml" is a file; any other is
//     a built-in's name (IsPath).
//
// # File format
//
// A profile is a TOML document. Keys may be written with dashes or
// underscores alike ("keep-env" is "keep_env"), as the flags are; a key
// given in both spellings is an error. Every top-level key and table is
// optional.
//
//	description = "..."   string: one line saying what the profile is for.
//	root = "/srv/rootfs"  string: the host directory used as the run's
//	                      read-only lower layer; "" (the default) is the
//	                      host's "/". An absolute path, or one starting with
//	                      "./" or "../", resolved against the profile file's
//	                      directory; bare names are kept for snapshot names.
//	host_root = ["/usr", "/bin", ...]
//	                      array of strings: a root of the run's own made of
//	                      these absolute host paths, read-only, instead of
//	                      the host's "/" (sandbox.HostRoot: symlinks made
//	                      again, missing paths left out). Not with root.
//	                      The grade profile lists what programs need
//	                      (sandbox.MinimalHostRoot).
//	network = "none"      string: "none" (a namespace of its own with only
//	                      loopback) or "host" (the host's network).
//	hostname = "build"    string: 1 to 64 letters, digits, '-', '.', '_'.
//	workdir = "/box"      string: absolute path inside the sandbox, created
//	                      if missing.
//	user = "65534:65534"  string: "UID[:GID]", numbers only (names depend on
//	                      the host's user database); GID defaults to UID,
//	                      where --user would look the UID up on the host.
//	                      "unique": an id of the run's own (User.Unique).
//	keep_env = false      boolean: start from the caller's whole environment
//	                      instead of the hermetic one.
//	env = ["K=V", ...]    array of strings: variables set on top of that
//	                      starting environment, in order.
//	cap_add = ["NET_RAW"] array of strings: capabilities kept ("CAP_NET_RAW",
//	                      "NET_RAW" and "net_raw" alike).
//	no_symlinks = true    boolean: every bind of the run, the command line's
//	                      included, refuses a source with a symlink in any
//	                      component instead of following it
//	                      (sandbox.Spec.NoSymlinks); for untrusted pipelines.
//
//	[[mount]]             one table per mount, made in file order (a later
//	                      one may land inside an earlier one):
//	type = "bind"         string, required: "bind" or "tmpfs".
//	source = "data"       string: a bind's host path, required for a bind and
//	                      refused for a tmpfs. A relative path is resolved
//	                      against the profile file's directory (not the
//	                      caller's working directory, as -v's is), so that a
//	                      profile and what it binds travel together.
//	destination = "/data" string, required: absolute path inside the sandbox,
//	                      not "/".
//	read_only = true      boolean: mount read-only.
//	no_symlinks = true    boolean: a bind whose source has a symlink in any
//	                      component is refused, not followed.
//	size = "64M"          string or integer (bytes): a tmpfs's size; refused
//	                      for a bind.
//
//	[limits]              one key per limit, named as the exec flag without
//	                      dashes: memory, pids, cpus, cpuset, io-weight,
//	                      cpu-time, wall-time, extra-time, output-limit, disk,
//	                      rlimit-nofile, rlimit-fsize, rlimit-stack,
//	                      rlimit-core, rlimit-nproc, rlimit-as (see
//	                      limits.Flags). A value is a string or a number,
//	                      read exactly as the flag's value:
//	memory = "256M"       sizes take K, M, G, T (powers of 1024);
//	cpu-time = "2s"       times take ms, s, m, h, or a bare number of seconds
//	                      (cpu-time = 2);
//	rlimit-nofile = "64:1024"  rlimits are SOFT[:HARD], "unlimited" allowed.
//
// Limits start from limits.DefaultLimits(), so a profile without [limits]
// gets what a run gets by default. The environment is composed by the
// caller, in this order: the hermetic environment (or the caller's, with
// keep_env or --keep-env), then the profile's env, then --env-file, then -e.
//
// # Errors
//
// Parse reports every problem it finds, each an *Error wrapping ErrInvalid
// and naming the file, the line and the key:
//
//	grade.toml:7: unknown key "limits.memroy"
//	p.toml:3: key "network": want a string, got integer
//	p.toml:9: limits.memory: invalid --memory "banana": not a size (...)
//
// Syntax errors come from the TOML decoder with its line. Lines of other
// errors are found by scanning the text for the key's definition; a key
// inside an inline table gets the line of the key that holds the table.
//
// # Invariants
//
//   - A Profile returned by Parse is valid on this host: its limits passed
//     limits.Limits.Set (and so Validate), its paths are absolute and clean,
//     its network, user, mounts and capabilities are well formed. Whether a
//     bind's source exists is checked when the run starts
//     (sandbox.Spec.Validate): Parse reads no file.
//   - Apply never shares memory between the Profile and the Spec.
//   - Every built-in parses, and its limits validate (tested).
package profile
