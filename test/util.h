/* util.h: helpers shared by the test suites. */
#ifndef KS_TEST_UTIL_H
#define KS_TEST_UTIL_H

#include <check.h>
#include <kstream/kstream.h>
#include <stddef.h>
#include <stdint.h>

/* Every suite's constructor, as test/main.c runs them. */
#define KS_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef KS_SUITE

/* A fresh empty directory under $KS_TEST_TMP (or /tmp); free() the result. */
char *kt_tmpdir(const char *tag);
/*
 * A fresh empty directory base/t-XXXXXX: a test's own, under the one its
 * test case's unchecked fixture made; free() the result.
 */
char *kt_subdir(const char *base);
/* base/name, removed if it exists, not created; free() the result. */
char *kt_fresh_path(const char *base, const char *name);
/* rm -rf path. */
void kt_rmrf(const char *path);
/* rm -rf *dirp (if set), free() it and set it NULL: a fixture's teardown. */
void kt_rmrf_free(char **dirp);
/* Path join into a static per-call buffer is error prone: returns malloc'd. */
char *kt_path(const char *dir, const char *name);
/* Size of a file, -1 if missing. */
long long kt_file_size(const char *path);

/*
 * n loopback ports that nobody listened on a moment ago: all bound to
 * port 0 at once, so that they differ, then released for whatever a test
 * starts on them (one taken in between makes that start fail, loudly).
 */
void kt_free_ports(int *ports, int n);
/* One such port. */
int kt_free_port(void);

/*
 * ---- the record generator of the crash, recovery and multiproc suites: a
 * record follows from (seed, offset) alone, so a reader in any process can
 * check what a writer appended without being told.
 */

/* One splitmix64 step: well-mixed bits that any process recomputes from x. */
uint64_t kt_mix64(uint64_t x);
/*
 * $KS_TEST_SEED if set (any strtoull base), else dflt: a failure names its
 * seed, and setting the variable replays it.
 */
uint64_t kt_seed(uint64_t dflt);
/* CLOCK_MONOTONIC in nanoseconds, for deadlines. */
int64_t kt_now_ns(void);

/* A generated record and the buffers its pointers refer to. */
struct kt_gen {
	char key[32];
	uint8_t value[300];
	uint8_t hval[16];
	ks_header_t hdrs[2];
	ks_record_t rec;
};

/* Fills g with the record at offset off; its timestamp is t0 + off. */
void kt_gen_record(uint64_t seed, int64_t t0, int64_t off, struct kt_gen *g);
/* a[0..alen) and b[0..blen) are equal, and both NULL or neither is. */
int kt_same_bytes(const void *a, size_t alen, const void *b, size_t blen);

/*
 * How a mismatch in the record's own fields is put into words: the suites
 * were written with one or the other, and their messages are kept.
 */
enum kt_why {
	KT_WHY_RECORD,	/* one line with all of rec's fields */
	KT_WHY_FIELD,	/* the first differing field and its expected value */
};
/* 0 if rec, read at offset off, is exactly want->rec, else -1 and why. */
int kt_gen_compare(const struct kt_gen *want, int64_t off,
    const ks_record_t *rec, enum kt_why how, char *why, size_t whylen);
/*
 * 0 if rec is exactly what the generator makes for off, else -1 and why
 * (worded as KT_WHY_RECORD).
 */
int kt_gen_check(uint64_t seed, int64_t t0, int64_t off,
    const ks_record_t *rec, char *why, size_t whylen);

/* ---- segment files */

/* Opens dir with cfg, asserting success. */
ks_log_t *kt_open_log(const char *dir, const ks_log_config_t *cfg);
/* dir/<base as 20 digits><ext>; free() the result. */
char *kt_seg_file(const char *dir, int64_t base, const char *ext);
/* Whether that file exists. */
int kt_seg_exists(const char *dir, int64_t base, const char *ext);
/*
 * Base offsets of the <20 digits>.log files in dir, ascending; asserts there
 * are at most cap.
 */
size_t kt_list_segments(const char *dir, int64_t *bases, size_t cap);

/* ---- stores and their metrics */

/*
 * A store configuration for a test: the defaults but flags, the cleaner
 * off (a test decides when to clean) and, if not NULL, log_cb.
 */
void kt_store_config(ks_store_config_t *cfg, int flags, ks_log_cb *log_cb);
/* The value of the sample name{match} of m, which must be there. */
double kt_value(const ks_metrics_t *m, const char *name, const char *match);

/* Asserts rc == 0, printing ks_strerror otherwise. */
#define KT_OK(expr)                                                          \
	do {                                                                 \
		int kt_rc_ = (expr);                                         \
		ck_assert_msg(kt_rc_ == 0, "%s: %s (%d)", #expr,             \
		    ks_strerror(kt_rc_), kt_rc_);                            \
	} while (0)

#endif
