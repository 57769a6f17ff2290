package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// fmtNum shows a value with three significant digits and no exponent for
// the ranges benchmarks produce.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "NaN"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	case a >= 0.001:
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func fmtRatio(p *float64) string {
	if p == nil {
		return ""
	}
	return ratioText(*p)
}

// ratioText shows a ratio as 5863x, 12.5x, 0.75x or 0.00022x.
func ratioText(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fx", v)
	case v >= 10:
		return fmt.Sprintf("%.1fx", v)
	case v >= 0.01:
		return fmt.Sprintf("%.2fx", v)
	}
	return fmt.Sprintf("%.2gx", v)
}

// row is one result as table cells.
func row(r *Result) []string {
	name := r.Scenario
	if r.Group != "" {
		name += " " + r.Group
	}
	cells := []string{name, r.Backend, r.Metric + " (" + r.Unit + ")"}
	if !r.OK() {
		return append(cells, strings.ToUpper(string(r.Status)), "", "", "", "", "", "", "")
	}
	s := r.Summary
	return append(cells, fmt.Sprint(s.N), fmtNum(s.Min), fmtNum(s.Median), fmtNum(s.P95),
		fmtNum(s.Mean)+" ± "+fmtNum(s.Stddev), fmtNum(s.CILow)+" .. "+fmtNum(s.CIHigh),
		fmtRatio(r.RatioToBare), fmtRatio(r.RatioToSandbox))
}

var header = []string{"scenario", "backend", "metric", "n", "min", "median", "p95", "mean ± sd", "95% CI of median", "x bare", "x sandbox"}

// WriteTable writes rep as aligned text: the results, then skipped and
// failed backends with their errors, then the targets and notes.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	prev := ""
	for i := range rep.Results {
		r := &rep.Results[i]
		if prev != "" && prev != r.Scenario {
			fmt.Fprintln(tw, strings.Repeat("\t", len(header)-1))
		}
		prev = r.Scenario
		fmt.Fprintln(tw, strings.Join(row(r), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeProblems(w, rep, "")
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\nTargets:")
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, t := range rep.Targets {
			got := t.Got
			if t.Met == nil {
				got = t.Why
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Status(), t.Name, t.Want, got)
		}
		tw.Flush()
	}
	writeFacts(w, rep, "")
	return nil
}

// heading is a label, bold in Markdown (where bullet is "- ").
func heading(s, bullet string) string {
	if bullet != "" {
		return "**" + s + "**"
	}
	return s
}

// writeProblems lists skipped and failed results, one line each.
func writeProblems(w io.Writer, rep *Report, bullet string) {
	seen := map[string]bool{}
	var lines []string
	for _, r := range rep.Results {
		if r.OK() {
			continue
		}
		line := fmt.Sprintf("%s %s: %s", r.Backend, r.Status, r.Error)
		if !seen[line] {
			seen[line] = true
			lines = append(lines, fmt.Sprintf("%s%s (%s)", bullet, line, r.Scenario))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\n"+heading("Skipped and failed:", bullet))
		for _, l := range lines {
			if bullet == "" {
				l = "  " + l
			}
			fmt.Fprintln(w, l)
		}
	}
}

func writeFacts(w io.Writer, rep *Report, bullet string) {
	h := rep.Host
	fmt.Fprintf(w, "\n%s Linux %s, cgroup %s, %d CPUs (%s), %.1f GiB, %s", heading("Host:", bullet), h.Kernel, h.CgroupMode, h.CPUs,
		h.CPUModel, float64(h.MemoryBytes)/(1<<30), h.Filesystem)
	if h.Accelerator != "" {
		fmt.Fprintf(w, ", VM accelerator %s", h.Accelerator)
	}
	// Tenths for a short run (a quick -n 5 of a command), whole seconds
	// for the suite's minutes.
	took := fmt.Sprintf("%.0f", rep.DurationS)
	if rep.DurationS < 10 {
		took = fmt.Sprintf("%.1f", rep.DurationS)
	}
	fmt.Fprintf(w, "; %s; load %.2f at the start, %.2f at the end; %s s in all.\n", h.GoVersion, h.LoadStart, h.LoadEnd, took)
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "\n"+heading("Notes:", bullet))
		for _, n := range rep.Notes {
			if bullet == "" {
				fmt.Fprintln(w, "  "+n)
			} else {
				fmt.Fprintln(w, bullet+n)
			}
		}
	}
}

// WriteMarkdown writes rep as GitHub-flavoured Markdown tables.
func WriteMarkdown(w io.Writer, rep *Report) error {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", 3)+strings.Repeat("--:|", len(header)-3))
	for i := range rep.Results {
		cells := row(&rep.Results[i])
		for j := range cells {
			cells[j] = esc(cells[j])
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	writeProblems(w, rep, "- ")
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\n| target | want | got | |\n|---|---|---|---|")
		for _, t := range rep.Targets {
			got := t.Got
			if t.Met == nil {
				got = t.Why
			}
			status := t.Status()
			if status == "MISSED" {
				status = "**missed**"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", esc(t.Name), esc(t.Want), esc(got), status)
		}
	}
	writeFacts(w, rep, "- ")
	return nil
}
