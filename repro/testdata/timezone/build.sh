# A fixed instant, but written in local time.
set -e
mkdir -p out
date -d @1700000000 '+release 1.0 of %Y-%m-%d %H:%M' > out/release.txt
