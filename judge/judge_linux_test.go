package judge

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/profile"
)

// testCgroupRoot keeps the tests' cgroups apart from real runs' and from
// another test binary's.
var testCgroupRoot = fmt.Sprintf("/sandbox-test-judge-%d", os.Getpid())

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtures.CgroupsLeft(testCgroupRoot, os.Stderr) {
		code = 1
	}
	os.Exit(code)
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: every test runs as a uid of its own, in namespaces and cgroups only root makes here")
	}
}

// uidBases hands each judge of the test binary a uid range of its own,
// so that judges running in parallel (in this process or another test
// binary's) share no uid.
var uidBases atomic.Uint32

func nextUIDBase() uint32 { return 1_000_000 + uint32(os.Getpid()%1000)*100_000 + 1000*uidBases.Add(1) }

// cpuTurn spreads the parallel judges over the CPUs.
var cpuTurn atomic.Int32

// testJudge is a judge with the test's own run directory, cgroup root,
// temporary directory and uids, closed (and checked to leave nothing) at
// the end of the test.
func testJudge(t *testing.T, problem string, o Options) *Judge {
	t.Helper()
	p, err := Load(problem, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return testJudgeFor(t, p, o)
}

func testJudgeFor(t *testing.T, p *Problem, o Options) *Judge {
	t.Helper()
	tmp, err := os.MkdirTemp("", "judge-test-")
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(tmp, "run")
	o.RunDir, o.CgroupRoot, o.TempDir = run, testCgroupRoot, tmp
	if o.UIDBase == 0 {
		o.UIDBase = nextUIDBase()
	}
	if len(o.CPUs) == 0 && o.Parallel <= 1 {
		cpus, err := onlineCPUs()
		if err != nil {
			t.Fatal(err)
		}
		o.CPUs = []int{cpus[int(cpuTurn.Add(1))%len(cpus)]}
	}
	j, err := New(context.Background(), p, o)
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer os.RemoveAll(tmp)
		if err := j.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		left, _ := os.ReadDir(tmp)
		var names []string
		for _, e := range left {
			if e.Name() != "run" {
				names = append(names, e.Name())
			}
		}
		if runs, _ := os.ReadDir(run); len(runs) > 0 {
			names = append(names, fmt.Sprintf("run/ (%d entries)", len(runs)))
		}
		if len(names) > 0 {
			t.Errorf("left behind in the temporary directory: %v", names)
		}
		if procs := processesOf(o.UIDBase, o.UIDBase+1000); len(procs) > 0 {
			t.Errorf("processes of the judge's uids left running: %v", procs)
		}
	})
	return j
}

// processesOf lists the pids of processes whose real uid is in [lo, hi).
func processesOf(lo, hi uint32) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) > 0 {
					if uid, err := strconv.ParseUint(fs[0], 10, 32); err == nil && uint32(uid) >= lo && uint32(uid) < hi {
						out = append(out, e.Name())
					}
				}
			}
		}
		f.Close()
	}
	return out
}

type verdictCase struct {
	problem, submission string
	want                Verdict
	failed              string // the first failing test, "" for AC
	status              string // the runner status of that test, "" to skip
	score               float64
	opts                Options
}

// TestVerdicts judges each fixture submission and checks its verdict,
// the test it failed on and the runner status it came from.
func TestVerdicts(t *testing.T) {
	needRoot(t)
	tests := []verdictCase{
		// a+b, Kattis format, the default validator
		{problem: "aplusb", submission: "accepted/ac.c", want: AC},
		{problem: "aplusb", submission: "accepted/ac.py", want: AC},
		{problem: "aplusb", submission: "accepted/ac.cpp", want: AC},
		{problem: "aplusb", submission: "wrong_answer/overflow.c", want: WA, failed: "secret/2", status: "OK"},
		{problem: "aplusb", submission: "time_limit_exceeded/spin.c", want: TLE, failed: "sample/1", status: "TO"},
		{problem: "aplusb", submission: "time_limit_exceeded/sleep.py", want: TLE, failed: "sample/1", status: "TO"},
		{problem: "aplusb", submission: "memory_limit_exceeded/hog.c", want: MLE, failed: "sample/1", status: "ML"},
		{problem: "aplusb", submission: "output_limit_exceeded/flood.c", want: OLE, failed: "sample/1", status: "OL"},
		{problem: "aplusb", submission: "run_time_error/segfault.c", want: RTE, failed: "sample/1", status: "SG"},
		{problem: "aplusb", submission: "run_time_error/exit3.py", want: RTE, failed: "sample/1", status: "RE"},
		{problem: "aplusb", submission: "compile_error/syntax.c", want: CE},
		// -j 2 and --all: every test runs, the verdict is still the first
		{problem: "aplusb", submission: "wrong_answer/overflow.c", want: WA, failed: "secret/2", status: "OK", opts: Options{Parallel: 2, All: true}},
		// floats, Kattis output validator
		{problem: "floatdiv", submission: "accepted/precise.c", want: AC},
		{problem: "floatdiv", submission: "accepted/precise.py", want: AC},
		{problem: "floatdiv", submission: "wrong_answer/rounded.py", want: WA, failed: "sample/1", status: "OK"},
		// Polygon, testlib-style checker
		{problem: "sumlines", submission: "accepted/sum.c", want: AC},
		{problem: "sumlines", submission: "wrong_answer/first.py", want: WA, failed: "01", status: "OK"},
		{problem: "sumlines", submission: "presentation_error/chatty.py", want: PE, failed: "01", status: "OK"},
		// interactive
		{problem: "guess", submission: "accepted/bisect.c", want: AC},
		// The interactor exits first with WA; the submission then dies of
		// the closed pipe: WA by the first-exit rule.
		{problem: "guess", submission: "wrong_answer/linear.py", want: WA, failed: "sample/1"},
		// Both sides wait for the other: the wall-time limit, TLE.
		{problem: "guess", submission: "time_limit_exceeded/silent.c", want: TLE, failed: "sample/1", status: "TO"},
		{problem: "guess", submission: "run_time_error/abort.c", want: RTE, failed: "sample/1", status: "SG"},
		// scoring with groups
		{problem: "subtasks", submission: "accepted/long.c", want: AC, score: 100},
		{problem: "subtasks", submission: "partially_accepted/int.c", want: WA, failed: "secret/group2/1", status: "OK", score: 30},
		// a plain directory, the exact checker
		{problem: "plain", submission: "../upper.py", want: AC},
		{problem: "plain", submission: "../spaces.py", want: PE, failed: "2", status: "OK"},
		// a CMS comparator's partial scores
		{problem: "halves", submission: "../half.py", want: AC, score: 2},
		{problem: "halves", submission: "../floor.py", want: WA, failed: "2", status: "OK", score: 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.problem+"/"+tt.submission, func(t *testing.T) {
			t.Parallel()
			j := testJudge(t, filepath.Join("testdata", tt.problem), tt.opts)
			sub := filepath.Join("testdata", tt.problem, "submissions", tt.submission)
			rep, err := j.Judge(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			checkVerdict(t, rep, tt)
		})
	}
}

func checkVerdict(t *testing.T, rep *Report, tt verdictCase) {
	t.Helper()
	type got struct {
		Verdict Verdict
		Failed  string
		Status  string
		Score   float64
	}
	g := got{Verdict: rep.Verdict, Failed: rep.FailedTest}
	w := got{Verdict: tt.want, Failed: tt.failed, Status: tt.status, Score: tt.score}
	for _, tr := range rep.Tests {
		if tr.Name == rep.FailedTest && tt.status != "" {
			g.Status = tr.Status
		}
		if !tr.Verdict.Valid() {
			t.Errorf("test %s: verdict %q is not a CLICS verdict", tr.Name, tr.Verdict)
		}
	}
	if rep.Score != nil {
		g.Score = *rep.Score
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("(-want +got):\n%s\ntests:\n%s", diff, testLines(rep))
	}
	if tt.want == CE && !strings.Contains(rep.Message, "undeclared") {
		t.Errorf("CE without the compiler's message: %q", rep.Message)
	}
	if tt.opts.All && len(rep.Tests) != 4 {
		t.Errorf("with All: %d tests run, want every one (4)\n%s", len(rep.Tests), testLines(rep))
	}
}

func testLines(rep *Report) string {
	var b strings.Builder
	for _, tr := range rep.Tests {
		fmt.Fprintf(&b, "  %s\n", tr.Line())
	}
	if rep.Message != "" {
		fmt.Fprintf(&b, "  message: %s\n", rep.Message)
	}
	return b.String()
}

// TestJudgeErrors checks that a broken checker is JE, and a checker that
// does not compile is refused before any submission runs.
func TestJudgeErrors(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"1.in": "1\n", "1.ans": "1\n", "echo.py": "print(input())\n",
		"crash.c":  "#include <stdlib.h>\nint main(void) { abort(); }\n",
		"exit9.c":  "int main(void) { return 9; }\n",
		"broken.c": "int main(void) { return }\n",
	} {
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ checker, want string }{
		{"testlib:crash.c", "did not end well"},
		{"testlib:exit9.c", "not a testlib (testlib) code"},
		{"kattis:exit9.c", "want 42 or 43"},
		{"cms:exit9.c", "exited with 9"},
	} {
		t.Run(tt.checker, func(t *testing.T) {
			t.Parallel()
			p, err := Load(dir, LoadOptions{Checker: tt.checker})
			if err != nil {
				t.Fatal(err)
			}
			j := testJudgeFor(t, p, Options{})
			rep, err := j.Judge(context.Background(), filepath.Join(dir, "echo.py"))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != JE || !strings.Contains(rep.Message, tt.want) {
				t.Errorf("verdict %s, message %q; want JE, %q\n%s", rep.Verdict, rep.Message, tt.want, testLines(rep))
			}
		})
	}
	t.Run("checker does not compile", func(t *testing.T) {
		p, err := Load(dir, LoadOptions{Checker: "testlib:broken.c"})
		if err != nil {
			t.Fatal(err)
		}
		j, err := New(context.Background(), p, Options{RunDir: filepath.Join(dir, "run"), CgroupRoot: testCgroupRoot, TempDir: dir, UIDBase: nextUIDBase()})
		if err == nil {
			j.Close()
			t.Fatal("New with a checker that does not compile: no error")
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "does not compile") {
			t.Errorf("error %v, want ErrInvalid naming the compile", err)
		}
	})
}

// TestLanguages builds and runs a+b in the languages not covered above,
// where their compilers are installed.
func TestLanguages(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("a cold Go build compiles the standard library it uses: seconds; skipped with -short")
	}
	// A cold Go build compiles the standard library it uses: tens of
	// seconds of CPU, longer on a loaded machine.
	old := CompileLimits
	CompileLimits.CPU, CompileLimits.Wall = 5*time.Minute, 10*time.Minute
	t.Cleanup(func() { CompileLimits = old })
	for _, tt := range []struct{ lang, file string }{{"go", "ac.go"}, {"java", "Main.java"}} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			ls, err := LoadLanguages()
			if err != nil {
				t.Fatal(err)
			}
			if err := ls[tt.lang].Installed(); err != nil {
				t.Skip(err)
			}
			p, err := Load("testdata/aplusb", LoadOptions{Time: 5e9, Memory: 512 << 20})
			if err != nil {
				t.Fatal(err)
			}
			j := testJudgeFor(t, p, Options{})
			rep, err := j.Judge(context.Background(), filepath.Join("testdata", "lang", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != AC || rep.Submission.Language != tt.lang {
				t.Errorf("%s: verdict %s, language %s; want AC, %s\n%s\ncompile: %+v", tt.file, rep.Verdict, rep.Submission.Language, tt.lang, testLines(rep), rep.Compile)
			}
		})
	}
}

// TestHostile runs submissions that attack the judge: each gets its
// verdict and harms nothing.
func TestHostile(t *testing.T) {
	needRoot(t)
	problem, err := filepath.Abs("testdata/aplusb")
	if err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, problem)
	marker := fmt.Sprintf("judge-hostile-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(filepath.Join("/tmp", marker)) })
	// The grade profile with the problem's directory among the root's
	// paths: there the answers are in sight, and only the judge's mask over
	// the problem hides them (elsewhere it is out of sight anyway, and the
	// judge makes no mask: Spec.ShowsHostPath).
	grade, _ := profile.Builtin("grade")
	inSight := filepath.Join(t.TempDir(), "in-sight.toml")
	if err := os.WriteFile(inSight, []byte(strings.Replace(string(grade), "host_root = [", fmt.Sprintf("host_root = [\n  %q,", problem), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src string
		want      []Verdict
		profile   string
	}{
		// pids stops the bomb; the spinning children hit the CPU limit.
		{"fork bomb", forkBomb, []Verdict{TLE}, ""},
		// It knows where the problem lives and where the judge works; if it
		// read an answer it would print it and be accepted.
		{"reads the answers", findAnswers, []Verdict{WA}, ""},
		{"reads the answers in sight", findAnswers, []Verdict{WA}, inSight},
		// Tries to change the answers, the judge's files, the host; then
		// prints the right sum, so the verdict is AC if nothing stopped it
		// from running.
		{"writes outside", writeOutside, []Verdict{AC}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := testJudge(t, problem, Options{Profile: tt.profile})
			src := strings.NewReplacer("@PROBLEM@", problem, "@TEMP@", filepath.Dir(j.work), "@MARKER@", marker).Replace(tt.src)
			file := filepath.Join(t.TempDir(), "hostile.c")
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := j.Judge(context.Background(), file)
			if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, v := range tt.want {
				ok = ok || rep.Verdict == v
			}
			if !ok {
				t.Errorf("verdict %s, want one of %v\n%s\ncompile: %+v", rep.Verdict, tt.want, testLines(rep), rep.Compile)
			}
		})
	}
	t.Cleanup(func() {
		if after := treeHash(t, problem); after != before {
			t.Errorf("the problem's directory changed during the hostile runs")
		}
		if _, err := os.Stat(filepath.Join("/tmp", marker)); err == nil {
			t.Errorf("a submission wrote /tmp/%s on the host", marker)
		}
	})
}

// treeHash is a digest of every path, mode and content under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d\n", p, fi.Mode(), fi.Size())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

const forkBomb = `
#include <unistd.h>
int main(void) {
	for (;;) fork();
}
`

// findAnswers reads its input, then looks for a *.in file with the same
// content (where the problem is, where the judge works, the whole tree
// below /) and prints the matching .ans: AC if the answers were visible.
const findAnswers = `
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char input[4096];
static size_t inlen;
static int depth;

static int same(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f) return 0;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	return n == inlen && memcmp(buf, input, n) == 0;
}

static void found(const char *in) {
	char ans[4200];
	snprintf(ans, sizeof ans, "%.*s.ans", (int)(strlen(in) - 3), in);
	FILE *f = fopen(ans, "r");
	if (!f) return;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fwrite(buf, 1, n, stdout);
	exit(0);
}

static void walk(const char *dir) {
	if (depth > 12) return;
	static const char *skip[] = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", 0};
	for (int i = 0; skip[i]; i++) if (strcmp(dir, skip[i]) == 0) return;
	DIR *d = opendir(dir);
	if (!d) return;
	struct dirent *e;
	depth++;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
		struct stat st;
		if (lstat(p, &st) != 0) continue;
		if (S_ISDIR(st.st_mode)) walk(p);
		else if (S_ISREG(st.st_mode) && strlen(p) > 3 && strcmp(p + strlen(p) - 3, ".in") == 0 && same(p)) found(p);
	}
	depth--;
	closedir(d);
}

int main(void) {
	inlen = fread(input, 1, sizeof input, stdin);
	walk("@PROBLEM@");
	walk("@TEMP@");
	walk("/");
	puts("0");
	return 0;
}
`

// writeOutside tries to write where a submission must not, then answers.
const writeOutside = `
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>

static void try(const char *path) {
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
	if (fd >= 0) { write(fd, "x\n", 2); close(fd); }
}

int main(void) {
	try("@PROBLEM@/data/secret/1.ans");
	try("@PROBLEM@/data/secret/new.ans");
	try("@PROBLEM@/problem.yaml");
	try("@TEMP@/escaped");
	try("/box/solution");
	try("/box/planted");
	try("/etc/passwd");
	try("/tmp/@MARKER@");
	try("/proc/sys/kernel/hostname");
	symlink("/etc/shadow", "/tmp/link");
	long long a, b;
	if (scanf("%lld %lld", &a, &b) != 2) return 1;
	printf("%lld\n", a + b);
	return 0;
}
`

// TestMetaAndFeedback checks --meta-dir's files and the kept Kattis
// feedback directories.
func TestMetaAndFeedback(t *testing.T) {
	needRoot(t)
	meta, fb := t.TempDir(), t.TempDir()
	j := testJudge(t, "testdata/floatdiv", Options{MetaDir: meta, FeedbackDir: fb})
	rep, err := j.Judge(context.Background(), "testdata/floatdiv/submissions/accepted/precise.c")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != AC {
		t.Fatalf("verdict %s\n%s", rep.Verdict, testLines(rep))
	}
	for _, tr := range rep.Tests {
		name := metaName(tr.Name)
		b, err := os.ReadFile(filepath.Join(meta, name+".meta"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "exitcode:0\n") || strings.Contains(string(b), "status:") {
			t.Errorf("%s.meta of an accepted run:\n%s", name, b)
		}
		msg, err := os.ReadFile(filepath.Join(fb, name, "judgemessage.txt"))
		if err != nil || !strings.Contains(string(msg), "matches") {
			t.Errorf("feedback of %s: %q, %v", tr.Name, msg, err)
		}
		if tr.Feedback != filepath.Join(fb, name) || !strings.Contains(tr.CheckerMessage, "matches") {
			t.Errorf("test %s: feedback dir %q, checker message %q", tr.Name, tr.Feedback, tr.CheckerMessage)
		}
	}
}

// TestVerify runs --verify over the a+b package, whose submissions all
// sit where they belong, and over a package whose two do not.
func TestVerify(t *testing.T) {
	needRoot(t)
	t.Run("aplusb", func(t *testing.T) {
		t.Parallel()
		j := testJudge(t, "testdata/aplusb", Options{})
		vr, err := Verify(context.Background(), j, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range vr.Submissions {
			if !s.OK {
				t.Errorf("%s", s.Line())
			}
		}
		if !vr.OK || len(vr.Submissions) != 11 || vr.TimeComputed {
			t.Errorf("ok %v, %d submissions, time computed %v; want true, 11, false\n%s", vr.OK, len(vr.Submissions), vr.TimeComputed, vr.Summary())
		}
	})
	t.Run("misfiled", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for name, text := range map[string]string{
			"problem.yaml":                      "name: misfiled\nlimits:\n  time_multiplier: 3\n",
			"data/secret/1.in":                  "2 3\n",
			"data/secret/1.ans":                 "5\n",
			"submissions/accepted/wrong.py":     "print(0)\n",
			"submissions/accepted/right.py":     "print(sum(map(int, input().split())))\n",
			"submissions/wrong_answer/right.py": "print(sum(map(int, input().split())))\n",
		} {
			if err := writeFile(filepath.Join(dir, name), text); err != nil {
				t.Fatal(err)
			}
		}
		j := testJudge(t, dir, Options{})
		vr, err := Verify(context.Background(), j, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, s := range vr.Submissions {
			got[s.Folder+"/"+filepath.Base(s.Path)] = s.OK
		}
		want := map[string]bool{"accepted/wrong.py": false, "accepted/right.py": true, "wrong_answer/right.py": false}
		if diff := cmp.Diff(want, got); diff != "" || vr.OK {
			t.Errorf("ok %v; per submission (-want +got):\n%s", vr.OK, diff)
		}
		// No time limit given: the slowest accepted run times 3, rounded up
		// to a second.
		if !vr.TimeComputed || vr.TimeLimitMs != 1000 {
			t.Errorf("time limit %v ms, computed %v; want 1000, true", vr.TimeLimitMs, vr.TimeComputed)
		}
	})
}

// TestOtherInteractors plays the guessing game with a plain directory's
// Kattis interactor and with a Polygon package's testlib interactor, whose
// tout the checker then judges.
func TestOtherInteractors(t *testing.T) {
	needRoot(t)
	kattis, err := os.ReadFile("testdata/guess/output_validators/interactor/interactor.c")
	if err != nil {
		t.Fatal(err)
	}
	check, err := os.ReadFile("testdata/sumlines/files/check.c")
	if err != nil {
		t.Fatal(err)
	}
	// testlib's interface: interactor input tout; 0 OK, 1 WA.
	const testlibInteractor = `#include <stdio.h>
int main(int argc, char **argv) {
	FILE *in = fopen(argv[1], "r"), *tout = fopen(argv[2], "w");
	int secret, guess;
	if (!in || !tout || fscanf(in, "%d", &secret) != 1) return 3;
	for (int i = 0; i < 10; i++) {
		if (scanf("%d", &guess) != 1) { fputs("wrong answer no guess\n", stderr); return 1; }
		if (guess == secret) { puts("correct"); fflush(stdout); fprintf(tout, "%d\n", secret); return 0; }
		puts(guess > secret ? "lower" : "higher");
		fflush(stdout);
	}
	fputs("wrong answer too many guesses\n", stderr);
	return 1;
}
`
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"plain kattis", map[string]string{"problem.toml": "interactor = \"kattis:interactor.c\"\ntime_limit = \"1s\"\n",
			"interactor.c": string(kattis), "1.in": "17\n", "2.in": "999\n"}},
		{"polygon testlib", map[string]string{"interactor.c": testlibInteractor, "check.c": string(check),
			"tests/01": "17\n", "tests/01.a": "17\n", "tests/02": "999\n", "tests/02.a": "999\n"}},
	}
	subs := map[string]Verdict{
		"testdata/guess/submissions/accepted/bisect.c":            AC,
		"testdata/guess/submissions/wrong_answer/linear.py":       WA,
		"testdata/guess/submissions/time_limit_exceeded/silent.c": TLE,
	}
	for _, tt := range tests {
		dir := t.TempDir()
		for name, text := range tt.files {
			if err := writeFile(filepath.Join(dir, name), text); err != nil {
				t.Fatal(err)
			}
		}
		for sub, want := range subs {
			t.Run(tt.name+"/"+filepath.Base(sub), func(t *testing.T) {
				t.Parallel()
				j := testJudge(t, dir, Options{})
				if !j.Problem().Interactive {
					t.Fatal("not read as interactive")
				}
				rep, err := j.Judge(context.Background(), sub)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Verdict != want {
					t.Errorf("verdict %s, want %s\n%s", rep.Verdict, want, testLines(rep))
				}
				if want == AC && tt.name == "polygon testlib" && (rep.Tests[0].Checker == nil || !strings.Contains(rep.Tests[0].CheckerMessage, "ok")) {
					t.Errorf("the checker did not judge the interactor's tout: %+v", rep.Tests[0])
				}
			})
		}
	}
}

// TestKattisScore checks a scoring problem whose validator writes each
// test's score to score.txt in its feedback directory.
func TestKattisScore(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"problem.yaml":      "type: scoring\nvalidation: custom score\n",
		"data/secret/1.in":  "3\n",
		"data/secret/1.ans": "-\n",
		"data/secret/2.in":  "4\n",
		"data/secret/2.ans": "-\n",
		"submissions/sq.py": "n = int(input())\nprint(n * n)\n",
		"output_validators/v/v.c": `#include <stdio.h>
int main(int argc, char **argv) {
	char path[4096];
	double got;
	if (argc < 4 || scanf("%lf", &got) != 1) return 43;
	snprintf(path, sizeof path, "%s/score.txt", argv[3]);
	FILE *f = fopen(path, "w");
	if (!f) return 1;
	fprintf(f, "%g\n", got);
	fclose(f);
	return 42;
}
`,
	} {
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	j := testJudge(t, dir, Options{})
	rep, err := j.Judge(context.Background(), filepath.Join(dir, "submissions/sq.py"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != AC || rep.Score == nil || *rep.Score != 25 {
		t.Errorf("verdict %s, score %v; want AC, 9+16\n%s", rep.Verdict, rep.Score, testLines(rep))
	}
}
