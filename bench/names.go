package bench

// Names of the backends the targets and ratios refer to.
const (
	bBare    = "bare"
	bSandbox = "sandbox"
	bAPI     = "sandbox-api"
	bBwrap   = "bwrap"
	// The same two, run by an unprivileged user (rootless).
	bRootless      = "sandbox-rootless"
	bBwrapRootless = "bwrap-rootless"
	bRunc          = "runc"
	bCrun          = "crun"
	// bSandboxOCI is the sandbox binary as an OCI runtime, by its
	// sandbox-oci link, where runc and crun are run.
	bSandboxOCI = "sandbox-oci"
	bVM         = "qemu"
)

// Backends of the clone scenario.
const (
	bSnapshot = "snapshot"
	bCp       = "cp-a"
	bReflink  = "cp-reflink"
)

// IODriverArgs is how the suite runs the built-in I/O driver from the
// sandbox binary: `sandbox bench io-driver --mode M --dir D ...`.
var IODriverArgs = []string{"bench", "io-driver"}

// Backends (places) of the io scenario.
const (
	bHostDisk   = "host-disk"
	bHostTmpfs  = "host-tmpfs"
	bUpperTmpfs = "upper-tmpfs"
	bUpperDisk  = "upper-disk"
	bBind       = "bind"
)

// Backends of the judge scenario.
const (
	bJudge = "judge-per-test"
)
