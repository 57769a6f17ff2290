/* int overflows on the second secret test: WA there, after AC on the first ones. */
#include <stdio.h>
int main(void) {
	int a, b;
	if (scanf("%d %d", &a, &b) != 2) return 1;
	printf("%d\n", a + b);
	return 0;
}
