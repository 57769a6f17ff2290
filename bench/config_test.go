package bench

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.Defaults()
	if c.Budget != 6*time.Minute || c.MinN != 5 || c.MaxN != 300 || c.Idle != 100 || len(c.CloneSizes) != 2 || c.CloneSizes[1] != 1<<30 {
		t.Errorf("defaults: %+v", c)
	}
	s := Config{Smoke: true}.Defaults()
	if s.Budget >= c.Budget || s.Idle >= c.Idle || s.CloneSizes[1] >= c.CloneSizes[1] || s.MaxN >= c.MaxN {
		t.Errorf("smoke defaults are not smaller: %+v", s)
	}
	if w := (Config{Warmup: -1}).Defaults().Warmup; w != 0 {
		t.Errorf("negative warm-up: %d, want 0", w)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"scenarios", Config{Scenarios: []string{"startup", "io"}}, true},
		{"unknown-scenario", Config{Scenarios: []string{"startup", "boot"}}, false},
		{"io-driver", Config{IODriver: "dd"}, false},
		{"max-below-min", Config{MinN: 10, MaxN: 3}, false},
		{"concurrency", Config{Concurrency: []int{1, 0}}, false},
	}
	for _, tt := range tests {
		err := tt.c.Defaults().Validate()
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestWantsBackend(t *testing.T) {
	c := Config{Backends: []string{"bare", "podman*"}}
	for name, want := range map[string]bool{"bare": true, "podman-runc": true, "podman": true, "sandbox": false, "bareback": false} {
		if got := c.wantsBackend(name); got != want {
			t.Errorf("wantsBackend(%q) = %v, want %v", name, got, want)
		}
	}
	if !(Config{}).wantsBackend("anything") {
		t.Error("an empty filter must keep every backend")
	}
}

func TestSizeNames(t *testing.T) {
	for n, want := range map[int64]string{100 << 20: "100MB", 1 << 30: "1GB", 8 << 20: "8MB", 512 << 10: "512KB"} {
		if got := sizeName(n); got != want || groupBytes(got) != n {
			t.Errorf("sizeName(%d) = %q (back: %d), want %q", n, got, groupBytes(got), want)
		}
	}
}

func TestBaselines(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"main", filepath.Join(dir, "main.json"), true},
		{"v1.2+rc_3", filepath.Join(dir, "v1.2+rc_3.json"), true},
		{"ci/base.json", "ci/base.json", true},
		{"../x", "../x", true}, // a path, as given
		{"", "", false},
		{"-flag", "", false},
		{"a b", "", false},
	}
	for _, tt := range tests {
		got, err := BaselinePath(dir, tt.name)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("BaselinePath(%q) = %q, %v; want %q, ok %v", tt.name, got, err, tt.want, tt.ok)
		}
	}
	rep := sampleReport()
	path, err := SaveBaseline(filepath.Join(dir, "new"), "main", rep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBaseline(filepath.Join(dir, "new"), "main")
	if err != nil || len(got.Results) != len(rep.Results) {
		t.Errorf("LoadBaseline: %v", err)
	}
	if _, err := LoadBaseline(dir, "nope"); !errors.Is(err, ErrNoBaseline) {
		t.Errorf("missing baseline: %v, want ErrNoBaseline", err)
	}
}
