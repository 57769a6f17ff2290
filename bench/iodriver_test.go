package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunIO(t *testing.T) {
	dir := t.TempDir()
	for _, job := range []IOJob{
		{Mode: IOSeqWrite, Dir: dir, Size: 3<<20 + 100},
		{Mode: IORandRW, Dir: dir, Size: 1 << 20, Duration: 20 * time.Millisecond},
	} {
		res, err := RunIO(job)
		if err != nil {
			t.Fatalf("%s: %v", job.Mode, err)
		}
		if res.Ops == 0 || res.Bytes == 0 || res.Seconds <= 0 || res.MiBps <= 0 || res.IOPS <= 0 {
			t.Errorf("%s: %+v, want every number positive", job.Mode, res)
		}
		if job.Mode == IOSeqWrite && (res.Bytes != job.Size || res.Ops != 4) {
			t.Errorf("seqwrite: %d bytes in %d writes, want %d in 4", res.Bytes, res.Ops, job.Size)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("driver left files: %v", entries)
	}
	if _, err := RunIO(IOJob{Mode: "sideways", Dir: dir}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestIODriverMain(t *testing.T) {
	var out, errb bytes.Buffer
	code := IODriverMain([]string{"--mode", "seqwrite", "--dir", t.TempDir(), "--size", "1M"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res IOResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Bytes != 1<<20 {
		t.Errorf("output %q: %v, want a result of 1 MiB", out.String(), err)
	}
	if code := IODriverMain([]string{"--size", "lots"}, &out, &errb); code != 2 {
		t.Errorf("bad size: exit %d, want 2", code)
	}
}

func TestParseFio(t *testing.T) {
	tests := []struct {
		file, mode string
		want       IOResult
	}{
		{"fio-seqwrite.json", IOSeqWrite, IOResult{Mode: IOSeqWrite, Bytes: 134217728, Ops: 128, Seconds: 0.077, MiBps: 1641.025640487671, IOPS: 1641.025641}},
		{"fio-randrw.json", IORandRW, IOResult{Mode: IORandRW, Bytes: 104951808, Ops: 25623, Seconds: 1, MiBps: 99.98985290527344, IOPS: 25597.402597}},
	}
	for _, tt := range tests {
		b, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		// fio prints notes before its JSON at times.
		got, err := parseFio(tt.mode, append([]byte("note: both iodepth >= 1 and synchronous I/O engine are selected\n"), b...))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.file, diff)
		}
	}
	if _, err := parseFio(IOSeqWrite, []byte(`{"jobs": []}`)); err == nil {
		t.Error("no jobs accepted")
	}
}

func TestFioArgs(t *testing.T) {
	got := fioArgs(IOJob{Mode: IORandRW, Dir: "/d", Size: 1 << 20, Duration: 1500 * time.Millisecond})
	want := []string{"--name=randrw", "--directory=/d", "--ioengine=psync", "--unlink=1", "--output-format=json",
		"--size=1048576", "--rw=randrw", "--rwmixread=50", "--bs=4k", "--time_based", "--runtime=1500ms"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fio args (-want +got):\n%s", diff)
	}
}
