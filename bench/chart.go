package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in pixels.
const (
	chartW     = 980
	labelW     = 250
	plotX      = labelW + 10
	plotW      = 560
	rowH       = 20
	panelHead  = 34
	axisH      = 26
	panelGap   = 18
	chartTitle = 58
)

// panel is one scenario and metric: rows on one scale.
type panel struct {
	title string
	unit  string
	rows  []*Result
}

func panels(rep *Report) []*panel {
	var ps []*panel
	idx := map[string]*panel{}
	for i := range rep.Results {
		r := &rep.Results[i]
		k := r.Scenario + "\x00" + r.Metric
		p := idx[k]
		if p == nil {
			p = &panel{title: r.Scenario + " — " + r.Metric, unit: r.Unit}
			idx[k] = p
			ps = append(ps, p)
		}
		p.rows = append(p.rows, r)
	}
	return ps
}

// scale maps values to x positions, log10 or linear.
type scale struct {
	log    bool
	lo, hi float64 // in log10 units when log
}

func newScale(rows []*Result) scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if !r.OK() {
			continue
		}
		lo = math.Min(lo, r.Summary.Min)
		hi = math.Max(hi, math.Max(r.Summary.P95, r.Summary.Median))
	}
	if math.IsInf(lo, 1) {
		return scale{lo: 0, hi: 1}
	}
	if lo > 0 {
		l, h := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if h <= l {
			h = l + 1
		}
		return scale{log: true, lo: l, hi: h}
	}
	// Values at or below zero (a kill before its limit): linear, with 0 in.
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	step := niceStep((hi - lo) / 5)
	return scale{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step}
}

func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func (s scale) x(v float64) float64 {
	if s.log {
		if v <= 0 {
			return plotX
		}
		v = math.Log10(v)
	}
	f := (v - s.lo) / (s.hi - s.lo)
	return plotX + math.Max(0, math.Min(1, f))*plotW
}

// ticks returns tick values: powers of ten (with 2 and 5 between them on
// narrow log scales), or even steps on a linear one.
func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		decades := s.hi - s.lo
		for e := s.lo; e <= s.hi; e++ {
			base := math.Pow(10, e)
			t = append(t, base)
			if decades <= 2 && e < s.hi {
				t = append(t, 2*base, 5*base)
			}
		}
		return t
	}
	step := niceStep((s.hi - s.lo) / 5)
	for v := s.lo; v <= s.hi+step/2; v += step {
		t = append(t, v)
	}
	return t
}

// tickText shows a tick value without trailing zeros: 0.1, 1, 20, 5000.
func tickText(v float64) string {
	if v != 0 && math.Abs(v) < 1e-3 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// ours says whether a row is the sandbox's own (drawn in colour).
func ours(backend string) bool {
	for _, p := range []string{"sandbox", bSnapshot, "upper-", bBind} {
		if strings.HasPrefix(backend, p) {
			return true
		}
	}
	return false
}

// WriteSVG draws rep as box plots, one panel per scenario and metric, each
// on its own scale (logarithmic unless a value is zero or negative): the
// box spans p25 to p75, the bar is the median, the whiskers reach from the
// minimum to p95. Skipped and failed backends keep their row, with the
// reason.
func WriteSVG(w io.Writer, rep *Report) error {
	ps := panels(rep)
	height := chartTitle
	for _, p := range ps {
		height += panelHead + len(p.rows)*rowH + axisH + panelGap
	}
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartW, height, chartW, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	h := rep.Host
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="16" font-weight="bold">sandbox bench — %s</text>`+"\n", esc(rep.Started.Format("2006-01-02")))
	sub := fmt.Sprintf("Linux %s, %d CPUs, cgroup %s, %s", h.Kernel, h.CPUs, h.CgroupMode, h.Filesystem)
	if h.Accelerator != "" {
		sub += ", VM on " + h.Accelerator
	}
	sub += fmt.Sprintf(", load %.1f→%.1f. Box: p25–p75, bar: median, whiskers: min–p95; (x): median over the sandbox's.", h.LoadStart, h.LoadEnd)
	fmt.Fprintf(&b, `<text x="10" y="42" fill="#444">%s</text>`+"\n", esc(sub))

	y := chartTitle
	for _, p := range ps {
		sc := newScale(p.rows)
		kind := "log scale"
		if !sc.log {
			kind = "linear scale"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" font-size="14" font-weight="bold">%s <tspan font-weight="normal" fill="#555">(%s, %s)</tspan></text>`+"\n",
			y+20, esc(p.title), esc(p.unit), kind)
		top := y + panelHead
		bottom := top + len(p.rows)*rowH
		// Grid and tick labels.
		for _, t := range sc.ticks() {
			x := sc.x(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3"/>`+"\n", x, top, x, bottom)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555" font-size="11">%s</text>`+"\n", x, bottom+15, esc(tickText(t)))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", plotX, bottom, plotX+plotW, bottom)
		for i, r := range p.rows {
			cy := float64(top + i*rowH + rowH/2)
			label := r.Backend
			if r.Group != "" {
				label = r.Group + "  " + r.Backend
			}
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", labelW, cy+4, esc(label))
			if !r.OK() {
				msg := string(r.Status) + ": " + r.Error
				if len(msg) > 95 {
					msg = msg[:92] + "..."
				}
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#999" font-style="italic" font-size="11">%s</text>`+"\n", plotX+4, cy+4, esc(msg))
				continue
			}
			s := r.Summary
			fill, stroke := "#c8d0d8", "#5b6b7b"
			if ours(r.Backend) {
				fill, stroke = "#9cc7ea", "#1f6fb2"
			}
			x0, x1 := sc.x(s.Min), sc.x(s.P95)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x0, cy, x1, cy, stroke)
			for _, x := range []float64{x0, x1} {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, cy-4, x, cy+4, stroke)
			}
			bx0, bx1 := sc.x(s.P25), sc.x(s.P75)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" stroke="%s"/>`+"\n",
				bx0, cy-6, math.Max(bx1-bx0, 1), 12, fill, stroke)
			mx := sc.x(s.Median)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"/>`+"\n", mx, cy-7, mx, cy+7, stroke)
			val := fmtNum(s.Median) + " " + r.Unit
			if r.RatioToSandbox != nil && !ours(r.Backend) {
				val += "  (" + fmtRatio(r.RatioToSandbox) + ")"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#333" font-size="11">%s</text>`+"\n", plotX+plotW+8, cy+4, esc(val))
		}
		y = bottom + axisH + panelGap
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
