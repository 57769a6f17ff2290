package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StatePaused is runc's state of a frozen container (the runtime-spec
// has none).
const StatePaused specs.ContainerState = "paused"

// DefaultRoot is where container state lives without --root.
const DefaultRoot = "/run/sandbox-oci"

// Version is the runtime-spec version this runtime implements.
const Version = "1.0.2"

// Record is what the runtime keeps of one container between calls, in
// <root>/<id>/state.json, replaced whole (written aside and renamed).
type Record struct {
	ID      string               `json:"id"`
	Bundle  string               `json:"bundle"`
	Rootfs  string               `json:"rootfs"`
	Status  specs.ContainerState `json:"status"`
	Created time.Time            `json:"created"`
	// Pid is the monitor's, which holds the container.
	Pid int `json:"pid,omitempty"`
	// PidStart is the monitor's start time (clock ticks after boot,
	// /proc/PID/stat), telling it from a later process of the same pid.
	PidStart uint64 `json:"pid_start,omitempty"`
	// InitPid is the sandbox's PID 1, the container's process as engines
	// see it (create's child, handed off), and where an exec joins it.
	InitPid     int               `json:"init_pid,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// CgroupsPath is config.json's, removed at delete.
	CgroupsPath string `json:"cgroups_path,omitempty"`
	// Cgroup is the sandbox's own group (below CgroupsPath), where pause
	// and resume freeze and thaw it.
	Cgroup string      `json:"cgroup,omitempty"`
	Hooks  specs.Hooks `json:"hooks"`
	// ExitStatus is how the container ended once stopped (128+N: signal N).
	ExitStatus *int `json:"exit_status,omitempty"`
	// Message is the runner's word on how it ended, or why it failed.
	Message string `json:"message,omitempty"`
}

// State is the runtime-spec state of the record, with runc's extra
// fields (engines print them). Its pid is the container's process as the
// spec means it, the sandbox's PID 1, in the container's namespaces (what
// podman top and nsenter join), and the pid file's, which the subreaper
// that waits for the container's end (conmon, containerd's shim) waits for.
func (r *Record) State() any {
	pid := r.Pid
	if r.InitPid != 0 && r.Status != specs.StateStopped {
		pid = r.InitPid
	}
	return struct {
		specs.State
		Rootfs  string    `json:"rootfs"`
		Created time.Time `json:"created"`
		Owner   string    `json:"owner"`
	}{State: specs.State{Version: Version, ID: r.ID, Status: r.Status, Pid: pid, Bundle: r.Bundle, Annotations: r.Annotations},
		Rootfs: r.Rootfs, Created: r.Created, Owner: ""}
}

// validID reports whether id is what runc takes for a container id
// (`^[\w+\-.]+$`: it names a directory). Not a regexp: one compiled at
// init would cost every start of the binary, whatever its subcommand.
func validID(id string) bool {
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '+', r == '-', r == '.':
		default:
			return false
		}
	}
	return id != ""
}

// CheckID refuses an id that could not name a directory of its own.
func CheckID(id string) error {
	if !validID(id) || id == "." || id == ".." {
		return fmt.Errorf("container id %q: %w: want letters, digits, '_', '+', '-' and '.'", id, ErrInvalid)
	}
	return nil
}

// Dir is the container's directory under root.
func Dir(root, id string) string { return filepath.Join(root, id) }

// readRecord reads the container's record.
func readRecord(root, id string) (*Record, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(Dir(root, id), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", id, err)
	}
	return &r, nil
}

// writeRecord replaces the record in dir whole.
func writeRecord(dir string, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	tmp := filepath.Join(dir, ".state.json.new")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// List reads every container's record under root, in id order.
func List(root string) ([]*Record, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*Record
	for _, e := range entries {
		if !e.IsDir() || CheckID(e.Name()) != nil || e.Name()[0] == '.' {
			continue
		}
		r, err := Load(root, e.Name())
		if err != nil {
			continue // being made or removed meanwhile
		}
		out = append(out, r)
	}
	return out, nil
}
