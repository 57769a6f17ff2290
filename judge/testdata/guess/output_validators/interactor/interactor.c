/*
 * A Kattis interactive validator: interactor input answer feedback_dir,
 * stdin from the submission, stdout to it. The secret is in the input;
 * the submission has 10 guesses, each answered "lower", "higher" or
 * "correct". Exits 42 when guessed, 43 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>

static const char *dir;

static void end(int code, const char *msg, int n) {
	char path[4096];
	snprintf(path, sizeof path, "%s/judgemessage.txt", dir);
	FILE *f = fopen(path, "w");
	if (f) { fprintf(f, msg, n); fputc('\n', f); fclose(f); }
	exit(code);
}

int main(int argc, char **argv) {
	if (argc < 4) return 1;
	dir = argv[3];
	FILE *in = fopen(argv[1], "r");
	int secret, guess;
	if (!in || fscanf(in, "%d", &secret) != 1) return 1;
	for (int i = 1; i <= 10; i++) {
		if (scanf("%d", &guess) != 1) end(43, "no guess %d: the submission stopped talking", i);
		if (guess == secret) {
			puts("correct");
			fflush(stdout);
			end(42, "guessed in %d", i);
		}
		puts(guess > secret ? "lower" : "higher");
		fflush(stdout);
	}
	end(43, "not guessed in %d guesses", 10);
}
