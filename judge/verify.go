package judge

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// FolderVerdicts are the verdicts Verify allows a submission, by the
// folder under submissions/ it sits in (problemtools' names, and the
// judge's other verdicts by the same pattern). "rejected" allows any
// verdict but AC; "partially_accepted" any verdict with a score above 0
// and below the maximum.
var FolderVerdicts = map[string][]Verdict{
	"accepted":              {AC},
	"wrong_answer":          {WA},
	"presentation_error":    {PE},
	"time_limit_exceeded":   {TLE},
	"memory_limit_exceeded": {MLE},
	"output_limit_exceeded": {OLE},
	"run_time_error":        {RTE},
	"compile_error":         {CE},
	"judge_error":           {JE},
	"rejected":              {WA, PE, TLE, MLE, OLE, RTE, CE, JE},
	"partially_accepted":    {AC, WA, PE, TLE, MLE, OLE, RTE},
}

// VerifiedSubmission is one submission's check.
type VerifiedSubmission struct {
	Path    string    `json:"path"`
	Folder  string    `json:"folder"`
	Allowed []Verdict `json:"allowed"`
	Verdict Verdict   `json:"verdict"`
	Score   *float64  `json:"score,omitempty"`
	OK      bool      `json:"ok"`
	Why     string    `json:"why,omitempty"`
	Report  *Report   `json:"report"`
}

// Line is the submission's line in verify's output.
func (s *VerifiedSubmission) Line() string {
	mark := "ok  "
	if !s.OK {
		mark = "FAIL"
	}
	line := fmt.Sprintf("%s %-48s %-4s", mark, s.Folder+"/"+filepath.Base(s.Path), s.Verdict)
	if s.Report != nil && s.Report.FailedTest != "" {
		line += " on " + s.Report.FailedTest
	}
	if s.Score != nil {
		line += fmt.Sprintf(" score %g", *s.Score)
	}
	if s.Report != nil {
		line += fmt.Sprintf(" (max CPU %.3fs)", s.Report.MaxCPUMs/1000)
	}
	if s.Why != "" {
		line += ": " + s.Why
	}
	return line
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Problem     string  `json:"problem"`
	TimeLimitMs float64 `json:"time_limit_ms"`
	// TimeComputed is true when the problem gave no time limit and Verify
	// set it: the slowest accepted submission's CPU time times the
	// problem's time_multiplier, rounded up to a whole second.
	TimeComputed bool                 `json:"time_limit_computed"`
	Submissions  []VerifiedSubmission `json:"submissions"`
	Notes        []string             `json:"notes,omitempty"`
	OK           bool                 `json:"ok"`
}

// Summary is the report in one line.
func (r *VerifyReport) Summary() string {
	bad := 0
	for _, s := range r.Submissions {
		if !s.OK {
			bad++
		}
	}
	how := "given"
	if r.TimeComputed {
		how = "computed"
	}
	s := fmt.Sprintf("verify %s: %d submissions, %d with a verdict their folder does not allow; time limit %.3gs (%s)",
		r.Problem, len(r.Submissions), bad, r.TimeLimitMs/1000, how)
	for _, n := range r.Notes {
		s += "\nnote: " + n
	}
	return s
}

// probeTime is the time limit accepted submissions run with when the
// problem has none, to measure them.
const probeTime = 10 * time.Second

// Verify judges every submission under the problem's submissions/ folder
// and checks each verdict against its folder (FolderVerdicts), as
// problemtools' verifyproblem does. each, when set, is called as each
// submission is done. The error is for the runner's failures and for a
// problem with no submissions.
func Verify(ctx context.Context, j *Judge, each func(VerifiedSubmission)) (*VerifyReport, error) {
	p := j.Problem()
	root := filepath.Join(p.Dir, "submissions")
	folders, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("%w: verify: %w", ErrInvalid, err)
	}
	vr := &VerifyReport{Problem: p.Name, OK: true}
	type sub struct{ folder, path string }
	var accepted, others []sub
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		if _, ok := FolderVerdicts[f.Name()]; !ok {
			vr.Notes = append(vr.Notes, fmt.Sprintf("submissions/%s: not a folder verify knows; skipped", f.Name()))
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: verify: %w", ErrInvalid, err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			s := sub{f.Name(), filepath.Join(root, f.Name(), e.Name())}
			if f.Name() == "accepted" {
				accepted = append(accepted, s)
			} else {
				others = append(others, s)
			}
		}
	}
	if len(accepted)+len(others) == 0 {
		return nil, fmt.Errorf("%w: verify: no submissions under %s", ErrInvalid, root)
	}
	vr.TimeComputed = !p.TimeGiven
	if vr.TimeComputed {
		p.SetTime(probeTime)
	}
	judgeOne := func(s sub) (*VerifiedSubmission, error) {
		v := &VerifiedSubmission{Path: s.path, Folder: s.folder, Allowed: FolderVerdicts[s.folder]}
		rep, err := j.Judge(ctx, s.path)
		if err != nil {
			return nil, fmt.Errorf("judging %s: %w", s.path, err)
		}
		v.Report, v.Verdict, v.Score = rep, rep.Verdict, rep.Score
		return v, nil
	}
	var done []*VerifiedSubmission
	slowest := 0.0
	for _, s := range accepted {
		v, err := judgeOne(s)
		if err != nil {
			return nil, err
		}
		slowest = max(slowest, v.Report.MaxCPUMs)
		done = append(done, v)
	}
	if vr.TimeComputed {
		secs := math.Ceil(slowest / 1000 * p.TimeMultiplier)
		p.SetTime(time.Duration(max(secs, 1)) * time.Second)
	}
	vr.TimeLimitMs = msOf(p.Limits.Time)
	check := func(v *VerifiedSubmission) {
		v.OK = slices.Contains(v.Allowed, v.Verdict)
		if !v.OK {
			v.Why = fmt.Sprintf("folder %s allows %v", v.Folder, v.Allowed)
		}
		if v.OK && p.Scoring && v.Score != nil && v.Report.MaxScore != nil {
			full := *v.Score >= *v.Report.MaxScore
			switch {
			case v.Folder == "accepted" && !full:
				v.OK, v.Why = false, fmt.Sprintf("accepted, but scored %g of %g", *v.Score, *v.Report.MaxScore)
			case v.Folder == "partially_accepted" && (full || *v.Score <= 0):
				v.OK, v.Why = false, fmt.Sprintf("partially accepted wants a score above 0 and below %g; got %g", *v.Report.MaxScore, *v.Score)
			}
		}
		if !v.OK {
			vr.OK = false
		}
		vr.Submissions = append(vr.Submissions, *v)
		if each != nil {
			each(*v)
		}
	}
	for _, v := range done {
		check(v)
	}
	for _, s := range others {
		v, err := judgeOne(s)
		if err != nil {
			return nil, err
		}
		check(v)
	}
	return vr, nil
}
