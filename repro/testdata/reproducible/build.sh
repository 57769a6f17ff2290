# A reproducible C build: no debug info (no build path), nothing of the host.
set -e
mkdir -p out
cc -O2 -o out/hello hello.c
