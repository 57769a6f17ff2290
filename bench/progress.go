package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress hears how a run is going. The suite calls it from one
// goroutine at a time.
type Progress interface {
	// Phase names what a scenario is doing outside its measured rounds:
	// setting up, warming a backend up.
	Phase(scenario, what string)
	// Measure reports done of total measured runs, the backend about to run
	// and the time the remaining runs should take.
	Measure(scenario, backend string, done, total int, left time.Duration)
	// End clears whatever the progress display left on the screen.
	End()
}

type nopProgress struct{}

func (nopProgress) Phase(string, string)                            {}
func (nopProgress) Measure(string, string, int, int, time.Duration) {}
func (nopProgress) End()                                            {}

// Bar is a live progress bar on one terminal line, redrawn in place at
// most every 100 ms. Use it only when w is a terminal.
type Bar struct {
	w     io.Writer
	width int

	mu    sync.Mutex
	last  time.Time
	shown bool
}

// NewBar returns a bar drawn on w, which is width columns wide (0: 80).
func NewBar(w io.Writer, width int) *Bar {
	if width <= 0 {
		width = 80
	}
	return &Bar{w: w, width: width}
}

func (b *Bar) draw(line string, force bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !force && time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	if r := []rune(line); len(r) > b.width-1 {
		line = string(r[:b.width-1])
	}
	fmt.Fprintf(b.w, "\r\x1b[K%s", line)
	b.shown = true
}

func (b *Bar) Phase(scenario, what string) {
	b.draw(fmt.Sprintf("%-10s %s ...", scenario, what), true)
}

func (b *Bar) Measure(scenario, backend string, done, total int, left time.Duration) {
	const cells = 24
	fill := 0
	if total > 0 {
		fill = done * cells / total
	}
	bar := strings.Repeat("█", fill) + strings.Repeat("░", cells-fill)
	eta := ""
	if left >= time.Second {
		eta = " ~" + left.Round(time.Second).String() + " left"
	}
	b.draw(fmt.Sprintf("%-10s %s %d/%d %s%s", scenario, bar, done, total, backend, eta), done == total)
}

func (b *Bar) End() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.shown = false
	}
}

// Lines is a progress report for logs and pipes: one line per phase, no
// redrawing.
type Lines struct{ W io.Writer }

func (l Lines) Phase(scenario, what string) { fmt.Fprintf(l.W, "bench: %s: %s\n", scenario, what) }
func (l Lines) Measure(scenario, backend string, done, total int, left time.Duration) {
	if done == 0 {
		fmt.Fprintf(l.W, "bench: %s: %d runs, about %s\n", scenario, total, left.Round(time.Second))
	}
}
func (l Lines) End() {}
