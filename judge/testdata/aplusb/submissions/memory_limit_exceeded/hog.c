/* Touches 1 GiB, far over the 128 MiB limit: the OOM killer ends it, MLE. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
int main(void) {
	for (int i = 0; i < 1024; i++) {
		char *p = malloc(1 << 20);
		if (!p) return 2;
		memset(p, i, 1 << 20);
	}
	puts("0");
	return 0;
}
