package isolate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

func TestMetaFromResult(t *testing.T) {
	used := sandbox.Result{CPU: 1234 * time.Millisecond, Wall: 2500 * time.Millisecond, MemoryPeak: 3 << 20,
		CSWVoluntary: 7, CSWForced: 2, Limits: limits.Limits{CPUTime: time.Second, WallTime: 5 * time.Second}}
	with := func(f func(r *sandbox.Result)) *sandbox.Result { r := used; f(&r); return &r }
	tests := []struct {
		name string
		res  *sandbox.Result
		cg   bool
		want string
	}{
		{"ok", with(func(r *sandbox.Result) { r.Status, r.CPU = sandbox.StatusOK, 500*time.Millisecond }), false,
			"time:0.500\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nexitcode:0\n"},
		{"ok-cg", with(func(r *sandbox.Result) { r.Status, r.CPU = sandbox.StatusOK, 500*time.Millisecond }), true,
			"time:0.500\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\ncg-mem:3072\nexitcode:0\n"},
		{"re", with(func(r *sandbox.Result) { r.Status, r.ExitCode, r.CPU = sandbox.StatusRuntime, 3, 0 }), false,
			"time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nexitcode:3\nstatus:RE\nmessage:Exited with error status 3\n"},
		{"sg", with(func(r *sandbox.Result) { r.Status, r.ExitCode, r.Signal, r.CPU = sandbox.StatusSignal, -1, 11, 0 }), false,
			"time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nexitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n"},
		{"to-cpu-killed", with(func(r *sandbox.Result) { r.Status, r.ExitCode, r.Signal = sandbox.StatusTime, -1, int(syscall.SIGKILL) }), false,
			"time:1.234\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nkilled:1\nstatus:TO\nmessage:Time limit exceeded\n"},
		{"to-cpu-ended-in-extra-time", with(func(r *sandbox.Result) { r.Status = sandbox.StatusTime }), false,
			"time:1.234\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nstatus:TO\nmessage:Time limit exceeded\n"},
		{"to-wall", with(func(r *sandbox.Result) {
			r.Status, r.Signal, r.CPU, r.Wall = sandbox.StatusTime, int(syscall.SIGKILL), 10*time.Millisecond, 5100*time.Millisecond
		}), false, "time:0.010\ntime-wall:5.100\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nkilled:1\nstatus:TO\nmessage:Time limit exceeded (wall clock)\n"},
		// CMS reads an OOM kill as SG with cg-oom-killed; the sandbox's ML is
		// isolate's signal.
		{"oom", with(func(r *sandbox.Result) {
			r.Status, r.ExitCode, r.Signal, r.OOMKilled, r.CPU = sandbox.StatusMemory, -1, 9, true, 0
		}), true, "time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\ncg-mem:3072\ncg-oom-killed:1\nexitsig:9\nstatus:SG\nmessage:Caught fatal signal 9\n"},
		// The supervisor's kill (memory and TCP buffers over the limit) is
		// no OOM kill, but a memory limit all the same.
		{"memory-by-the-supervisor", with(func(r *sandbox.Result) {
			r.Status, r.ExitCode, r.Signal, r.CPU = sandbox.StatusMemory, -1, 9, 0
		}), true, "time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\ncg-mem:3072\ncg-oom-killed:1\nexitsig:9\nstatus:SG\nmessage:Caught fatal signal 9\n"},
		// A shell that saw its child OOM-killed and exited 137 itself: RE,
		// with cg-oom-killed (Judge0 says NZEC, CMS a memory limit).
		{"oom-of-a-child", with(func(r *sandbox.Result) {
			r.Status, r.ExitCode, r.Signal, r.OOMKilled, r.CPU = sandbox.StatusMemory, 137, 0, true, 0
		}), true, "time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\ncg-mem:3072\ncg-oom-killed:1\nexitcode:137\nstatus:RE\nmessage:Exited with error status 137\n"},
		{"output-limit", with(func(r *sandbox.Result) { r.Status, r.ExitCode, r.Signal, r.CPU = sandbox.StatusOutput, -1, 9, 0 }), false,
			"time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nexitsig:9\nkilled:1\nstatus:SG\nmessage:Output limit exceeded\n"},
		{"exec-failed", with(func(r *sandbox.Result) {
			r.Status, r.ExitCode, r.Message, r.CPU = sandbox.StatusRuntime, 127, "exec ./sol: no such file or directory", 0
		}), false, "time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nstatus:XX\nmessage:execve(\"./sol\"): No such file or directory\n"},
		{"exit-127-of-its-own", with(func(r *sandbox.Result) {
			r.Status, r.ExitCode, r.Message, r.CPU = sandbox.StatusRuntime, 127, "exited with status 127", 0
		}), false, "time:0.000\ntime-wall:2.500\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\nexitcode:127\nstatus:RE\nmessage:Exited with error status 127\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			m := MetaFromResult(tt.res, tt.cg)
			if err := WriteMeta(&b, m); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("meta (-want +got):\n%s", diff)
			}
			wantExit := map[string]int{"": 0, "XX": 2}[m.Status]
			if m.Status != "" && m.Status != "XX" {
				wantExit = 1
			}
			if got := ExitStatus(m); got != wantExit {
				t.Errorf("ExitStatus = %d, want %d", got, wantExit)
			}
		})
	}
}

// A message never breaks the key:value form: CMS splits each line at its
// first colon and fails on a line without one.
func TestMetaMessageOneLine(t *testing.T) {
	var b bytes.Buffer
	WriteMeta(&b, &Meta{Status: MetaInternal, Message: "first\nsecond:\r\n third\x00"})
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !strings.Contains(line, ":") {
			t.Errorf("line %q has no colon", line)
		}
	}
	if !strings.HasSuffix(b.String(), "message:first second: third\n") {
		t.Errorf("meta %q", b.String())
	}
}

// WriteMetaFile replaces a planted symlink instead of writing through it,
// and keeps the owner of a file the caller made (Judge0 chowns it first).
func TestWriteMetaFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep\n"), 0o644)
	meta := filepath.Join(dir, "meta.txt")
	os.Symlink(victim, meta)
	if err := WriteMetaFile(meta, &Meta{Status: MetaSignal, ExitSig: 9}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Errorf("wrote through the symlink: victim now %q", b)
	}
	if fi, err := os.Lstat(meta); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("meta file: %v %v", fi, err)
	}
	if os.Geteuid() == 0 {
		os.Remove(meta)
		os.WriteFile(meta, nil, 0o644)
		os.Chown(meta, 4242, 4343)
		if err := WriteMetaFile(meta, &Meta{}); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(meta)
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("owner %d:%d, want the file's 4242:4343", st.Uid, st.Gid)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}
}
