package snapshot

import (
	"strings"
	"time"
)

// Kind is the lifecycle state of a snapshot.
type Kind string

const (
	// KindView is a read-only snapshot over a committed parent.
	KindView Kind = "view"
	// KindActive is a writable upper directory over a committed parent.
	KindActive Kind = "active"
	// KindCommitted is an immutable layer that may be a parent.
	KindCommitted Kind = "committed"
)

// Config opens a store.
type Config struct {
	// Root is the store's directory; empty means RootFromEnv().
	Root string `json:"root,omitempty" toml:"root"`
	// MaxLayers bounds the lowerdir chain of a committed snapshot; a commit
	// or import that would exceed it (or a page of mount options) flattens
	// the chain into one layer. 0 means DefaultMaxLayers.
	MaxLayers int `json:"max_layers,omitempty" toml:"max_layers"`
}

// DefaultMaxLayers keeps chains well under overlayfs's 500 lowerdirs.
const DefaultMaxLayers = 100

// Info describes one snapshot.
type Info struct {
	Name    string            `json:"name" toml:"name"`
	Kind    Kind              `json:"kind" toml:"kind"`
	Parent  string            `json:"parent,omitempty" toml:"parent"`
	Created time.Time         `json:"created" toml:"created"`
	Labels  map[string]string `json:"labels,omitempty" toml:"labels"`
	// Size and Inodes are the disk use of the snapshot's own layer, fixed
	// when it was committed; zero for active snapshots and views (ask Usage).
	Size   int64 `json:"size" toml:"size"`
	Inodes int64 `json:"inodes" toml:"inodes"`
	// Layers is how many lowerdirs a mount of this snapshot stacks (for a
	// committed one, including itself).
	Layers int `json:"layers" toml:"layers"`
	// Flattened: the layer holds the whole tree of its chain, not just its
	// changes; Parent still names the snapshot it was committed on.
	Flattened bool `json:"flattened,omitempty" toml:"flattened"`
	// OwnerPID is the process that owns an active snapshot or view; 0 for
	// committed and detached ones. GC removes those whose owner is gone.
	OwnerPID int `json:"owner_pid,omitempty" toml:"owner_pid"`
	// ID names the snapshot's directory under <root>/snapshots.
	ID string `json:"id" toml:"id"`
	// Path is the layer's tree (overlay-ready: whiteouts are 0:0 character
	// devices, opaque directories carry trusted.overlay.opaque=y).
	Path string `json:"path" toml:"path"`
}

// Usage is the disk use of a snapshot's own layer, hard links counted once.
type Usage struct {
	Size   int64 `json:"size" toml:"size"`     // bytes allocated
	Inodes int64 `json:"inodes" toml:"inodes"` // files, directories, links, ...
}

// Mount is a mount to perform, as plain data (containerd's mount.Mount).
// Prepare and View return Target "": the caller mounts the root wherever it
// wants; MountAll does it for callers that have no mount code of their own.
type Mount struct {
	Type    string   `json:"type" toml:"type"`
	Source  string   `json:"source" toml:"source"`
	Target  string   `json:"target,omitempty" toml:"target"`
	Options []string `json:"options,omitempty" toml:"options"`
}

// Lowerdirs returns the read-only layers, top first, of the root mount in
// mounts: the lowerdir list of an overlay, or the source of a bind. A caller
// that brings its own upper (a tmpfs, say) mounts an overlay of these.
func Lowerdirs(mounts []Mount) []string {
	for _, m := range mounts {
		if m.Target != "" {
			continue
		}
		switch m.Type {
		case "overlay":
			for _, o := range m.Options {
				if l, ok := strings.CutPrefix(o, "lowerdir="); ok {
					return strings.Split(l, ":")
				}
			}
		case "bind":
			return []string{m.Source}
		}
	}
	return nil
}

// Opt adjusts Prepare, View and Commit.
type Opt func(*options)

type options struct {
	labels   map[string]string
	detached bool
}

// WithLabels attaches labels to the new snapshot.
func WithLabels(labels map[string]string) Opt {
	return func(o *options) {
		if o.labels == nil {
			o.labels = map[string]string{}
		}
		for k, v := range labels {
			o.labels[k] = v
		}
	}
}

// Detached makes an active snapshot or view outlive the calling process:
// nobody owns it, GC keeps it, and only Remove or Commit ends it (containerd's
// semantics). Without it the calling process owns the snapshot until it
// removes or commits it, and GC clears it once the process is gone.
func Detached() Opt { return func(o *options) { o.detached = true } }

// Format names an import source's format.
type Format string

const (
	FormatAuto   Format = ""       // detect
	FormatDir    Format = "dir"    // a directory holding the root tree
	FormatTar    Format = "tar"    // a tar of the root tree, plain, gzip or zstd
	FormatOCI    Format = "oci"    // an OCI image layout, directory or tar
	FormatDocker Format = "docker" // docker save / podman save, directory or tar
)

// DevicePolicy says what an import does with character and block devices.
type DevicePolicy string

const (
	// DevicesSkip (the default) leaves device nodes out, with a warning: the
	// sandbox mounts its own /dev, and a device node in a layer is a way to
	// reach host hardware.
	DevicesSkip DevicePolicy = ""
	// DevicesReject fails the import at the first device node.
	DevicesReject DevicePolicy = "reject"
	// DevicesAllow creates them.
	DevicesAllow DevicePolicy = "allow"
)

// ImportOptions tune Import and ImportReader.
type ImportOptions struct {
	Format Format `json:"format,omitempty" toml:"format"`
	// Parent makes a directory or tar import a layer on top of this
	// committed snapshot: OCI whiteouts in a tar then delete from it.
	Parent  string            `json:"parent,omitempty" toml:"parent"`
	Labels  map[string]string `json:"labels,omitempty" toml:"labels"`
	Devices DevicePolicy      `json:"devices,omitempty" toml:"devices"`
	// Ref picks one image from a layout or save tarball holding several:
	// an org.opencontainers.image.ref.name or io.containerd.image.name
	// annotation, or a docker RepoTag, whole or below a registry
	// ("busybox:1.36"), by tag alone ("1.36"), or a bare repository meaning
	// its latest ("busybox"). Refused for a root's directory or tar.
	Ref string `json:"ref,omitempty" toml:"ref"`
	// Platform picks a manifest from a multi-platform index, "os/arch" or
	// "os/arch/variant"; empty means linux and the running architecture.
	// The image's config must name that platform too (or none). Refused
	// for a root's directory or tar.
	Platform string `json:"platform,omitempty" toml:"platform"`
	// Progress, when set, is called after every entry applied.
	Progress func(Progress) `json:"-" toml:"-"`
	// Warn, when set, receives an *EntryError for every entry neutralised
	// rather than refused (a device skipped, an absolute path made relative,
	// an overlay xattr dropped).
	Warn func(error) `json:"-" toml:"-"`
}

// Progress reports an import as it goes. SourceBytes of SourceSize (0 when
// unknown, as for a pipe) is what a progress bar wants.
type Progress struct {
	Entries     int64  `json:"entries"`      // entries applied
	Bytes       int64  `json:"bytes"`        // file content written
	SourceBytes int64  `json:"source_bytes"` // bytes read from the source (compressed)
	SourceSize  int64  `json:"source_size"`  // total source bytes, if known
	Layer       int    `json:"layer"`        // 1-based image layer being applied
	Layers      int    `json:"layers"`       // image layers in all
	Entry       string `json:"entry"`        // the entry just applied
}

// ChangeKind is how a path differs from the parent.
type ChangeKind string

const (
	ChangeAdded    ChangeKind = "added"
	ChangeModified ChangeKind = "modified"
	ChangeDeleted  ChangeKind = "deleted"
)

// Change is one path a layer added, modified or deleted relative to its
// parent. A deleted directory is reported once, not per file below it.
type Change struct {
	Kind ChangeKind `json:"kind" toml:"kind"`
	Path string     `json:"path" toml:"path"` // absolute, as seen inside the root
}

// GCOptions tune GC.
type GCOptions struct {
	// PruneLayers also removes image layers (label LabelLayer) that no
	// snapshot stands on any more. They are otherwise kept as a cache that
	// later imports of images sharing them reuse.
	PruneLayers bool `json:"prune_layers,omitempty" toml:"prune_layers"`
}

// GCReport says what GC cleared.
type GCReport struct {
	Snapshots []string `json:"snapshots,omitempty"` // abandoned active snapshots, views and pruned layers removed
	Records   int      `json:"records"`             // broken or half-written metadata records removed
	Dirs      int      `json:"dirs"`                // orphaned layer directories and dead builds removed
}

// LabelLayer marks an intermediate image layer, named by its chain ID.
const LabelLayer = "sandbox.layer"
