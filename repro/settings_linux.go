package repro

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// buildSpec is what one build's variations make of its sandbox.Spec, before
// the layers are known.
type buildSpec struct {
	env        []string
	treePath   string // where the tree is mounted inside the sandbox
	user       *sandbox.User
	hostname   string
	domainname string
	cpuset     string
	umask      string
	prefix     []string // taskset and setarch before the build command, or nil
	reorder    bool     // the lower layer is the reordered copy
}

// settings applies the variations in vary (the rest at the control's
// settings) to the check's baseline.
func (c *checker) settings(vary set) buildSpec {
	b := buildSpec{treePath: c.source, hostname: sandbox.DefaultHostname, umask: controlUmask}
	env := slices.Clone(c.baseEnv)
	setenv := func(k, v string) { env = sandbox.SetEnv(env, k, v) }
	if vary[Environment] {
		setenv(captureEnvKey, captureEnvValue)
	}
	if vary[BuildPath] {
		b.treePath = c.variedPath
	}
	if vary[UserGroup] {
		u := c.userGroup
		b.user = &u
	}
	if vary[Home] {
		setenv("HOME", variedHome)
	}
	if vary[DomainHost] {
		b.hostname, b.domainname = variedHostname, variedDomain
	}
	if vary[Locales] {
		setenv("LANG", c.host.locale)
		setenv("LC_ALL", c.host.locale)
		setenv("LANGUAGE", c.host.locale+":fr")
	}
	if vary[ExecPath] {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				setenv("PATH", v+":"+variedPathDir)
			}
		}
	}
	if vary[Timezone] {
		setenv("TZ", variedTZ)
	}
	if vary[Umask] {
		b.umask = variedUmask
	}
	if vary[NumCPUs] {
		if c.host.taskset != "" {
			b.prefix = []string{c.host.taskset, "--cpu-list", strconv.Itoa(c.host.cpus[0])}
		} else {
			b.cpuset = strconv.Itoa(c.host.cpus[0])
		}
	}
	b.reorder = vary[FileOrdering]
	if c.on[Time] {
		// Every build's clock is faked when time varies at all, so the
		// builds that do not vary it agree to the second.
		start := time.Unix(c.epoch, 0).UTC()
		if vary[Time] {
			start = start.Add(timeShift)
		}
		setenv("LD_PRELOAD", c.host.faketime)
		setenv("FAKETIME", "@"+start.Format("2006-01-02 15:04:05"))
		// File times stay the kernel's (make compares them), and so do
		// the monotonic clocks timeouts are measured by. Each process's
		// clock starts at the start time again (no FAKETIME_DONT_RESET):
		// what a compiler stamps then does not depend on how long the
		// build took to reach it, so two builds that do not vary time
		// agree to the second.
		setenv("NO_FAKE_STAT", "1")
		setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
	}
	if c.host.setarch != "" && (c.on[Kernel] || c.on[ASLR]) {
		arch := c.host.machine
		var opts []string
		if vary[Kernel] {
			arch = "linux32"
			opts = append(opts, "--uname-2.6")
		}
		if c.on[ASLR] && !vary[ASLR] {
			opts = append(opts, "-R")
		}
		b.prefix = append(append(b.prefix, c.host.setarch, arch), opts...)
	}
	b.env = env
	return b
}

// seccompPolicy is the default filter, plus the personality that setarch
// -R sets (address randomisation off, with or without linux32 and
// UNAME26): the aslr variation's control needs it.
func seccompPolicy() *sandbox.Seccomp {
	p := sandbox.DefaultSeccomp()
	const addrNoRandomize = 0x0040000
	var extra []sandbox.SeccompRule
	for _, pers := range []uint64{0, 0x0008, 0x20000, 0x20008} {
		extra = append(extra, sandbox.SeccompRule{Action: "allow", Names: []string{"personality"},
			Args: []sandbox.SeccompArg{{Index: 0, Op: "eq", Value: pers | addrNoRandomize}}})
	}
	p.Rules = append(extra, p.Rules...)
	return p
}
