package judge

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ReportVersion is the version of the JSON report; raised only when a
// field changes meaning or goes away.
const ReportVersion = 1

// Report is one submission's judgement. Its JSON form is `sandbox judge
// --json`'s output, documented in the README.
type Report struct {
	Version    int            `json:"version"`
	Problem    ProblemInfo    `json:"problem"`
	Submission SubmissionInfo `json:"submission"`
	// Verdict is the submission's: AC when every test is, else the verdict
	// of the first test (in judging order) that is not.
	Verdict Verdict `json:"verdict"`
	// FailedTest names that first test; empty when AC or CE.
	FailedTest string `json:"failed_test,omitempty"`
	// Score and MaxScore are set for scoring problems.
	Score    *float64 `json:"score,omitempty"`
	MaxScore *float64 `json:"max_score,omitempty"`
	Compile  *Run     `json:"compile,omitempty"`
	// Tests are the tests that were run, in judging order: up to the first
	// failure, or every test with All (and for scoring problems).
	Tests  []TestResult  `json:"tests"`
	Groups []GroupResult `json:"groups,omitempty"`
	// Message says what went wrong when the verdict is CE or JE.
	Message string `json:"message,omitempty"`
	// MaxCPUMs is the most CPU time any test took (problem setters use it
	// for time limits).
	MaxCPUMs float64 `json:"max_cpu_ms"`
}

// ProblemInfo is what the report says of the problem.
type ProblemInfo struct {
	Name        string  `json:"name"`
	Dir         string  `json:"dir"`
	Format      string  `json:"format"`
	Type        string  `json:"type"` // "pass-fail" or "scoring"
	Interactive bool    `json:"interactive"`
	Checker     string  `json:"checker"`
	TimeMs      float64 `json:"time_limit_ms"`
	WallMs      float64 `json:"wall_time_limit_ms"`
	MemoryBytes int64   `json:"memory_limit_bytes"`
	OutputBytes int64   `json:"output_limit_bytes"`
}

// SubmissionInfo names the submission and its language.
type SubmissionInfo struct {
	Path     string `json:"path"`
	Language string `json:"language"`
}

// Run is one sandboxed run as the report shows it: the compile, a test's
// submission, its checker or interactor.
type Run struct {
	// Status is the runner's: OK, RE, SG, TO, ML, OL, XX.
	Status   string  `json:"status"`
	ExitCode int     `json:"exit_code"`
	Signal   int     `json:"signal"`
	CPUMs    float64 `json:"cpu_ms"`
	WallMs   float64 `json:"wall_ms"`
	MemoryB  int64   `json:"memory_peak_bytes"`
	Message  string  `json:"message,omitempty"`
	// Output is the compiler's output (capped), or a checker's.
	Output string `json:"output,omitempty"`
}

// TestResult is one test's judgement.
type TestResult struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// Verdict of the test; Status the runner's status of the submission's
	// run it came from (OK when the checker judged the output).
	Verdict  Verdict `json:"verdict"`
	Status   string  `json:"status"`
	CPUMs    float64 `json:"cpu_ms"`
	WallMs   float64 `json:"wall_ms"`
	MemoryB  int64   `json:"memory_peak_bytes"`
	ExitCode int     `json:"exit_code"`
	Signal   int     `json:"signal"`
	// Message is the runner's account of how the run ended, if not well.
	Message string `json:"message,omitempty"`
	// CheckerMessage is what the checker said (testlib's comment, Kattis's
	// judgemessage.txt, the built-in checker's first difference).
	CheckerMessage string `json:"checker_message,omitempty"`
	// Score is the test's score, for scoring problems.
	Score *float64 `json:"score,omitempty"`
	// Checker and Interactor are their runs, when they are programs.
	Checker    *Run `json:"checker,omitempty"`
	Interactor *Run `json:"interactor,omitempty"`
	// Feedback is where the Kattis feedback directory was kept.
	Feedback string `json:"feedback_dir,omitempty"`

	index int
}

// GroupResult is a group's score.
type GroupResult struct {
	Name     string  `json:"name"`
	Verdict  Verdict `json:"verdict"`
	Score    float64 `json:"score"`
	MaxScore float64 `json:"max_score"`
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Line is a test's one-line summary: the live line on a terminal.
func (t *TestResult) Line() string {
	s := fmt.Sprintf("%-24s %-4s %7s %7s %9s", t.Name, t.Verdict, secs(t.CPUMs), secs(t.WallMs), mib(t.MemoryB))
	if m := t.why(); m != "" {
		s += "  " + m
	}
	return s
}

func (t *TestResult) why() string {
	m := t.CheckerMessage
	if m == "" && t.Verdict != AC {
		m = t.Message
	}
	m = strings.Join(strings.Fields(m), " ")
	if len(m) > 72 {
		m = m[:69] + "..."
	}
	return m
}

func secs(ms float64) string { return fmt.Sprintf("%.3fs", ms/1000) }
func mib(b int64) string     { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteTable writes the report as a table, one line per test, then the
// submission's verdict.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TEST\tVERDICT\tSTATUS\tCPU\tWALL\tMEMORY\tEXIT\tSCORE\tCHECKER\n")
	for _, t := range r.Tests {
		exit := fmt.Sprint(t.ExitCode)
		if t.Signal != 0 {
			exit = fmt.Sprintf("sig %d", t.Signal)
		}
		score := "-"
		if t.Score != nil {
			score = fmt.Sprintf("%g", *t.Score)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Verdict, t.Status, secs(t.CPUMs), secs(t.WallMs),
			mib(t.MemoryB), exit, score, t.why())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Groups) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "\nGROUP\tVERDICT\tSCORE\n")
		for _, g := range r.Groups {
			fmt.Fprintf(tw, "%s\t%s\t%g/%g\n", g.Name, g.Verdict, g.Score, g.MaxScore)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Verdict == CE && r.Compile != nil && r.Compile.Output != "" {
		fmt.Fprintf(w, "\ncompiler output:\n%s\n", strings.TrimRight(r.Compile.Output, "\n"))
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// Summary is the verdict in one line: "verdict: WA on secret/3 (score
// 30/100)".
func (r *Report) Summary() string {
	s := "verdict: " + string(r.Verdict)
	if r.FailedTest != "" {
		s += " on " + r.FailedTest
	}
	if r.Score != nil {
		s += fmt.Sprintf(" (score %g/%g)", *r.Score, *r.MaxScore)
	}
	if r.Message != "" && (r.Verdict == CE || r.Verdict == JE) {
		msg := strings.TrimSpace(r.Message)
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " ..."
		}
		s += ": " + msg
	}
	return s
}
