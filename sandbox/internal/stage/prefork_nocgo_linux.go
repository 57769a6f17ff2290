//go:build !cgo

package stage

// Without cgo nothing runs before the Go runtime: PID 1 forks the exec
// stage itself (see forkExecStage), and CMD gets a higher pid than 2.
func preforked() (role, stageFD, stagePid int) { return 0, -1, 0 }
