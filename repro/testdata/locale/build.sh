# sort(1) collates by the locale: C sorts capitals first, Estonian folds
# case and puts z after s.
set -e
mkdir -p out
sort words.txt > out/sorted.txt
