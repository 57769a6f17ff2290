package oci

import specs "github.com/opencontainers/runtime-spec/specs-go"

// ExecOptions are runc exec's.
type ExecOptions struct {
	Root, ID string
	// Process is the process to run (--process, or built from the
	// command line by the caller): process.json's fields, translated as
	// config.json's process is, against the container's own config.json
	// (its seccomp profile, its capability rules).
	Process       *specs.Process
	Detach        bool
	PidFile       string
	ConsoleSocket string
	// PreserveFDs passes descriptors 3 .. 3+N-1 on to the process.
	PreserveFDs int
}
