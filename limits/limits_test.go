package limits

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// twoCPUs is a host with CPUs 0-1 online and the default fs.nr_open.
var twoCPUs = host{
	onlineCPUs: func() ([]int, bool) { return []int{0, 1}, true },
	nrOpen:     func() (uint64, bool) { return 1048576, true },
}

// unknownHost is a host whose facts cannot be read.
var unknownHost = host{
	onlineCPUs: func() ([]int, bool) { return nil, false },
	nrOpen:     func() (uint64, bool) { return 0, false },
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string // substring; "" = no error
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "512k", want: 512 << 10},
		{in: "512K", want: 512 << 10},
		{in: "256M", want: 256 << 20},
		{in: "256m", want: 256 << 20},
		{in: "256MB", want: 256 << 20},
		{in: "256MiB", want: 256 << 20},
		{in: "1G", want: 1 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: "2T", want: 2 << 40},
		{in: " 64M ", want: 64 << 20},
		{in: "100b", want: 100},
		{in: "0.5k", want: 512},
		{in: "banana", err: `invalid size "banana": not a size`},
		{in: "", err: "empty"},
		{in: "-1", err: "must not be negative"},
		{in: "-5M", err: "must not be negative"},
		{in: "1.5", err: "not a whole number of bytes"},
		{in: "12X", err: "not a size"},
		{in: "M", err: "not a size"},
		{in: "1.2.3M", err: "not a size"},
		{in: "99999999999T", err: "too large"},
		{in: "9223372036854775808", err: "too large"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			checkErr(t, err, tc.err)
			if tc.err == "" && got != tc.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	case want != "" && !errors.Is(err, ErrInvalid):
		t.Fatalf("error %q does not wrap ErrInvalid", err)
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{in: "1.5", want: 1.5},
		{in: "2", want: 2},
		{in: "0.01", want: 0.01},
		{in: "0", want: 0}, // syntax only: Validate says no
		{in: "two", err: `invalid CPU count "two": not a number`},
		{in: "NaN", err: "not a number"},
		{in: "Inf", err: "not a number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCPUs(tc.in)
			checkErr(t, err, tc.err)
			if tc.err == "" && got != tc.want {
				t.Errorf("ParseCPUs(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseCpuset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  string
	}{
		{in: "0", want: "0"},
		{in: "0,1", want: "0-1"},
		{in: "0-1", want: "0-1"},
		{in: "1,0,1", want: "0-1"},
		{in: " 1 ", want: "1"},
		{in: "2", err: `invalid cpuset "2": CPU 2 not online (this host has 0-1)`},
		{in: "0-3", err: "CPU 2-3 not online"},
		{in: "", err: "not a CPU list"},
		{in: "a", err: "not a CPU list"},
		{in: "1-0", err: "not a CPU list"},
		{in: "-1", err: "not a CPU list"},
		{in: "0,,1", err: "not a CPU list"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCpusetOn(tc.in, twoCPUs)
			checkErr(t, err, tc.err)
			if got != tc.want {
				t.Errorf("parseCpusetOn(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got, err := parseCpusetOn("0-7", unknownHost); err != nil || got != "0-7" {
		t.Errorf("on a host of unknown CPUs: got %q, %v; want the list unchecked", got, err)
	}
}

func TestFormatCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{0, 2, 3, 4, 7}, "0,2-4,7"},
	} {
		if got := formatCPUList(tc.in); got != tc.want {
			t.Errorf("formatCPUList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "2", want: 2 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "0", want: 0},
		{in: "soon", err: `invalid duration "soon": not a duration`},
		{in: "1e30", err: "too large"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			checkErr(t, err, tc.err)
			if got != tc.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRlimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rlimit
		err  string
	}{
		{in: "1024", want: Rlimit{1024, 1024}},
		{in: "1024:4096", want: Rlimit{1024, 4096}},
		{in: "8M:unlimited", want: Rlimit{8 << 20, Unlimited}},
		{in: "unlimited", want: Rlimit{Unlimited, Unlimited}},
		{in: "infinity:infinity", want: Rlimit{Unlimited, Unlimited}},
		{in: "0", want: Rlimit{0, 0}},
		{in: "4096:1024", want: Rlimit{4096, 1024}}, // syntax only: Validate says no
		{in: "x", err: `invalid rlimit "x": want SOFT[:HARD]`},
		{in: "1:", err: "want SOFT[:HARD]"},
		{in: ":1", err: "want SOFT[:HARD]"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRlimit(tc.in)
			checkErr(t, err, tc.err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseRlimit(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        Limits
		err         string // exact message
	}{
		{name: "memory", value: "256M", want: Limits{Memory: 256 << 20}},
		{name: "--memory", value: "1.5G", want: Limits{Memory: 3 << 29}},
		{name: "memory", value: "0", want: Limits{}},
		{name: "memory", value: "banana", err: `invalid --memory "banana": not a size (want bytes or a number with K, M, G or T, e.g. 256M, 1.5G)`},
		{name: "memory", value: "-1", err: `invalid --memory -1: must not be negative`},
		{name: "memory", value: "512k", err: `invalid --memory "512k": must be at least 1M (0 = unlimited)`},
		{name: "pids", value: "64", want: Limits{Pids: ptr[int64](64)}},
		{name: "pids", value: "0", err: `invalid --pids 0: must be at least 1`},
		{name: "pids", value: "-3", err: `invalid --pids -3: must be at least 1`},
		{name: "pids", value: "lots", err: `invalid --pids "lots": not a whole number`},
		{name: "pids", value: "5000000", err: `invalid --pids 5000000: must be at most 4194304`},
		{name: "cpus", value: "1.5", want: Limits{CPUs: ptr(1.5)}},
		{name: "cpus", value: "0", err: `invalid --cpus 0: must be greater than 0`},
		{name: "cpus", value: "-1", err: `invalid --cpus -1: must be greater than 0`},
		{name: "cpus", value: "0.001", err: `invalid --cpus 0.001: must be at least 0.01`},
		{name: "cpus", value: "3", err: `invalid --cpus 3: must be at most 2 (the CPUs online on this host)`},
		{name: "cpuset", value: "0,1", want: Limits{Cpuset: "0,1"}},
		{name: "cpuset", value: "0-3", err: `invalid --cpuset "0-3": CPU 2-3 not online (this host has 0-1)`},
		{name: "cpuset", value: "x", err: `invalid --cpuset "x": not a CPU list (want e.g. 0,1 or 0-3)`},
		{name: "io-weight", value: "500", want: Limits{IOWeight: 500}},
		{name: "io_weight", value: "5", err: `invalid --io-weight 5: must be between 10 and 1000 (0 = default)`},
		{name: "cpu-time", value: "2s", want: Limits{CPUTime: 2 * time.Second}},
		{name: "cpu_time", value: "1.5", want: Limits{CPUTime: 1500 * time.Millisecond}},
		{name: "wall-time", value: "-1s", err: `invalid --wall-time "-1s": must not be negative`},
		{name: "extra-time", value: "later", err: `invalid --extra-time "later": not a duration (want e.g. 1.5s, 250ms, 2m or seconds)`},
		{name: "output-limit", value: "64M", want: Limits{OutputLimit: 64 << 20}},
		{name: "disk", value: "1G", want: Limits{Disk: 1 << 30}},
		{name: "rlimit-nofile", value: "1024:4096", want: Limits{Rlimits: Rlimits{NoFile: &Rlimit{1024, 4096}}}},
		{name: "rlimit-nofile", value: "4096:1024", err: `invalid --rlimit-nofile "4096:1024": soft limit above hard limit`},
		{name: "rlimit-nofile", value: "unlimited", err: `invalid --rlimit-nofile "unlimited": hard limit above the host's fs.nr_open (1048576)`},
		{name: "rlimit-core", value: "0", want: Limits{Rlimits: Rlimits{Core: &Rlimit{0, 0}}}},
		{name: "rlimit-fsize", value: "64M", want: Limits{Rlimits: Rlimits{FSize: &Rlimit{64 << 20, 64 << 20}}}},
		{name: "rlimit-stack", value: "8M:unlimited", want: Limits{Rlimits: Rlimits{Stack: &Rlimit{8 << 20, Unlimited}}}},
		{name: "rlimit-as", value: "lots", err: `invalid --rlimit-as "lots": want SOFT[:HARD], each a number, a size such as 64M, or unlimited`},
		{name: "swap", value: "1G", err: `setting limit "swap": no such limit: invalid value`},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			var l Limits
			err := l.set(tc.name, tc.value, twoCPUs)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Set(%q, %q) error = %v, want %q", tc.name, tc.value, err, tc.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %q does not wrap ErrInvalid", err)
				}
				if diff := cmp.Diff(Limits{}, l); diff != "" {
					t.Errorf("a failed Set changed the limits (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%q, %q): %v", tc.name, tc.value, err)
			}
			if diff := cmp.Diff(tc.want, l); diff != "" {
				t.Errorf("Set(%q, %q) (-want +got):\n%s", tc.name, tc.value, diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limits
		h    host
		want []string // exact messages, in flag order
	}{
		{name: "zero", l: Limits{}, h: twoCPUs},
		{name: "defaults", l: DefaultLimits(), h: twoCPUs},
		{
			name: "all set",
			l: Limits{
				Memory: 64 << 20, Pids: ptr[int64](32), CPUs: ptr(0.5), Cpuset: "0-1", IOWeight: 1000,
				CPUTime: time.Second, WallTime: 2 * time.Second, ExtraTime: time.Second / 2,
				OutputLimit: 1 << 20, Disk: 1 << 30,
				Rlimits: Rlimits{NoFile: &Rlimit{1024, 1048576}, Stack: &Rlimit{8 << 20, Unlimited}, AS: &Rlimit{Unlimited, Unlimited}},
			},
			h: twoCPUs,
		},
		{
			name: "negatives",
			l: Limits{
				Memory: -1, CPUTime: -time.Second, WallTime: -1, ExtraTime: -2,
				OutputLimit: -3, Disk: -4, IOWeight: -5,
			},
			h: twoCPUs,
			want: []string{
				"invalid --memory -1: must not be negative",
				"invalid --io-weight -5: must be between 10 and 1000 (0 = default)",
				"invalid --cpu-time -1s: must not be negative",
				"invalid --wall-time -1ns: must not be negative",
				"invalid --extra-time -2ns: must not be negative",
				"invalid --output-limit -3: must not be negative",
				"invalid --disk -4: must not be negative",
			},
		},
		{name: "zero pids", l: Limits{Pids: ptr[int64](0)}, h: twoCPUs, want: []string{"invalid --pids 0: must be at least 1"}},
		{name: "zero cpus", l: Limits{CPUs: ptr(0.0)}, h: twoCPUs, want: []string{"invalid --cpus 0: must be greater than 0"}},
		{name: "negative cpus", l: Limits{CPUs: ptr(-0.5)}, h: twoCPUs, want: []string{"invalid --cpus -0.5: must be greater than 0"}},
		{name: "too many cpus", l: Limits{CPUs: ptr(2.5)}, h: twoCPUs, want: []string{"invalid --cpus 2.5: must be at most 2 (the CPUs online on this host)"}},
		{name: "many cpus on unknown host", l: Limits{CPUs: ptr(64.0)}, h: unknownHost},
		{name: "cpuset the host lacks", l: Limits{Cpuset: "1-2"}, h: twoCPUs, want: []string{`invalid --cpuset "1-2": CPU 2 not online (this host has 0-1)`}},
		{name: "tiny memory", l: Limits{Memory: 100}, h: twoCPUs, want: []string{"invalid --memory 100: must be at least 1M (0 = unlimited)"}},
		{
			name: "rlimits",
			l:    Limits{Rlimits: Rlimits{NoFile: &Rlimit{2 << 20, 2 << 20}, Core: &Rlimit{1, 0}}},
			h:    twoCPUs,
			want: []string{
				"invalid --rlimit-nofile 2097152:2097152: hard limit above the host's fs.nr_open (1048576)",
				"invalid --rlimit-core 1:0: soft limit above hard limit",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.validate(tc.h)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %q does not wrap ErrInvalid", err)
				}
				var fe *FlagError
				if !errors.As(err, &fe) {
					t.Errorf("error %q holds no *FlagError", err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlagsAllSettable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Flags() {
		if seen[f.Name] {
			t.Errorf("flag %q listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.Usage == "" {
			t.Errorf("flag %q has no usage", f.Name)
		}
		var l Limits
		// Every flag must at least be known to Set; "x" is rejected by its parser.
		err := l.set(f.Name, "x", twoCPUs)
		var fe *FlagError
		if f.Name != "cpuset" && (!errors.As(err, &fe) || fe.Flag != f.Name) {
			t.Errorf("Set(%q, \"x\") = %v, want a *FlagError for that flag", f.Name, err)
		}
	}
}

func TestLimitsEncoding(t *testing.T) {
	l := Limits{
		Memory: 64 << 20, Pids: ptr[int64](32), CPUs: ptr(0.5), Cpuset: "0", IOWeight: 100,
		CPUTime: time.Second, WallTime: 3 * time.Second, ExtraTime: time.Second / 2,
		OutputLimit: 1 << 20, Disk: 1 << 30,
		Rlimits: Rlimits{NoFile: &Rlimit{1024, 4096}, Core: &Rlimit{0, 0}, Stack: &Rlimit{8 << 20, Unlimited}},
	}
	t.Run("json", func(t *testing.T) {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"memory":67108864,"pids":32,"cpus":0.5,"cpuset":"0","io_weight":100,` +
			`"cpu_time":1000000000,"wall_time":3000000000,"extra_time":500000000,"output_limit":1048576,"disk":1073741824,` +
			`"rlimits":{"nofile":"1024:4096","stack":"8388608:unlimited","core":"0:0"}}`
		if diff := cmp.Diff(want, string(b)); diff != "" {
			t.Errorf("JSON (-want +got):\n%s", diff)
		}
		var back Limits
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l, back); diff != "" {
			t.Errorf("JSON round trip (-want +got):\n%s", diff)
		}
	})
	t.Run("toml", func(t *testing.T) {
		b, err := toml.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back Limits
		if _, err := toml.Decode(string(b), &back); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		if diff := cmp.Diff(l, back); diff != "" {
			t.Errorf("TOML round trip of\n%s(-want +got):\n%s", b, diff)
		}
		const profile = `
memory = 268435456
pids = 64
cpu_time = "2s"
[rlimits]
nofile = "1024:8192"
`
		var p Limits
		if _, err := toml.Decode(profile, &p); err != nil {
			t.Fatal(err)
		}
		want := Limits{Memory: 256 << 20, Pids: ptr[int64](64), CPUTime: 2 * time.Second, Rlimits: Rlimits{NoFile: &Rlimit{1024, 8192}}}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("TOML profile (-want +got):\n%s", diff)
		}
	})
	t.Run("empty", func(t *testing.T) {
		b, _ := json.Marshal(Limits{})
		if diff := cmp.Diff(`{"rlimits":{}}`, string(b)); diff != "" {
			t.Errorf("JSON of zero Limits (-want +got):\n%s", diff)
		}
	})
}

func TestDefaultLimits(t *testing.T) {
	l := DefaultLimits()
	nofile := Rlimit{1024, 524288}
	if hard, ok := hardNoFile(); ok && hard < nofile.Hard {
		nofile = Rlimit{min(1024, hard), hard}
	}
	want := Limits{Rlimits: Rlimits{NoFile: &nofile, Core: &Rlimit{0, 0}}}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Errorf("DefaultLimits (-want +got):\n%s", diff)
	}
	// Each call is a fresh copy: changing one must not change the next.
	l.Rlimits.NoFile.Soft = 1
	if DefaultLimits().Rlimits.NoFile.Soft != 1024 {
		t.Error("DefaultLimits shares its rlimits between calls")
	}
	if err := DefaultLimits().Validate(); err != nil {
		t.Errorf("DefaultLimits().Validate() = %v", err)
	}
}

func TestGroupPath(t *testing.T) {
	for _, tc := range []struct {
		root, id string
		want     string
		bad      bool
	}{
		{root: "/sandbox", id: "abc", want: "/sandbox/abc"},
		{root: "/sandbox-test/x1", id: "run-1.a_b", want: "/sandbox-test/x1/run-1.a_b"},
		{root: "sandbox", id: "a", bad: true},
		{root: "/", id: "a", bad: true},
		{root: "/sandbox/", id: "a", bad: true},
		{root: "/a/../b", id: "a", bad: true},
		{root: "/sys/fs/cgroup/memory", id: "a", bad: true},
		{root: "/sandbox", id: "", bad: true},
		{root: "/sandbox", id: "..", bad: true},
		{root: "/sandbox", id: "a/b", bad: true},
		{root: "/sandbox", id: "a b", bad: true},
		{root: "/sandbox", id: "cgroup.procs", bad: true},
		{root: "/sandbox", id: strings.Repeat("a", 129), bad: true},
	} {
		got, err := groupPath(tc.root, tc.id)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("groupPath(%q, %q) = %q, %v; want ErrInvalid", tc.root, tc.id, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("groupPath(%q, %q) = %q, %v; want %q", tc.root, tc.id, got, err, tc.want)
		}
	}
}

// TestRecentFact: a host fact is read once for the validations of a run
// (and of a judge's tests in a row), and again once factsTTL has passed.
func TestRecentFact(t *testing.T) {
	reads := 0
	f := &recentFact[int]{read: func() (int, bool) { reads++; return reads, true }}
	for range 3 {
		if v, ok := f.get(); v != 1 || !ok {
			t.Fatalf("get: %d, %v; want 1, true", v, ok)
		}
	}
	f.at = f.at.Add(-factsTTL)
	if v, _ := f.get(); v != 2 || reads != 2 {
		t.Errorf("after factsTTL: %d (%d reads); want it read again", v, reads)
	}
}
