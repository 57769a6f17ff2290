package sandbox

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/limits"
	"golang.org/x/sys/unix"
)

// rootlessTestEnv marks a run of this test binary by TestRootless, as an
// unprivileged user: the tests that need a runner (needRunner) run then.
const rootlessTestEnv = "SANDBOX_TEST_ROOTLESS"

// coreTests are the exec tests that must pass for an unprivileged caller:
// isolation, exit statuses, environment, mounts and binds, cleanup, leaks,
// the supervisor's limits, seccomp, and the rootless tests of this file.
const coreTests = "^(TestNamespaces|TestNetworkNone|TestWritesStayInside|TestBindMounts|TestExitStatus|TestInvalidSpec|" +
	"TestHermeticEnv|TestWorkdir|TestOwnRoot|TestPrivileges|TestDescriptors|TestStdio|TestZombiesReaped|" +
	"TestBackgroundKilled|TestContextCancel|TestSignalForwarded|TestNothingLeaks|TestGC|TestTimeLimits|" +
	"TestOutputLimit|TestWriteLimits|TestSeccompDefault|TestSeccompKillNamesSyscall|TestRootless.+)$"

// autoTests are run again with the map chosen per run (a single-id map
// unless a run needs the range).
const autoTests = "^(TestNamespaces|TestExitStatus|TestBindMounts|TestPrivileges|TestNothingLeaks|TestRootless.+)$"

// TestRootless runs the core tests as an unprivileged user, once with the
// user's subordinate ids (newuidmap) and once with the map chosen per run. CI runs
// as root; `make test-user` makes the user.
func TestRootless(t *testing.T) {
	if os.Getenv(rootlessTestEnv) != "" {
		t.Skip("already the unprivileged run")
	}
	needRoot(t)
	if testing.Short() {
		t.Skip("runs the core tests again as another user: skipped with -short")
	}
	u, bin := fixtures.TestUser(t)
	wd := u.TestWorkDir(t)
	for _, mode := range []struct {
		name, idmap, run string
		delegate         bool
	}{
		{"subuid", IDMapSubuid, coreTests, false},
		{"auto", "", autoTests, false},
		{"delegated", "", delegatedTests, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			args := []string{"-test.short", "-test.count=1", "-test.v=" + strconv.FormatBool(testing.Verbose()), "-test.run", mode.run}
			// -skip reaches the runs as the user too: a test left out here
			// (vmtest's, under emulation) is left out there.
			if f := flag.Lookup("test.skip"); f != nil && f.Value.String() != "" {
				args = append(args, "-test.skip", f.Value.String())
			}
			cmd := u.Command([]string{rootlessTestEnv + "=1", EnvIDMap + "=" + mode.idmap, "TMPDIR=" + wd}, bin, args...)
			cmd.Dir = wd
			if mode.delegate {
				top, fd := u.DelegateCgroup(t)
				cmd.Env = append(cmd.Env, delegatedTestEnv+"="+top)
				cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
			}
			out, err := cmd.CombinedOutput()
			if err != nil || testing.Verbose() {
				t.Logf("as %s (uid %d), %s map:\n%s", u.Name, u.UID, mode.name, out)
			}
			if err != nil {
				t.Fatalf("the core tests as %s: %v", u.Name, err)
			}
		})
	}
}

// delegatedTests run in a cgroup v2 subtree delegated to the user.
// The limits tests skip where the delegation lacks their controllers, as
// on this project's hybrid host (none on cgroup v2); in make vmtest's
// guests (cgroup v2 with controllers) they run for real.
const delegatedTests = "^(TestRootlessDelegated|TestExitStatus|TestNothingLeaks|TestTimeLimits|TestRootlessLimits|" +
	"TestMemoryLimit|TestPidsLimit|TestCPUBandwidth|TestReport|TestOutputLimit)$"

// delegatedTestEnv names, for the unprivileged run, the group delegated to it.
const delegatedTestEnv = "SANDBOX_TEST_DELEGATED"

// TestRootlessDelegated: with a delegated subtree, a rootless run gets a
// cgroup v2 group in it, accounted and killed there, and gone after.
func TestRootlessDelegated(t *testing.T) {
	needRootless(t)
	top := os.Getenv(delegatedTestEnv)
	if top == "" {
		t.Skip("runs in a delegated cgroup, under TestRootless")
	}
	d, err := limits.FindDelegation()
	if err != nil {
		t.Fatalf("FindDelegation: %v", err)
	}
	if d.Top != top {
		t.Errorf("delegation %s, want %s", d.Top, top)
	}
	s := sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	s.Limits.CPUTime = 10e9
	_, _, res := run(t, s)
	if res.Status != StatusOK || res.CgroupVersion != 2 || res.CPU <= 0 || res.EnforcedBy["cpu_time_ms"] != BySupervisor {
		t.Errorf("run in the delegation: %s, cgroup v%d, cpu %v, cpu time enforced by %q", res.Status, res.CgroupVersion, res.CPU, res.EnforcedBy["cpu_time_ms"])
	}
	if ids, err := limits.List(d.Root()); err != nil || len(ids) > 0 {
		t.Errorf("groups left under %s: %v %v", d.Root(), ids, err)
	}
	t.Run("CPU time from the group", func(t *testing.T) {
		s := sh("while :; do :; done")
		s.Limits.CPUTime = 300e6
		_, _, res := run(t, s)
		if res.Status != StatusTime || res.CPU < 300e6 {
			t.Errorf("--cpu-time 300ms: %s after cpu %v, want TO", res.Status, res.CPU)
		}
	})
}

// needRootless skips unless this is TestRootless's unprivileged run.
func needRootless(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 || os.Getenv(rootlessTestEnv) == "" {
		t.Skip("runs as an unprivileged user, under TestRootless")
	}
}

// TestRootlessLimits: each limit that needs a cgroup controller is refused
// (ErrUnsupported, naming its flag, why and the fix) unless the caller's
// delegated cgroup v2 subtree gives the controller; then the cgroup
// enforces it.
func TestRootlessLimits(t *testing.T) {
	needRootless(t)
	d, derr := limits.FindDelegation()
	one, half := int64(16), 0.5
	tests := []struct {
		flag, controller, key string
		set                   func(*limits.Limits)
	}{
		{"memory", "memory", "memory_bytes", func(l *limits.Limits) { l.Memory = 64 << 20 }},
		{"pids", "pids", "pids", func(l *limits.Limits) { l.Pids = &one }},
		{"cpus", "cpu", "cpus", func(l *limits.Limits) { l.CPUs = &half }},
		{"cpuset", "cpuset", "cpuset", func(l *limits.Limits) { l.Cpuset = "0" }},
		{"io-weight", "io", "io_weight", func(l *limits.Limits) { l.IOWeight = 100 }},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			s := &Spec{Args: []string{"true"}, RunDir: testRunDir(t)}
			tt.set(&s.Limits)
			res, err := Run(context.Background(), s)
			if derr == nil && d.Has(tt.controller) {
				if err != nil || res.EnforcedBy[tt.key] != ByCgroup || res.CgroupVersion != 2 {
					t.Fatalf("--%s with the %s controller delegated: %v, enforced by %q", tt.flag, tt.controller, err, res.EnforcedBy[tt.key])
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("--%s without the %s controller: err %v, want ErrUnsupported", tt.flag, tt.controller, err)
			}
			for _, want := range []string{"--" + tt.flag, "cgroup " + tt.controller + " controller", "Delegate=", "or run as root"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		})
	}
	t.Run("rlimit above the hard limit", func(t *testing.T) {
		s := &Spec{Args: []string{"true"}, RunDir: testRunDir(t)}
		var cur unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil || cur.Max >= 1<<20 {
			t.Skipf("the caller's hard limit %d leaves no room below fs.nr_open", cur.Max)
		}
		s.Limits.Rlimits.NoFile = &limits.Rlimit{Soft: 64, Hard: cur.Max + 1}
		_, err := Run(context.Background(), s)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--rlimit-nofile") || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") {
			t.Fatalf("err %v, want a refusal naming --rlimit-nofile", err)
		}
	})
}

// TestRootlessReport: the report says how the ids were mapped and what
// enforced each limit.
func TestRootlessReport(t *testing.T) {
	needRootless(t)
	s := sh("exit 0")
	s.Limits = limits.DefaultLimits()
	s.Limits.CPUTime, s.Limits.WallTime, s.Limits.OutputLimit = 5e9, 10e9, 1<<20
	_, _, res := run(t, s)
	wantNS := IDMapSingle // the caller on the host's root
	if os.Getenv(EnvIDMap) == IDMapSubuid {
		wantNS = IDMapSubuid
	}
	if res.UserNamespace != wantNS {
		t.Errorf("user namespace %q, want %q", res.UserNamespace, wantNS)
	}
	want := Enforcement{"memory_bytes": ByNone, "pids": ByNone, "cpus": ByNone, "cpuset": ByNone, "io_weight": ByNone,
		"cpu_time_ms": BySupervisor, "wall_time_ms": BySupervisor, "output_limit_bytes": BySupervisor,
		"disk_bytes": ByTmpfs, "rlimits": ByRlimit}
	if diff := cmp.Diff(want, res.EnforcedBy); diff != "" {
		t.Errorf("enforced_by (-want +got):\n%s", diff)
	}
	if res.CPU <= 0 {
		t.Errorf("cpu %v, want the run's CPU time from rusage or the cgroup", res.CPU)
	}
	if _, err := limits.FindDelegation(); err != nil && res.CgroupVersion != 0 {
		t.Errorf("cgroup version %d without a delegation, want 0", res.CgroupVersion)
	}
}

// TestRootlessIdentity: the caller is itself inside, or root with --user 0,
// and files it owns on the host are its own inside.
func TestRootlessIdentity(t *testing.T) {
	needRootless(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine"), []byte("x"), 0o600)
	for _, tt := range []struct {
		name string
		user *User
		want string
	}{
		{"caller", nil, strings.Join([]string{itoa(os.Getuid()), itoa(os.Getgid()), itoa(os.Getuid())}, " ") + "\n"},
		{"root inside", &User{UID: 0, GID: 0}, "0 0 0\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := sh(`echo $(id -u) $(id -g) $(stat -c %u ` + dir + `/mine)`)
			s.User = tt.user
			s.Mounts = []Mount{{Type: MountBind, Source: dir, Destination: dir}}
			out, errs, res := run(t, s)
			if out != tt.want || res.Status != StatusOK {
				t.Errorf("%s: %q (stderr %q), want %q", res.Status, out, errs, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPlanUserNS(t *testing.T) {
	r := &subRange{100000, 65536}
	tests := []struct {
		name     string
		uid, gid uint32
		sub      *subRange
		force    string
		want     []idRange // uid map; the gid map is alike here
		err      string
	}{
		{"single, the caller", 1000, 1000, nil, "", []idRange{{1000, 1000, 1}}, ""},
		{"single, root inside", 0, 0, nil, "", []idRange{{0, 1000, 1}}, ""},
		{"single, another id", 65534, 65534, nil, "", nil, "--user 65534:65534: not mapped"},
		{"forced single", 1000, 1000, r, IDMapSingle, []idRange{{1000, 1000, 1}}, ""},
		{"range, the caller", 1000, 1000, r, "", []idRange{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}}, ""},
		{"range, root inside", 0, 0, r, "", []idRange{{0, 1000, 1}, {1, 100000, 65536}}, ""},
		{"range, nobody", 65534, 65534, r, "", []idRange{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}}, ""},
		{"range below the caller", 70000, 70000, &subRange{100000, 1000}, "", nil, "not mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := planUserNS(1000, 1000, tt.uid, tt.gid, tt.sub, tt.sub, tt.force)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrUnsupported) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ns.UIDMap); diff != "" {
				t.Errorf("uid map (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, ns.GIDMap); diff != "" {
				t.Errorf("gid map (-want +got):\n%s", diff)
			}
			if host, ok := outside(ns.UIDMap, tt.uid); !ok || (tt.uid == 1000 || tt.uid == 0) && host != 1000 {
				t.Errorf("uid %d inside is %d outside (%v), want the caller", tt.uid, host, ok)
			}
		})
	}
}

func TestParseSubIDs(t *testing.T) {
	text := "# comment\nalice:100000:65536\n1001:200000:0\n1001:300000:1000\nbob:x:1\n"
	tests := []struct {
		name string
		id   uint32
		want *subRange
	}{
		{"alice", 1000, &subRange{100000, 65536}},
		{"carol", 1001, &subRange{300000, 1000}}, // by uid, empty range skipped
		{"bob", 1002, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parseSubIDs(text, tt.name, tt.id)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestSplitHostRoot: a rootless root is the host's entries; directories
// the caller has nothing of bound read-only with the mounts below them,
// unless a kernel view is among them: then entered, the view left empty;
// replaced paths out.
func TestSplitHostRoot(t *testing.T) {
	ms := []hostMount{{"/", "ext4"}, {"/proc", "proc"}, {"/usr/local/x", "tmpfs"}, {"/boot/efi", "securityfs"}}
	entries, err := splitHostRoot(ms, "/run/sandbox", 12345)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, e := range entries {
		kinds[e.Path] = e.Kind
	}
	for p, want := range map[string]string{"/etc": entryRO, "/usr": entryRO, "/usr/bin": "", "/var": entryRO, "/proc": "", "/tmp": ""} {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if kinds[p] != want {
			t.Errorf("%s: kind %q, want %q", p, kinds[p], want)
		}
	}
	if fi, err := os.Lstat("/boot"); err == nil && fi.IsDir() {
		if _, err := os.Lstat("/boot/efi"); err == nil && kinds["/boot/efi"] != entryDir {
			t.Errorf("/boot/efi, a kernel view's mount point: kind %q, want %q", kinds["/boot/efi"], entryDir)
		}
	}
	// A directory of the caller's is layered.
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "mine"), 0o755)
	if !writable(home, os.Geteuid()) {
		t.Errorf("%s, with a directory of the caller's in it: not layered", home)
	}
	if fi, err := os.Lstat("/bin"); err == nil && fi.Mode()&os.ModeSymlink != 0 && kinds["/bin"] != entrySymlink {
		t.Errorf("/bin: kind %q, want %q", kinds["/bin"], entrySymlink)
	}
}

// TestUserNSRefused: where the host forbids unprivileged user namespaces,
// the error says which knob and how to turn it.
func TestUserNSRefused(t *testing.T) {
	tests := []struct {
		name    string
		sysctls map[string]string
		want    string
	}{
		{"AppArmor", map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}, "contrib/apparmor/sandbox"},
		{"Debian's knob", map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0"}, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"no user namespaces", map[string]string{"/proc/sys/user/max_user_namespaces": "0"}, "user.max_user_namespaces=0"},
		{"allowed", map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := userNSRefusedBy(unix.EACCES, func(p string) string { return tt.sysctls[p] })
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no explanation", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUnsupported)):
				t.Errorf("got %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestCheckUserNSOverlay(t *testing.T) {
	for rel, ok := range map[string]bool{"5.10.0-28-amd64": false, "4.19.0": false, "5.11.0": true, "6.1.0-57-amd64": true, "6.18.44-fc": true} {
		err := checkUserNSOverlayOn(rel)
		if ok != (err == nil) || err != nil && (!strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), "5.11") || !errors.Is(err, ErrUnsupported)) {
			t.Errorf("kernel %s: %v", rel, err)
		}
	}
}
