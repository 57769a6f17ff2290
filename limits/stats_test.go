package limits

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeFiles creates dir and the files named in files with their content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsV1(t *testing.T) {
	cpuacct := map[string]string{
		"cpuacct.usage":      "1234567890\n",
		"cpuacct.usage_user": "1000000000\n",
		"cpuacct.usage_sys":  "200000000\n",
		"cpuacct.stat":       "user 99\nsystem 19\n",
	}
	memory := map[string]string{
		"memory.max_usage_in_bytes": "67108864\n",
		"memory.failcnt":            "12\n",
		"memory.memsw.failcnt":      "30\n",
		"memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
	}
	blkio := map[string]string{
		"blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n" +
			"8:16 Read 1\n8:16 Write 2\n8:16 Total 3\nTotal 12291\n",
		"blkio.bfq.io_service_bytes_recursive": "8:0 Read 7\n8:0 Write 7\n",
	}
	for _, tc := range []struct {
		name  string
		files map[string]map[string]string // controller -> files
		want  Stats
	}{
		{
			name:  "all",
			files: map[string]map[string]string{"cpuacct": cpuacct, "memory": memory, "blkio": blkio},
			want: Stats{
				CPUTotal: 1234567890, CPUUser: time.Second, CPUSys: 200 * time.Millisecond,
				MemoryPeak: 64 << 20, MemoryLimitHits: 42, OOMKills: 2,
				IORead: 4097, IOWrite: 8194,
			},
		},
		{
			name: "old kernel: ticks, no memsw, no oom_kill, bfq only",
			files: map[string]map[string]string{
				"cpuacct": {"cpuacct.usage": "5\n", "cpuacct.stat": "user 150\nsystem 3\n"},
				"memory": {
					"memory.max_usage_in_bytes": "4096\n",
					"memory.failcnt":            "1\n",
					"memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\n",
				},
				"blkio": {"blkio.bfq.io_service_bytes_recursive": "8:0 Read 7\n8:0 Write 9\nTotal 16\n"},
			},
			want: Stats{
				CPUTotal: 5, CPUUser: 1500 * time.Millisecond, CPUSys: 30 * time.Millisecond,
				MemoryPeak: 4096, MemoryLimitHits: 1, IORead: 7, IOWrite: 9,
			},
		},
		{
			name:  "no controllers",
			files: map[string]map[string]string{},
			want:  Stats{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dirs := map[string]string{}
			for ctrl, files := range tc.files {
				dirs[ctrl] = filepath.Join(root, ctrl, "sandbox", "x")
				writeFiles(t, dirs[ctrl], files)
			}
			got, err := statsV1(dirs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("statsV1 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatsV1Malformed(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"memory.max_usage_in_bytes": "lots\n"})
	if _, err := statsV1(map[string]string{"memory": dir}); err == nil {
		t.Error("statsV1 accepted a malformed memory.max_usage_in_bytes")
	}
}

func TestStatsV2(t *testing.T) {
	full := map[string]string{
		"cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n" +
			"nr_periods 10\nnr_throttled 2\nthrottled_usec 30000\nnr_bursts 0\nburst_usec 0\n",
		"memory.peak":   "67100672\n",
		"memory.events": "low 0\nhigh 0\nmax 17\noom 1\noom_kill 1\noom_group_kill 0\n",
		"pids.peak":     "5\n",
		"io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n" +
			"253:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  Stats
	}{
		{
			name:  "all",
			files: full,
			want: Stats{
				CPUTotal: 1500 * time.Millisecond, CPUUser: time.Second, CPUSys: 500 * time.Millisecond,
				MemoryPeak: 67100672, MemoryLimitHits: 17, OOMKills: 1, PidsPeak: ptr[int64](5),
				IORead: 4097, IOWrite: 8194,
			},
		},
		{
			name:  "old kernel: no memory.peak, no pids.peak, no io",
			files: map[string]string{"cpu.stat": "usage_usec 7\nuser_usec 4\nsystem_usec 3\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\n"},
			want:  Stats{CPUTotal: 7 * time.Microsecond, CPUUser: 4 * time.Microsecond, CPUSys: 3 * time.Microsecond},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			got, err := statsV2(dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("statsV2 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCPUUsage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v2   bool
		want time.Duration
		ok   bool
	}{
		{in: "123456789\n", want: 123456789, ok: true},
		{in: "0\n", want: 0, ok: true},
		{in: "", ok: false},
		{in: "12x\n", ok: false},
		{in: "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n", v2: true, want: 2500 * time.Microsecond, ok: true},
		{in: "user_usec 2000\nusage_usec 3\n", v2: true, want: 3 * time.Microsecond, ok: true},
		{in: "usage_usec 42", v2: true, want: 42 * time.Microsecond, ok: true},
		{in: "user_usec 2000\n", v2: true, ok: false},
	} {
		got, ok := parseCPUUsage([]byte(tc.in), tc.v2)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseCPUUsage(%q, v2=%v) = %v, %v; want %v, %v", tc.in, tc.v2, got, ok, tc.want, tc.ok)
		}
	}
}
