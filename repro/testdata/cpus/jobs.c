#include <stdio.h>

int main(void) {
	printf("built with %d parallel jobs\n", BUILD_JOBS);
	return 0;
}
