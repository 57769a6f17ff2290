#include <stdio.h>

int main(void) {
	printf("built on %s at %s\n", __DATE__, __TIME__);
	return 0;
}
