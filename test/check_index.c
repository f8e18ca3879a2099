/* check_index.c: a segment's offset and time indexes (lib/log/index.c). */
#define _GNU_SOURCE
#include "util.h"
#include "log/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *dir;
static char *path;

static void setup(void)
{
	dir = kt_tmpdir("index");
	path = kt_path(dir, "00000000000000001000.index");
}

static void teardown(void)
{
	kt_rmrf(dir);
	free(path);
	free(dir);
}

START_TEST(offset_lookup)
{
	ks__index_t ix;
	int64_t off;
	uint32_t pos;
	int i;

	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 8 * 100, 1));
	ck_assert_uint_eq(ks__index_count(&ix), 0);
	/* no entry: every lookup starts at the segment's beginning */
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1500), 0);
	ck_assert_int_eq(ks__offidx_last(&ix, &off, &pos), -1);
	/* entries: batch last offsets 1009, 1019, ... at 4096-byte steps */
	for (i = 1; i <= 10; i++)
		KT_OK(ks__offidx_append(&ix, 1000 + i * 10 - 1, (uint32_t)(i * 4096)));
	ck_assert_uint_eq(ks__index_count(&ix), 10);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1000), 0);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1008), 0);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1009), 4096);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1015), 4096);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1099), 40960);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 999999), 40960);
	KT_OK(ks__offidx_last(&ix, &off, &pos));
	ck_assert_int_eq(off, 1099);
	ck_assert_uint_eq(pos, 40960);
	/* truncation drops entries at and above the offset */
	ks__index_truncate(&ix, 1049);
	ck_assert_uint_eq(ks__index_count(&ix), 4);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1099), 4 * 4096);
	ks__index_close(&ix, 1);
	/* a trimmed file holds exactly its entries */
	ck_assert_int_eq(kt_file_size(path), 4 * 8);
}
END_TEST

START_TEST(full_and_reopen)
{
	ks__index_t ix;
	int i;

	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 8 * 4, 1));
	for (i = 1; i <= 4; i++)
		KT_OK(ks__offidx_append(&ix, 1000 + i, (uint32_t)(i * 100)));
	ck_assert(ks__index_full(&ix));
	ck_assert_int_eq(ks__offidx_append(&ix, 1010, 1000), -ENOSPC);
	ks__index_close(&ix, 0);
	/* reopened read-only: the entries are there */
	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 0, 0));
	ck_assert_uint_eq(ks__index_count(&ix), 4);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1003), 300);
	ks__index_close(&ix, 0);
}
END_TEST

START_TEST(sanitize_after_crash)
{
	ks__index_t ix;
	int i;

	/* An untrimmed file after a crash: entries, then preallocated zeros. */
	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 8 * 64, 1));
	for (i = 1; i <= 5; i++)
		KT_OK(ks__offidx_append(&ix, 1000 + i * 10, (uint32_t)(i * 500)));
	ks__index_close(&ix, 0);
	ck_assert_int_eq(kt_file_size(path), 8 * 64);
	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 8 * 64, 1));
	ck_assert_uint_eq(ks__index_count(&ix), 64);
	/* zeros end the valid prefix */
	ck_assert_uint_eq(ks__offidx_sanitize(&ix, 1 << 20), 59);
	ck_assert_uint_eq(ks__index_count(&ix), 5);
	/* entries pointing past the log's size go too */
	ck_assert_uint_eq(ks__offidx_sanitize(&ix, 1600), 2);
	ck_assert_uint_eq(ks__index_count(&ix), 3);
	/* appends continue after the kept prefix */
	KT_OK(ks__offidx_append(&ix, 1040, 2000));
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1045), 2000);
	ks__index_close(&ix, 1);
	ck_assert_int_eq(kt_file_size(path), 4 * 8);
}
END_TEST

START_TEST(sanitize_garbage)
{
	ks__index_t ix;
	FILE *f = fopen(path, "wb");
	/* decreasing offsets after two good entries */
	static const uint8_t bytes[] = {
		0, 0, 0, 5, 0, 0, 1, 0,
		0, 0, 0, 9, 0, 0, 2, 0,
		0, 0, 0, 7, 0, 0, 3, 0,
		0xff, 0xff,
	};
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, sizeof bytes, f), sizeof bytes);
	fclose(f);
	KT_OK(ks__index_open(&ix, path, KS__OFFIDX_ENTRY, 1000, 8 * 16, 1));
	/* whole entries as found; the torn one at the end is ignored */
	ck_assert_uint_eq(ks__index_count(&ix), 3);
	ks__offidx_sanitize(&ix, 1 << 20);
	ck_assert_uint_eq(ks__index_count(&ix), 2);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1008), 256);
	ck_assert_uint_eq(ks__offidx_lookup(&ix, 1009), 512);
	ks__index_close(&ix, 1);
}
END_TEST

START_TEST(time_lookup)
{
	ks__index_t ix;
	int64_t ts, off;

	KT_OK(ks__index_open(&ix, path, KS__TIMEIDX_ENTRY, 1000, 12 * 100, 1));
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 5000), -1);
	ck_assert_int_eq(ks__timeidx_last(&ix, &ts, &off), -1);
	KT_OK(ks__timeidx_append(&ix, 100, 1010));
	KT_OK(ks__timeidx_append(&ix, 200, 1020));
	KT_OK(ks__timeidx_append(&ix, 300, 1030));
	/* the last entry with a timestamp below the target */
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 50), -1);
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 100), -1);
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 101), 1010);
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 250), 1020);
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 300), 1020);
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 301), 1030);
	KT_OK(ks__timeidx_last(&ix, &ts, &off));
	ck_assert_int_eq(ts, 300);
	ck_assert_int_eq(off, 1030);
	/* big timestamps survive the big-endian round trip */
	KT_OK(ks__timeidx_append(&ix, 1700000000000LL, 1040));
	ck_assert_int_eq(ks__timeidx_lookup(&ix, 1700000000001LL), 1040);
	ks__index_truncate(&ix, 1030);
	ck_assert_uint_eq(ks__index_count(&ix), 2);
	ck_assert_uint_eq(ks__timeidx_sanitize(&ix, 1 << 30), 0);
	ks__index_close(&ix, 1);
	ck_assert_int_eq(kt_file_size(path), 24);
}
END_TEST

START_TEST(open_errors)
{
	ks__index_t ix;
	char *missing = kt_path(dir, "nodir/x.index");
	ck_assert_int_eq(ks__index_open(&ix, missing, KS__OFFIDX_ENTRY, 0, 80, 1),
	    -ENOENT);
	ck_assert_int_eq(ks__index_open(&ix, missing, KS__OFFIDX_ENTRY, 0, 80, 0),
	    -ENOENT);
	free(missing);
}
END_TEST

Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("index");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, offset_lookup);
	tcase_add_test(tc, full_and_reopen);
	tcase_add_test(tc, sanitize_after_crash);
	tcase_add_test(tc, sanitize_garbage);
	tcase_add_test(tc, time_lookup);
	tcase_add_test(tc, open_errors);
	suite_add_tcase(s, tc);
	return s;
}
