/* Waits for the interactor to speak first; it waits for a guess: both block, TLE. */
#include <stdio.h>
int main(void) {
	char buf[64];
	if (fgets(buf, sizeof buf, stdin)) puts(buf);
	return 0;
}
