# __DATE__ and __TIME__: GCC takes them from SOURCE_DATE_EPOCH when it is
# set, so this build ignores it, as an older compiler (or a build system that
# clears the environment) would.
set -e
unset SOURCE_DATE_EPOCH
mkdir -p out
cc -Wno-date-time -o out/stamp stamp.c
