/*
 * A Kattis output validator: validate input answer feedback_dir < output.
 * Accepts the team's number within 1e-6 absolute or relative of the
 * answer's; exits 42 (AC) or 43 (WA) and says why in judgemessage.txt.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void verdict(const char *dir, int code, const char *msg, double want, double got) {
	char path[4096];
	snprintf(path, sizeof path, "%s/judgemessage.txt", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, msg, want, got);
		fputc('\n', f);
		fclose(f);
	}
	exit(code);
}

int main(int argc, char **argv) {
	if (argc < 4) return 1;
	FILE *ans = fopen(argv[2], "r");
	double want, got;
	if (!ans || fscanf(ans, "%lf", &want) != 1) return 1;
	if (scanf("%lf", &got) != 1) verdict(argv[3], 43, "expected %g, got no number%.0f", want, 0);
	char extra[2];
	if (scanf("%1s", extra) == 1) verdict(argv[3], 43, "expected %g alone, got %g and more", want, got);
	double d = fabs(got - want);
	if (d <= 1e-6 || d <= 1e-6 * fabs(want)) verdict(argv[3], 42, "%g matches %g", want, got);
	verdict(argv[3], 43, "expected %g, got %g", want, got);
	return 0;
}
