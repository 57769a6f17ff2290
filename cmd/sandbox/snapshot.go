package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sandbox-dev/sandbox/snapshot"
	"golang.org/x/term"
)

const snapshotUsage = `Usage: sandbox snapshot [--store DIR] COMMAND [args]

Named roots for 'sandbox exec --root NAME': each run gets a fresh writable
layer over the committed snapshot in the time of a mount, and can keep its
changes as a new snapshot (exec --commit NEW).

Commands:
  import NAME SOURCE   make snapshot NAME from SOURCE: a directory, a tar (plain,
                       gzip or zstd) of a root, or an image as the engines write
                       it, tarred or not: podman save (docker-archive, oci-archive,
                       docker-dir, oci-dir), docker save (Docker 25's OCI layout
                       and the older format), skopeo copy to dir:, oci:,
                       oci-archive: or docker-archive:; "-" reads a tar from stdin
  ls                   list snapshots: name, parent, size, created
  inspect NAME         print a snapshot's record as JSON
  rm NAME              remove a committed snapshot (refused while a child or a
                       run uses it)
  export NAME FILE     write the snapshot's whole tree (its chain flattened) as a tar
  diff NAME            what NAME added (A), changed (M) and deleted (D) over its parent

Flags:
  --store DIR          the store (default /var/lib/sandbox, or $SANDBOX_STORE;
                       without root $XDG_DATA_HOME/sandbox)
  --parent NAME        import: the snapshot a root's tar or directory is layered on
  --ref REF            import: the image to take from a source holding several (a
                       tag: busybox:1.36, or a name in an OCI index)
  --platform OS/ARCH[/VARIANT]
                       import: the image to take from a multi-platform index, and
                       the platform an image must be for (default linux and this
                       machine's architecture)

Examples:
  sandbox snapshot import debian ./debian-rootfs.tar.zst
  sandbox exec --root debian --commit debian+gcc -- apt-get install -y gcc
  sandbox exec --root debian+gcc -- gcc -o hello hello.c
  sandbox snapshot diff debian+gcc | head
`

func init() {
	commands["snapshot"] = &command{summary: "import, list, inspect, export and remove named roots", usage: text(snapshotUsage), run: runSnapshot}
}

func runSnapshot(args []string, io stdio) int {
	fs := newFlagSet("snapshot", io)
	store := fs.String("store", "", "")
	parent := fs.String("parent", "", "")
	var opts snapshot.ImportOptions
	fs.StringVar(&opts.Ref, "ref", "", "")
	fs.StringVar(&opts.Platform, "platform", "", "")
	if code, done := parseFlags(fs, args, text(snapshotUsage), io); done {
		return code
	}
	args = fs.Args()
	// Flags may also follow the command: `snapshot import --parent base NAME SRC`.
	if len(args) > 0 {
		sub := flag.NewFlagSet("sandbox snapshot "+args[0], flag.ContinueOnError)
		sub.SetOutput(discard{})
		sub.StringVar(store, "store", *store, "")
		sub.StringVar(parent, "parent", *parent, "")
		sub.StringVar(&opts.Ref, "ref", opts.Ref, "")
		sub.StringVar(&opts.Platform, "platform", opts.Platform, "")
		if err := sub.Parse(args[1:]); err != nil {
			fmt.Fprintf(io.err, "sandbox snapshot %s: %v\n", args[0], err)
			return exitUsage
		}
		args = append(args[:1], sub.Args()...)
	}
	if args[0] != "import" && (*parent != "" || opts.Ref != "" || opts.Platform != "") {
		fmt.Fprintf(io.err, "sandbox snapshot %s: --parent, --ref and --platform are for import\n", args[0])
		return exitUsage
	}
	if err := checkPlatform(opts.Platform); err != nil {
		fmt.Fprintf(io.err, "sandbox snapshot import: --platform: %v\n", err)
		return exitUsage
	}
	want := map[string]int{"import": 2, "ls": 0, "inspect": 1, "rm": 1, "export": 2, "diff": 1}
	if len(args) == 0 {
		fmt.Fprint(io.err, "sandbox snapshot: want a command (see 'sandbox snapshot --help')\n")
		return exitUsage
	}
	n, ok := want[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "sandbox snapshot: unknown command %q (see 'sandbox snapshot --help')\n", args[0])
		return exitUsage
	}
	if len(args)-1 != n {
		fmt.Fprintf(io.err, "sandbox snapshot %s: want %d argument(s), got %d (see 'sandbox snapshot --help')\n", args[0], n, len(args)-1)
		return exitUsage
	}
	st, err := snapshot.Open(snapshot.Config{Root: *store})
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "import":
		opts.Parent = *parent
		err = snapshotImport(ctx, st, args[1], args[2], opts, io)
	case "ls":
		err = snapshotList(ctx, st, io)
	case "inspect":
		var info snapshot.Info
		if info, err = st.Stat(ctx, args[1]); err == nil {
			b, _ := json.MarshalIndent(info, "", "  ")
			fmt.Fprintf(io.out, "%s\n", b)
		}
	case "rm":
		err = st.Remove(ctx, args[1])
	case "export":
		err = st.ExportFile(ctx, args[1], args[2])
	case "diff":
		var changes []snapshot.Change
		if changes, err = st.Diff(ctx, args[1]); err == nil {
			for _, c := range changes {
				fmt.Fprintf(io.out, "%s %s\n", strings.ToUpper(string(c.Kind)[:1]), c.Path)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(io.err, "sandbox: %v\n", err)
		return exitUsage
	}
	return 0
}

// checkPlatform refuses a --platform that names no platform, rather than
// letting it match nothing.
func checkPlatform(p string) error {
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return fmt.Errorf("%q is not OS/ARCH or OS/ARCH/VARIANT (linux/amd64, linux/arm/v7)", p)
	}
	return nil
}

func snapshotImport(ctx context.Context, st *snapshot.Store, name, source string, opts snapshot.ImportOptions, io stdio) error {
	opts.Warn = func(err error) { fmt.Fprintf(io.err, "sandbox: warning: %v\n", err) }
	// A progress line on a terminal; nothing otherwise.
	if f, ok := io.err.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		last := time.Time{}
		opts.Progress = func(p snapshot.Progress) {
			if time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			layer := ""
			if p.Layers > 1 {
				layer = fmt.Sprintf("layer %d/%d, ", p.Layer, p.Layers)
			}
			pct := ""
			if p.SourceSize > 0 {
				pct = fmt.Sprintf("%3d%% ", min(100, p.SourceBytes*100/p.SourceSize))
			}
			fmt.Fprintf(f, "\r\033[Kimporting %s: %s%s%s, %d entries", name, pct, layer, byteCount(p.Bytes), p.Entries)
		}
		defer fmt.Fprint(f, "\r\033[K")
	}
	var info snapshot.Info
	var err error
	if source == "-" {
		info, err = st.ImportReader(ctx, name, os.Stdin, opts)
	} else {
		info, err = st.Import(ctx, name, source, opts)
	}
	switch {
	case errors.Is(err, snapshot.ErrAmbiguous):
		return fmt.Errorf("%w (choose one with --ref or --platform)", err)
	case errors.Is(err, snapshot.ErrPlatform):
		return fmt.Errorf("%w (choose another with --platform)", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(io.out, "imported %s: %s, %d entries\n", info.Name, byteCount(info.Size), info.Inodes)
	return nil
}

func snapshotList(ctx context.Context, st *snapshot.Store, io stdio) error {
	var infos []snapshot.Info
	err := st.Walk(ctx, func(_ context.Context, i snapshot.Info) error {
		infos = append(infos, i)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tPARENT\tSIZE\tCREATED")
	for _, i := range infos {
		parent := i.Parent
		if parent == "" {
			parent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, i.Kind, parent, byteCount(i.Size), i.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// byteCount is n in the unit people read sizes in: 1.5 MiB.
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
