# Prints the first number, not the sum.
import sys
nums = sys.stdin.read().split()
print(nums[1])
