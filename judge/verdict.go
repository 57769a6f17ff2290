package judge

import "github.com/sandbox-dev/sandbox/sandbox"

// Verdict is a judgement in the CLICS vocabulary (the ICPC Contest
// Control System's judgement types).
type Verdict string

const (
	AC  Verdict = "AC"  // accepted
	WA  Verdict = "WA"  // wrong answer
	PE  Verdict = "PE"  // presentation error (testlib's PE, the exact checker's whitespace)
	TLE Verdict = "TLE" // CPU or wall time limit exceeded
	MLE Verdict = "MLE" // memory limit exceeded (the OOM killer ended it)
	OLE Verdict = "OLE" // output limit exceeded
	RTE Verdict = "RTE" // run-time error: a non-zero exit or a signal
	CE  Verdict = "CE"  // compilation error
	JE  Verdict = "JE"  // judge error: the checker, interactor or problem failed
)

// Verdicts lists every verdict, in the order a table shows them.
func Verdicts() []Verdict { return []Verdict{AC, WA, PE, TLE, MLE, OLE, RTE, CE, JE} }

// Valid reports whether v is one of Verdicts.
func (v Verdict) Valid() bool {
	for _, w := range Verdicts() {
		if v == w {
			return true
		}
	}
	return false
}

// fromStatus is the verdict a run's status gives before any checker has
// looked at the output: "" for a run that ended well (OK), which the
// checker then judges.
func fromStatus(s sandbox.Status) Verdict {
	switch s {
	case sandbox.StatusOK:
		return ""
	case sandbox.StatusRuntime, sandbox.StatusSignal:
		return RTE
	case sandbox.StatusTime:
		return TLE
	case sandbox.StatusMemory:
		return MLE
	case sandbox.StatusOutput:
		return OLE
	}
	return JE
}
