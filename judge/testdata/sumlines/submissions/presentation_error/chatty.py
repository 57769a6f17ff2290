# The right sum, with words around it: the checker says PE.
import sys
nums = list(map(int, sys.stdin.read().split()))
print("sum =", sum(nums[1:]))
