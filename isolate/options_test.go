package isolate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func noEnv(string) string { return "" }

// base is what Parse gives with no option but the action.
func base(m Mode) *Options {
	return &Options{Mode: m, Processes: 1, BoxRoot: DefaultBoxRoot, FirstUID: DefaultFirstUID, FirstGID: DefaultFirstGID}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(o *Options)
	}{
		{"init", []string{"--init"}, func(o *Options) {}},
		// CMS: IsolateSandbox.initialize_isolate and build_box_options.
		{"cms-init", []string{"--box-id=1042", "--cg", "--init"}, func(o *Options) { o.BoxID, o.CG = 1042, true }},
		{"cms-run", []string{"--cg", "--box-id=1042", "--chdir=/tmp", "--dir=/tmp=/var/cms/home:rw", "--dir=/dev/shm:tmp",
			"--dir=/etc/alternatives", "--env=HOME=/tmp", "--fsize=10240", "--stdin=/tmp/input.txt", "--stack=65536",
			"--cg-mem=262144", "--stdout=/tmp/output.txt", "--processes=1", "--stderr=/tmp/err.txt", "--time=1",
			"--verbose", "--wall-time=10", "--extra-time=0.5", "--meta=/var/cms/run.meta.0", "--run", "--", "/tmp/sol", "x"},
			func(o *Options) {
				o.Mode, o.BoxID, o.CG, o.Chdir = ModeRun, 1042, true, "/tmp"
				o.Dirs = []DirRule{{In: "/tmp", Out: "/var/cms/home", RW: true}, {In: "/dev/shm", Tmp: true, RW: true},
					{In: "/etc/alternatives", Out: "/etc/alternatives"}}
				o.Env = []EnvRule{{Var: "HOME", Value: "/tmp"}}
				o.FSize, o.Stack, o.CGMem = ptr[int64](10240), ptr[int64](65536), ptr[int64](262144)
				o.Stdin, o.Stdout, o.Stderr = "/tmp/input.txt", "/tmp/output.txt", "/tmp/err.txt"
				o.Time, o.WallTime, o.ExtraTime = time.Second, 10*time.Second, 500*time.Millisecond
				o.Verbose, o.Meta, o.Args = 1, "/var/cms/run.meta.0", []string{"/tmp/sol", "x"}
			}},
		// Judge0: IsolateJob#run, as the shell splits it.
		{"judge0-run", strings.Fields(`--cg -s -b 2000000001 -M /w/metadata.txt --stderr-to-stdout -t 5.0 -x 1.0 -w 10.0 -k 64000 ` +
			`-p60 --cg-timing --cg-mem=128000 -f 1024 -E HOME=/tmp -E PATH=/usr/bin:/bin -E LANG -d /etc:noexec --run -- /bin/bash run.sh`),
			func(o *Options) {
				o.Mode, o.CG, o.Silent, o.BoxID, o.Meta, o.StderrToStdout = ModeRun, true, true, 2000000001, "/w/metadata.txt", true
				o.Time, o.ExtraTime, o.WallTime = 5*time.Second, time.Second, 10*time.Second
				o.Stack, o.Processes, o.CGMem, o.FSize = ptr[int64](64000), 60, ptr[int64](128000), ptr[int64](1024)
				o.Env = []EnvRule{{Var: "HOME", Value: "/tmp"}, {Var: "PATH", Value: "/usr/bin:/bin"}, {Var: "LANG", Inherit: true}}
				o.Dirs = []DirRule{{In: "/etc", Out: "/etc", NoExec: true}}
				o.Args, o.cgTiming = []string{"/bin/bash", "run.sh"}, true
			}},
		{"bundled-short", []string{"-svb7", "-e", "--cleanup"}, func(o *Options) { o.Mode, o.Silent, o.Verbose, o.BoxID, o.FullEnv = ModeCleanup, true, 1, 7, true }},
		{"processes-unlimited", []string{"-p", "--run", "x"}, func(o *Options) { o.Mode, o.Processes, o.Args = ModeRun, 0, []string{"x"} }},
		{"processes-long", []string{"--processes=9", "--run", "--", "x"}, func(o *Options) { o.Mode, o.Processes, o.Args = ModeRun, 9, []string{"x"} }},
		{"processes-long-alone", []string{"--processes", "--run", "x"}, func(o *Options) { o.Mode, o.Processes, o.Args = ModeRun, 0, []string{"x"} }},
		{"abbreviated", []string{"--box=3", "--wall=2", "--ini"}, func(o *Options) { o.BoxID, o.WallTime = 3, 2*time.Second }},
		// getopt permutes: options after the command are still isolate's.
		{"permuted", []string{"--run", "/bin/sh", "-c", "sub", "x", "--time=2"}, func(o *Options) {
			o.Mode, o.Args, o.Chdir, o.Time = ModeRun, []string{"/bin/sh", "x"}, "sub", 2*time.Second
		}},
		{"dashdash-ends-options", []string{"--run", "--", "/bin/sh", "-c", "-t"}, func(o *Options) { o.Mode, o.Args = ModeRun, []string{"/bin/sh", "-c", "-t"} }},
		{"last-of-stderr-wins", []string{"--stderr-to-stdout", "-r", "e.txt", "--init"}, func(o *Options) { o.Stderr = "e.txt" }},
		{"g-format-time", []string{"--time=1e+06", "--init"}, func(o *Options) { o.Time = 1e6 * time.Second }},
		{"box-root", []string{"--box-root=/srv/boxes/", "--init"}, func(o *Options) { o.BoxRoot = "/srv/boxes" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			want := base(ModeInit)
			tt.want(want)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(Options{})); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseEnvSettings(t *testing.T) {
	env := map[string]string{EnvBoxRoot: "/srv/isolate", EnvFirstUID: "100000", EnvFirstGID: "200000"}
	got, err := Parse([]string{"-b", "5", "--init"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got.BoxDir() != "/srv/isolate/5" || got.BoxUID() != 100005 || got.BoxGID() != 200005 {
		t.Errorf("box dir %s, uid %d, gid %d; want /srv/isolate/5, 100005, 200005", got.BoxDir(), got.BoxUID(), got.BoxGID())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		want error
		text string
	}{
		{nil, ErrUsage, "no action"},
		{[]string{"--init", "--run", "x"}, ErrUsage, "only one of"},
		{[]string{"--run"}, ErrUsage, "needs a command"},
		{[]string{"--init", "x"}, ErrUsage, "only --run takes a command"},
		{[]string{"--frob", "--init"}, ErrUsage, "unknown option --frob"},
		{[]string{"-Z", "--init"}, ErrUsage, "unknown option -Z"},
		{[]string{"--s", "--init"}, ErrUsage, "ambiguous"},
		{[]string{"-t"}, ErrUsage, "needs a value"},
		{[]string{"-t", "-1", "--init"}, ErrUsage, "-t/--time"},
		{[]string{"-m", "1.5", "--init"}, ErrUsage, "kilobytes"},
		{[]string{"-b", "2147483648", "--init"}, ErrUsage, "box id"},
		{[]string{"-p0", "--init"}, ErrUsage, "-p/--processes"},
		{[]string{"--init=yes"}, ErrUsage, "takes no value"},
		{[]string{"--cg-mem=1000", "--run", "x"}, ErrUsage, "need --cg"},
		{[]string{"--no-cg-timing", "--run", "x"}, ErrUsage, "need --cg"},
		{[]string{"-d", "/etc:rx", "--init"}, ErrUsage, "unknown directory option"},
		{[]string{"-q", "10,10", "--init"}, ErrUnsupported, "quota"},
		{[]string{"--tty-hack", "--init"}, ErrUnsupported, "tty"},
		{[]string{"--box-root=rel", "--init"}, ErrUsage, "absolute"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.args, noEnv)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Parse(%q) = %v; want %v mentioning %q", tt.args, err, tt.want, tt.text)
		}
	}
}
