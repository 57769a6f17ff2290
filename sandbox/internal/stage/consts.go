package stage

import "errors"

// Arguments and environment the runner starts PID 1 with. The C
// constructor (prefork.c) recognises InitArg0 before main runs.
const (
	InitArg0 = "sandbox-init"
	// InitFDEnv names the control socket's descriptor number in PID 1's
	// environment (the console socket, with a TTY, is the next one).
	InitFDEnv = "_SANDBOX_INIT_FD"
	// InitNFDEnv is how many descriptors from InitFDEnv on are the
	// runner's (control, console): any above them are closed at once.
	InitNFDEnv = "_SANDBOX_INIT_NFD"
	// InitGateEnv names the start gate's descriptor, one of the
	// runner's: the exec stage reads a byte from it before it execs CMD.
	InitGateEnv = "_SANDBOX_INIT_GATE"
)

// GoByte is what the runner writes on the control socket once it has
// confined PID 1; the Config follows it, as EncodeConfig writes it.
const GoByte = 'G'

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
