package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/fixtures"
	"github.com/sandbox-dev/sandbox/oci"
	"golang.org/x/sys/unix"
)

// TestOCIInPodman runs podman from Debian with --runtime pointing at a
// sandbox-oci link, on a busybox image imported here (no registry), as a
// user would: each podman flag of the acceptance list, asserted.
func TestOCIInPodman(t *testing.T) {
	podman := needPodman(t)
	if _, err := exec.LookPath("conmon"); err != nil {
		t.Skip("conmon is not installed (podman's dependency)")
	}
	base := t.TempDir()
	bin := filepath.Join(base, "sandbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	link := filepath.Join(base, "sandbox-oci")
	if err := os.Symlink("sandbox", link); err != nil {
		t.Fatal(err)
	}
	// The runtime's default state root: podman passes --runtime-flag to
	// create and start, but not to the delete of its cleanup process.
	state := oci.DefaultRoot
	global := []string{"--root", filepath.Join(base, "storage"), "--runroot", filepath.Join(base, "run"),
		"--tmpdir", filepath.Join(base, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", link}
	var ids []string // every container's, to look for in the state root at the end
	os.MkdirAll(filepath.Join(base, "tmp"), 0o700)
	cgParent := fmt.Sprintf("/sandbox-test-oci-%d", os.Getpid())
	t.Cleanup(func() {
		exec.Command(podman, append(global, "rm", "--all", "--force", "--time", "0")...).Run()
		for _, m := range mountsUnder(base) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		for _, h := range cgroupHierarchies() {
			removeCgroupTree(filepath.Join(h, cgParent))
		}
	})
	root := fixtures.Busybox(t)
	tarball := filepath.Join(base, "busybox.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("packing the image: %v\n%s", err, out)
	}
	const image = "localhost/sandbox-test-oci-busybox"
	if out, err := exec.Command(podman, append(global, "import", tarball, image)...).CombinedOutput(); err != nil {
		t.Fatalf("importing the image: %v\n%s", err, out)
	}
	vol := filepath.Join(base, "vol")
	os.MkdirAll(vol, 0o755)
	os.WriteFile(filepath.Join(vol, "in"), []byte("from the host\n"), 0o644)

	common := []string{"--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--cgroup-parent", cgParent}
	// conmon writes its "oom" file into its working directory, which is
	// podman's: keep it out of the package directory.
	cwd := filepath.Join(base, "cwd")
	os.MkdirAll(cwd, 0o755)
	podmanIn := func(dir string, args ...string) (string, string, int) {
		cmd := exec.Command(podman, append(append([]string(nil), global...), args...)...)
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	podmanRun := func(args ...string) (string, string, int) { return podmanIn(cwd, args...) }
	run := func(flags []string, cmd ...string) (string, string, int) {
		id := fmt.Sprintf("sandbox-test-oci-%d-%d", os.Getpid(), len(ids))
		ids = append(ids, id)
		args := append(append(append([]string{"run", "--rm", "--name", id}, common...), flags...), image)
		return podmanRun(append(args, cmd...)...)
	}

	tests := []struct {
		name     string
		flags    []string
		cmd      []string
		want     string
		wantCode int
		stderr   string // a part of stderr, when set
	}{
		{"echo", nil, []string{"echo", "hello"}, "hello\n", 0, ""},
		{"exit status", nil, []string{"sh", "-c", "exit 3"}, "", 3, ""},
		{"not found", nil, []string{"/no/such"}, "", 127, ""},
		{"env", []string{"-e", "FOO=bar"}, []string{"sh", "-c", "echo $FOO"}, "bar\n", 0, ""},
		{"workdir", []string{"-w", "/tmp"}, []string{"pwd"}, "/tmp\n", 0, ""},
		{"volume", []string{"-v", vol + ":/data"}, []string{"sh", "-c", "cat /data/in; echo out > /data/out"}, "from the host\n", 0, ""},
		{"user", []string{"--user", "1000:1001"}, []string{"sh", "-c", "id -u; id -g"}, "1000\n1001\n", 0, ""},
		{"read-only", []string{"--read-only"}, []string{"sh", "-c", "touch /x 2>/dev/null || echo ro; touch /tmp/y && echo tmp"}, "ro\ntmp\n", 0, ""},
		{"memory OOM", []string{"--memory", "32m"}, []string{"sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"}, "", 137, ""},
		{"pids limit", []string{"--pids-limit", "8"}, []string{"sh", "-c", "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done; echo spawned"}, "", 2, "can't fork"},
		{"network none", nil, []string{"sh", "-c", "grep -c : /proc/net/dev; cat /sys/class/net/lo/operstate"}, "1\nunknown\n", 0, ""},
		{"cap-drop all", []string{"--cap-drop", "all"}, []string{"grep", "CapEff", "/proc/self/status"}, "CapEff:\t0000000000000000\n", 0, ""},
		{"cap-add", []string{"--cap-drop", "all", "--cap-add", "net_raw"}, []string{"grep", "CapEff", "/proc/self/status"}, "CapEff:\t0000000000002000\n", 0, ""},
		{"oom score", []string{"--oom-score-adj", "500"}, []string{"cat", "/proc/self/oom_score_adj"}, "500\n", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(tt.flags, tt.cmd...)
			if out != tt.want || code != tt.wantCode || !strings.Contains(errs, tt.stderr) {
				t.Errorf("podman run %q %q: exit status %d, stdout %q, stderr %q\nwant status %d, stdout %q, stderr with %q",
					tt.flags, tt.cmd, code, out, errs, tt.wantCode, tt.want, tt.stderr)
			}
		})
	}
	t.Run("OOM seen by conmon", func(t *testing.T) {
		// conmon watches the memory cgroup of the pid that create wrote
		// (cgroup.event_control) and, on an OOM, writes "oom" into its
		// working directory: podman's. Debian's podman 4.3 looks for it in
		// the bundle instead, so OOMKilled stays false there whatever the
		// runtime; runc's row shows that it is the engine, not this runtime.
		// The child offers itself to the OOM killer (oom_score_adj 1000,
		// which needs no privilege to raise): else, with the child killed
		// and its memory not yet reclaimed, a second OOM may take the
		// shell that was to report it. The shell then waits a little, for
		// conmon to read the OOM event before the container ends.
		bomb := []string{"sh", "-c", "sh -c 'echo 1000 > /proc/self/oom_score_adj; x=$(head -c 200000000 /dev/zero | tr \"\\0\" a)'; echo after $?; sleep 1"}
		oomKilled := map[string]string{}
		for _, rt := range []string{link, "runc"} {
			if _, err := exec.LookPath(rt); err != nil {
				continue
			}
			dir := t.TempDir()
			name := fmt.Sprintf("sandbox-test-oom-%d-%s", os.Getpid(), filepath.Base(rt))
			ids = append(ids, name)
			args := append(append([]string{"--runtime", rt, "run", "--name", name, "--memory", "32m"}, common...), image)
			out, errs, code := podmanIn(dir, append(args, bomb...)...)
			if out != "after 137\n" || code != 0 {
				t.Errorf("%s: a child killed by the OOM killer: exit status %d, %q %s; want after 137", rt, code, out, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "oom")); err != nil {
				t.Errorf("%s: conmon did not see the OOM (no oom file in its working directory): %v", rt, err)
			}
			got, _, _ := podmanIn(dir, "inspect", "--format", "{{.State.OOMKilled}}", name)
			oomKilled[filepath.Base(rt)] = strings.TrimSpace(got)
			podmanIn(dir, "rm", "--force", name)
		}
		if want, ok := oomKilled["runc"]; ok && oomKilled["sandbox-oci"] != want {
			t.Errorf("podman inspect's OOMKilled: %v; want runc's", oomKilled)
		}
	})
	if b, err := os.ReadFile(filepath.Join(vol, "out")); err != nil || string(b) != "out\n" {
		t.Errorf("the write to the volume: %q, %v", b, err)
	}

	t.Run("commit and diff", func(t *testing.T) {
		// The container's writes are in podman's container layer, as
		// under runc: podman diff shows them, podman commit keeps them.
		name := fmt.Sprintf("sandbox-test-commit-%d", os.Getpid())
		ids = append(ids, name)
		if _, errs, code := podmanRun(append(append([]string{"run", "--name", name}, common...), image, "sh", "-c", "echo kept > /kept")...); code != 0 {
			t.Fatalf("podman run: exit status %d, %s", code, errs)
		}
		defer podmanRun("rm", "--force", name)
		if out, errs, _ := podmanRun("diff", name); !strings.Contains(out, "A /kept") {
			t.Errorf("podman diff: %q %s; want A /kept", out, errs)
		}
		img := image + "-committed"
		if _, errs, code := podmanRun("commit", "--quiet", name, img); code != 0 {
			t.Fatalf("podman commit: exit status %d, %s", code, errs)
		}
		defer podmanRun("rmi", "--force", img)
		out, errs, code := podmanRun(append(append([]string{"run", "--rm"}, common...), img, "cat", "/kept")...)
		if out != "kept\n" || code != 0 {
			t.Errorf("the committed image: exit status %d, %q %s; want kept", code, out, errs)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		script, err := exec.LookPath("script")
		if err != nil {
			t.Skip("needs script(1) (util-linux) to give podman a terminal")
		}
		line := strings.Join(append(append([]string{podman}, global...), append(append([]string{"run", "--rm", "-it"}, common...),
			image, "sh", "-c", "'test -t 0 && test -t 1 && echo is-a-tty; sleep 0.2'")...), " ")
		// The sleep: output written just before the container's end is
		// sometimes lost on the way to conmon (seen 1 run in 2 under load:
		// empty output, exit 0), an open bug of the console path (issue
		// 17); what is tested here is that the process has a terminal.
		cmd := exec.Command(script, "-qec", line, "/dev/null")
		out, err := cmd.Output()
		if got := strings.NewReplacer("\x00", "", "^@", "", "\r", "").Replace(string(out)); got != "is-a-tty\n" || err != nil {
			t.Errorf("podman run -it: %q, %v; want %q", got, err, "is-a-tty\n")
		}
	})

	t.Run("detached, logs, exec, pause, stop, kill, rm", func(t *testing.T) {
		start := func() string {
			out, errs, code := podmanRun(append(append([]string{"run", "-d"}, common...), image, "sh", "-c", "echo started; exec sleep 100")...)
			if code != 0 {
				t.Fatalf("podman run -d: exit status %d, %s", code, errs)
			}
			ids = append(ids, strings.TrimSpace(out))
			return strings.TrimSpace(out)
		}
		waitLog := func(id, want string) {
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				out, _, _ := podmanRun("logs", id)
				if out == want {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("podman logs: %q, want %q", out, want)
				}
			}
		}
		exitCode := func(id string) string {
			out, _, _ := podmanRun("inspect", "--format", "{{.State.ExitCode}}", id)
			return strings.TrimSpace(out)
		}
		id := start()
		waitLog(id, "started\n")
		// The engine sees the container's process: its pid is the
		// sandbox's PID 1, conmon's child, and podman top lists what runs
		// in the container, nothing of the host's.
		out, errs, _ := podmanRun("inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}}", id)
		var pid, conmon int
		fmt.Sscan(out, &pid, &conmon)
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) != "sandbox-init\n" || fixtures.ParentOf(pid) != conmon || conmon == 0 {
			t.Errorf("podman's pid of the container %d (%q), its parent %d, conmon %d: want the sandbox's PID 1, conmon's child (%s)", pid, comm, fixtures.ParentOf(pid), conmon, errs)
		}
		if out, errs, code := podmanRun("top", id, "pid", "args"); code != 0 || !regexp.MustCompile(`(?m)^1 +sandbox-init *\n2 +sleep 100 *$`).MatchString(out) {
			t.Errorf("podman top: exit status %d, %q %s; want PID 1 and sleep 100 alone", code, out, errs)
		}
		// podman exec: conmon runs the runtime's exec detached and reaps
		// the process itself; it sees the container as its process does.
		for _, tt := range []struct {
			name string
			args []string
			want string
			code int
		}{
			{"sees the container", []string{id, "sh", "-c", "cat /proc/1/comm /proc/[0-9]*/comm | grep -c sleep; hostname"}, "1\n" + id[:12] + "\n", 0},
			{"exit status", []string{id, "sh", "-c", "exit 5"}, "", 5},
			{"env, workdir, user", []string{"-e", "X=1", "-w", "/tmp", "--user", "1000", id, "sh", "-c", "echo $X; pwd; id -u"}, "1\n/tmp\n1000\n", 0},
			{"not found", []string{id, "/no/such"}, "", 127},
		} {
			out, errs, code := podmanRun(append([]string{"exec"}, tt.args...)...)
			if out != tt.want || code != tt.code {
				t.Errorf("podman exec %s: exit status %d, stdout %q, stderr %q; want %d, %q", tt.name, code, out, errs, tt.code, tt.want)
			}
		}
		if script, err := exec.LookPath("script"); err == nil {
			line := strings.Join(append(append([]string{podman}, global...), "exec", "-it", id, "sh", "-c", "'test -t 0 && test -t 1 && echo is-a-tty; sleep 0.2'"), " ")
			out, err := exec.Command(script, "-qec", line, "/dev/null").Output()
			if got := strings.NewReplacer("\x00", "", "^@", "", "\r", "").Replace(string(out)); got != "is-a-tty\n" || err != nil {
				t.Errorf("podman exec -it: %q, %v; want %q", got, err, "is-a-tty\n")
			}
		}
		for _, verb := range []string{"pause", "unpause"} {
			if _, errs, code := podmanRun(verb, id); code != 0 {
				t.Errorf("podman %s: exit status %d, %s", verb, code, errs)
			}
		}
		if out, _, _ := podmanRun("inspect", "--format", "{{.State.Status}}", id); strings.TrimSpace(out) != "running" {
			t.Errorf("after pause and unpause: %q, want running", out)
		}
		if _, errs, code := podmanRun("stop", "--time", "5", id); code != 0 {
			t.Fatalf("podman stop: %d %s", code, errs)
		}
		if got := exitCode(id); got != "143" {
			t.Errorf("after podman stop: exit code %s, want 143 (SIGTERM)", got)
		}
		if _, errs, code := podmanRun("rm", id); code != 0 {
			t.Errorf("podman rm: %d %s", code, errs)
		}
		id = start()
		waitLog(id, "started\n")
		if _, errs, code := podmanRun("kill", id); code != 0 {
			t.Fatalf("podman kill: %d %s", code, errs)
		}
		podmanRun("wait", id)
		if got := exitCode(id); got != "137" {
			t.Errorf("after podman kill: exit code %s, want 137 (SIGKILL)", got)
		}
		id = start()
		if _, errs, code := podmanRun("rm", "--force", "--time", "0", id); code != 0 {
			t.Errorf("podman rm --force: %d %s", code, errs)
		}
		podmanRun("rm", "--all", "--force")
	})
	// Nothing of the containers is left in the runtime's state. (podman
	// names a container's runtime id after its own, not its --name.)
	out, _, _ := podmanRun("ps", "--all", "--quiet", "--no-trunc")
	if strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %s", out)
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(state, e.Name(), "state.json")); err == nil && strings.Contains(string(b), base) {
			t.Errorf("left in the runtime's state root: %s", e.Name())
		}
	}
}

// TestOCICommandLine: errors as containerd's shim reads them (a JSON line
// with level "error" in the --log file), the usage and exit statuses.
func TestOCICommandLine(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "log.json")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"state of none", []string{"oci", "--root", dir, "--log", logFile, "--log-format", "json", "state", "nosuch"}, 125,
			"sandbox-oci: container nosuch: container does not exist\n"},
		{"unknown command", []string{"oci", "--root", dir, "frobnicate", "x"}, 125, "sandbox-oci: unknown command \"frobnicate\"\n"},
		{"bad id", []string{"oci", "--root", dir, "state", "../x"}, 125,
			"sandbox-oci: container id \"../x\": invalid: want letters, digits, '_', '+', '-' and '.'\n"},
		{"systemd cgroup", []string{"oci", "--systemd-cgroup", "state", "x"}, 125,
			"sandbox-oci: --systemd-cgroup: not supported by this runtime: cgroupsPath must be a cgroupfs path\n"},
		{"exec", []string{"oci", "--root", dir, "exec", "--process", "p.json", "x"}, 125,
			"sandbox-oci: reading --process: open p.json: no such file or directory\n"},
		{"list empty", []string{"oci", "--root", dir, "list", "--format", "json"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runSandbox(t, "", tt.args...)
			if got.Exit != tt.code || got.Stderr != tt.stderr {
				t.Errorf("sandbox %q: exit status %d, stderr %q; want %d, %q", tt.args, got.Exit, got.Stderr, tt.code, tt.stderr)
			}
		})
	}
	golden(t, "oci-help", runSandbox(t, "", "oci", "--help").Stdout)
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]string
	if err := json.Unmarshal(bytes.TrimSpace(b), &line); err != nil || line["level"] != "error" || line["msg"] != "container nosuch: container does not exist" {
		t.Errorf("--log line %q (%v): want level error and the message", b, err)
	}
}

// TestOCIInContainerd runs containerd from Debian with a state, root and
// socket of the test's own, imports a busybox image made here (an OCI
// archive) and runs it with `ctr run --rm --runc-binary` pointed at the
// sandbox-oci link: containerd's runc shim calls it as it calls runc.
func TestOCIInContainerd(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds the binary and starts containerd: skipped with -short")
	}
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed (make deps installs it)")
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Skip("ctr is not installed (Debian's containerd package has it)")
	}
	if _, err := exec.LookPath("containerd-shim-runc-v2"); err != nil {
		t.Skip("containerd-shim-runc-v2 is not installed")
	}
	// Short paths: the socket's must fit in 107 bytes.
	base, err := os.MkdirTemp("", "sbctd-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "sandbox")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	link := filepath.Join(base, "sandbox-oci")
	os.Symlink("sandbox", link)
	sock := filepath.Join(base, "c.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(base, "root"), filepath.Join(base, "state"), sock, sock+".ttrpc")
	os.WriteFile(filepath.Join(base, "config.toml"), []byte(config), 0o644)
	daemon := exec.Command(containerd, "--config", filepath.Join(base, "config.toml"))
	var dlog bytes.Buffer
	daemon.Stdout, daemon.Stderr = &dlog, &dlog
	daemon.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	const ns = "sandbox-test"
	cgParent := fmt.Sprintf("/sandbox-test-ctr-%d", os.Getpid())
	ctrCmd := func(args ...string) *exec.Cmd {
		return exec.Command(ctr, append([]string{"--address", sock, "--namespace", ns}, args...)...)
	}
	t.Cleanup(func() {
		daemon.Process.Signal(unix.SIGTERM)
		done := make(chan struct{})
		go func() { daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			daemon.Process.Kill()
			<-done
		}
		for _, m := range mountsUnder(base) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		for _, h := range cgroupHierarchies() {
			removeCgroupTree(filepath.Join(h, cgParent))
		}
		os.RemoveAll(base)
		if t.Failed() {
			t.Logf("containerd's log:\n%s", dlog.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ctrCmd("version").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s:\n%s", sock, dlog.String())
		}
	}
	archive := filepath.Join(base, "busybox.oci.tar")
	const image = "localhost/sandbox-test-busybox:latest"
	if err := writeOCIArchive(archive, fixtures.Busybox(t), image); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrCmd("images", "import", "--snapshotter", "native", archive).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	tests := []struct {
		name string
		cmd  []string
		want string
		code int
	}{
		{"echo", []string{"echo", "hello"}, "hello\n", 0},
		{"exit status", []string{"sh", "-c", "exit 3"}, "", 3},
		{"pid 1's child", []string{"sh", "-c", "echo $$"}, "2\n", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("c%d", i)
			cmd := ctrCmd(append([]string{"run", "--rm", "--snapshotter", "native", "--runc-binary", link,
				"--cgroup", cgParent + "/" + id, image, id}, tt.cmd...)...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.Run()
			if got := out.String(); got != tt.want || cmd.ProcessState.ExitCode() != tt.code {
				t.Errorf("ctr run %q: exit status %d, stdout %q, stderr %q; want %d, %q", tt.cmd, cmd.ProcessState.ExitCode(), got, errb.String(), tt.code, tt.want)
			}
		})
	}
	if out, _ := ctrCmd("containers", "list", "--quiet").Output(); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("containers left: %s", out)
	}
}

// writeOCIArchive writes root as a one-layer OCI image archive (an image
// layout in a tar), named name, as ctr images import reads it.
func writeOCIArchive(path, root, name string) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), "layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	put := func(b []byte) (string, int64) {
		sum := fmt.Sprintf("%x", sha256.Sum256(b))
		os.WriteFile(filepath.Join(blobs, sum), b, 0o644)
		return "sha256:" + sum, int64(len(b))
	}
	layer, err := exec.Command("tar", "-C", root, "-cf", "-", ".").Output()
	if err != nil {
		return fmt.Errorf("packing the layer: %w", err)
	}
	layerDigest, layerSize := put(layer)
	cfg, _ := json.Marshal(map[string]any{"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}, "Env": []string{"PATH=/bin:/usr/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}}})
	cfgDigest, cfgSize := put(cfg)
	manifest, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": cfgSize},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}}})
	mDigest, mSize := put(manifest)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mDigest, "size": mSize,
		"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}}}})
	os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	if out, err := exec.Command("tar", "-C", dir, "-cf", path, "oci-layout", "index.json", "blobs").CombinedOutput(); err != nil {
		return fmt.Errorf("packing the archive: %v: %s", err, out)
	}
	return nil
}
