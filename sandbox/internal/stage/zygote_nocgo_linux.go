//go:build !cgo

package stage

import "fmt"

// Spawn fails: this binary has no stages (Available is false).
func Spawn(SpawnRequest) (int, error) {
	return 0, fmt.Errorf("starting init: built without cgo, this binary has no init stage: %w", ErrUnsupported)
}
