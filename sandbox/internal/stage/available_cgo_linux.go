//go:build cgo

package stage

// Available says whether this binary has the init and exec stages: they are
// C, compiled by cgo.
const Available = true
