/*
 * A checker with testlib's interface and exit codes, in plain C:
 * check input output answer. 0 OK, 1 WA, 2 PE (the output is not one
 * integer), 3 FAIL (the answer file is broken). Comments go to stderr, as
 * testlib's do.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	if (argc < 4) { fputs("FAIL usage: check input output answer\n", stderr); return 3; }
	FILE *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
	long long want, got;
	if (!ans || fscanf(ans, "%lld", &want) != 1) { fputs("FAIL no answer\n", stderr); return 3; }
	if (!out || fscanf(out, "%lld", &got) != 1) { fputs("wrong output format: expected an integer\n", stderr); return 2; }
	char extra[2];
	if (fscanf(out, "%1s", extra) == 1) { fputs("wrong output format: extra output after the sum\n", stderr); return 2; }
	if (got != want) { fprintf(stderr, "wrong answer expected %lld, found %lld\n", want, got); return 1; }
	fprintf(stderr, "ok the sum is %lld\n", got);
	return 0;
}
