/*
 * check_retention.c: ks_log_retention by size and by time, and what readers
 * holding the removed segments are promised (kstream/log.h): a view stays
 * readable until released, then the segment's disk is freed; an iterator
 * the log start has passed gets KS_EOFFSET.
 *
 * A record's value is a pure function of its offset, so whatever survives
 * can be checked in full.
 */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMALL_SEG 16384
#define BIG (64u << 20)
#define VLEN 200
#define MAXSEG 64
#define MAXPER 16

/* Times for the time-based tests: "now" and the cutoff it implies. */
#define NOW INT64_C(10000000000)
#define RET_MS INT64_C(1000000)
#define CUTOFF (NOW - RET_MS)

static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("retention");
}

static void suite_teardown(void)
{
	kt_rmrf(g_base);
	free(g_base);
	g_base = NULL;
}

static char *new_dir(const char *name)
{
	return kt_path(g_base, name);
}

static uint8_t vbyte(int64_t off, int j)
{
	return (uint8_t)(off * 7 + j * 13 + 1);
}

/* Appends one batch of n records with timestamps ts[0..n) at the log end. */
static void append_ts(ks_log_t *log, const int64_t *ts, size_t n)
{
	static uint8_t val[MAXPER][VLEN];
	ks_record_t r[MAXPER];
	ks_append_info_t info;
	int64_t first = ks_log_end_offset(log);
	size_t i;
	int j;

	ck_assert_uint_le(n, MAXPER);
	memset(r, 0, sizeof r);
	for (i = 0; i < n; i++) {
		for (j = 0; j < VLEN; j++)
			val[i][j] = vbyte(first + (int64_t)i, j);
		r[i].timestamp = ts[i];
		r[i].value = val[i];
		r[i].value_len = VLEN;
	}
	KT_OK(ks_log_append(log, r, n, &info));
	ck_assert_int_eq(info.base_offset, first);
	ck_assert_int_eq(info.last_offset, first + (int64_t)n - 1);
}

/* nb batches of 5 records, all with timestamp ts (-1: now). */
static void fill(ks_log_t *log, size_t nb, int64_t ts)
{
	int64_t t[5] = { ts, ts, ts, ts, ts };
	size_t i;

	for (i = 0; i < nb; i++)
		append_ts(log, t, 5);
}

/* Every record from..end is there, in order, with its value. */
static void check_records(ks_log_t *log, int64_t from, int64_t end)
{
	ks_log_iter_t *it = NULL;
	ks_record_t r;
	int64_t off;
	int j;

	KT_OK(ks_log_iter_new(log, from, &it));
	for (off = from; off < end; off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		ck_assert_int_eq(r.offset, off);
		ck_assert_uint_eq(r.value_len, VLEN);
		for (j = 0; j < VLEN; j++)
			ck_assert_uint_eq(((const uint8_t *)r.value)[j],
			    vbyte(off, j));
	}
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	ks_log_iter_free(it);
}

static void small_cfg(ks_log_config_t *cfg)
{
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	cfg->segment_bytes = SMALL_SEG;
	cfg->retention_ms = -1;
	cfg->retention_bytes = -1;
}

/* A segment and its indexes are all there, or all gone. */
static void assert_seg(const char *dir, int64_t base, int present)
{
	static const char *ext[] = { ".log", ".index", ".timeindex" };
	size_t i;

	for (i = 0; i < 3; i++)
		ck_assert_msg(kt_seg_exists(dir, base, ext[i]) == present,
		    "segment %" PRId64 "%s: %s", base, ext[i],
		    present ? "missing" : "still on disk");
}

/* Bytes of batches in segment i of n, read whole through one view. */
static uint64_t seg_bytes(ks_log_t *log, const int64_t *bases, size_t n,
    size_t i)
{
	int64_t next = i + 1 < n ? bases[i + 1] : ks_log_end_offset(log);
	ks_log_view_t v;
	uint64_t len;

	KT_OK(ks_log_read(log, bases[i], BIG, &v));
	ck_assert_int_eq(v.base_offset, bases[i]);
	ck_assert_int_eq(v.next_offset, next);
	len = v.len;
	ks_log_view_release(&v);
	return len;
}

/* Every batch of the view validates and they follow one another. */
static void validate_view(const void *data, size_t len, int64_t base,
    int64_t next)
{
	const uint8_t *p = data;
	ks_batch_info_t bi;
	size_t pos = 0;

	while (pos < len) {
		KT_OK(ks_batch_validate(p + pos, len - pos, &bi));
		ck_assert_int_eq(bi.base_offset, base);
		base += bi.last_offset_delta + 1;
		pos += KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
	}
	ck_assert_uint_eq(pos, len);
	ck_assert_int_eq(base, next);
}

/* ---- by size ------------------------------------------------------------ */

START_TEST(test_size)
{
	char *dir = new_dir("size");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	ks_log_view_t v;
	int64_t bases[MAXSEG], left[MAXSEG], end;
	uint64_t size[MAXSEG], total = 0, limit = 50000;
	size_t n, i, expect, removed = 99;

	small_cfg(&cfg);
	cfg.retention_bytes = (int64_t)limit;
	log = kt_open_log(dir, &cfg);
	fill(log, 120, -1);
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 8);
	for (i = 0; i < n; i++)
		total += size[i] = seg_bytes(log, bases, n, i);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.size_bytes, total);
	ck_assert_uint_gt(total, limit);

	/* Oldest first, while what remains is still at least the limit
	 * (Kafka's rule): what must go. */
	for (expect = 0; expect + 1 < n && total - size[expect] >= limit;
	     expect++)
		total -= size[expect];
	ck_assert_uint_ge(expect, 2); /* the scenario means something */
	ck_assert_uint_lt(expect, n - 1);

	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, expect);
	ck_assert_int_eq(ks_log_start_offset(log), bases[expect]);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	for (i = 0; i < n; i++)
		assert_seg(dir, bases[i], i >= expect);
	ck_assert_uint_eq(kt_list_segments(dir, left, MAXSEG), n - expect);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.size_bytes, total);
	/* at least the limit is kept, and no whole segment more */
	ck_assert_uint_ge(st.size_bytes, limit);
	ck_assert_uint_lt(st.size_bytes - size[expect], limit);
	ck_assert_uint_eq(st.segment_count, n - expect);
	ck_assert_int_eq(st.start_offset, bases[expect]);
	ck_assert_int_eq(ks_log_read(log, bases[expect] - 1, BIG, &v),
	    KS_EOFFSET);
	ks_log_view_release(&v);
	check_records(log, bases[expect], end);

	/* Nothing more may go now. */
	removed = 99;
	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, 0);
	KT_OK(ks_log_retention(log, -1, NULL));
	ck_assert_int_eq(ks_log_start_offset(log), bases[expect]);

	/* And so it stays after a reopen. */
	KT_OK(ks_log_close(log));
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_start_offset(log), bases[expect]);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	check_records(log, bases[expect], end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_size_never_active)
{
	char *dir = new_dir("sizeactive");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	int64_t bases[MAXSEG], end;
	size_t n, i, removed = 0;

	small_cfg(&cfg);
	cfg.retention_bytes = 1; /* smaller than any segment */
	log = kt_open_log(dir, &cfg);
	fill(log, 60, -1);
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 3);

	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, n - 1);
	ck_assert_int_eq(ks_log_start_offset(log), bases[n - 1]);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	for (i = 0; i + 1 < n; i++)
		assert_seg(dir, bases[i], 0);
	assert_seg(dir, bases[n - 1], 1);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, 1);
	ck_assert_uint_gt(st.size_bytes, 0);
	check_records(log, bases[n - 1], end);

	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, 0);
	assert_seg(dir, bases[n - 1], 1);
	fill(log, 1, -1);
	check_records(log, bases[n - 1], end + 5);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- by time ------------------------------------------------------------ */

/*
 * A: old; B: newest exactly one ms older than the cutoff; C: newest exactly
 * at the cutoff; D, active: all old. A and B go; C is not older than the
 * cutoff and D is active. Loop 1 reopens the log first, so the newest
 * timestamps come from disk.
 */
START_TEST(test_time)
{
	char *dir = new_dir(_i ? "time-reopen" : "time");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t b[4], end, t[3];
	size_t removed = 99;

	small_cfg(&cfg);
	cfg.retention_ms = RET_MS;
	log = kt_open_log(dir, &cfg);
	b[0] = ks_log_end_offset(log);
	fill(log, 4, CUTOFF - 500000);
	KT_OK(ks_log_roll(log));
	b[1] = ks_log_end_offset(log);
	fill(log, 2, CUTOFF - 400000);
	t[0] = CUTOFF - 3;
	t[1] = CUTOFF - 1;
	t[2] = CUTOFF - 2;
	append_ts(log, t, 3);
	KT_OK(ks_log_roll(log));
	b[2] = ks_log_end_offset(log);
	fill(log, 2, CUTOFF - 300000);
	t[0] = CUTOFF - 1;
	t[1] = CUTOFF;
	append_ts(log, t, 2);
	KT_OK(ks_log_roll(log));
	b[3] = ks_log_end_offset(log);
	fill(log, 2, 100);
	end = ks_log_end_offset(log);
	if (_i) {
		KT_OK(ks_log_close(log));
		log = kt_open_log(dir, &cfg);
	}

	KT_OK(ks_log_retention(log, NOW, &removed));
	ck_assert_uint_eq(removed, 2);
	ck_assert_int_eq(ks_log_start_offset(log), b[2]);
	assert_seg(dir, b[0], 0);
	assert_seg(dir, b[1], 0);
	assert_seg(dir, b[2], 1);
	assert_seg(dir, b[3], 1);
	check_records(log, b[2], end);

	/* One ms later C is older than the cutoff too; D stays, active. */
	KT_OK(ks_log_retention(log, NOW + 1, &removed));
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(ks_log_start_offset(log), b[3]);
	assert_seg(dir, b[2], 0);
	assert_seg(dir, b[3], 1);
	KT_OK(ks_log_retention(log, NOW + 1000 * RET_MS, &removed));
	ck_assert_uint_eq(removed, 0);
	assert_seg(dir, b[3], 1);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	check_records(log, b[3], end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* A segment's newest timestamp is its largest, wherever it lies. */
START_TEST(test_time_newest_is_largest)
{
	char *dir = new_dir("timemax");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t t[3], b1;
	size_t removed = 99;

	small_cfg(&cfg);
	cfg.retention_ms = RET_MS;
	log = kt_open_log(dir, &cfg);
	fill(log, 2, 100);
	t[0] = 100;
	t[1] = NOW; /* the newest, mid-batch, in a middle batch */
	t[2] = 200;
	append_ts(log, t, 3);
	fill(log, 2, 300);
	KT_OK(ks_log_roll(log));
	b1 = ks_log_end_offset(log);
	fill(log, 1, 100);

	KT_OK(ks_log_retention(log, NOW, &removed));
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	assert_seg(dir, 0, 1);
	KT_OK(ks_log_retention(log, NOW + RET_MS + 1, &removed));
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(ks_log_start_offset(log), b1);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_time_never_active)
{
	char *dir = new_dir("timeactive");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t b1, end;
	size_t removed = 99;

	small_cfg(&cfg);
	cfg.retention_ms = RET_MS;
	log = kt_open_log(dir, &cfg);

	/* A single, active segment, all of it ancient: it stays. */
	fill(log, 3, 100);
	KT_OK(ks_log_retention(log, NOW, &removed));
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	assert_seg(dir, 0, 1);

	KT_OK(ks_log_roll(log));
	b1 = ks_log_end_offset(log);
	fill(log, 3, 100);
	end = ks_log_end_offset(log);
	KT_OK(ks_log_retention(log, NOW, &removed));
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(ks_log_start_offset(log), b1);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	assert_seg(dir, 0, 0);
	assert_seg(dir, b1, 1);
	check_records(log, b1, end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* now_ms < 0 is the wall clock; retention.ms -1 and bytes -1 keep all. */
START_TEST(test_time_now_and_unlimited)
{
	char *dir = new_dir("timenow");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t bases[MAXSEG], b1, b2;
	size_t n, removed = 99;

	small_cfg(&cfg); /* unlimited both ways */
	log = kt_open_log(dir, &cfg);
	fill(log, 60, 1000); /* 1970, and far over any size limit */
	KT_OK(ks_log_roll(log));
	b1 = ks_log_end_offset(log);
	fill(log, 2, -1);
	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, 0);
	KT_OK(ks_log_retention(log, INT64_MAX / 2, &removed));
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	KT_OK(ks_log_close(log));

	/* Kafka's default retention.ms, 7 days: 1970 is gone, now is not. */
	cfg.retention_ms = INT64_C(7) * 24 * 3600 * 1000;
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_roll(log)); /* the wall-clock segment is no longer active */
	fill(log, 1, -1);
	b2 = b1 + 10;
	ck_assert_int_eq(ks_log_end_offset(log), b2 + 5);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 4);
	ck_assert_int_eq(bases[n - 2], b1);
	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, n - 2);
	ck_assert_int_eq(ks_log_start_offset(log), b1);
	assert_seg(dir, b1, 1);
	assert_seg(dir, b2, 1);
	check_records(log, b1, b2 + 5);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- readers of removed segments ---------------------------------------- */

/* Whether this process still maps or holds open the file at path. */
static int process_holds(const char *path)
{
	char line[PATH_MAX + 256], link[PATH_MAX + 32], target[PATH_MAX];
	FILE *f = fopen("/proc/self/maps", "r");
	DIR *d;
	struct dirent *e;
	int held = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f))
		if (strstr(line, path))
			held = 1;
	fclose(f);
	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strstr(target, path))
			held = 1;
	}
	closedir(d);
	return held;
}

START_TEST(test_view_outlives_retention)
{
	char *dir = new_dir("view");
	char *seg0;
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_view_t v;
	int64_t bases[MAXSEG];
	uint8_t *copy;
	size_t n, len, removed = 0;

	small_cfg(&cfg);
	cfg.retention_bytes = 1;
	log = kt_open_log(dir, &cfg);
	fill(log, 60, -1);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 3);

	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_int_eq(v.next_offset, bases[1]);
	len = v.len;
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, v.data, len);

	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, n - 1);
	seg0 = kt_seg_file(dir, 0, ".log");
	ck_assert_int_eq(kt_file_size(seg0), -1);
	assert_seg(dir, 0, 0);

	/* The bytes are still there and whole until released. */
	ck_assert_uint_eq(v.len, len);
	ck_assert_mem_eq(v.data, copy, len);
	validate_view(v.data, v.len, 0, bases[1]);
	fill(log, 20, -1); /* the log goes on meanwhile */
	ck_assert_mem_eq(v.data, copy, len);
	ks_log_view_release(&v);

	/* Released: nothing of the segment is kept, its disk is free. */
	ck_assert_int_eq(kt_file_size(seg0), -1);
	ck_assert_msg(!process_holds(seg0), "%s still mapped or open after "
	    "the last view was released", seg0);
	KT_OK(ks_log_close(log));
	ck_assert(!process_holds(seg0));
	free(seg0);
	free(copy);
	free(dir);
}
END_TEST

START_TEST(test_iter_overtaken)
{
	char *dir = new_dir("iter");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *fresh = NULL, *reading = NULL;
	ks_record_t r;
	int64_t bases[MAXSEG], start, end, off;
	size_t n, removed = 0;
	int rc;

	small_cfg(&cfg);
	cfg.retention_bytes = 1;
	log = kt_open_log(dir, &cfg);
	fill(log, 60, -1);
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 3);

	KT_OK(ks_log_iter_new(log, 0, &fresh));
	KT_OK(ks_log_iter_new(log, 0, &reading));
	for (off = 0; off < 3; off++) {
		ck_assert_int_eq(ks_log_iter_next(reading, &r), 1);
		ck_assert_int_eq(r.offset, off);
	}

	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, n - 1);
	start = ks_log_start_offset(log);
	ck_assert_int_eq(start, bases[n - 1]);

	/* Positioned below the new start: told so, not moved silently. */
	ck_assert_int_eq(ks_log_iter_next(fresh, &r), KS_EOFFSET);
	/*
	 * Mid-batch in a removed segment: what it returns before the error
	 * may only be what follows where it was; it must not skip to start.
	 */
	while ((rc = ks_log_iter_next(reading, &r)) == 1) {
		ck_assert_int_eq(r.offset, off);
		ck_assert_int_lt(r.offset, start);
		off++;
	}
	ck_assert_int_eq(rc, KS_EOFFSET);

	/* Seeking to the start recovers. */
	KT_OK(ks_log_iter_seek(fresh, start));
	ck_assert_int_eq(ks_log_iter_next(fresh, &r), 1);
	ck_assert_int_eq(r.offset, start);
	ks_log_iter_free(fresh);
	ks_log_iter_free(reading);
	check_records(log, start, end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

Suite *retention_suite(void); /* for test/main.c */

Suite *retention_suite(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("retention");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_size_never_active);
	tcase_add_loop_test(tc, test_time, 0, 2);
	tcase_add_test(tc, test_time_newest_is_largest);
	tcase_add_test(tc, test_time_never_active);
	tcase_add_test(tc, test_time_now_and_unlimited);
	tcase_add_test(tc, test_view_outlives_retention);
	tcase_add_test(tc, test_iter_overtaken);
	suite_add_tcase(s, tc);
	return s;
}
