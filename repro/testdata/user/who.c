#include <stdio.h>

int main(void) {
	printf("built by %s\n", BUILT_BY);
	return 0;
}
