# The CPU count, as a build that records its -j would.
set -e
mkdir -p out
cc -DBUILD_JOBS="$(nproc)" -o out/jobs jobs.c
