package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

const reportUsage = `Usage: sandbox report [--sort cpu|memory|wall] DIR|FILE...

Prints run reports (written by 'sandbox exec --report FILE' or --report-dir
DIR) as a table, one line a run, heaviest first: by CPU time (the default),
by peak memory, or by wall-clock time. A directory is read with everything
below it, each report named by its path under it without ".json": for
--report-dir, the name taken from CMD (a Go test binary's package).

Columns: the name, the status (OK, RE, SG, TO, ML, OL, XX), the exit status,
wall-clock and CPU time, peak memory, and OOM kills (yes when the kernel's
OOM killer killed a process of the run).

Flags:
  --sort KEY   cpu (default), memory or wall

Examples:
  go test -exec "sandbox exec --report-dir $PWD/reports --" ./...
  sandbox report reports
  sandbox report --sort memory reports
`

func init() {
	commands["report"] = &command{summary: "print run reports as a table, heaviest first", usage: text(reportUsage), run: runReport}
}

// runReportLine is the part of a run report (sandbox.Result's JSON) the
// table shows.
type runReportLine struct {
	name      string
	Status    string  `json:"status"`
	ExitCode  int     `json:"exit_code"`
	Signal    int     `json:"signal"`
	WallMs    float64 `json:"wall_ms"`
	CPUMs     float64 `json:"cpu_ms"`
	PeakBytes int64   `json:"memory_peak_bytes"`
	OOMKilled bool    `json:"oom_killed"`
}

func runReport(args []string, io stdio) int {
	fset := newFlagSet("report", io)
	sortBy := fset.String("sort", "cpu", "")
	if code, done := parseFlags(fset, args, text(reportUsage), io); done {
		return code
	}
	less, ok := map[string]func(a, b *runReportLine) bool{
		"cpu":    func(a, b *runReportLine) bool { return a.CPUMs > b.CPUMs },
		"memory": func(a, b *runReportLine) bool { return a.PeakBytes > b.PeakBytes },
		"wall":   func(a, b *runReportLine) bool { return a.WallMs > b.WallMs },
	}[*sortBy]
	if !ok {
		fmt.Fprintf(io.err, "sandbox report: --sort %q: want cpu, memory or wall\n", *sortBy)
		return exitUsage
	}
	if fset.NArg() == 0 {
		fmt.Fprintln(io.err, "sandbox report: no report directory or file given (see 'sandbox report --help')")
		return exitUsage
	}
	var lines []*runReportLine
	for _, arg := range fset.Args() {
		got, err := readReports(arg)
		if err != nil {
			fmt.Fprintf(io.err, "sandbox: %v\n", err)
			return exitUsage
		}
		lines = append(lines, got...)
	}
	if len(lines) == 0 {
		fmt.Fprintf(io.err, "sandbox report: no reports (*.json) in %s\n", strings.Join(fset.Args(), " "))
		return exitUsage
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if less(lines[i], lines[j]) != less(lines[j], lines[i]) {
			return less(lines[i], lines[j])
		}
		return lines[i].name < lines[j].name
	})
	var tab strings.Builder
	w := tabwriter.NewWriter(&tab, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATUS\tEXIT\tWALL\tCPU\tPEAK MEMORY\tOOM")
	var cpu, wall float64
	for _, l := range lines {
		oom := "-"
		if l.OOMKilled {
			oom = "yes"
		}
		exit := strconv.Itoa(l.ExitCode)
		if l.Signal > 0 {
			exit = strconv.Itoa(128 + l.Signal)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.name, l.Status, exit, msText(l.WallMs), msText(l.CPUMs), sizeText(l.PeakBytes), oom)
		cpu, wall = cpu+l.CPUMs, wall+l.WallMs
	}
	runs := fmt.Sprintf("%d runs", len(lines))
	if len(lines) == 1 {
		runs = "1 run"
	}
	fmt.Fprintf(w, "total (%s)\t\t\t%s\t%s\t\t\n", runs, msText(wall), msText(cpu))
	w.Flush()
	for _, line := range strings.SplitAfter(tab.String(), "\n") {
		fmt.Fprint(io.out, strings.TrimRight(line, " \n"), strings.Repeat("\n", strings.Count(line, "\n")))
	}
	return 0
}

// readReports reads one report file, or every *.json below a directory.
func readReports(arg string) ([]*runReportLine, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("reading reports: %w", err)
	}
	if !fi.IsDir() {
		l, err := readReport(arg)
		if err != nil {
			return nil, err
		}
		l.name = strings.TrimSuffix(filepath.Base(arg), ".json")
		return []*runReportLine{l}, nil
	}
	var lines []*runReportLine
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Hidden: writeFileAtomic's temporary files.
		if d.IsDir() || !strings.HasSuffix(p, ".json") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		l, err := readReport(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(arg, p)
		l.name = strings.TrimSuffix(filepath.ToSlash(rel), ".json")
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading reports: %w", err)
	}
	return lines, nil
}

func readReport(path string) (*runReportLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	var l runReportLine
	if err := json.Unmarshal(b, &l); err != nil || l.Status == "" {
		if err == nil {
			err = errors.New("no status: not a run report")
		}
		return nil, fmt.Errorf("reading report %s: %w", path, err)
	}
	return &l, nil
}

func msText(ms float64) string {
	switch {
	case ms >= 10000:
		return fmt.Sprintf("%.0f s", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// reportName is the name of a run's report under --report-dir: taken from
// CMD, so that each binary of a test suite gets its own. A Go test binary
// (go test names it after its package's last element: profile.test) run in
// its package's directory, as go test -exec runs it, is named by its
// package's import path, found through the module's go.mod
// (github.com/you/mod/profile); `python3 -m pytest` by the module; anything
// else by CMD's base name (a cargo test binary's, hash included, as cargo
// prints it). wd is the caller's directory.
func reportName(args []string, wd string) string {
	if len(args) == 0 {
		return "run"
	}
	base := filepath.Base(args[0])
	if pkg, ok := strings.CutSuffix(base, ".test"); ok && pkg != "" {
		if ip, _ := goTestPackage(args, wd); ip != "" {
			return ip
		}
		return pkg
	}
	if isPython(base) && len(args) > 2 && args[1] == "-m" {
		return args[2]
	}
	return base
}

// isPython reports whether a command's base name is a Python interpreter's
// (`^python[0-9.]*$`), without a regexp compiled at every start.
func isPython(base string) bool {
	v, ok := strings.CutPrefix(base, "python")
	return ok && strings.Trim(v, "0123456789.") == ""
}

// goTestPackage is the import path of the package whose test binary
// args[0] is, and its module's root, when the binary runs in that
// package's directory (go test -exec's way): the path of the module (from
// the nearest go.mod above) and wd below the module's root, whose last
// element names the binary.
func goTestPackage(args []string, wd string) (importPath, root string) {
	pkg, ok := strings.CutSuffix(filepath.Base(args[0]), ".test")
	if !ok || wd == "" {
		return "", ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if mod := modulePath(filepath.Join(d, "go.mod")); mod != "" {
			ip := mod
			if rel, err := filepath.Rel(d, wd); err == nil && rel != "." {
				ip += "/" + filepath.ToSlash(rel)
			}
			if path.Base(ip) != pkg {
				return "", ""
			}
			return ip, d
		}
		if d == filepath.Dir(d) {
			return "", ""
		}
	}
}

// modulePath reads the module directive of a go.mod file.
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			rest, _, _ = strings.Cut(rest, "//")
			return strings.Trim(strings.TrimSpace(rest), "\"`")
		}
	}
	return ""
}

// reportDirPath is where a run's report goes under --report-dir dir. A
// relative dir is taken from the caller's directory, except for a Go test
// binary, which go test -exec starts in its package's directory: from its
// module's root, so that one directory gathers the whole suite's.
func reportDirPath(dir string, args []string, wd string) string {
	if !filepath.IsAbs(dir) {
		base := wd
		if _, root := goTestPackage(args, wd); root != "" {
			base = root
		}
		dir = filepath.Join(base, dir)
	}
	return filepath.Join(dir, filepath.FromSlash(reportName(args, wd))+".json")
}
