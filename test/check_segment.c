/* check_segment.c: one segment file (lib/log/segment.c). */
#define _GNU_SOURCE
#include "util.h"
#include "core/internal.h"
#include "log/segment.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESERVE (4u << 20)

static char *dir;

static void setup(void)
{
	dir = kt_tmpdir("segment");
}

static void teardown(void)
{
	kt_rmrf(dir);
	free(dir);
}

/* Appends one batch of n records with values of vlen bytes at the
 * segment's end, as the log does: reserve, encode in place, index, publish.
 * Returns its position. */
static size_t put_batch(ks__segment_t *s, int64_t base, int n, size_t vlen,
    int64_t ts)
{
	ks_record_t recs[64];
	char val[512];
	size_t size, len, pos = s->size;
	int i;

	ck_assert_int_le(n, 64);
	memset(val, 'a' + (int)(base % 26), sizeof val);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		recs[i].value = val;
		recs[i].value_len = vlen;
		recs[i].timestamp = ts + i;
	}
	KT_OK(ks_batch_size(recs, (size_t)n, &size));
	KT_OK(ks__segment_reserve(s, size));
	ck_assert_uint_ge(ks__seg_alloc(s), pos + size);
	KT_OK(ks_batch_encode(s->map + pos, size, recs, (size_t)n, base, 0,
	    &len));
	ks__segment_index_batch(s, s->map + pos, pos, len, 1024);
	s->next_offset = base + n;
	s->size = pos + len;
	return pos;
}

START_TEST(append_find_seal)
{
	ks__segment_t *s;
	size_t pos[40];
	int64_t off = 100;
	int i;

	KT_OK(ks__segment_open(dir, 100, RESERVE, 64 << 10, 1, &s));
	ck_assert_int_eq(s->base, 100);
	ck_assert_uint_eq(s->size, 0);
	for (i = 0; i < 40; i++) {
		pos[i] = put_batch(s, off, 5, 100, 1000 + off);
		off += 5;
	}
	/* every offset is found at the batch holding it, with or without
	 * the index's help */
	for (i = 0; i < 40; i++) {
		ck_assert_uint_eq(ks__segment_find(s, 100 + i * 5, s->size),
		    pos[i]);
		ck_assert_uint_eq(ks__segment_find(s, 100 + i * 5 + 4, s->size),
		    pos[i]);
	}
	ck_assert_uint_gt(ks__index_count(&s->oidx), 3);
	ck_assert_uint_eq(ks__segment_find(s, 99999, s->size), s->size);
	/* the time index leads to a batch at or before the first record at
	 * or after a timestamp */
	ck_assert_uint_le(ks__segment_find_time(s, 1000 + 150, s->size),
	    pos[10]);
	ck_assert_int_eq(s->max_ts, 1000 + 100 + 199);
	/* the file was preallocated beyond the data; sealing cuts it */
	ck_assert_int_gt(kt_file_size(s->path), (long long)s->size);
	KT_OK(ks__segment_seal(s));
	ck_assert_int_eq(kt_file_size(s->path), (long long)s->size);
	ck_assert(s->sealed);
	ck_assert_uint_eq(ks__segment_walk_end(s, s->size), s->size);
	ks__segment_unref(s);
}
END_TEST

START_TEST(scan_torn_and_zero_tail)
{
	ks__segment_t *s;
	ks__scan_t r;
	size_t p3, end;
	int64_t next;

	KT_OK(ks__segment_open(dir, 0, RESERVE, 64 << 10, 1, &s));
	put_batch(s, 0, 10, 50, 1);
	put_batch(s, 10, 10, 50, 1);
	put_batch(s, 20, 10, 50, 1);
	p3 = put_batch(s, 30, 10, 50, 1);
	end = s->size;

	/* intact, with the preallocated zeros after it: a clean end */
	ks__segment_scan(s, 0, 0, ks__seg_alloc(s), 1, 1024, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.end, end);
	ck_assert_int_eq(r.next_offset, 40);
	ck_assert_int_eq(r.first_offset, 0);
	ck_assert(!r.dirty_tail);
	ck_assert_uint_eq(r.scanned, end);

	/* a flipped byte in the last batch: the scan ends before it */
	s->map[p3 + 70] ^= 0x10;
	ks__segment_scan(s, 0, 0, ks__seg_alloc(s), 1, 1024, &r);
	ck_assert_int_eq(r.err, KS_ECRC);
	ck_assert_uint_eq(r.bad_pos, p3);
	ck_assert_uint_eq(r.end, p3);
	ck_assert_int_eq(r.next_offset, 30);
	s->map[p3 + 70] ^= 0x10;

	/* a zeroed header followed by data: damage, not an end */
	memset(s->map + p3, 0, 12);
	ks__segment_scan(s, 0, 0, ks__seg_alloc(s), 1, 1024, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert(r.dirty_tail);
	ck_assert_uint_eq(r.end, p3);

	/* a batch cut short by the end of the file */
	ks__segment_scan(s, 0, 0, p3 + 40, 1, 1024, &r);
	ck_assert_uint_eq(r.end, p3);

	/* offsets that go backwards are damage */
	ks__put_be64(s->map + p3, 5);
	ks__segment_scan(s, 0, 0, end, 1, 1024, &r);
	ck_assert_uint_eq(r.end, p3);

	/* the headers before a point rebuild the indexes and give the
	 * offset there; a point inside a batch is refused */
	ck_assert_int_eq(ks__segment_reindex(s, p3, 1024, &next), 0);
	ck_assert_int_eq(next, 30);
	ck_assert_int_eq(ks__segment_reindex(s, p3 - 1, 1024, &next), -1);
	ks__segment_unref(s);
}
END_TEST

START_TEST(reserve_limits)
{
	ks__segment_t *s;

	KT_OK(ks__segment_open(dir, 0, 1 << 20, 0, 1, &s));
	ck_assert_int_eq(ks__segment_reserve(s, 2 << 20), -EFBIG);
	KT_OK(ks__segment_reserve(s, 1000));
	ck_assert_uint_ge(ks__seg_alloc(s), 1000);
	ck_assert_uint_le(ks__seg_alloc(s), s->map_len);
	/* growth is capped at the reserve, whatever is asked */
	KT_OK(ks__segment_grow(s, 100u << 20));
	ck_assert_uint_eq(ks__seg_alloc(s), s->map_len);
	ks__segment_unref(s);
}
END_TEST

START_TEST(unlink_while_held)
{
	ks__segment_t *s;
	char *idx = kt_path(dir, "00000000000000000007.index");

	KT_OK(ks__segment_open(dir, 7, RESERVE, 64 << 10, 1, &s));
	put_batch(s, 7, 3, 10, 1);
	ks__segment_ref(s); /* a reader's view */
	ks__segment_unlink(s);
	ck_assert_int_eq(kt_file_size(s->path), -1);
	ck_assert_int_eq(kt_file_size(idx), -1);
	/* the mapping still reads */
	ck_assert_int_eq((int64_t)ks__be64(s->map), 7);
	ks__segment_unref(s);
	ks__segment_unref(s);
	free(idx);
}
END_TEST

START_TEST(open_errors)
{
	ks__segment_t *s = (void *)1;
	char *missing = kt_path(dir, "nope");
	ck_assert_int_eq(ks__segment_open(missing, 0, RESERVE, 0, 1, &s),
	    -ENOENT);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(ks__segment_open(dir, 0, RESERVE, 0, 0, &s), -ENOENT);
	free(missing);
}
END_TEST

Suite *segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("segment");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, append_find_seal);
	tcase_add_test(tc, scan_torn_and_zero_tail);
	tcase_add_test(tc, reserve_limits);
	tcase_add_test(tc, unlink_while_held);
	tcase_add_test(tc, open_errors);
	suite_add_tcase(s, tc);
	return s;
}
