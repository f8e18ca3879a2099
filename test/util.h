/* util.h: helpers shared by the test suites. */
#ifndef KS_TEST_UTIL_H
#define KS_TEST_UTIL_H

#include <check.h>
#include <kstream/kstream.h>
#include <stddef.h>

/* Every suite's constructor, as test/main.c runs them. */
#define KS_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef KS_SUITE

/* A fresh empty directory under $KS_TEST_TMP (or /tmp); free() the result. */
char *kt_tmpdir(const char *tag);
/* rm -rf path. */
void kt_rmrf(const char *path);
/* Path join into a static per-call buffer is error prone: returns malloc'd. */
char *kt_path(const char *dir, const char *name);
/* Size of a file, -1 if missing. */
long long kt_file_size(const char *path);

/* Asserts rc == 0, printing ks_strerror otherwise. */
#define KT_OK(expr)                                                          \
	do {                                                                 \
		int kt_rc_ = (expr);                                         \
		ck_assert_msg(kt_rc_ == 0, "%s: %s (%d)", #expr,             \
		    ks_strerror(kt_rc_), kt_rc_);                            \
	} while (0)

#endif
