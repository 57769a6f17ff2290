package stage

import "os"

// SpawnRequest is what PID 1 is made of: its descriptors and namespaces,
// and where it is confined from birth.
type SpawnRequest struct {
	// Files become PID 1's descriptors 0, 1, 2 and on, in order; none nil.
	Files []*os.File
	// Ctrl is PID 1's control socket as PID 1 numbers it; it and the
	// NCtrl-1 after it are the runner's (the rest are CMD's). Gate is the
	// start gate, one of them, or -1.
	Ctrl, NCtrl, Gate int
	// Flags are the CLONE_NEW* flags of the sandbox's namespaces.
	Flags uintptr
	// CgroupFD is the v2 cgroup PID 1 is born in, or -1.
	CgroupFD int
	// Tasks are the v1 tasks files PID 1 moves itself into first.
	Tasks []*os.File
	// Join, a pidfd of a running sandbox's PID 1, has PID 1 enter the
	// namespaces named in Flags (those that differ from the runner's)
	// instead of making new ones: an exec in that sandbox. Nil otherwise.
	Join *os.File
	// Detach: no parent-death signal, for an exec that outlives the runner.
	Detach bool
}
