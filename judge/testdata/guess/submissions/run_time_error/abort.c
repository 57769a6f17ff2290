/* One guess, then a crash before the interactor is done: RTE. */
#include <stdio.h>
#include <stdlib.h>
int main(void) {
	printf("500\n");
	fflush(stdout);
	abort();
}
