package isolate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDirRule(t *testing.T) {
	tests := []struct {
		in   string
		want DirRule
	}{
		{"/etc:noexec", DirRule{In: "/etc", Out: "/etc", NoExec: true}},
		{"etc", DirRule{In: "/etc", Out: "/etc"}},
		{"/tmp=/var/cms/home:rw", DirRule{In: "/tmp", Out: "/var/cms/home", RW: true}},
		{"box=./box:rw", DirRule{In: "/box", Out: "./box", RW: true}},
		{"/dev/shm:tmp", DirRule{In: "/dev/shm", Tmp: true, RW: true}},
		{"proc=proc:fs", DirRule{In: "/proc", Out: "proc", FS: true}},
		{"/opt/x:maybe:norec", DirRule{In: "/opt/x", Out: "/opt/x", Maybe: true, NoRec: true}},
		{"/usr=", DirRule{In: "/usr"}},
	}
	for _, tt := range tests {
		got, err := ParseDirRule(tt.in)
		if err != nil {
			t.Errorf("ParseDirRule(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseDirRule(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"", "=/x", "/a/../etc", "/x=relative", "/x=/y:tmp", "/p=/proc:fs", "/x:bogus"} {
		if _, err := ParseDirRule(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseDirRule(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestDirRules(t *testing.T) {
	mustRule := func(s string) DirRule {
		r, err := ParseDirRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	got := DirRules(false, []DirRule{mustRule("/tmp=/home/cms:rw"), mustRule("/usr="), mustRule("/etc:noexec")})
	var ins []string
	for _, r := range got {
		ins = append(ins, r.In)
	}
	// Replaced rules keep their place; new ones come after the defaults.
	if diff := cmp.Diff([]string{"/box", "/bin", "/dev", "/lib", "/lib64", "/proc", "/usr", "/tmp", "/etc"}, ins); diff != "" {
		t.Errorf("rule order (-want +got):\n%s", diff)
	}
	if got[7].Out != "/home/cms" || !got[6].Removes() {
		t.Errorf("replacement: /tmp -> %q, /usr removes: %v", got[7].Out, got[6].Removes())
	}
	if n := len(DirRules(true, nil)); n != 0 {
		t.Errorf("-D left %d rules", n)
	}
}

func TestEnvironment(t *testing.T) {
	caller := []string{"PATH=/usr/bin", "LANG=C.UTF-8", "SECRET=x", "LIBC_FATAL_STDERR_=0"}
	tests := []struct {
		name    string
		fullEnv bool
		rules   []EnvRule
		want    []string
	}{
		{"nothing-but-libc", false, nil, []string{"LIBC_FATAL_STDERR_=1"}},
		{"judge0", false, []EnvRule{{Var: "HOME", Value: "/tmp"}, {Var: "LANG", Inherit: true}, {Var: "LC_ALL", Inherit: true}},
			[]string{"LIBC_FATAL_STDERR_=1", "HOME=/tmp", "LANG=C.UTF-8"}},
		{"remove", false, []EnvRule{{Var: "LIBC_FATAL_STDERR_"}}, []string{}},
		{"full-env-first", true, []EnvRule{{Var: "SECRET", Value: ""}},
			[]string{"PATH=/usr/bin", "LANG=C.UTF-8", "LIBC_FATAL_STDERR_=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Environment(caller, tt.fullEnv, tt.rules)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
