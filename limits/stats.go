package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"
)

// Stats is what a sandbox used, read from its cgroup. A zero means zero or
// "the host does not count it"; doc.go lists where each comes from.
type Stats struct {
	CPUTotal time.Duration `json:"cpu_total" toml:"cpu_total"`
	CPUUser  time.Duration `json:"cpu_user" toml:"cpu_user"`
	CPUSys   time.Duration `json:"cpu_sys" toml:"cpu_sys"`
	// MemoryPeak is the most memory charged at once, in bytes.
	MemoryPeak int64 `json:"memory_peak" toml:"memory_peak"`
	// MemoryLimitHits counts allocations that hit the memory limit and had
	// to reclaim (or fail); most do not end in an OOM kill.
	MemoryLimitHits int64 `json:"memory_limit_hits" toml:"memory_limit_hits"`
	// OOMKills counts processes the kernel's OOM killer killed in the group.
	OOMKills int64 `json:"oom_kills" toml:"oom_kills"`
	// PidsPeak is the most processes and threads at once; nil where the
	// host does not track it (v1, v2 before Linux 6.1).
	PidsPeak *int64 `json:"pids_peak,omitempty" toml:"pids_peak,omitempty"`
	// IORead and IOWrite are bytes of block I/O, summed over devices.
	IORead  int64 `json:"io_read" toml:"io_read"`
	IOWrite int64 `json:"io_write" toml:"io_write"`
}

// userHZ is the unit of cpuacct.stat. The kernel reports in USER_HZ, which
// is 100 on every Linux ABI whatever CONFIG_HZ is.
const userHZ = 100

// statsV1 reads the stats of a v1 group from its directories, keyed by
// controller name ("cpuacct", "memory", "blkio"). Missing controllers and
// files leave their fields zero.
func statsV1(dirs map[string]string) (*Stats, error) {
	var s Stats
	if d, ok := dirs["cpuacct"]; ok {
		if v, ok, err := readInt(filepath.Join(d, "cpuacct.usage")); err != nil {
			return nil, err
		} else if ok {
			s.CPUTotal = time.Duration(v)
		}
		user, okU, err := readInt(filepath.Join(d, "cpuacct.usage_user"))
		if err != nil {
			return nil, err
		}
		sys, okS, err := readInt(filepath.Join(d, "cpuacct.usage_sys"))
		if err != nil {
			return nil, err
		}
		if okU && okS {
			s.CPUUser, s.CPUSys = time.Duration(user), time.Duration(sys)
		} else {
			// Kernels before 4.7 have only the tick counts.
			kv, err := readKeyed(filepath.Join(d, "cpuacct.stat"))
			if err != nil {
				return nil, err
			}
			s.CPUUser = time.Duration(kv["user"]) * (time.Second / userHZ)
			s.CPUSys = time.Duration(kv["system"]) * (time.Second / userHZ)
		}
	}
	if d, ok := dirs["memory"]; ok {
		var err error
		if s.MemoryPeak, _, err = readInt(filepath.Join(d, "memory.max_usage_in_bytes")); err != nil {
			return nil, err
		}
		// TCP buffers are charged to a counter of their own on v1 (see
		// sockets_v1_linux.go): the peak is the sum of both peaks, an
		// upper bound of what was held at once.
		tcp, _, err := readInt(filepath.Join(d, "memory.kmem.tcp.max_usage_in_bytes"))
		if err != nil {
			return nil, err
		}
		s.MemoryPeak += tcp
		// A charge is tried against memsw first when swap is accounted, so a
		// hit counts in exactly one of the two failcnts.
		for _, f := range []string{"memory.failcnt", "memory.memsw.failcnt"} {
			n, _, err := readInt(filepath.Join(d, f))
			if err != nil {
				return nil, err
			}
			s.MemoryLimitHits += n
		}
		kv, err := readKeyed(filepath.Join(d, "memory.oom_control"))
		if err != nil {
			return nil, err
		}
		s.OOMKills = kv["oom_kill"]
	}
	if d, ok := dirs["blkio"]; ok {
		// The throttle counters see every bio whatever the scheduler; the
		// bfq ones only exist under bfq. Both miss buffered writes, which v1
		// charges to the flusher threads, not to the group.
		for _, f := range []string{
			"blkio.throttle.io_service_bytes_recursive",
			"blkio.throttle.io_service_bytes",
			"blkio.bfq.io_service_bytes_recursive",
		} {
			r, w, ok, err := readBlkio(filepath.Join(d, f))
			if err != nil {
				return nil, err
			}
			if ok {
				s.IORead, s.IOWrite = r, w
				break
			}
		}
	}
	return &s, nil
}

// statsV2 reads the stats of a v2 group from its directory.
func statsV2(dir string) (*Stats, error) {
	var s Stats
	cpu, err := readKeyed(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return nil, err
	}
	s.CPUTotal = time.Duration(cpu["usage_usec"]) * time.Microsecond
	s.CPUUser = time.Duration(cpu["user_usec"]) * time.Microsecond
	s.CPUSys = time.Duration(cpu["system_usec"]) * time.Microsecond
	if s.MemoryPeak, _, err = readInt(filepath.Join(dir, "memory.peak")); err != nil {
		return nil, err
	}
	ev, err := readKeyed(filepath.Join(dir, "memory.events"))
	if err != nil {
		return nil, err
	}
	s.MemoryLimitHits, s.OOMKills = ev["max"], ev["oom_kill"]
	peak, ok, err := readInt(filepath.Join(dir, "pids.peak"))
	if err != nil {
		return nil, err
	}
	if ok {
		s.PidsPeak = &peak
	}
	if s.IORead, s.IOWrite, err = readIOStat(filepath.Join(dir, "io.stat")); err != nil {
		return nil, err
	}
	return &s, nil
}

// readInt reads a file holding one integer ("max" reads as 0); ok is false
// when the file does not exist.
func readInt(path string) (int64, bool, error) {
	b, err := readControl(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", path, err)
	}
	t := string(bytes.TrimSpace(b))
	if t == "max" {
		return 0, true, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("parsing %s: %w", path, err)
	}
	return n, true, nil
}

// readKeyed reads a flat-keyed file ("key value" lines, as memory.events,
// cpu.stat, memory.oom_control); a missing file reads as empty.
func readKeyed(path string) (map[string]int64, error) {
	b, err := readControl(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	kv := map[string]int64{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			continue // a value this package does not use, e.g. a float
		}
		kv[string(k)] = n
	}
	return kv, nil
}

// readBlkio sums the Read and Write lines ("8:0 Read 4096") of a v1 blkio
// file, skipping its "Total" line.
func readBlkio(path string) (read, write int64, ok bool, err error) {
	b, err := readControl(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseInt(string(f[2]), 10, 64)
		if err != nil {
			return 0, 0, false, fmt.Errorf("parsing %s: %w", path, err)
		}
		switch string(f[1]) {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write, true, nil
}

// readIOStat sums rbytes and wbytes over the devices of a v2 io.stat
// ("8:0 rbytes=4096 wbytes=0 rios=1 ...").
func readIOStat(path string) (read, write int64, err error) {
	b, err := readControl(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, kv := range f[1:] { // f[0] is the device
			k, v, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parsing %s: %w", path, err)
			}
			switch string(k) {
			case "rbytes":
				read += n
			case "wbytes":
				write += n
			}
		}
	}
	return read, write, nil
}

// parseCPUUsage extracts the CPU time from the bytes of cpuacct.usage (v1,
// nanoseconds) or of cpu.stat (v2, the usage_usec line) without allocating,
// since a supervisor polls it every millisecond.
func parseCPUUsage(b []byte, v2 bool) (time.Duration, bool) {
	if !v2 {
		n, ok := parseUint(bytes.TrimSpace(b))
		return time.Duration(n), ok
	}
	key := []byte("usage_usec ")
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if bytes.HasPrefix(line, key) {
			n, ok := parseUint(bytes.TrimSpace(line[len(key):]))
			return time.Duration(n) * time.Microsecond, ok
		}
	}
	return 0, false
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
