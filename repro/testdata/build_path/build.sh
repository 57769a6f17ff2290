# The absolute build path: the source is named by its full path, so
# __FILE__ carries it.
set -e
mkdir -p out
cc -o out/where "$PWD/where.c"
