//go:build !linux

package isolate

import "fmt"

// Main reports that boxes need Linux.
func Main(inv Invocation) int {
	fmt.Fprintln(inv.Stderr, "isolate: not supported on this platform: boxes need Linux namespaces and cgroups")
	return 2
}
