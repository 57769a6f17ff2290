package isolate

import (
	"io"
	"os"
)

// Invocation is one call of the command: its arguments (after the command
// name), streams and environment.
type Invocation struct {
	Args []string
	// Stdin, Stdout and Stderr are the program's when --stdin and friends
	// do not say otherwise, as isolate passes its own on; status lines go
	// to Stderr.
	Stdin          *os.File
	Stdout, Stderr io.Writer
	Environ        []string // the caller's, for -E VAR and --full-env
	Version        string
}

// Usage is the command's help text.
const Usage = `Usage: isolate [OPTIONS] --init
       isolate [OPTIONS] --run -- PROGRAM [ARGS...]
       isolate [OPTIONS] --cleanup

A drop-in for isolate(1) (https://github.com/ioi/isolate), as CMS, Judge0
and course graders call it: the same options, box directories, meta files
and exit statuses, each run in a throwaway sandbox. Also 'sandbox isolate'.

  --init                  create the box (reset it if it exists) and print its
                          directory; put the program and its input in DIR/box
  --run -- PROGRAM ...    run PROGRAM in the box (cwd /box; no PATH search:
                          a name without a slash is taken from the cwd)
  --cleanup               remove the box (nothing to do is fine)

Box:
  -b, --box-id=ID         the box (default 0); its program runs as uid and gid
                          60000+ID, so no two boxes share a user
  --wait                  wait while another instance manages the box
                          (default: refuse, exit status 2)
  --cg                    control group mode: report cg-mem, allow --cg-mem
  --as-uid=UID --as-gid=GID
                          (--init, root only) who owns DIR/box between runs
Limits (sizes in KiB, times in seconds, fractions allowed):
  -t, --time=T            CPU time of the whole box; TO past it
  -w, --wall-time=T       wall clock time; TO past it
  -x, --extra-time=T      grace after a time limit before the kill (the
                          verdict is TO all the same)
  -m, --mem=KB            address space of each process (RLIMIT_AS)
  --cg-mem=KB             memory of the whole box (needs --cg); exceeding it
                          is an OOM kill: status SG with cg-oom-killed
  -k, --stack=KB          stack size (default unlimited)
  -f, --fsize=KB          size of each file written
  -n, --open-files=N      open files (default 64; 0: as many as the kernel
                          allows)
  --core=KB               core files (default 0)
  -p, --processes[=N]     processes and threads at once (default 1; -p alone:
                          unlimited)
  --cg-timing, --no-cg-timing
                          accepted; time is always the whole box's CPU time
Environment (the program gets only LIBC_FATAL_STDERR_=1 and what rules add):
  -E, --env=VAR           pass VAR from the caller's environment
  -E, --env=VAR=VALUE     set VAR (empty VALUE: remove it)
  -e, --full-env          start from the caller's whole environment
Directories (-d, --dir; later rules for the same path replace earlier ones):
  -d IN=OUT[:OPTS]        bind host directory OUT (or ./X: X in the box
                          directory) at IN inside the box
  -d DIR[:OPTS]           bind /DIR at DIR
  -d IN=                  remove the rule for IN
  OPTS: rw (read-write; default read-only), noexec, maybe (skip if OUT is
        missing), norec (not the mounts below OUT), tmp (a fresh writable
        directory), fs (OUT is a filesystem: proc, sysfs, tmpfs), dev
  -D, --no-default-dirs   none of the defaults: box=./box:rw bin dev:dev lib
                          lib64:maybe proc=proc:fs usr tmp:tmp
I/O (paths inside the box; relative ones are taken from /box):
  -i, --stdin=FILE  -o, --stdout=FILE  -r, --stderr=FILE
  --stderr-to-stdout      stderr to wherever stdout goes
  --inherit-fds           pass descriptors 3, 4, ... on (they must be
                          contiguous)
  --special-files         keep fifos, sockets and symlinks the program made in
                          /box (default: removed after the run)
  -c, --chdir=DIR         the program's working directory (relative: to /box)
  --share-net             the host's network (default: loopback only)
Reporting:
  -M, --meta=FILE         write the meta file: time, time-wall, max-rss,
                          csw-voluntary, csw-forced, cg-mem, cg-oom-killed,
                          exitcode, exitsig, killed, status (RE, SG, TO, XX),
                          message
  -s, --silent            no status line on stderr (fatal errors still are)
  -v, --verbose           say what is set up
  --version
Not supported, and refused: -q/--quota, --tty-hack, --print-cg-root.

Settings isolate keeps in its config file:
  --box-root=DIR          where boxes live (default /var/local/lib/isolate,
                          or $SANDBOX_ISOLATE_ROOT; without root
                          $XDG_RUNTIME_DIR/sandbox-isolate, else
                          $TMPDIR/sandbox-isolate-UID)
  $SANDBOX_ISOLATE_FIRST_UID, $SANDBOX_ISOLATE_FIRST_GID (default 60000)
  $SANDBOX_CGROUP_ROOT, $SANDBOX_RUN_DIR as for 'sandbox exec'

Exit status: 0 the program ended well; 1 it did not (RE, SG, TO); 2 the
sandbox failed or the command line was wrong (status XX in the meta file).

Examples:
  dir=$(isolate --cg -b 7 --init)
  cp solution "$dir/box/"
  isolate --cg -b 7 -M meta.txt -t 1 -w 3 --cg-mem=262144 -p1 \
      --stdin=in.txt --stdout=out.txt --run -- ./solution
  isolate --cg -b 7 --cleanup
`
