package stage

import "errors"

// InitArg0 is PID 1's name: its comm and command line, for ps.
const InitArg0 = "sandbox-init"

// GoByte is what the runner writes on the control socket once it has
// confined PID 1, after the Config (as EncodeConfig writes it).
const GoByte = 'G'

// BuildCache is the file of its run directory where a runner keeps
// the build part (EncodeBuild) of its last run, for the spare the next
// runner's zygote clones at once: it builds that container ahead, before
// the Go runtime of the runner that asks for it has started (zygote.c's
// zy_read_build; ZY_BUILD_NAME there).
const BuildCache = ".build"

// MaxGoFiles is how many descriptors the GoByte can carry (ZY_MAXFD in
// zygote.h).
const MaxGoFiles = 64

// Exit codes of the runner's own, as timeout(1) and env(1) use them.
const (
	ExitRunnerFailed  = 125
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// ErrUnsupported marks a failure caused by a kernel feature the host lacks.
var ErrUnsupported = errors.New("not supported on this host")

// DefaultPath is the PATH a command is looked up in when its environment
// has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
