// Package hermeticmain is a fixture: a package whose tests become hermetic
// with sandboxtest.Main. sandboxtest's TestMainHelper builds its test
// binary, runs it, and reads what it printed ("FACT key=value").
package hermeticmain

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox/sandboxtest"
)

var (
	written = flag.String("write", "", "a file under /tmp to write")
	fail    = flag.Bool("fail", false, "make TestFails fail")
	hang    = flag.Bool("hang", false, "make TestHangs hang")
)

func TestMain(m *testing.M) { sandboxtest.Main(m) }

func TestFacts(t *testing.T) {
	host, _ := os.Hostname()
	fmt.Printf("FACT hostname=%s\nFACT pid=%d\nFACT sandboxed=%v\nFACT secret=%s\n",
		host, os.Getpid(), sandboxtest.Sandboxed(), os.Getenv("SANDBOXTEST_SECRET"))
	if *written != "" {
		if err := os.WriteFile(*written, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNeedsSandbox(t *testing.T) {
	sandboxtest.RequireSandboxed(t)
	fmt.Println("FACT required=ran")
}

func TestFails(t *testing.T) {
	if *fail {
		t.Fatal("asked to fail")
	}
}

func TestHangs(t *testing.T) {
	if *hang {
		fmt.Println("FACT hanging=yes")
		select {}
	}
}
