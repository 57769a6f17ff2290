# The build host's name, compiled in.
set -e
mkdir -p out
cc -DBUILD_HOST="\"$(hostname)\"" -o out/host host.c
