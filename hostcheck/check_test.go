package hostcheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeHost writes a host's files under a temporary root: files maps a
// path (relative, as under /) to its content.
func fakeHost(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A host of cgroup v2 with what a run needs.
func goodHost() map[string]string {
	return map[string]string{
		"proc/sys/kernel/osrelease":         "6.1.0-13-amd64\n",
		"proc/self/mountinfo":               "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
		"proc/self/cgroup":                  "0::/user.slice/user-1000.slice/user@1000.service/app.slice\n",
		"proc/filesystems":                  "nodev\ttmpfs\nnodev\toverlay\n",
		"proc/sys/user/max_user_namespaces": "15000\n",
		"sys/fs/cgroup/cgroup.controllers":  "cpuset cpu io memory pids\n",
		"sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/cgroup.controllers": "cpu memory pids\n",
		"etc/passwd":                        "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
		"etc/subuid":                        "u:100000:65536\n",
		"etc/subgid":                        "u:100000:65536\n",
		"usr/bin/newuidmap":                 "",
		"usr/bin/newgidmap":                 "",
		"sys/devices/system/cpu/smt/active": "0\n",
		"proc/swaps":                        "Filename\tType\tSize\tUsed\tPriority\n",
		"sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
		"proc/sys/kernel/randomize_va_space":         "0\n",
	}
}

func working() Probes {
	ok := func() error { return nil }
	return Probes{UserNS: ok, NetNS: ok, Overlay: ok, Cgroup: ok, Seccomp: ok, Pidfd: ok, Openat2: ok,
		IntoCgroup: ok, TimeNS: ok, KVM: ok, Run: ok}
}

func TestCheck(t *testing.T) {
	broken := func() error { return errors.New("broken") }
	tests := []struct {
		name       string
		uid        int
		change     map[string]string // files to add or replace ("" removes)
		probes     func(p *Probes)
		want       map[string]Status // checks whose status is not OK
		defaultRun bool
		fix        string // a fix one of the checks names
	}{
		{name: "everything", defaultRun: true, want: map[string]Status{}},
		{name: "rootless everything", uid: 1000, defaultRun: true, want: map[string]Status{}},
		{name: "old kernel", change: map[string]string{"proc/sys/kernel/osrelease": "5.4.0-100-generic"},
			want: map[string]Status{"kernel": Fail}, fix: "newer kernel"},
		{name: "no cgroup filesystem", change: map[string]string{"proc/self/mountinfo": "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"},
			want: map[string]Status{"cgroup": Fail, "clone-into-cgroup": OK}},
		{name: "v1 hybrid", change: map[string]string{"proc/self/mountinfo": "30 1 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
			"31 1 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n32 1 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n" +
			"33 1 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"},
			defaultRun: true, want: map[string]Status{}},
		{name: "controllers missing", change: map[string]string{"sys/fs/cgroup/cgroup.controllers": "memory\n"},
			defaultRun: true, want: map[string]Status{"cgroup": Warn}, fix: "subtree_control"},
		{name: "root cannot make a cgroup", probes: func(p *Probes) { p.Cgroup = broken },
			want: map[string]Status{"cgroup": Fail}},
		{name: "rootless without delegation", uid: 1000, probes: func(p *Probes) { p.Cgroup = broken },
			defaultRun: true, want: map[string]Status{"cgroup": Warn}, fix: "Delegate=yes"},
		{name: "user namespaces off", uid: 1000, change: map[string]string{"proc/sys/user/max_user_namespaces": "0"},
			want: map[string]Status{"user-namespace": Fail}, fix: "max_user_namespaces"},
		{name: "user namespaces off as root", change: map[string]string{"proc/sys/user/max_user_namespaces": "0"},
			defaultRun: true, want: map[string]Status{"user-namespace": Warn}},
		{name: "debian's switch", uid: 1000, change: map[string]string{"proc/sys/kernel/unprivileged_userns_clone": "0"},
			want: map[string]Status{"user-namespace": Fail}, fix: "unprivileged_userns_clone=1"},
		{name: "apparmor", uid: 1000, change: map[string]string{"proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"},
			probes: func(p *Probes) {
				p.UserNS = func() error { return errors.New("setting up uid map: permission denied") }
			},
			want: map[string]Status{"user-namespace": Fail}, fix: "apparmor_parser"},
		{name: "no subordinate ids", uid: 1000, change: map[string]string{"etc/subuid": "", "etc/subgid": ""},
			defaultRun: true, want: map[string]Status{"subordinate-ids": Warn}, fix: "usermod"},
		{name: "no newuidmap", uid: 1000, change: map[string]string{"usr/bin/newuidmap": ""},
			defaultRun: true, want: map[string]Status{"subordinate-ids": Warn}, fix: "apt-get install uidmap"},
		{name: "no overlayfs", change: map[string]string{"proc/filesystems": "nodev\ttmpfs\n"},
			want: map[string]Status{"overlayfs": Fail}, fix: "modprobe overlay"},
		{name: "rootless overlay on 5.10", uid: 1000, change: map[string]string{"proc/sys/kernel/osrelease": "5.10.0"},
			want: map[string]Status{"kernel": Fail, "overlayfs": Fail}},
		{name: "no seccomp", probes: func(p *Probes) { p.Seccomp = broken }, want: map[string]Status{"seccomp": Fail}},
		{name: "no pidfd", probes: func(p *Probes) { p.Pidfd = broken }, defaultRun: true, want: map[string]Status{"pidfd": Warn}},
		{name: "no time namespaces", probes: func(p *Probes) { p.TimeNS = broken }, defaultRun: true,
			want: map[string]Status{"time-namespace": Warn}},
		{name: "no kvm", probes: func(p *Probes) { p.KVM = broken }, defaultRun: true, want: map[string]Status{"kvm": Warn}},
		{name: "no clone into cgroup", probes: func(p *Probes) { p.IntoCgroup = broken }, defaultRun: true,
			want: map[string]Status{"clone-into-cgroup": Warn}},
		{name: "timing noise", defaultRun: true, change: map[string]string{
			"sys/devices/system/cpu/smt/active":                    "1",
			"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave",
			"sys/devices/system/cpu/intel_pstate/no_turbo":         "0",
			"proc/swaps": "Filename\tType\tSize\tUsed\tPriority\n/swap file 1 0 -2\n",
			"sys/kernel/mm/transparent_hugepage/enabled": "[always] madvise never",
			"proc/sys/kernel/randomize_va_space":         "2",
		}, want: map[string]Status{"smt": Warn, "cpufreq": Warn, "turbo": Warn, "swap": Warn, "transparent-hugepages": Warn, "aslr": Warn},
			fix: "randomize_va_space=0"},
		{name: "the run fails", probes: func(p *Probes) { p.Run = broken }, want: map[string]Status{"run": Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := goodHost()
			for p, s := range tt.change {
				files[p] = s
				if s == "" {
					delete(files, p)
				}
			}
			h := &Host{Root: fakeHost(t, files), UID: tt.uid, Probes: working()}
			if tt.probes != nil {
				tt.probes(&h.Probes)
			}
			r := h.Check()
			got := map[string]Status{}
			var fixes []string
			for _, c := range r.Checks {
				fixes = append(fixes, c.Fix)
				if _, named := tt.want[c.Name]; c.Status != OK || named {
					got[c.Name] = c.Status
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checks not OK (-want +got):\n%s\nreport: %+v", diff, r.Checks)
			}
			if r.DefaultRun != tt.defaultRun {
				t.Errorf("default run works: %v, want %v", r.DefaultRun, tt.defaultRun)
			}
			if tt.fix != "" && !strings.Contains(strings.Join(fixes, "\n"), tt.fix) {
				t.Errorf("no fix names %q: %q", tt.fix, fixes)
			}
		})
	}
}
