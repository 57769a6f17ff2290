package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/limits"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// Without root. The sandbox then runs every box in a user namespace of its
// own (see sandbox's "Rootless runs"), and the box user is one of the
// caller's subordinate ids: uid BoxUID inside is a subordinate uid on the
// host, which the caller can neither chown to nor from. So:
//
//   - box/ is given to the box user before a run, and box/ and tmp/ back
//     to the caller after it (and at --cleanup, after a run that died), by a
//     run of find and chown as the box user with CAP_CHOWN in that same
//     namespace map: the ids the box run has (chownInNS);
//   - --stdin, --stdout and --stderr are opened by the runner as the
//     caller, before box/ is given away (the caller cannot take the box
//     user's identity to open them as isolate does; everything in box/ is
//     the caller's at that moment, and goes to the box user next);
//   - -p is RLIMIT_NPROC of the box user, counted in the box's own user
//     namespace (isolate's own way without cgroups), unless a delegated
//     cgroup v2 subtree gives the pids controller;
//   - what cannot be had is refused with the reason (rootlessRefusal).

// rootlessRefusal says why a --run without root cannot be had ("" when it
// can): the box user must be in the caller's subordinate range, --cg needs
// a delegated cgroup v2 subtree, and the binds that need staging (noexec,
// norec) need a mount namespace of the runner's own.
func rootlessRefusal(o *Options) error {
	u := sandbox.User{UID: o.BoxUID(), GID: o.BoxGID()}
	if u.UID == uint32(os.Getuid()) || u.GID == uint32(os.Getgid()) {
		return unsupportedf("box %d: its user %d:%d is the caller's own id: a box's program never runs as the caller; choose another --box-id or $%s", o.BoxID, u.UID, u.GID, EnvFirstUID)
	}
	if err := sandbox.CanRunAs(u); err != nil {
		return fmt.Errorf("box %d's user %d:%d (first uid %d plus the box id): %w", o.BoxID, u.UID, u.GID, o.FirstUID, err)
	}
	if o.CG {
		if _, err := limits.FindDelegation(); err != nil {
			return unsupportedf("--cg: without root, control groups need a delegated cgroup v2 subtree (%v); run without --cg (time from the box's processes, memory by -m), or as root", err)
		}
	}
	if needsStaging(o) {
		return unsupportedf("a -d rule with noexec or norec: the runner stages such binds in a private mount namespace of its own, which needs root")
	}
	return nil
}

// rootlessNProc says whether -p is RLIMIT_NPROC rather than a pids limit:
// without root, unless a delegated subtree gives the pids controller.
func rootlessNProc() bool {
	if !sandbox.Rootless() {
		return false
	}
	d, err := limits.FindDelegation()
	return err != nil || !d.Has("pids")
}

// chownCaps are what the chown run needs: chown what it does not own, and
// walk directories the box user closed.
var chownCaps = []string{"CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_FOWNER"}

// chownInNS gives the trees dirs (host paths) to uid:gid, ids as the box's
// user namespace names them (the caller's own uid and gid are themselves
// there), by a run as the box user with CAP_CHOWN. Like chownTree it
// follows no symlink and leaves alone a regular file with more than one
// link; the trees are all the run sees of the host's writable files.
func chownInNS(o *Options, environ []string, uid, gid uint32, dirs ...string) error {
	args := []string{"find"}
	var mounts []sandbox.Mount
	for i, d := range dirs {
		inside := fmt.Sprintf("/sandbox-isolate-chown/%d", i)
		mounts = append(mounts, sandbox.Mount{Type: sandbox.MountBind, Source: d, Destination: inside, NoSymlinks: true})
		args = append(args, inside)
	}
	args = append(args, "(", "!", "-type", "f", "-o", "-links", "1", ")", "-exec", "chown", "-h", fmt.Sprintf("%d:%d", uid, gid), "{}", "+")
	var out bytes.Buffer
	spec := &sandbox.Spec{Args: args, User: &sandbox.User{UID: o.BoxUID(), GID: o.BoxGID()}, CapAdd: chownCaps,
		Env: []string{"PATH=" + sandbox.DefaultPath}, Dir: "/", Mounts: mounts,
		CgroupRoot: lookupEnv(environ, "SANDBOX_CGROUP_ROOT"), RunDir: lookupEnv(environ, "SANDBOX_RUN_DIR"),
		IO: sandbox.IO{Stdout: &out, Stderr: &out}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := sandbox.Run(ctx, spec)
	if err == nil && res.Status != sandbox.StatusOK {
		err = errors.New(strings.TrimSpace(res.Message + ": " + out.String()))
	}
	if err != nil {
		return fmt.Errorf("chowning %s to %d:%d in the box's user namespace: %w", strings.Join(dirs, " and "), uid, gid, err)
	}
	return nil
}
