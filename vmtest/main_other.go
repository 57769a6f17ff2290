//go:build !linux

package main

import (
	"fmt"
	"os"
)

// On other systems there is no guest side and no qemu to drive.
func guestMain(args []string) (bool, error) { return false, nil }

func hostMain(args []string) int {
	fmt.Fprintln(os.Stderr, "vmtest: boots Linux guests with qemu from a Linux host only")
	return 125
}
