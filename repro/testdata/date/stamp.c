/* No headers: __DATE__ and __TIME__ are read as soon as the compiler starts. */
int printf(const char *, ...);

int main(void) {
	printf("built on %s at %s\n", __DATE__, __TIME__);
	return 0;
}
