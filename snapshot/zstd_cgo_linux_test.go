//go:build cgo

package snapshot

import (
	"testing"

	"github.com/DataDog/zstd"
)

func zstdCompress(t testing.TB, b []byte) []byte {
	t.Helper()
	out, err := zstd.Compress(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
