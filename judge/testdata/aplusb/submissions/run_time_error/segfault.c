/* Dies of SIGSEGV: RTE by signal. */
#include <stdio.h>
int main(void) {
	volatile int *p = (int *)16;
	*p = 1;
	printf("%d\n", *p);
	return 0;
}
