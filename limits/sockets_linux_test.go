package limits

import (
	"path/filepath"
	"testing"
)

func TestNoSocketAccounting(t *testing.T) {
	for _, tt := range []struct {
		cmdline string
		want    bool
	}{
		{"", false},
		{"console=ttyS0 quiet", false},
		{"cgroup.memory=nosocket", true},
		{"quiet cgroup.memory=nokmem,nosocket ro", true},
		{"cgroup.memory=nokmem", false},
		{"xcgroup.memory=nosocket", false},
	} {
		if got := noSocketAccounting(tt.cmdline); got != tt.want {
			t.Errorf("noSocketAccounting(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
}

// TestV1RealSockets: TCP accounting is on in every v1 group, with or
// without a memory limit, and an idle group's balance changes nothing.
func TestV1RealSockets(t *testing.T) {
	h := requireVersion(t, 1)
	root := testRoot(t, h)
	dir := func(id string) string { return filepath.Join(h.v1["memory"], "memory", root, id) }
	if !exists(filepath.Join(h.v1["memory"], "memory", tcpLimitFile)) {
		t.Skipf("this kernel's v1 memory controller has no %s", tcpLimitFile)
	}
	for _, tt := range []struct {
		id     string
		memory int64
		want   string
	}{{"limited", 64 << 20, "67108864"}, {"unlimited", 0, "9223372036854771712"}} {
		t.Run(tt.id, func(t *testing.T) {
			cg, err := New(root, tt.id, Limits{Memory: tt.memory})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cg.Kill(); cg.Delete() })
			if got := readTrim(t, filepath.Join(dir(tt.id), tcpLimitFile)); got != tt.want {
				t.Errorf("%s = %s, want %s", tcpLimitFile, got, tt.want)
			}
			b, ok := cg.(SocketBalancer)
			if !ok {
				t.Fatal("a v1 group is no SocketBalancer")
			}
			held, err := b.BalanceSockets()
			if held != 0 || err != nil {
				t.Errorf("BalanceSockets of an empty group = %d, %v", held, err)
			}
			if tt.memory > 0 {
				if got := readTrim(t, filepath.Join(dir(tt.id), "memory.limit_in_bytes")); got != tt.want {
					t.Errorf("memory.limit_in_bytes after an idle balance = %s, want %s", got, tt.want)
				}
			}
			if err := cg.Delete(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.BalanceSockets(); err == nil {
				t.Error("BalanceSockets of a deleted group succeeded")
			}
		})
	}
}
