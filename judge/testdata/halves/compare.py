# A CMS comparator: compare.py input answer output. Prints the test's
# score from 0 to 1 on stdout and a message on stderr: 1 for the exact
# half, 0.5 for its integer part, 0 otherwise.
import sys

want = float(open(sys.argv[2]).read())
try:
    got = float(open(sys.argv[3]).read())
except ValueError:
    print(0.0)
    print("not a number", file=sys.stderr)
    sys.exit(0)
if abs(got - want) < 1e-9:
    print(1.0)
    print("correct", file=sys.stderr)
elif int(got) == int(want):
    print(0.5)
    print("rounded down", file=sys.stderr)
else:
    print(0.0)
    print("wrong", file=sys.stderr)
