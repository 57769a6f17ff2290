#include <stdio.h>

int main(void) {
	printf("compiled from %s\n", __FILE__);
	return 0;
}
