# Integer division: the full score for even inputs, half for odd ones.
n = int(input())
print(n // 2)
