/*
 * check_core.c: error strings and names, the version.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const int codes[] = {
#define KT_CODE(name, val, str) KS_##name,
	KS_ERRNO_MAP(KT_CODE)
#undef KT_CODE
};
#define NCODES (sizeof codes / sizeof codes[0])

START_TEST(test_strerror_distinct)
{
	size_t i, j;

	ck_assert_uint_gt(NCODES, 0);
	for (i = 0; i < NCODES; i++) {
		const char *s = ks_strerror(codes[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_lt(codes[i], -4096); /* outside errno's range */
		ck_assert_str_ne(s, "unknown error");
		ck_assert_str_ne(s, "");
		for (j = 0; j < i; j++) {
			ck_assert_int_ne(codes[i], codes[j]);
			ck_assert_str_ne(s, ks_strerror(codes[j]));
		}
	}
	ck_assert_str_eq(ks_strerror(0), "success");
	ck_assert_str_eq(ks_strerror(KS_ECRC), "record batch CRC mismatch");
}
END_TEST

START_TEST(test_strerror_errno)
{
	ck_assert_str_eq(ks_strerror(-ENOSPC), strerror(ENOSPC));
	ck_assert_str_eq(ks_strerror(-EIO), strerror(EIO));
	ck_assert_str_eq(ks_strerror(-ENOBUFS), strerror(ENOBUFS));
	/* Neither a library code nor an errno. */
	ck_assert_str_eq(ks_strerror(1), "unknown error");
	ck_assert_str_eq(ks_strerror(-19999), "unknown error");
	ck_assert_str_eq(ks_strerror(-30000), "unknown error");
	ck_assert_ptr_nonnull(ks_strerror(-2147483647 - 1));
}
END_TEST

START_TEST(test_errname)
{
	size_t i, j;

	ck_assert_str_eq(ks_errname(KS_ECRC), "KS_ECRC");
	ck_assert_str_eq(ks_errname(KS_EINVAL), "KS_EINVAL");
	ck_assert_str_eq(ks_errname(KS_ECONFIG), "KS_ECONFIG");
	ck_assert_str_eq(ks_errname(-ENOSPC), "ENOSPC");
	ck_assert_str_eq(ks_errname(0), "OK");
	ck_assert_str_eq(ks_errname(-19999), "UNKNOWN");
	for (i = 0; i < NCODES; i++) {
		const char *n = ks_errname(codes[i]);
		ck_assert_int_eq(strncmp(n, "KS_E", 4), 0);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(n, ks_errname(codes[j]));
	}
}
END_TEST

START_TEST(test_version)
{
	char want[32];

	ck_assert_int_eq(ks_version(), KS_VERSION_NUMBER);
	ck_assert_int_eq(KS_VERSION_NUMBER, KS_VERSION_MAJOR * 10000 +
	    KS_VERSION_MINOR * 100 + KS_VERSION_PATCH);
	/* Derived from the macros, so a version bump needs no test change. */
	snprintf(want, sizeof want, "%d.%d.%d", KS_VERSION_MAJOR,
	    KS_VERSION_MINOR, KS_VERSION_PATCH);
	ck_assert_str_eq(ks_version_string(), want);
}
END_TEST

Suite *core_suite(void); /* for test/main.c */

Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_strerror_distinct);
	tcase_add_test(tc, test_strerror_errno);
	tcase_add_test(tc, test_errname);
	tcase_add_test(tc, test_version);
	suite_add_tcase(s, tc);
	return s;
}
