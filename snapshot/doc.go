// Package snapshot is the sandbox's store of root filesystems: named,
// immutable layers stacked with overlayfs, so that a run gets a fresh
// writable root in the time of a mount, whatever the root's size.
//
// # Vocabulary and lifecycle (containerd's snapshotter model)
//
// A committed snapshot is an immutable layer with an optional parent; it
// may be the parent of others. An active snapshot is a writable upper
// directory over a committed parent (or over nothing); a view is a
// read-only mount of a committed parent. Names and keys share one
// namespace and follow ValidateName.
//
//	Import(name, source)   -> committed           (dir, tar, OCI layout, docker-archive, dir: layout)
//	Prepare(key, parent)   -> active, []Mount     (parent committed or "")
//	View(key, parent)      -> view, []Mount
//	Commit(name, key)      active -> committed name (parent: key's parent)
//	Remove(key)            any; refused for a committed snapshot with
//	                       children (ErrHasChildren) or active snapshots and
//	                       views on it (ErrInUse), and for an active snapshot
//	                       or view a live process owns (ErrInUse)
//	Stat, Walk, Usage, Mounts, Diff, Export, GC
//
// Mounts are plain data ([]Mount, Target ""): the sandbox's init stage
// performs them in its own mount namespace; MountAll/UnmountAll do it for
// tests, benchmarks and tools. An active snapshot over a parent is one
// overlay (lowerdir = the parent's chain, top first; upperdir, workdir in the
// store); with no parent it is a bind of its upper. A view is an overlay of
// the chain, or a read-only bind when the chain is one layer (overlayfs
// wants two lowerdirs without an upper). Lowerdirs extracts the layers for
// a runner that stacks its own (tmpfs) upper over a view.
//
// # Ownership
//
// An active snapshot or view belongs to the process that made it (unless
// made Detached): it holds a shared flock on the snapshot's directory until
// Remove or Commit. Another process's Remove is refused while that lock is
// held; GC removes those whose lock is free, i.e. whose owner died, however
// it died. A flock rather than pid + start time: the kernel releases it at
// death, and pid reuse cannot fake it; the pid is recorded only to name the
// owner in messages. Throwaway runs are therefore Prepare, mount, run,
// unmount, Remove, and a runner killed mid-run leaves debris that GC clears.
//
// # Layout
//
//	<root>/lock                       flock held for every metadata change
//	<root>/metadata/<name>.json       one record per snapshot
//	<root>/snapshots/<id>/fs          the layer (overlay-ready tree)
//	<root>/snapshots/<id>/work        overlayfs workdir (active snapshots)
//	<root>/tmp/                       builds in progress, trash being deleted
//
// A layer's tree is in overlayfs's own format: whiteouts are 0:0 character
// devices, opaque directories carry trusted.overlay.opaque=y. Ids are 8 hex
// digits, short so that ~100 layers fit in one page of mount options.
//
// # Metadata and crash safety
//
// One record file per snapshot, rather than one index file: the hot path
// (Prepare, Remove) then writes or unlinks one small file instead of
// rewriting an index that grows with every concurrent run, and a damaged
// record (possible only by power loss) costs one snapshot, not the store.
// Records are written to a temporary name and renamed; committed ones are
// fsynced (with a syncfs of the layer first), records of active snapshots
// and views are not, since losing one only turns its directory into debris.
// Each committed record caches its chain of layer ids, so Prepare reads one
// file; that is sound because committed snapshots never change and a parent
// cannot be removed while children stand on it.
//
// Every multi-step change is ordered so that a process killed between any
// two steps leaves a state that lists and runs correctly and that GC
// resolves: a directory is moved into snapshots/ (renameat2 NOREPLACE to a
// fresh id) before its record is written, and a commit moves the active
// snapshot's directory to a new id, so two records never share a directory;
// a record whose directory is gone, a directory no record names, and a build
// in tmp/ whose builder's flock is free are all debris. Imports and flattens
// build in tmp/ without the store lock and take it only to move in and
// record.
//
// # Flattening
//
// overlayfs stacks at most 500 lowerdirs and mount(2) takes one page of
// options. A commit or import whose chain would exceed Config.MaxLayers
// (default 100) or make Prepare's options longer than a page is flattened:
// the new layer holds the whole merged tree, its chain is itself alone, and
// Info.Flattened says so. Its Parent still names the snapshot it was made
// on, for Diff and for Remove's refusal.
//
// # Importers
//
// Every source becomes a stream of entries applied by one applier, which
// resolves each entry's parent below the layer root with openat2
// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or O_NOFOLLOW per component
// before Linux 5.6) and creates the entry with *at calls on that
// descriptor. Hence:
//   - ".." that climbs out of the root: refused; a leading "/": taken inside
//     the root, with a warning; a path through a symlink (even one inside the
//     layer): refused, as no tool writes layers that way and it is the classic
//     escape.
//   - hard links: the target must already be in the same layer.
//   - paths over 4096 bytes or names over 255: refused; so is a 10000-deep
//     path.
//   - character and block devices: skipped with a warning (DevicesSkip),
//     or refused, or created, per ImportOptions.Devices.
//   - overlayfs's private xattrs (trusted.overlay.*, user.overlay.*): dropped
//     with a warning; others set (SCHILY.xattr.* PAX records).
//   - owners, modes (setuid, setgid, sticky after chown), nanosecond times
//     (directories' last), symlink targets and hard links are preserved.
//
// Refusals are *EntryError values naming the entry (errors.Is
// ErrUnsafeEntry); a refused import leaves nothing behind.
//
// OCI whiteouts in tar layers become overlay whiteouts: .wh.NAME a 0:0
// device (or, over a directory this layer itself holds, an opaque mark),
// .wh..wh..opq an opaque directory (at a layer's root, where overlayfs
// ignores the mark, a whiteout per lower name). A directory the archive
// does not list takes the owner, mode and times of the directory it
// shadows below (containerd's WithParents). Image layers are applied
// directly into the new layer, not through a mounted overlay, so a path
// through a symlink of a lower layer is refused like any other.
//
// An image is taken as the engines write it, as a directory or a tar (plain,
// gzip or zstd; a tar file read in place, anything else spooled into tmp/):
//   - an OCI image layout: podman save --format oci-archive or oci-dir,
//     skopeo's oci: and oci-archive:, docker save from Docker 25 on (whose
//     manifest.json beside index.json is used where 25.0 wrote an empty
//     index or a manifest without layers);
//   - a docker-archive: docker save before 25, podman save --format
//     docker-archive, skopeo's docker-archive: (whose <id>/layer.tar is a
//     symlink to a <hex>.tar at the top);
//   - a dir: layout: skopeo's dir:, podman save --format docker-dir
//     (manifest.json is one manifest, OCI or Docker schema 2, blobs named by
//     hex digest; a list from copy --all, its instances <hex>.manifest.json).
//
// A tar is an image when its first entries say so (blobs/, index.json,
// manifest.json, <hex>.tar, <hex>/...; past a leading "./"), else a root.
// One image is chosen by ImportOptions.Ref (a tag or an index name) and
// Platform (default linux/GOARCH) through the index, nested indexes
// included; entries whose blobs the source lacks and attestations are
// not choices. None left is ErrPlatform, several ErrAmbiguous, each error
// naming what the source holds. The image's config must be for that
// platform too (ErrPlatform): a foreign root would only fail at its first
// exec. Every digest and member path is checked before it becomes a path,
// and a directory's members are opened beneath it (a symlink may lead from
// one member to another, never out). Layers must be tar media types
// (gzip or zstd compression read from the blob itself), and each layer's
// uncompressed digest must match the config's diff_ids. Layers below the
// top become committed snapshots named by chain ID and labelled
// LabelLayer, reused by later imports; the top is the name asked for. An
// import that fails removes the layers it made; one whose shared layer is
// removed meanwhile (by such a cleanup, or GC) makes it again, once.
//
// A directory import copies one filesystem (mount points below the source
// come out empty, and the store itself is left out), hard links included.
//
// # Export and Diff
//
// Export writes the merged tree of a snapshot's chain as a tar, computed in
// Go (no mount): topmost entry wins, whiteouts hide, directories merge down
// to an opaque one or a non-directory, hard links by inode. Diff compares a
// snapshot's own layer with its parent's merged tree.
package snapshot
