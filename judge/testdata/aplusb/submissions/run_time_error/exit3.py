# Prints the right answer, then exits 3: RTE by exit code.
import sys
a, b = map(int, input().split())
print(a + b)
sys.exit(3)
