# sandbox: build, demo, test. Run as root on Linux (the runner makes
# namespaces and mounts). `make deps` installs the Debian packages the tests
# and benchmarks use; `make test` runs it first.

GO         ?= go
BIN        ?= bin/sandbox
# podman: TestInPodman, TestImportFromEngines, TestOCIInPodman; skopeo:
# TestImportFromEngines' skopeo copies; containerd: TestOCIInContainerd (ctr
# and the runc shim, which pulls in runc); python3-pytest: the pytest fixture
# suite (cmd/sandbox's TestSuites); uidmap: newuidmap and newgidmap for
# rootless runs with ranges.
DEB_PKGS   ?= busybox-static bubblewrap libc6-dev podman containerd runc python3-pytest skopeo uidmap
# The Cargo fixture suite needs cargo: Debian's, unless one is on PATH
# already (rustup's, say).
CARGO_PKGS ?= $(if $(shell command -v cargo 2>/dev/null),,cargo)
# The unprivileged user the rootless tests run as (make test-user makes it,
# with subordinate id ranges for newuidmap). The tests skip, saying so,
# where it is missing.
TEST_USER  ?= sandbox-rootless
TEST_SUBID ?= 1879048192:65536
# cgo lets the init stage fork CMD before the Go runtime starts (CMD is pid 2).
export CGO_ENABLED ?= 1
# bin/sandbox is linked statically: the dynamic loader's work (mapping libc,
# relocations) is paid twice a run, by the runner and by PID 1, about 5 ms
# of a 33 ms `sandbox exec -- /bin/true` on a slow machine. osusergo and
# netgo keep glibc's NSS out (--user names come from /etc/passwd and
# /etc/group); plain `go build ./cmd/sandbox` works too, linked dynamically.
BUILD_FLAGS ?= -tags osusergo,netgo -ldflags '-extldflags=-static'
# Go 1.26's Green Tea collector keeps a span's mark bits in the span, so
# each new span touches a page more: about 140 page faults a run of the
# runner, which has a small heap, lives for milliseconds and never
# collects. Without it `sandbox exec -- /bin/true` took 9% less wall time
# here (docs/bench.md). A toolchain that no longer has the experiment (Go
# 1.27 drops it) builds with its default. cmd/sandbox's tests that build
# the binary do the same (buildRunner).
RUNNER_GOEXPERIMENT ?= $(shell GOEXPERIMENT=nogreenteagc $(GO) env GOEXPERIMENT >/dev/null 2>&1 && echo nogreenteagc)

FIXTURES   ?= build/fixtures

.PHONY: build demo test test-user vet deps repro-deps bench fuzz soak fixtures fixtures-debian clean

build:
	GOEXPERIMENT=$(RUNNER_GOEXPERIMENT) $(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/sandbox

deps: repro-deps
	@missing=""; for p in $(DEB_PKGS) $(CARGO_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	fi

# What `sandbox repro`'s tests build with and compare against: a C compiler,
# libfaketime (the time variation), a second locale (et_EE.UTF-8, as
# reprotest's, compiled with localedef rather than the 220 MB of
# locales-all), diffoscope, and Debian's reprotest with what it varies
# through (disorderfs, sudo).
REPRO_DEB_PKGS ?= gcc tar util-linux faketime locales diffoscope-minimal reprotest disorderfs sudo
repro-deps:
	@missing=""; for p in $(REPRO_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi
	@locale -a 2>/dev/null | grep -qix 'et_EE.utf8' || { echo "compiling locale et_EE.UTF-8"; localedef -i et_EE -f UTF-8 et_EE.UTF-8; }

# Idempotent: a system user without a home or a shell, and its ranges in
# /etc/subuid and /etc/subgid.
test-user:
	@id -u $(TEST_USER) >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin $(TEST_USER)
	@for f in /etc/subuid /etc/subgid; do \
		grep -q "^$(TEST_USER):" $$f 2>/dev/null || echo "$(TEST_USER):$(TEST_SUBID)" >> $$f; \
	done

# The stages' C (sandbox/internal/stage/*.c) with its warnings as errors.
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	CGO_CFLAGS="-g -O2 -Werror" $(GO) build ./sandbox/internal/stage

# -p 1: the tests check the host for leaked mounts, cgroups and processes,
# which another package's tests running at the same time would look like.
# -timeout 20m: cmd/sandbox's CLI tests (the engines', the suites', the
# rootless ones) take 3 to 4 minutes on a quiet machine, and more than go
# test's default 10 minutes per package on a loaded one.
test: deps test-user vet
	$(GO) test -count=1 -p 1 -timeout 20m ./...
	$(MAKE) bench-smoke
	$(MAKE) fuzz FUZZ_SCALE=1
	$(MAKE) vmtest

# The suite inside virtual machines (docs/vmtest.md): Debian's kernels
# (bookworm's 6.1 and 6.12) booted under qemu with cgroup v2 only, each
# running the limits, sandbox, hostile and CLI tests; one summary line per
# kernel, non-zero exit if a test failed. KVM where a guest boots in it,
# TCG otherwise. INITRD=No: the guests boot an initramfs of vmtest's own,
# so Debian's is not generated (minutes per kernel).
# VMTEST_FLAGS='-cgroup1 6.1' adds a boot with v1 controllers only.
VMTEST_DEB_PKGS ?= qemu-system-x86 linux-image-amd64 linux-image-6.12-amd64 busybox-static e2fsprogs xz-utils
VMTEST_FLAGS    ?=
.PHONY: vmtest vmtest-deps

vmtest: vmtest-deps build
	$(GO) run ./vmtest $(VMTEST_FLAGS)

vmtest-deps:
	@missing=""; for p in $(VMTEST_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q >/dev/null && INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

# The fuzzers, briefly in `make test` (FUZZ_SCALE=1: about ten seconds a
# target on 2 cores); longer by hand: make fuzz FUZZ_SCALE=60. The budget is
# a count of executions, not a time: with a time, go1.26's fuzzing
# coordinator can fail a target with a spurious "context deadline exceeded"
# as the time runs out (go.dev/issue/75804).
FUZZ_SCALE ?= 6
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzImportTar$$' -fuzztime $$((800 * $(FUZZ_SCALE)))x -fuzzminimizetime 100x ./snapshot
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $$((60000 * $(FUZZ_SCALE)))x -fuzzminimizetime 1000x ./profile
	$(GO) test -run '^$$' -fuzz '^FuzzExecFlags$$' -fuzztime $$((50000 * $(FUZZ_SCALE)))x -fuzzminimizetime 1000x ./cmd/sandbox

# The long soak: 10000 runs in a row and 1000 at concurrency 16 (`make
# test` makes 1000 of each).
soak:
	SANDBOX_SOAK=10000 $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./sandbox

# The benchmark suite (docs/bench.md): what isolation costs next to bare
# processes, bwrap, runc, crun, podman and a VM, in under 10 minutes on 2
# cores. Results in $(BENCH_OUT): the table, JSON, Markdown and a chart.
BENCH_OUT       ?= build/bench
BENCH_FLAGS     ?=
BENCH_DEB_PKGS  ?= busybox-static bubblewrap runc crun containerd podman qemu-system-x86 linux-image-amd64 fio
.PHONY: bench-deps bench-smoke bench-go bench-gotest

bench: bench-deps build
	@mkdir -p $(BENCH_OUT)
	@$(BIN) bench --json $(BENCH_OUT)/bench.json --markdown $(BENCH_OUT)/bench.md --chart $(BENCH_OUT)/bench.svg \
		$(BENCH_FLAGS) > $(BENCH_OUT)/bench.txt; status=$$?; cat $(BENCH_OUT)/bench.txt; exit $$status

# What the suite compares against, from Debian.
bench-deps:
	@missing=""; for p in $(BENCH_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

# The short version, for CI: every scenario and backend, small trees, few
# runs; backends not installed are reported as skipped.
# The sandbox's own backends (judge's included) must work; others may be missing or refuse the
# host (crun on hybrid cgroups). The table goes to $(BENCH_OUT)/smoke.txt.
bench-smoke: build test-user
	@mkdir -p $(BENCH_OUT)
	@$(BIN) bench --smoke -q --require 'sandbox*,snapshot,upper-*,bind,host-*,judge-*' --json $(BENCH_OUT)/smoke.json \
		$(BENCH_FLAGS) > $(BENCH_OUT)/smoke.txt; status=$$?; \
	if [ $$status -ne 0 ]; then cat $(BENCH_OUT)/smoke.txt; fi; \
	echo "bench smoke: exit status $$status; table in $(BENCH_OUT)/smoke.txt"; exit $$status

# The Go benchmarks of the packages (go test -bench). BenchmarkGoTestExecFull
# runs whole test suites a round: bench-gotest runs it, fewer times.
bench-go: deps
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkGoTestExecFull$$' -benchtime 200x ./...

# What go test -exec 'sandbox exec --' costs per test binary, next to one
# bwrap start (docs/bench.md): this project's packages that need no root,
# natively and sandboxed, interleaved.
bench-gotest: deps
	$(GO) test -run '^$$' -bench '^BenchmarkGoTestExec' -benchtime 30x ./cmd/sandbox

# Roots for benchmarks and trying things out (tests build their own).
fixtures: deps
	rm -rf $(FIXTURES)/busybox $(FIXTURES)/go
	$(GO) run ./fixtures/mkroot busybox $(FIXTURES)/busybox
	$(GO) run ./fixtures/mkroot go $(FIXTURES)/go

# A Debian minbase for realistic benchmarks: slow, from Debian's mirror.
fixtures-debian:
	@command -v debootstrap >/dev/null || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null)
	rm -rf $(FIXTURES)/debian.tmp
	debootstrap --variant=minbase bookworm $(FIXTURES)/debian.tmp
	rm -rf $(FIXTURES)/debian && mv $(FIXTURES)/debian.tmp $(FIXTURES)/debian

demo: build
	@sh cmd/sandbox/testdata/demo.sh $(BIN)

clean:
	rm -rf bin build
