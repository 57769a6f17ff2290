# Guesses 1, 2, 3, ...: the interactor gives up after 10 and exits first
# with WA; this program then dies writing to a closed pipe. Kattis's rule:
# the validator's WA, not the crash.
import sys
for g in range(1, 1001):
    print(g, flush=True)
    if sys.stdin.readline().strip() == "correct":
        break
