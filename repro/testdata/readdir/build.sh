# A tar of a directory without --sort=name: its members come in the order
# the filesystem lists them. Times and owners are fixed, so only the order
# can differ.
set -e
mkdir -p out
tar -cf out/data.tar --mtime=@0 --owner=0 --group=0 --numeric-owner data
