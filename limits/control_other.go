//go:build !linux

package limits

import "os"

func readControl(path string) ([]byte, error) { return os.ReadFile(path) }
