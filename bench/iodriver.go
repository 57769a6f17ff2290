package bench

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// I/O modes of the io scenario.
const (
	// IOSeqWrite writes a new file in 1 MiB blocks and fsyncs it: MiB/s,
	// fsync included.
	IOSeqWrite = "seqwrite"
	// IORandRW does random 4 KiB preads and pwrites, half each, buffered,
	// on a file written beforehand (untimed), for a fixed time: IOPS.
	IORandRW = "randrw"
)

// IOJob is one run of the built-in I/O driver.
type IOJob struct {
	Mode     string        `json:"mode"`
	Dir      string        `json:"dir"`
	Size     int64         `json:"size"`     // bytes written (seqwrite) or file size (randrw)
	Duration time.Duration `json:"duration"` // randrw's running time
}

// IOResult is what a driver measured.
type IOResult struct {
	Mode    string  `json:"mode"`
	Bytes   int64   `json:"bytes"`
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	MiBps   float64 `json:"mib_per_s"`
	IOPS    float64 `json:"iops"`
}

// RunIO runs one job of the built-in driver in job.Dir and removes its
// file.
func RunIO(job IOJob) (IOResult, error) {
	f, err := os.CreateTemp(job.Dir, "bench-io-*")
	if err != nil {
		return IOResult{}, fmt.Errorf("creating the test file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	res := IOResult{Mode: job.Mode}
	write := func(size int64) error {
		for off := int64(0); off < size; off += int64(len(block)) {
			n := min(int64(len(block)), size-off)
			if _, err := f.WriteAt(block[:n], off); err != nil {
				return err
			}
		}
		return f.Sync()
	}
	switch job.Mode {
	case IOSeqWrite:
		t0 := time.Now()
		if err := write(job.Size); err != nil {
			return res, fmt.Errorf("writing: %w", err)
		}
		res.Seconds = time.Since(t0).Seconds()
		res.Bytes, res.Ops = job.Size, (job.Size+int64(len(block))-1)/int64(len(block))
	case IORandRW:
		const bs = 4096
		if err := write(job.Size); err != nil {
			return res, fmt.Errorf("laying out the file: %w", err)
		}
		blocks := job.Size / bs
		if blocks < 1 {
			return res, fmt.Errorf("file of %d bytes: too small for 4 KiB blocks", job.Size)
		}
		buf := make([]byte, bs)
		t0 := time.Now()
		deadline := t0.Add(job.Duration)
		for i := int64(0); ; i++ {
			if i%256 == 0 && time.Now().After(deadline) {
				break
			}
			off := rng.Int64N(blocks) * bs
			if rng.IntN(2) == 0 {
				_, err = f.ReadAt(buf, off)
			} else {
				_, err = f.WriteAt(block[:bs], off)
			}
			if err != nil {
				return res, fmt.Errorf("random I/O: %w", err)
			}
			res.Ops++
		}
		res.Seconds = time.Since(t0).Seconds()
		res.Bytes = res.Ops * bs
	default:
		return res, fmt.Errorf("%w: io mode %q: want %s or %s", ErrInvalid, job.Mode, IOSeqWrite, IORandRW)
	}
	if res.Seconds > 0 {
		res.MiBps = float64(res.Bytes) / (1 << 20) / res.Seconds
		res.IOPS = float64(res.Ops) / res.Seconds
	}
	return res, nil
}

// IODriverMain is the built-in driver as a command, for `sandbox bench
// io-driver`: the io scenario runs it inside sandboxes, where the suite's
// own process cannot go. It prints one IOResult as JSON on stdout and
// returns the exit status.
func IODriverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("io-driver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var job IOJob
	fs.StringVar(&job.Mode, "mode", IOSeqWrite, "seqwrite or randrw")
	fs.StringVar(&job.Dir, "dir", ".", "directory to work in")
	size := fs.String("size", "128M", "bytes to write, or the file size")
	fs.DurationVar(&job.Duration, "duration", time.Second, "randrw running time")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, err := parseBytes(*size)
	if err != nil {
		fmt.Fprintf(stderr, "io-driver: --size %q: %v\n", *size, err)
		return 2
	}
	job.Size = n
	if job.Dir, err = filepath.Abs(job.Dir); err != nil {
		fmt.Fprintf(stderr, "io-driver: %v\n", err)
		return 1
	}
	res, err := RunIO(job)
	if err != nil {
		fmt.Fprintf(stderr, "io-driver: %v\n", err)
		return 1
	}
	json.NewEncoder(stdout).Encode(res)
	return 0
}

// parseBytes reads a size with an optional K, M or G suffix (powers of 2).
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}

// fioArgs is fio's command line for the same job as the built-in driver's.
func fioArgs(job IOJob) []string {
	args := []string{"--name=" + job.Mode, "--directory=" + job.Dir, "--ioengine=psync", "--unlink=1",
		"--output-format=json", "--size=" + strconv.FormatInt(job.Size, 10)}
	switch job.Mode {
	case IOSeqWrite:
		args = append(args, "--rw=write", "--bs=1m", "--end_fsync=1")
	case IORandRW:
		args = append(args, "--rw=randrw", "--rwmixread=50", "--bs=4k", "--time_based",
			"--runtime="+strconv.FormatInt(max(job.Duration.Milliseconds(), 1), 10)+"ms")
	}
	return args
}

// parseFio reads fio's JSON output into an IOResult.
func parseFio(mode string, out []byte) (IOResult, error) {
	var doc struct {
		Jobs []struct {
			Error      int     `json:"error"`
			JobRuntime float64 `json:"job_runtime"` // ms
			Read       fioDir  `json:"read"`
			Write      fioDir  `json:"write"`
		} `json:"jobs"`
	}
	// fio may print notes before the JSON document.
	if i := indexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return IOResult{}, fmt.Errorf("reading fio's output: %w", err)
	}
	if len(doc.Jobs) != 1 {
		return IOResult{}, fmt.Errorf("reading fio's output: %d jobs, want 1", len(doc.Jobs))
	}
	j := doc.Jobs[0]
	if j.Error != 0 {
		return IOResult{}, fmt.Errorf("fio: job error %d", j.Error)
	}
	res := IOResult{Mode: mode, Bytes: j.Read.IOBytes + j.Write.IOBytes, Ops: j.Read.TotalIOs + j.Write.TotalIOs,
		Seconds: j.JobRuntime / 1000, IOPS: j.Read.IOPS + j.Write.IOPS}
	res.MiBps = (j.Read.BWBytes + j.Write.BWBytes) / (1 << 20)
	return res, nil
}

type fioDir struct {
	IOBytes  int64   `json:"io_bytes"`
	BWBytes  float64 `json:"bw_bytes"`
	IOPS     float64 `json:"iops"`
	TotalIOs int64   `json:"total_ios"`
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
