package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Outcome is one test's (or subtest's) result in a guest.
type Outcome struct {
	Suite, Test, Result string // Result: PASS, FAIL, SKIP
	Reason              string // a skip's, from the test's log or the exclusion
}

// SuiteResult is one suite's counts in one guest.
type SuiteResult struct {
	Name                    string
	Passed, Failed, Skipped int
	ExitCode                int // -1: the suite never ended (the guest died or hung)
	Seconds                 float64
}

// Report is what one guest said on its results port.
type Report struct {
	Kernel, Cgroup string
	Features       []string
	Suites         []SuiteResult
	Outcomes       []Outcome
	Done           bool // the guest got through its whole plan
}

func (r *Report) totals() (p, f, s int) {
	for _, sr := range r.Suites {
		p, f, s = p+sr.Passed, f+sr.Failed, s+sr.Skipped
	}
	return
}

// Summary is the one line per guest, in the form CI and people read.
func (r *Report) Summary(kernelFallback, cgroupFallback string) string {
	k, c := r.Kernel, r.Cgroup
	if k == "" {
		k = kernelFallback
	}
	if c == "" {
		c = cgroupFallback
	}
	p, f, s := r.totals()
	return fmt.Sprintf("vmtest: linux %s cgroup%s: %d passed, %d failed, %d skipped", k, c, p, f, s)
}

var (
	resultLine = regexp.MustCompile(`^(\s*)--- (PASS|FAIL|SKIP): (\S+) \(`)
	// Indented: a test's log holding a test binary's own -v output (the
	// rootless suite's runs as the user).
	runLine = regexp.MustCompile(`^\s*=== (?:RUN|CONT|NAME|PAUSE)\s+(\S+)`)
)

// logMessage is a log line without its "file.go:12: " place.
func logMessage(line string) string {
	msg := strings.TrimSpace(line)
	if i := strings.Index(msg, ": "); i > 0 && strings.Contains(msg[:i], ".go:") {
		msg = msg[i+2:]
	}
	return msg
}

// Parse reads a results stream. Lines between "begin S" and "end S" are
// the suite's `go test -v` output: every "--- RESULT: name" line is one
// outcome; the indented lines after a SKIP are its reason. A suite whose
// binary failed without a failing test (a panic, a timeout, a crash) gets
// one failed outcome of its own, as does one that never ended.
func Parse(r io.Reader, plan []Suite) *Report {
	rep := &Report{}
	byName := map[string]Suite{}
	for _, s := range plan {
		byName[s.Name] = s
	}
	var cur *SuiteResult
	var lastSkip *Outcome
	var skipIndent, current string
	logs := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if rest, ok := strings.CutPrefix(line, resultMarker); ok {
			lastSkip = nil
			f := strings.Fields(rest)
			switch {
			case len(f) == 2 && f[0] == "kernel":
				rep.Kernel = f[1]
			case len(f) == 2 && f[0] == "cgroup":
				rep.Cgroup = f[1]
			case len(f) > 1 && f[0] == "feature":
				rep.Features = append(rep.Features, strings.TrimPrefix(rest, "feature "))
			case len(f) == 2 && f[0] == "begin":
				rep.Suites = append(rep.Suites, SuiteResult{Name: f[1], ExitCode: -1})
				cur = &rep.Suites[len(rep.Suites)-1]
				for _, e := range byName[f[1]].Excluded {
					cur.Skipped++
					rep.Outcomes = append(rep.Outcomes, Outcome{Suite: f[1], Test: e.Test, Result: "SKIP", Reason: "not run in the VM: " + e.Reason})
				}
			case len(f) == 4 && f[0] == "end" && cur != nil && cur.Name == f[1]:
				cur.ExitCode, _ = strconv.Atoi(f[2])
				cur.Seconds, _ = strconv.ParseFloat(f[3], 64)
				cur = nil
			case len(f) == 1 && f[0] == "done":
				rep.Done = true
			}
			continue
		}
		if cur == nil {
			continue
		}
		if m := runLine.FindStringSubmatch(line); m != nil {
			current, lastSkip = m[1], nil
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			o := Outcome{Suite: cur.Name, Test: m[3], Result: m[2]}
			lastSkip = nil
			switch m[2] {
			case "PASS":
				cur.Passed++
			case "FAIL":
				cur.Failed++
			case "SKIP":
				cur.Skipped++
				o.Reason = strings.Join(logs[o.Test], " ")
			}
			rep.Outcomes = append(rep.Outcomes, o)
			if m[2] == "SKIP" {
				lastSkip, skipIndent = &rep.Outcomes[len(rep.Outcomes)-1], m[1]+"    "
			}
			continue
		}
		// A test's log: streamed before its result line under -v, or,
		// for output held back, right after it, indented below it.
		msg := logMessage(line)
		if msg == "" {
			continue
		}
		if lastSkip != nil && strings.HasPrefix(line, skipIndent) {
			if lastSkip.Reason != "" {
				lastSkip.Reason += " "
			}
			lastSkip.Reason += msg
			continue
		}
		lastSkip = nil
		if current != "" && strings.HasPrefix(line, "    ") {
			logs[current] = append(logs[current], msg)
		}
	}
	for i := range rep.Suites {
		s := &rep.Suites[i]
		switch {
		case s.ExitCode == -1:
			s.Failed++
			rep.Outcomes = append(rep.Outcomes, Outcome{Suite: s.Name, Test: "(suite)", Result: "FAIL", Reason: "the guest never finished the suite"})
		case s.ExitCode != 0 && (s.Failed == 0 || s.ExitCode != 1):
			// 1 is go test's "a test failed"; anything else (2 for a
			// panic or -test.timeout, 128+N for a signal) is a crash
			// that stopped the tests after it, failed or not.
			s.Failed++
			rep.Outcomes = append(rep.Outcomes, Outcome{Suite: s.Name, Test: "(suite)", Result: "FAIL", Reason: fmt.Sprintf("the test binary exited %d (a panic, a timeout or a signal: the tests after it did not run)", s.ExitCode)})
		}
	}
	// A suite of the plan that never began failed too.
	seen := map[string]bool{}
	for _, s := range rep.Suites {
		seen[s.Name] = true
	}
	for _, s := range plan {
		if !seen[s.Name] {
			rep.Suites = append(rep.Suites, SuiteResult{Name: s.Name, Failed: 1, ExitCode: -1})
			rep.Outcomes = append(rep.Outcomes, Outcome{Suite: s.Name, Test: "(suite)", Result: "FAIL", Reason: "the guest never started the suite"})
		}
	}
	return rep
}

// Table is the Markdown table of docs/vmtest.md: kernel x cgroup mode x
// suite.
func Table(reps []*Report) string {
	var b strings.Builder
	b.WriteString("| kernel | cgroup | suite | passed | failed | skipped |\n|---|---|---|---:|---:|---:|\n")
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].Kernel < reps[j].Kernel })
	for _, r := range reps {
		for _, s := range r.Suites {
			fmt.Fprintf(&b, "| %s | v%s | %s | %d | %d | %d |\n", r.Kernel, r.Cgroup, s.Name, s.Passed, s.Failed, s.Skipped)
		}
	}
	return b.String()
}
