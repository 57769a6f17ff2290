package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sandbox-dev/sandbox/fixtures"
)

// Kernel is one of Debian's packaged kernels as installed on the host.
type Kernel struct {
	Release string // uname -r, e.g. 6.1.0-57-amd64
	Image   string // /boot/vmlinuz-<release>
	Modules string // /lib/modules/<release>
}

// findKernels lists the kernels in /boot that have their modules
// installed, oldest first; want, if not empty, picks by release prefix
// ("6.1", "6.12").
func findKernels(want []string) ([]Kernel, error) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	var ks []Kernel
	for _, img := range imgs {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		k := Kernel{Release: rel, Image: img, Modules: filepath.Join("/lib/modules", rel)}
		if _, err := os.Stat(filepath.Join(k.Modules, "modules.dep")); err != nil {
			continue
		}
		ks = append(ks, k)
	}
	if len(want) == 0 {
		sortKernels(ks)
		return ks, nil
	}
	var picked []Kernel
	for _, w := range want {
		var match *Kernel
		for i := range ks {
			// "6.1" picks 6.1.0-57-amd64, not 6.12...
			if r := ks[i].Release; r == w || strings.HasPrefix(r, w+".") || strings.HasPrefix(r, w+"-") || strings.HasPrefix(r, w+"+") {
				match = &ks[i]
			}
		}
		if match == nil {
			return nil, fmt.Errorf("no kernel %s in /boot with its modules in /lib/modules (Debian's linux-image packages install both)", w)
		}
		picked = append(picked, *match)
	}
	return picked, nil
}

func sortKernels(ks []Kernel) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && versionLess(ks[j].Release, ks[j-1].Release); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// versionLess compares with runs of digits compared as numbers.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		ra, rb := leadingDigits(a), leadingDigits(b)
		if ra != "" && rb != "" {
			da, db := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			if len(da) != len(db) {
				return len(da) < len(db)
			}
			if da != db {
				return da < db
			}
			a, b = a[len(ra):], b[len(rb):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// guestModules are what the guest loads before it can mount its disk and
// run the suites: virtio's PCI transport and block driver, ext4, overlayfs
// for the sandbox's roots, and BFQ for io.bfq.weight. Where the kernel
// has one built in, it is not in modules.dep and is left out.
var guestModules = []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "overlay", "bfq"}

// moduleOrder resolves names through modules.dep into files in load
// order, dependencies first.
func moduleOrder(k Kernel, names []string) ([]string, error) {
	f, err := os.Open(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{} // file -> its dependencies' files
	byName := map[string]string{} // module name -> file
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[file] = strings.Fields(rest)
		byName[moduleName(file)] = file
	}
	var order []string
	seen := map[string]bool{}
	var visit func(file string)
	visit = func(file string) {
		if seen[file] {
			return
		}
		seen[file] = true
		for _, d := range deps[file] {
			visit(d)
		}
		order = append(order, file)
	}
	for _, n := range names {
		if file, ok := byName[n]; ok {
			visit(file)
		}
	}
	return order, nil
}

// moduleName is the module's name as modprobe knows it: kernel/fs/ext4/ext4.ko.xz -> ext4.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// readModule returns a module's ELF, decompressed (busybox-free: the guest
// loads them with init_module, which takes the plain object).
func readModule(path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("module %s: unknown compression", path)
	}
	out, err := exec.Command(tool, "-dc", path).Output()
	if err != nil {
		return nil, fmt.Errorf("decompressing %s with %s: %w", path, tool, err)
	}
	return out, nil
}

// writeInitramfs writes the guest's initramfs for k: the guest binary as
// /init, a static busybox (for switch_root) and the modules.
func writeInitramfs(path string, k Kernel, guestBin string) error {
	bb, err := fixtures.FindBusybox()
	if err != nil {
		return err
	}
	order, err := moduleOrder(k, guestModules)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		c := &fixtures.CPIO{W: w}
		for _, d := range []string{"bin", "dev", "proc", "sys", "modules", "newroot"} {
			c.Dir(d)
		}
		c.CharDev("dev/console", 0o600, 5, 1)
		for _, f := range []struct{ src, dst string }{{bb, "bin/busybox"}, {guestBin, "init"}} {
			data, err := os.ReadFile(f.src)
			if err != nil {
				return err
			}
			c.File(f.dst, 0o755, data)
		}
		var names []string
		for _, file := range order {
			data, err := readModule(filepath.Join(k.Modules, file))
			if err != nil {
				return err
			}
			name := moduleName(file) + ".ko"
			names = append(names, name)
			c.File("modules/"+name, 0o644, data)
		}
		c.File("modules/order", 0o644, []byte(strings.Join(names, "\n")+"\n"))
		return c.Close()
	})
}

func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// buildConfig is how the payload is built.
type buildConfig struct {
	moduleDir string // the repository's root
	sandbox   string // bin/sandbox, built by `make build`
	work      string // build/vmtest
	logf      func(string, ...any)
}

// staticFlags are the Makefile's BUILD_FLAGS: the test binaries use cgo
// (the init stage is C) and run in a root with no C library.
var staticFlags = []string{"-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static"}

// buildPayload builds what the guest's disk holds, in work/root, and the
// guest binary, in work/guest. The go tool's build cache makes a second
// run (and the packages `make test` compiled already) cheap.
func buildPayload(cfg buildConfig, plan []Suite) (root, guestBin string, err error) {
	root = filepath.Join(cfg.work, "root")
	os.RemoveAll(root)
	if err := fixtures.BusyboxRoot(root); err != nil {
		return "", "", err
	}
	// /usr/share: a test runs from there, as from a directory every host has.
	os.MkdirAll(filepath.Join(root, "usr/share"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/tmp"), 0o755)
	os.Chmod(filepath.Join(root, "var/tmp"), 0o1777)
	if err := copyHostTools(root, hostToolPackages); err != nil {
		return "", "", err
	}
	if err := addTestUser(root); err != nil {
		return "", "", err
	}
	// The files every Debian host has and a container runtime binds over
	// (TestHostile/container-file-binds lays its own over them).
	for f, content := range map[string]string{
		"etc/hosts":       "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
		"etc/hostname":    "vmguest\n",
		"etc/resolv.conf": "# the guest has no network\n",
	} {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte(content), 0o644); err != nil {
			return "", "", err
		}
	}
	// /bin/sh is dash, as on Debian: busybox's sh runs its own applets
	// ahead of PATH, so `sh -c "head -c 16M"` would get busybox's head.
	if _, err := os.Stat(filepath.Join(root, "usr/bin/dash")); err == nil {
		os.Remove(filepath.Join(root, "bin/sh"))
		if err := os.Symlink("/usr/bin/dash", filepath.Join(root, "bin/sh")); err != nil {
			return "", "", err
		}
	}
	vm := filepath.Join(root, strings.TrimPrefix(guestDir, "/"))
	for _, d := range []string{"tests", "fixtures", "bin", "src"} {
		if err := os.MkdirAll(filepath.Join(vm, d), 0o755); err != nil {
			return "", "", err
		}
	}
	goBuild := func(env []string, args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = cfg.moduleDir
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	guestBin = filepath.Join(cfg.work, "guest")
	if err := goBuild([]string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", guestBin, "./vmtest"); err != nil {
		return "", "", err
	}
	if err := copyFile(guestBin, filepath.Join(vm, "vmtest"), 0o755); err != nil {
		return "", "", err
	}
	seen := map[string]bool{}
	for _, s := range plan {
		if seen[s.Package] {
			continue
		}
		seen[s.Package] = true
		cfg.logf("building the %s tests (go test -c, static)", s.Package)
		out := filepath.Join(vm, "tests", strings.ReplaceAll(s.Package, "/", "-")+".test")
		args := append([]string{"test", "-c", "-o", out}, staticFlags...)
		if err := goBuild(nil, append(args, "./"+s.Package)...); err != nil {
			return "", "", err
		}
	}
	for _, p := range []string{"hostile", "testprog"} {
		if err := goBuild([]string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", filepath.Join(vm, "fixtures", p), "./fixtures/"+p); err != nil {
			return "", "", err
		}
	}
	if err := copyFile(cfg.sandbox, filepath.Join(vm, "bin", "sandbox"), 0o755); err != nil {
		return "", "", fmt.Errorf("copying %s (make build makes it): %w", cfg.sandbox, err)
	}
	if err := copySources(cfg.moduleDir, filepath.Join(vm, "src")); err != nil {
		return "", "", err
	}
	b, _ := json.MarshalIndent(plan, "", "  ")
	if err := os.WriteFile(filepath.Join(vm, "plan.json"), b, 0o644); err != nil {
		return "", "", err
	}
	return root, guestBin, nil
}

// hostToolPackages are the Debian packages whose programs the guest gets
// besides busybox, in /usr/bin ahead of busybox's /bin on PATH: the tests
// run GNU tools (readlink of several files, head -c 16M, ps -o) the way a
// Debian host has them. Those not installed are left out (and the tests
// that need them skip, saying so).
var hostToolPackages = []string{"dash", "coreutils", "bash", "procps", "grep", "sed", "findutils", "libcap2-bin", "uidmap"}

// The rootless tests' user in the guest (the Makefile's TEST_USER and
// TEST_SUBID, which `make test-user` gives the host): its subordinate ids
// are for newuidmap (uidmap, set-uid root as Debian installs it).
const (
	testUserUID   = 999
	testUserSubID = "1879048192:65536"
)

// addTestUser adds the rootless tests' user to the guest's /etc.
func addTestUser(root string) error {
	name := fixtures.DefaultTestUser
	for _, f := range []struct{ file, line string }{
		{"etc/passwd", fmt.Sprintf("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n", name, testUserUID, testUserUID)},
		{"etc/group", fmt.Sprintf("%s:x:%d:\n", name, testUserUID)},
		{"etc/subuid", name + ":" + testUserSubID + "\n"},
		{"etc/subgid", name + ":" + testUserSubID + "\n"},
	} {
		w, err := os.OpenFile(filepath.Join(root, f.file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("adding the test user to the guest: %w", err)
		}
		_, err = w.WriteString(f.line)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("adding the test user to the guest: %w", err)
		}
	}
	return nil
}

// copyHostTools copies the programs of pkgs into root's /usr/bin and
// /usr/sbin, with every shared library they load (ldd) at its own path.
func copyHostTools(root string, pkgs []string) error {
	var progs []string
	for _, p := range pkgs {
		out, err := exec.Command("dpkg", "-L", p).Output()
		if err != nil {
			continue // not installed
		}
		for _, f := range strings.Fields(string(out)) {
			dir := filepath.Dir(f)
			if dir != "/bin" && dir != "/usr/bin" && dir != "/sbin" && dir != "/usr/sbin" {
				continue
			}
			if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
				continue
			}
			progs = append(progs, f)
		}
	}
	libs := map[string]bool{}
	for _, f := range progs {
		sub := "usr/bin"
		if strings.HasSuffix(filepath.Dir(f), "sbin") {
			sub = "usr/sbin"
		}
		os.MkdirAll(filepath.Join(root, sub), 0o755)
		dst := filepath.Join(root, sub, filepath.Base(f))
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := copyFile(f, dst, 0o755); err != nil {
			return fmt.Errorf("copying %s into the guest: %w", f, err)
		}
		// newuidmap and newgidmap are set-uid root: what makes them work.
		if st, err := os.Stat(f); err == nil && st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			if err := os.Chmod(dst, st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid)); err != nil {
				return err
			}
		}
		out, _ := exec.Command("ldd", f).Output() // fails for static programs and scripts
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			for _, fl := range fields {
				if strings.HasPrefix(fl, "/") {
					libs[fl] = true
				}
			}
		}
	}
	for lib := range libs {
		dst := filepath.Join(root, lib)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(lib, dst, 0o755); err != nil {
			return fmt.Errorf("copying %s into the guest: %w", lib, err)
		}
	}
	return nil
}

// copySources copies the repository's tracked files: the tests read their
// testdata and the fixtures' sources relative to their package.
func copySources(repo, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("listing the repository's files (git ls-files): %w", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f == "" {
			continue
		}
		src := filepath.Join(repo, f)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink: no test reads one
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, filepath.Join(dst, f), st.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// makeDisk makes the guest's root disk from root: ext4, with room for the
// tests' temporary files (sparse: the free space costs nothing on the
// host). Guests open it with snapshot=on: their writes never reach it, so
// every guest boots the same disk.
func makeDisk(path, root string) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	cmd := exec.Command("mkfs.ext4", "-q", "-F", "-L", "vmroot", "-E", "root_owner=0:0", "-d", root, tmp, "4G")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mkfs.ext4 -d %s: %w: %s", root, err, out)
	}
	return os.Rename(tmp, path)
}
