//go:build linux && !amd64 && !arm64

package seccomp

// native is empty where mktables.go writes no table: Native fails with
// ErrArch, and a run needs --seccomp unconfined.
var native Arch
