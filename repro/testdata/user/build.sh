# The user name of whoever builds.
set -e
mkdir -p out
cc -DBUILT_BY="\"$(id -un)\"" -o out/who who.c
