// Package hermetic is a fixture: a test suite that does what real ones do
// (writes files, uses /tmp, starts processes, tries the network) and prints
// what it saw as "FACT key=value" lines. cmd/sandbox's TestSuites runs it
// natively and under `go test -exec 'sandbox exec --'` and compares. It
// reads suite.conf (port=, tag=) from its directory, written by that test.
package hermetic

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func fact(k string, v any) { fmt.Printf("FACT %s=%v\n", k, v) }

func conf(t *testing.T, key string) string {
	f, err := os.Open("suite.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	t.Fatalf("suite.conf: no %s", key)
	return ""
}

func TestHermeticWrites(t *testing.T) {
	tag := conf(t, "tag")
	for _, p := range []string{"written-by-go-" + tag, "/tmp/suite-" + tag + "-go", filepath.Join(t.TempDir(), "x")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fact("wrote", "ok")
}

func TestHermeticProcess(t *testing.T) {
	out, err := exec.Command("sh", "-c", "echo child").Output()
	if err != nil {
		t.Fatal(err)
	}
	fact("child", strings.TrimSpace(string(out)))
	fact("pid", os.Getpid())
}

func TestHermeticNetwork(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+conf(t, "port"), 2*time.Second)
	if err == nil {
		c.Close()
		fact("host-listener", "reached")
	} else {
		fact("host-listener", "refused")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	fact("loopback", "ok")
}

func TestHermeticEnv(t *testing.T) {
	var keys []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fact("env", strings.Join(keys, ","))
}

func TestFails(t *testing.T) { t.Error("this test fails") }

func TestExits(t *testing.T) { os.Exit(3) }

// TestHangs hangs with SIGQUIT ignored, as a wedged test can: only a
// SIGKILL ends it.
func TestHangs(t *testing.T) {
	signal.Ignore(syscall.SIGQUIT)
	fact("hanging", os.Getpid())
	select {}
}
