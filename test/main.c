/*
 * main.c: the test runner. Runs every suite listed in suites.h, or only
 * those named on the command line, and prints Check's summary.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define KS_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef KS_SUITE

static const struct {
	const char *name;
	Suite *(*make)(void);
} suites[] = {
#define KS_SUITE(name) { #name, name##_suite },
#include "suites.h"
#undef KS_SUITE
};

int main(int argc, char **argv)
{
	SRunner *sr = NULL;
	size_t i;
	int j, failed;

	for (i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		int want = argc < 2;
		for (j = 1; j < argc; j++)
			want |= strcmp(argv[j], suites[i].name) == 0;
		if (!want)
			continue;
		if (!sr)
			sr = srunner_create(suites[i].make());
		else
			srunner_add_suite(sr, suites[i].make());
	}
	if (!sr)
		return 2;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
