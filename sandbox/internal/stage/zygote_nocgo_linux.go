//go:build !cgo

package stage

import "fmt"

// StartSpawn fails: this binary has no stages (Available is false).
func StartSpawn(SpawnRequest) *Spawning {
	return &Spawning{wait: func() (int, error) {
		return 0, fmt.Errorf("starting init: built without cgo, this binary has no init stage: %w", ErrUnsupported)
	}}
}

// SiblingZygote does nothing: there is no zygote.
func SiblingZygote() {}

// HandsOff fails as StartSpawn does.
func HandsOff() (bool, error) {
	_, err := StartSpawn(SpawnRequest{}).Wait()
	return false, err
}

// ZygotePid is 0: there is no zygote.
func ZygotePid() int { return 0 }

// Ahead does nothing: there is no zygote.
func Ahead(uintptr) {}

func AheadOfNext(uintptr, []byte) {}

// KeepsBuild is false: there is no zygote.
func KeepsBuild(uintptr) bool { return false }
