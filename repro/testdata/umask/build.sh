# A file the build makes takes its mode from the umask, and the tar records
# the mode.
set -e
mkdir -p out/pkg
echo "config" > out/pkg/settings
tar -cf out/pkg.tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C out pkg
