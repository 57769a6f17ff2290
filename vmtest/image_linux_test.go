package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestModuleOrder(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz\n" +
		"kernel/lib/crc16.ko.xz:\nkernel/fs/mbcache.ko.xz:\nkernel/fs/jbd2/jbd2.ko.xz:\n" +
		"kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
		"kernel/drivers/virtio/virtio.ko:\nkernel/drivers/virtio/virtio_ring.ko:\n" +
		"kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	// virtio_pci built in on this kernel: not in modules.dep, left out.
	got, err := moduleOrder(Kernel{Modules: dir}, []string{"virtio_blk", "ext4", "overlay"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/block/virtio_blk.ko",
		"kernel/lib/crc16.ko.xz", "kernel/fs/mbcache.ko.xz", "kernel/fs/jbd2/jbd2.ko.xz", "kernel/fs/ext4/ext4.ko.xz"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("moduleOrder (-want +got):\n%s", diff)
	}
}

func TestKernelOrder(t *testing.T) {
	ks := []Kernel{{Release: "6.12.117+deb12-amd64"}, {Release: "6.1.0-57-amd64"}, {Release: "5.10.0-9-amd64"}}
	sortKernels(ks)
	var got []string
	for _, k := range ks {
		got = append(got, k.Release)
	}
	if diff := cmp.Diff([]string{"5.10.0-9-amd64", "6.1.0-57-amd64", "6.12.117+deb12-amd64"}, got); diff != "" {
		t.Errorf("sortKernels (-want +got):\n%s", diff)
	}
}

func TestCmdline(t *testing.T) {
	if got := (Boot{Cgroup: "2"}).cmdline("tcg"); got != "console=ttyS0 loglevel=4 panic=-1 rdinit=/init mitigations=off vmtest.cgroup=2 vmtest.accel=tcg cgroup_no_v1=all" {
		t.Errorf("cgroup2 cmdline %q", got)
	}
	if got := (Boot{Cgroup: "1"}).cmdline("kvm"); got != "console=ttyS0 loglevel=4 panic=-1 rdinit=/init mitigations=off vmtest.cgroup=1 vmtest.accel=kvm" {
		t.Errorf("cgroup1 cmdline %q", got)
	}
}
