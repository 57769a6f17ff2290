package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// hostMain builds the payload and the images, boots every guest and
// reports. It returns the exit status: 0 when every guest ran its whole
// plan with no test failed, 1 when a test failed or a guest did not get
// through, 125 when vmtest itself could not build or boot anything.
func hostMain(args []string) int {
	fs := flag.NewFlagSet("vmtest", flag.ContinueOnError)
	work := fs.String("work", "build/vmtest", "where the images, logs and results go")
	kernels := fs.String("kernels", "", "comma-separated kernel releases or prefixes (6.1,6.12); default every kernel in /boot with modules")
	cgroup1 := fs.String("cgroup1", "", "also boot this kernel (release or prefix) with v1 controllers only")
	cgroup2 := fs.Bool("cgroup2", true, "boot every kernel with cgroup v2 only (-cgroup2=false with -cgroup1: the v1 boot alone)")
	sandboxBin := fs.String("sandbox", "bin/sandbox", "the sandbox binary the guests get (make build)")
	kvmTimeout := fs.Duration("kvm-timeout", 30*time.Second, "how long a KVM guest has to show a sign of life before TCG is used instead")
	timeout := fs.Duration("timeout", 20*time.Minute, "how long one guest may run in all")
	jobs := fs.Int("jobs", 2, "guests booted at once")
	only := fs.String("suites", "", "comma-separated suites to run (default all: "+suiteNames()+")")
	runs := map[string]string{} // suite -> -test.run; "" for every suite chosen
	fs.Func("run", "a -test.run pattern instead of the plan's: PATTERN for every suite chosen, or SUITE=PATTERN (repeatable) for one", func(v string) error {
		if name, pat, ok := strings.Cut(v, "="); ok && !strings.ContainsAny(name, "^$()|*.") {
			runs[name] = pat
			return nil
		}
		runs[""] = v
		return nil
	})
	count := fs.Int("count", 1, "run each suite's tests this many times (-test.count): a flaky test, again and again in one boot")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logf := func(format string, a ...any) { fmt.Printf("vmtest: "+format+"\n", a...) }
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "vmtest:", err); return 125 }

	plan, err := pickSuites(*only)
	if err != nil {
		return fail(err)
	}
	for name := range runs {
		if name != "" && !slices.ContainsFunc(plan, func(s Suite) bool { return s.Name == name }) {
			return fail(fmt.Errorf("-run %s=...: no suite %q in the plan (-suites)", name, name))
		}
	}
	for i := range plan {
		if pat, ok := runs[plan[i].Name]; ok {
			plan[i].Run = pat
		} else if pat, ok := runs[""]; ok {
			plan[i].Run = pat
		}
	}
	for i := range plan {
		plan[i].Count = *count
	}
	qemu, err := findQemu()
	if err != nil {
		return fail(err)
	}
	ks, err := findKernels(splitList(*kernels))
	if err != nil {
		return fail(err)
	}
	if len(ks) == 0 {
		return fail(errors.New("no kernel in /boot with modules in /lib/modules: install Debian's linux-image-amd64 and linux-image-6.12-amd64 (make vmtest-deps)"))
	}
	var boots []Boot
	for _, k := range ks {
		if *cgroup2 {
			boots = append(boots, Boot{Kernel: k, Cgroup: "2"})
		}
	}
	if len(boots) == 0 && *cgroup1 == "" {
		return fail(errors.New("-cgroup2=false leaves nothing to boot without -cgroup1"))
	}
	if *cgroup1 != "" {
		k1, err := findKernels([]string{*cgroup1})
		if err != nil {
			return fail(err)
		}
		boots = append(boots, Boot{Kernel: k1[0], Cgroup: "1"})
	}

	moduleDir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return fail(err)
	}
	start := time.Now()
	root, guestBin, err := buildPayload(buildConfig{moduleDir: moduleDir, sandbox: *sandboxBin, work: *work, logf: logf}, plan)
	if err != nil {
		return fail(err)
	}
	disk := filepath.Join(*work, "root.ext4")
	if err := makeDisk(disk, root); err != nil {
		return fail(err)
	}
	for i := range boots {
		b := &boots[i]
		b.Name = b.Kernel.Release + "-cgroup" + b.Cgroup
		b.Disk = disk
		b.Initrd = filepath.Join(*work, "initrd-"+b.Kernel.Release+".cpio")
		b.Console = filepath.Join(*work, b.Name+".console.log")
		b.Results = filepath.Join(*work, b.Name+".results.log")
	}
	written := map[string]bool{}
	for _, b := range boots {
		if written[b.Initrd] {
			continue
		}
		written[b.Initrd] = true
		if err := writeInitramfs(b.Initrd, b.Kernel, guestBin); err != nil {
			return fail(err)
		}
	}
	logf("payload, disk and initramfs built in %.0fs", time.Since(start).Seconds())

	var (
		mu         sync.Mutex
		kvmHung    string
		reports    = make([]*Report, len(boots))
		bootErrs   = make([]error, len(boots))
		accels     = make([]string, len(boots))
		wg         sync.WaitGroup
		sem        = make(chan struct{}, max(*jobs, 1))
		kvmOK, why = kvmUsable()
	)
	for i, b := range boots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			progress := func(s string) { logf("%s: %s", b.Name, s) }
			accel, note := "tcg", "KVM not used: "+why
			mu.Lock()
			if kvmOK && kvmHung != "" {
				note = "KVM not used: " + kvmHung
			}
			try := kvmOK && kvmHung == ""
			mu.Unlock()
			var err error
			if try {
				progress(fmt.Sprintf("booting under KVM (a guest that shows no sign of life in %s is taken for hung)", *kvmTimeout))
				err = b.run(context.Background(), qemu, "kvm", *kvmTimeout, *timeout, progress)
				if err == nil {
					accel, note = "kvm", "KVM"
				} else {
					note = "KVM not used: " + err.Error()
					mu.Lock()
					if errors.Is(err, errHung) && kvmHung == "" {
						kvmHung = fmt.Sprintf("a KVM guest (%s) hung on this host", b.Name)
					}
					mu.Unlock()
				}
			}
			if accel == "tcg" {
				progress("booting under TCG (software emulation): " + note)
				err = b.run(context.Background(), qemu, "tcg", 5*time.Minute, *timeout, progress)
				note = "TCG, " + note
			}
			accels[i], bootErrs[i] = note, err
			f, ferr := os.Open(b.Results)
			if ferr != nil {
				reports[i] = Parse(strings.NewReader(""), plan)
			} else {
				reports[i] = Parse(f, plan)
				f.Close()
			}
		}()
	}
	wg.Wait()

	status := 0
	for i, b := range boots {
		r := reports[i]
		var lines []string
		out := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
		out("vmtest: %s: accelerator: %s", b.Name, accels[i])
		for _, f := range r.Features {
			out("vmtest: %s: kernel feature %s", b.Name, f)
		}
		for _, s := range r.Suites {
			out("vmtest: %s: suite %s: %d passed, %d failed, %d skipped (exit status %d, %.0fs)", b.Name, s.Name, s.Passed, s.Failed, s.Skipped, s.ExitCode, s.Seconds)
		}
		for _, o := range r.Outcomes {
			if o.Result == "SKIP" {
				reason := o.Reason
				if reason == "" {
					reason = "(the test gave no reason)"
				}
				out("vmtest: %s: skip %s %s: %s", b.Name, o.Suite, o.Test, reason)
			}
		}
		// Failures after the skips, next to the totals: a CI log that
		// keeps only its tail must still name what failed.
		for _, o := range r.Outcomes {
			if o.Result == "FAIL" {
				out("vmtest: %s: FAIL %s %s %s", b.Name, o.Suite, o.Test, o.Reason)
			}
		}
		if bootErrs[i] != nil {
			out("vmtest: %s: %v", b.Name, bootErrs[i])
		} else if !r.Done {
			out("vmtest: %s: the guest powered off before it finished its plan", b.Name)
		}
		out("vmtest: %s: test output in %s, console in %s", b.Name, b.Results, b.Console)
		out("%s", r.Summary(b.Kernel.Release, b.Cgroup))
		text := strings.Join(lines, "\n") + "\n"
		fmt.Print(text)
		os.WriteFile(filepath.Join(*work, b.Name+".log"), []byte(text), 0o644)
		if _, failed, _ := r.totals(); failed > 0 || bootErrs[i] != nil || !r.Done {
			status = 1
		}
	}
	os.WriteFile(filepath.Join(*work, "table.md"), []byte(Table(reports)), 0o644)
	logf("all guests done in %.0fs; table in %s", time.Since(start).Seconds(), filepath.Join(*work, "table.md"))
	return status
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func suiteNames() string {
	var n []string
	for _, s := range suites {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}

func pickSuites(only string) ([]Suite, error) {
	want := splitList(only)
	if len(want) == 0 {
		return append([]Suite(nil), suites...), nil
	}
	var plan []Suite
	for _, w := range want {
		found := false
		for _, s := range suites {
			if s.Name == w {
				plan, found = append(plan, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-suites: no suite %q (have %s)", w, suiteNames())
		}
	}
	return plan, nil
}
