package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sandbox-dev/sandbox/oci"
	"golang.org/x/sys/unix"
)

// ociFailure is the exit status of a failed command: the runner's own
// failure, as everywhere in sandbox (engines look for non-zero).
const ociFailure = 125

func init() {
	commands["oci"] = &command{
		summary: "the runner as an OCI runtime, runc's command line (also as sandbox-oci)",
		usage:   text(ociUsage),
		run:     runOCI,
	}
}

const ociUsage = `Usage: sandbox oci [global options] COMMAND [options] ID
       sandbox-oci [global options] COMMAND [options] ID   (a link to sandbox by that name)

The runner as an OCI runtime, with runc's command line, for podman
(--runtime), containerd (the runc shim's BinaryName) and Kubernetes (a
RuntimeClass): each container is a sandbox. See docs/oci.md.

Global options:
  --root DIR           container state (default /run/sandbox-oci)
  --log FILE           where errors go, besides stderr
  --log-format FORMAT  text (default) or json: one object a line, as containerd reads them
  --debug              log debug lines too
  --systemd-cgroup     refused: cgroupsPath must be a cgroupfs path

Commands:
  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] ID
  start ID             let the created container's process run
  run [create's options] [--detach] ID
  state ID             the runtime-spec state, as JSON
  kill ID [SIGNAL] [--all]
  delete [--force] ID
  list [--format table|json] [--quiet]
  ps [--format table|json] ID
  pause ID, resume ID  freeze and thaw every process of the container
  exec [--process FILE | --cwd D --env K=V --user UID[:GID] --cap CAP --tty] [--detach] [--pid-file F]
       [--console-socket S] [--preserve-fds N] ID [ARGS...]
                       run a process in the running container
  features             what this runtime supports, as JSON
  --version
`

// ociGlobal are runc's global options.
type ociGlobal struct {
	root, log, logFormat string
	debug                bool
}

// ociFlags says which options of a command take a value; the rest are
// switches. Options may come before or after the id, as runc takes them.
var ociFlags = map[string]map[string]bool{
	"create":   {"bundle": true, "b": true, "pid-file": true, "console-socket": true, "preserve-fds": true, "no-pivot": false, "no-new-keyring": false},
	"run":      {"bundle": true, "b": true, "pid-file": true, "console-socket": true, "preserve-fds": true, "no-pivot": false, "no-new-keyring": false, "detach": false, "d": false, "keep": false},
	"start":    {},
	"state":    {},
	"kill":     {"all": false, "a": false},
	"delete":   {"force": false, "f": false},
	"list":     {"format": true, "f": true, "quiet": false, "q": false},
	"ps":       {"format": true, "f": true},
	"features": {},
	"pause":    {},
	"resume":   {},
	"exec": {"process": true, "p": true, "detach": false, "d": false, "pid-file": true, "tty": false, "t": false,
		"console-socket": true, "cwd": true, "env": true, "e": true, "user": true, "u": true, "cap": true, "c": true,
		"no-new-privs": false, "preserve-fds": true, "additional-gids": true, "g": true, "process-label": true, "apparmor": true},
}

// repeatable options collect every value given, NUL-separated.
var repeatable = map[string]bool{"env": true, "cap": true}

// parseOCIArgs splits a command's arguments into options and the rest.
func parseOCIArgs(cmd string, args []string) (map[string]string, []string, error) {
	known := ociFlags[cmd]
	opts, rest := map[string]string{}, []string(nil)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := known[name]
		if !ok {
			return nil, nil, fmt.Errorf("%s: unknown option %s", cmd, a)
		}
		if takes && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("%s: option %s needs a value", cmd, a)
			}
			i++
			val = args[i]
		}
		if !takes && !hasVal {
			val = "true"
		}
		// One name for each option: the long one.
		switch name {
		case "p":
			name = "process"
		case "t":
			name = "tty"
		case "u":
			name = "user"
		case "e":
			name = "env"
		case "c":
			name = "cap"
		case "g":
			name = "additional-gids"
		case "b":
			name = "bundle"
		case "d":
			name = "detach"
		case "a":
			name = "all"
		case "f":
			if cmd == "delete" {
				name = "force"
			} else {
				name = "format"
			}
		case "q":
			name = "quiet"
		}
		if prev, ok := opts[name]; ok && repeatable[name] {
			val = prev + "\x00" + val
		}
		opts[name] = val
	}
	return opts, rest, nil
}

func runOCI(args []string, io stdio) int {
	g := ociGlobal{root: oci.DefaultRoot, logFormat: "text"}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value := func() (string, bool) {
			if hasVal {
				return val, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		var ok bool
		switch name {
		case "h", "help":
			fmt.Fprint(io.out, ociUsage)
			return 0
		case "v", "version":
			fmt.Fprintf(io.out, "sandbox-oci version %s\nspec: %s\n", version, oci.Version)
			return 0
		case "root":
			g.root, ok = value()
		case "log":
			g.log, ok = value()
		case "log-format":
			g.logFormat, ok = value()
			if g.logFormat != "text" && g.logFormat != "json" {
				return ociFail(g, io, fmt.Errorf("--log-format %q: want text or json", g.logFormat), exitUsage)
			}
		case "debug":
			g.debug, ok = true, true
		case "systemd-cgroup":
			return ociFail(g, io, fmt.Errorf("--systemd-cgroup: %w: cgroupsPath must be a cgroupfs path", oci.ErrUnsupported), ociFailure)
		case "rootless":
			// runc's "auto" or "false" is what root gets anyway; "true" is not.
			v, _ := value()
			if v == "true" {
				return ociFail(g, io, fmt.Errorf("--rootless true: %w", oci.ErrUnsupported), ociFailure)
			}
			ok = true
		default:
			return ociFail(g, io, fmt.Errorf("unknown global option %s", a), exitUsage)
		}
		if !ok {
			return ociFail(g, io, fmt.Errorf("option %s needs a value", a), exitUsage)
		}
	}
	if i >= len(args) {
		fmt.Fprint(io.err, ociUsage)
		return exitUsage
	}
	cmd := args[i]
	if _, known := ociFlags[cmd]; !known {
		return ociFail(g, io, fmt.Errorf("unknown command %q", cmd), exitUsage)
	}
	opts, rest, err := parseOCIArgs(cmd, args[i+1:])
	if err != nil {
		return ociFail(g, io, err, exitUsage)
	}
	if g.debug {
		ociLog(g, "debug", fmt.Sprintf("%s %q", cmd, args[i+1:]))
	}
	needID := func() (string, error) {
		if len(rest) < 1 {
			return "", fmt.Errorf("%s: %w: no container id given", cmd, oci.ErrInvalid)
		}
		return rest[0], nil
	}
	code, err := ociCommand(g, io, cmd, opts, rest, needID)
	if err != nil {
		return ociFail(g, io, err, ociFailure)
	}
	return code
}

func ociCommand(g ociGlobal, io stdio, cmd string, opts map[string]string, rest []string, needID func() (string, error)) (int, error) {
	switch cmd {
	case "features":
		return 0, ociJSON(io.out, ociFeatures())
	case "list":
		return ociList(g, io, opts)
	}
	id, err := needID()
	if err != nil {
		return 0, err
	}
	switch cmd {
	case "create", "run":
		o := oci.CreateOptions{Root: g.root, ID: id, Bundle: opts["bundle"], PidFile: opts["pid-file"],
			ConsoleSocket: opts["console-socket"], Warn: func(w string) { ociLog(g, "warning", w) }}
		if o.Bundle == "" {
			o.Bundle = "."
		}
		if v, ok := opts["preserve-fds"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("--preserve-fds %q: %w: want a count", v, oci.ErrInvalid)
			}
			o.PreserveFDs = n
		}
		if cmd == "create" {
			return 0, oci.Create(o)
		}
		return oci.Run(o, opts["detach"] == "true")
	case "start":
		return 0, oci.Start(g.root, id)
	case "state":
		r, err := oci.Load(g.root, id)
		if err != nil {
			return 0, err
		}
		return 0, ociJSON(io.out, r.State())
	case "kill":
		sig := unix.SIGTERM
		if len(rest) > 1 {
			s, err := parseSignal(rest[1])
			if err != nil {
				return 0, err
			}
			sig = s
		}
		return 0, oci.Kill(g.root, id, sig, opts["all"] == "true")
	case "delete":
		return 0, oci.Delete(g.root, id, opts["force"] == "true")
	case "ps":
		pids, err := oci.Pids(g.root, id)
		if err != nil {
			return 0, err
		}
		if opts["format"] == "json" {
			if pids == nil {
				pids = []int{}
			}
			return 0, ociJSON(io.out, pids)
		}
		fmt.Fprintln(io.out, "PID")
		for _, p := range pids {
			fmt.Fprintln(io.out, p)
		}
		return 0, nil
	case "exec":
		return ociExec(g, id, opts, rest[1:])
	case "pause":
		return 0, oci.Pause(g.root, id)
	case "resume":
		return 0, oci.Resume(g.root, id)
	}
	return 0, fmt.Errorf("unknown command %q", cmd)
}

// ociExec runs runc exec's command line: process.json with --process, or
// the container's own process with ARGS and the options put in.
func ociExec(g ociGlobal, id string, opts map[string]string, args []string) (int, error) {
	o := oci.ExecOptions{Root: g.root, ID: id, Detach: opts["detach"] == "true", PidFile: opts["pid-file"],
		ConsoleSocket: opts["console-socket"]}
	if v, ok := opts["preserve-fds"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--preserve-fds %q: %w: want a count", v, oci.ErrInvalid)
		}
		o.PreserveFDs = n
	}
	for _, unsupported := range []string{"process-label", "apparmor", "additional-gids"} {
		if _, ok := opts[unsupported]; ok {
			return 0, fmt.Errorf("--%s: %w", unsupported, oci.ErrUnsupported)
		}
	}
	if f, ok := opts["process"]; ok {
		if len(args) > 0 {
			return 0, fmt.Errorf("exec: %w: --process and a command line both given", oci.ErrInvalid)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("reading --process: %w", err)
		}
		var pr specs.Process
		if err := json.Unmarshal(b, &pr); err != nil {
			return 0, fmt.Errorf("reading --process %s: %w: %w", f, oci.ErrInvalid, err)
		}
		o.Process = &pr
	} else {
		if len(args) == 0 {
			return 0, fmt.Errorf("exec: %w: no command given", oci.ErrInvalid)
		}
		pr, err := oci.ContainerProcess(g.root, id)
		if err != nil {
			return 0, err
		}
		pr.Args = args
		pr.Terminal = opts["tty"] == "true"
		if v := opts["cwd"]; v != "" {
			pr.Cwd = v
		}
		if v, ok := opts["env"]; ok {
			pr.Env = append(pr.Env, strings.Split(v, "\x00")...)
		}
		if v, ok := opts["user"]; ok {
			uid, gid, hasGid := strings.Cut(v, ":")
			u, err := strconv.ParseUint(uid, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("--user %q: %w: want UID[:GID]", v, oci.ErrInvalid)
			}
			pr.User = specs.User{UID: uint32(u)}
			if hasGid {
				gv, err := strconv.ParseUint(gid, 10, 32)
				if err != nil {
					return 0, fmt.Errorf("--user %q: %w: want UID[:GID]", v, oci.ErrInvalid)
				}
				pr.User.GID = uint32(gv)
			}
		}
		if v, ok := opts["cap"]; ok && pr.Capabilities != nil {
			for _, c := range strings.Split(v, "\x00") {
				pr.Capabilities.Bounding = append(pr.Capabilities.Bounding, c)
				pr.Capabilities.Effective = append(pr.Capabilities.Effective, c)
				pr.Capabilities.Permitted = append(pr.Capabilities.Permitted, c)
			}
		}
		o.Process = pr
	}
	return oci.Exec(o)
}

func ociList(g ociGlobal, io stdio, opts map[string]string) (int, error) {
	recs, err := oci.List(g.root)
	if err != nil {
		return 0, err
	}
	switch {
	case opts["quiet"] == "true":
		for _, r := range recs {
			fmt.Fprintln(io.out, r.ID)
		}
	case opts["format"] == "json":
		states := make([]any, 0, len(recs))
		for _, r := range recs {
			states = append(states, r.State())
		}
		return 0, ociJSON(io.out, states)
	case opts["format"] == "" || opts["format"] == "table":
		tw := tabwriter.NewWriter(io.out, 0, 8, 1, ' ', 0)
		fmt.Fprintln(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\troot\n", r.ID, r.Pid, r.Status, r.Bundle, r.Created.Format(time.RFC3339Nano))
		}
		tw.Flush()
	default:
		return 0, fmt.Errorf("--format %q: %w: want table or json", opts["format"], oci.ErrInvalid)
	}
	return 0, nil
}

// parseSignal takes a signal as runc does: "KILL", "SIGKILL" or "9".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("signal %q: %w: want a name (KILL, SIGTERM) or a number", s, oci.ErrInvalid)
}

func ociJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ociFail reports err as runc does: on stderr, and as an error line in
// the --log file, which containerd's shim reads its error from.
func ociFail(g ociGlobal, io stdio, err error, code int) int {
	fmt.Fprintf(io.err, "sandbox-oci: %v\n", err)
	ociLog(g, "error", err.Error())
	return code
}

// ociLog appends one line to the --log file.
func ociLog(g ociGlobal, level, msg string) {
	if g.log == "" {
		return
	}
	f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if g.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		f.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

// ociFeatures is the runtime-spec features document: what config.json
// may ask of this runtime (docs/oci.md says what each one does here).
func ociFeatures() any {
	type linux struct {
		Namespaces   []string       `json:"namespaces"`
		Capabilities []string       `json:"capabilities"`
		Cgroup       map[string]any `json:"cgroup"`
		Seccomp      map[string]any `json:"seccomp"`
		Apparmor     map[string]any `json:"apparmor"`
		Selinux      map[string]any `json:"selinux"`
	}
	return struct {
		OCIVersionMin string            `json:"ociVersionMin"`
		OCIVersionMax string            `json:"ociVersionMax"`
		Hooks         []string          `json:"hooks"`
		MountOptions  []string          `json:"mountOptions"`
		Linux         linux             `json:"linux"`
		Annotations   map[string]string `json:"annotations"`
	}{
		OCIVersionMin: "1.0.0", OCIVersionMax: oci.Version,
		Hooks:        []string{"prestart", "createRuntime", "poststart", "poststop"},
		MountOptions: []string{"bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "private", "rprivate", "relatime", "norelatime", "strictatime", "noatime", "nodiratime", "size", "mode"},
		Linux: linux{
			Namespaces:   []string{"pid", "mount", "ipc", "uts", "network", "cgroup"},
			Capabilities: ociCapNames(),
			Cgroup:       map[string]any{"v1": true, "v2": true, "systemd": false, "systemdUser": false},
			Seccomp: map[string]any{"enabled": true,
				"actions":   []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD"},
				"operators": []string{"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"},
				"archs":     []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}},
			Apparmor: map[string]any{"enabled": false},
			Selinux:  map[string]any{"enabled": false},
		},
		Annotations: map[string]string{oci.AnnotationReport: "run report path", oci.AnnotationCPUTime: "CPU time limit", oci.AnnotationWallTime: "wall time limit"},
	}
}

func ociCapNames() []string {
	names := []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
		"LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE",
		"SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
		"SYS_TTY_CONFIG", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
		"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}
	for i, n := range names {
		names[i] = "CAP_" + n
	}
	return names
}
