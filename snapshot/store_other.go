//go:build !linux

package snapshot

import (
	"context"
	"io"
)

// Store is an overlay snapshot store; it exists only on Linux.
type Store struct{}

func Open(cfg Config) (*Store, error) { return nil, ErrUnsupported }

func (s *Store) Close() error { return ErrUnsupported }
func (s *Store) Root() string { return "" }
func (s *Store) Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error) {
	return nil, ErrUnsupported
}
func (s *Store) View(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error) {
	return nil, ErrUnsupported
}
func (s *Store) Mounts(ctx context.Context, key string) ([]Mount, error) { return nil, ErrUnsupported }
func (s *Store) Commit(ctx context.Context, name, key string, opts ...Opt) error {
	return ErrUnsupported
}
func (s *Store) Remove(ctx context.Context, key string) error           { return ErrUnsupported }
func (s *Store) Stat(ctx context.Context, key string) (Info, error)     { return Info{}, ErrUnsupported }
func (s *Store) Usage(ctx context.Context, key string) (Usage, error)   { return Usage{}, ErrUnsupported }
func (s *Store) Diff(ctx context.Context, key string) ([]Change, error) { return nil, ErrUnsupported }
func (s *Store) Walk(ctx context.Context, fn func(context.Context, Info) error) error {
	return ErrUnsupported
}
func (s *Store) Export(ctx context.Context, key string, w io.Writer) error { return ErrUnsupported }
func (s *Store) ExportFile(ctx context.Context, key, file string) error    { return ErrUnsupported }
func (s *Store) Import(ctx context.Context, name, source string, opts ImportOptions) (Info, error) {
	return Info{}, ErrUnsupported
}
func (s *Store) ImportReader(ctx context.Context, name string, r io.Reader, opts ImportOptions) (Info, error) {
	return Info{}, ErrUnsupported
}
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	return GCReport{}, ErrUnsupported
}

// ParseOptions splits mount options into flags and data; without mount(2)
// there are no flags.
func ParseOptions(opts []string) (flags uintptr, data string) { return 0, "" }

func (m Mount) Mount(target string) error          { return ErrUnsupported }
func MountAll(mounts []Mount, target string) error { return ErrUnsupported }
func UnmountAll(target string) error               { return ErrUnsupported }

func CopyLayer(ctx context.Context, dst, src string) error { return ErrUnsupported }
