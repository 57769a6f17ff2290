package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/sys/unix"
)

// ioDir is where the driver works inside a sandbox.
const ioDir = "/bench-io"

// io measures sequential writes with fsync and random 4 KiB reads and
// writes in each place a sandbox writes to, and in the host's own
// directories of the same kind.
func (s *suite) io(ctx context.Context, p plan) ([]*Result, error) {
	driver, note := s.cfg.IODriver, ""
	fio, fioErr := exec.LookPath("fio")
	switch {
	case driver == "fio" && fioErr != nil:
		return nil, missing("fio", "fio")
	case driver == "auto" && fioErr == nil, driver == "fio":
		driver = "fio"
		s.tool("fio", firstLine(fio, "--version"))
	default:
		driver = "builtin"
	}
	note = "driver " + driver
	// Half a second per random I/O run: more runs in the budget, which
	// the noise of a page cache shared with the rest of the host needs.
	dur := 500 * time.Millisecond
	if s.cfg.Smoke {
		dur = 100 * time.Millisecond
	}
	jobs := []IOJob{
		{Mode: IOSeqWrite, Size: s.cfg.IOSize},
		{Mode: IORandRW, Size: min(s.cfg.IOSize, 64<<20), Duration: dur},
	}

	// The places, each a way to run the driver in a directory.
	type place struct {
		name, bare, note string
		setup            func() (func(ctx context.Context, job IOJob) (IOResult, error), error)
	}
	hostRun := func(dir string) func(ctx context.Context, job IOJob) (IOResult, error) {
		return func(ctx context.Context, job IOJob) (IOResult, error) {
			job.Dir = dir
			return s.runDriver(ctx, driver, fio, job, nil)
		}
	}
	sandboxRun := func(extra ...string) func(ctx context.Context, job IOJob) (IOResult, error) {
		return func(ctx context.Context, job IOJob) (IOResult, error) {
			job.Dir = ioDir
			return s.runDriver(ctx, driver, fio, job, append(extra, "-w", ioDir))
		}
	}
	places := []place{
		{bHostDisk, "", "the host's " + s.host.Filesystem + ", no sandbox", func() (func(context.Context, IOJob) (IOResult, error), error) {
			dir := filepath.Join(s.dir, "io-host")
			return hostRun(dir), os.Mkdir(dir, 0o755)
		}},
		{bHostTmpfs, "", "a tmpfs on the host, no sandbox", func() (func(context.Context, IOJob) (IOResult, error), error) {
			dir := filepath.Join(s.dir, "io-tmpfs")
			if err := os.Mkdir(dir, 0o755); err != nil {
				return nil, err
			}
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", 2*s.cfg.IOSize+(64<<20))); err != nil {
				return nil, fmt.Errorf("mounting a tmpfs: %w", err)
			}
			s.atEnd(func() { unix.Unmount(dir, unix.MNT_DETACH) })
			return hostRun(dir), nil
		}},
		{bUpperTmpfs, bHostTmpfs, "the sandbox's root: overlay of the host's /, upper on the run's tmpfs (the default)",
			func() (func(context.Context, IOJob) (IOResult, error), error) {
				return sandboxRun(), nil
			}},
		{bUpperDisk, bHostDisk, "an overlay whose upper is on " + s.host.Filesystem + " (a snapshot store's Prepare, as " +
			"`exec --root NAME --commit` mounts it), bound into a sandbox", s.upperDiskPlace(sandboxRun)},
		{bBind, bHostDisk, "a bind mount of a host " + s.host.Filesystem + " directory", func() (func(context.Context, IOJob) (IOResult, error), error) {
			dir := filepath.Join(s.dir, "io-bind")
			return sandboxRun("-v", dir+":"+ioDir), os.Mkdir(dir, 0o755)
		}},
	}
	var results []*Result
	var tasks []*task
	for _, pl := range places {
		if !s.cfg.wantsBackend(pl.name) {
			continue
		}
		run, err := pl.setup()
		for _, job := range jobs {
			metric, unit := "throughput", "MiB/s"
			if job.Mode == IORandRW {
				metric, unit = "iops", "IOPS"
			}
			r := result(ScenarioIO, job.Mode, pl.name, metric, unit, Higher)
			r.Bare, r.Note = pl.bare, pl.note+"; "+note
			results = append(results, r)
			if err != nil {
				skipOrFail(r, err)
				continue
			}
			t := newTask(single(func(ctx context.Context) (float64, error) {
				res, err := run(ctx, job)
				if err != nil {
					return 0, err
				}
				if job.Mode == IORandRW {
					return res.IOPS, nil
				}
				return res.MiBps, nil
			}), r)
			t.warmup = 1
			tasks = append(tasks, t)
		}
	}
	return results, measure(ctx, p, tasks)
}

// upperDiskPlace makes an overlay with its upper in a snapshot store on
// disk and binds it into sandboxes.
func (s *suite) upperDiskPlace(sandboxRun func(extra ...string) func(context.Context, IOJob) (IOResult, error)) func() (func(context.Context, IOJob) (IOResult, error), error) {
	return func() (func(context.Context, IOJob) (IOResult, error), error) {
		store, err := snapshot.Open(snapshot.Config{Root: filepath.Join(s.dir, "io-store")})
		if err != nil {
			return nil, fmt.Errorf("opening a snapshot store: %w", err)
		}
		base := filepath.Join(s.dir, "io-base")
		if err := os.MkdirAll(base, 0o755); err != nil {
			store.Close()
			return nil, err
		}
		ctx := context.Background()
		if _, err := store.Import(ctx, "io-base", base, snapshot.ImportOptions{}); err != nil {
			store.Close()
			return nil, fmt.Errorf("importing the base: %w", err)
		}
		mounts, err := store.Prepare(ctx, "io-upper", "io-base")
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("preparing the layer: %w", err)
		}
		target := filepath.Join(s.dir, "io-overlay")
		if err := os.Mkdir(target, 0o755); err != nil {
			store.Close()
			return nil, err
		}
		if err := snapshot.MountAll(mounts, target); err != nil {
			store.Remove(ctx, "io-upper")
			store.Close()
			return nil, err
		}
		s.atEnd(func() {
			snapshot.UnmountAll(target)
			store.Remove(ctx, "io-upper")
			store.Close()
		})
		return sandboxRun("-v", target+":"+ioDir), nil
	}
}

// runDriver runs one job with fio or the built-in driver, directly or,
// with sandboxArgs non-nil, inside `sandbox exec sandboxArgs`.
func (s *suite) runDriver(ctx context.Context, driver, fio string, job IOJob, sandboxArgs []string) (IOResult, error) {
	var argv []string
	if driver == "fio" {
		argv = append([]string{fio}, fioArgs(job)...)
	} else {
		argv = append(append([]string{s.cfg.Sandbox}, IODriverArgs...),
			"--mode", job.Mode, "--dir", job.Dir, "--size", strconv.FormatInt(job.Size, 10),
			"--duration", job.Duration.String())
	}
	if sandboxArgs != nil {
		disk := fmt.Sprintf("%dM", (2*job.Size+(256<<20))>>20)
		argv = append(append([]string{s.cfg.Sandbox}, s.sandboxArgs(append(sandboxArgs, "--disk", disk, "--")...)...), argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := runCmd(cmd); err != nil {
		return IOResult{}, err
	}
	if driver == "fio" {
		return parseFio(job.Mode, out.Bytes())
	}
	var res IOResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("reading the driver's output %q: %w", out.String(), err)
	}
	return res, nil
}
