//go:build !cgo

package stage

// Available says whether this binary has the init and exec stages: they are
// C, compiled by cgo, and this binary was built without it.
const Available = false
