/*
 * check_log.c: one partition's log through its public API (kstream/log.h),
 * end to end: files on disk, offsets, batch validation, zero-copy reads,
 * iterators, timestamps, flush policy, persistence, truncation and
 * DeleteRecords. Retention has its own suite (check_retention.c).
 *
 * Every record's content is a pure function of (seed, offset), so any read
 * can be checked against what must be there without keeping copies.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TS0 INT64_C(1600000000000) /* explicit timestamps: 2020-09-13 */
#define SMALL_SEG 16384            /* segment.bytes for multi-segment logs */
#define BIG (64u << 20)            /* a max_bytes that never limits a read */
#define MAXREC 64
#define MAXVAL 320
#define MAXSEG 64

/* The suite's scratch directory, made and removed by the parent process. */
static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("log");
}

static void suite_teardown(void)
{
	kt_rmrf(g_base);
	free(g_base);
	g_base = NULL;
}

/* A log directory under the scratch dir; not created (open creates it). */
static char *new_dir(const char *name)
{
	return kt_path(g_base, name);
}

/* ---- deterministic records ---------------------------------------------- */

static int64_t ts_of(int64_t off)
{
	return TS0 + off * 10;
}

/* Key of record off, or -1 for a null key. */
static int key_of(int seed, int64_t off, char *buf, size_t cap)
{
	if (off % 13 == 3)
		return -1;
	return snprintf(buf, cap, "k%d-%" PRId64, seed, off);
}

/* Value length of record off, -1 for a null value (a tombstone). */
static int vlen_of(int seed, int64_t off)
{
	if (off % 17 == 5)
		return -1;
	if (off % 11 == 7)
		return 0; /* empty, not null */
	return (seed >= 100 ? 200 : 0) + (int)((off * 37 + seed) % 61);
}

static uint8_t vbyte(int seed, int64_t off, int j)
{
	return (uint8_t)(seed * 131 + off * 31 + j * 7);
}

static int hcount_of(int64_t off)
{
	return (int)(off % 4);
}

/* Header j of record off; its value is null for j == 1. */
static void header_of(int seed, int64_t off, int j, char *k, char *v)
{
	sprintf(k, "h%d", j);
	sprintf(v, "v%d-%" PRId64 "-%d", seed, off, j);
}

struct gen {
	ks_record_t rec[MAXREC];
	char key[MAXREC][32];
	uint8_t val[MAXREC][MAXVAL];
	ks_header_t hdr[MAXREC][3];
	char hkey[MAXREC][3][16];
	char hval[MAXREC][3][48];
};

/* Records first..first+n-1 of seed; timestamps ts_of(off), or -1 (now). */
static void gen_fill(struct gen *g, int seed, int64_t first, size_t n,
    int explicit_ts)
{
	size_t i;
	int j;

	ck_assert_uint_le(n, MAXREC);
	memset(g->rec, 0, sizeof g->rec);
	for (i = 0; i < n; i++) {
		int64_t off = first + (int64_t)i;
		ks_record_t *r = &g->rec[i];
		int kl = key_of(seed, off, g->key[i], sizeof g->key[i]);
		int vl = vlen_of(seed, off);

		r->timestamp = explicit_ts ? ts_of(off) : -1;
		if (kl >= 0) {
			r->key = g->key[i];
			r->key_len = (size_t)kl;
		}
		if (vl >= 0) {
			for (j = 0; j < vl; j++)
				g->val[i][j] = vbyte(seed, off, j);
			r->value = g->val[i];
			r->value_len = (size_t)vl;
		}
		for (j = 0; j < hcount_of(off); j++) {
			ks_header_t *h = &g->hdr[i][j];
			header_of(seed, off, j, g->hkey[i][j], g->hval[i][j]);
			h->key = g->hkey[i][j];
			h->key_len = strlen(g->hkey[i][j]);
			if (j != 1) {
				h->value = g->hval[i][j];
				h->value_len = strlen(g->hval[i][j]);
			}
		}
		r->headers = hcount_of(off) ? g->hdr[i] : NULL;
		r->header_count = (size_t)hcount_of(off);
	}
}

/* Checks an output record against record off of seed; ts INT64_MIN: any. */
static void check_rec(const ks_record_t *r, int seed, int64_t off, int64_t ts)
{
	char kbuf[32], hk[16], hv[48];
	int kl = key_of(seed, off, kbuf, sizeof kbuf);
	int vl = vlen_of(seed, off);
	size_t pos = 0;
	ks_header_t h;
	int j;

	ck_assert_int_eq(r->offset, off);
	if (ts != INT64_MIN)
		ck_assert_int_eq(r->timestamp, ts);
	if (kl < 0) {
		ck_assert_msg(r->key == NULL, "offset %" PRId64 ": null key "
		    "read back as non-null", off);
	} else {
		ck_assert_uint_eq(r->key_len, (size_t)kl);
		ck_assert_mem_eq(r->key, kbuf, (size_t)kl);
	}
	if (vl < 0) {
		ck_assert_msg(r->value == NULL, "offset %" PRId64 ": tombstone "
		    "read back with a value", off);
	} else {
		ck_assert_msg(r->value != NULL, "offset %" PRId64 ": value of "
		    "length %d read back as null", off, vl);
		ck_assert_uint_eq(r->value_len, (size_t)vl);
		for (j = 0; j < vl; j++)
			ck_assert_uint_eq(((const uint8_t *)r->value)[j],
			    vbyte(seed, off, j));
	}
	ck_assert_uint_eq(r->header_count, (size_t)hcount_of(off));
	for (j = 0; j < hcount_of(off); j++) {
		ck_assert_int_eq(ks_record_header_next(r, &pos, &h), 1);
		header_of(seed, off, j, hk, hv);
		ck_assert_uint_eq(h.key_len, strlen(hk));
		ck_assert_mem_eq(h.key, hk, strlen(hk));
		if (j == 1) {
			ck_assert_ptr_null(h.value);
			ck_assert_uint_eq(h.value_len, 0);
		} else {
			ck_assert_uint_eq(h.value_len, strlen(hv));
			ck_assert_mem_eq(h.value, hv, strlen(hv));
		}
	}
	ck_assert_int_eq(ks_record_header_next(r, &pos, &h), 0);
}

static struct gen g_gen;

/* Appends records first..first+n-1 of seed as one batch through ks_log_append. */
static void append_n(ks_log_t *log, int seed, int64_t first, size_t n,
    int explicit_ts, ks_append_info_t *info)
{
	ks_append_info_t tmp;

	if (!info)
		info = &tmp;
	gen_fill(&g_gen, seed, first, n, explicit_ts);
	KT_OK(ks_log_append(log, g_gen.rec, n, info));
	ck_assert_int_eq(info->base_offset, first);
	ck_assert_int_eq(info->last_offset, first + (int64_t)n - 1);
}

/* nb batches of per records each, from the log end. */
static void append_batches(ks_log_t *log, int seed, size_t nb, size_t per)
{
	size_t i;

	for (i = 0; i < nb; i++)
		append_n(log, seed, ks_log_end_offset(log), per, 1, NULL);
}

/* Encodes records first..first+n-1 of seed with base offset field base. */
static size_t encode(uint8_t *buf, size_t cap, int seed, int64_t first,
    size_t n, int64_t base)
{
	size_t len = 0, want = 0;

	gen_fill(&g_gen, seed, first, n, 1);
	KT_OK(ks_batch_size(g_gen.rec, n, &want));
	KT_OK(ks_batch_encode(buf, cap, g_gen.rec, n, base, TS0, &len));
	ck_assert_uint_eq(len, want);
	return len;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Recomputes a batch's CRC (attributes to the end) after an edit. */
static void fix_crc(uint8_t *b, size_t len)
{
	put_be32(b + 17, ks_crc32c(0, b + 21, len - 21));
}

/* ---- the log and its files ---------------------------------------------- */

static void small_cfg(ks_log_config_t *cfg)
{
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	cfg->segment_bytes = SMALL_SEG;
}

/*
 * Walks every batch of a view: each validates (CRC included), base offsets
 * follow one another from view->base_offset, and the last batch ends
 * exactly at view->len and at view->next_offset. Returns the batch count.
 */
static size_t walk_view(const ks_log_view_t *v)
{
	const uint8_t *p = v->data;
	size_t pos = 0, n = 0;
	int64_t next = v->base_offset;
	ks_batch_info_t bi;

	while (pos < v->len) {
		KT_OK(ks_batch_validate(p + pos, v->len - pos, &bi));
		ck_assert_int_eq(bi.base_offset, next);
		next = bi.base_offset + bi.last_offset_delta + 1;
		pos += KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
		n++;
	}
	ck_assert_uint_eq(pos, v->len);
	if (v->len)
		ck_assert_int_eq(next, v->next_offset);
	return n;
}

/* The log's bytes from start to end, read through views. */
struct blob {
	uint8_t *p;
	size_t len;
};

static void snapshot(ks_log_t *log, struct blob *b)
{
	int64_t off = ks_log_start_offset(log), end = ks_log_end_offset(log);
	ks_log_view_t v;

	b->p = NULL;
	b->len = 0;
	while (off < end) {
		KT_OK(ks_log_read(log, off, BIG, &v));
		ck_assert_uint_gt(v.len, 0);
		ck_assert_int_gt(v.next_offset, off);
		walk_view(&v);
		b->p = realloc(b->p, b->len + v.len);
		ck_assert_ptr_nonnull(b->p);
		memcpy(b->p + b->len, v.data, v.len);
		b->len += v.len;
		off = v.next_offset;
		ks_log_view_release(&v);
	}
	ck_assert_int_eq(off, end);
}

/* Iterates from..end and checks every record against seed. */
static void check_range(ks_log_t *log, int seed, int64_t from, int64_t end)
{
	ks_log_iter_t *it = NULL;
	ks_record_t r;
	int64_t off;

	KT_OK(ks_log_iter_new(log, from, &it));
	for (off = from; off < end; off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		check_rec(&r, seed, off, ts_of(off));
	}
	ks_log_iter_free(it);
}

/* Runs fn in a child that exits without closing anything, as a crash would. */
static void in_crashing_child(int (*fn)(const char *, int64_t),
    const char *dir, int64_t arg)
{
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(dir, arg) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed: status %d", status);
}

/* ---- open, files, offsets ----------------------------------------------- */

START_TEST(test_open_create)
{
	char *dir = new_dir("create");
	ks_log_config_t cfg;
	ks_log_t *log = (ks_log_t *)&cfg; /* open must set it to NULL */
	ks_log_view_t v;
	ks_log_stat_t st;
	struct stat sb;
	int64_t off = 0;

	ks_log_config_init(&cfg);
	ck_assert_int_eq(ks_log_open(dir, &cfg, &log), -ENOENT);
	ck_assert_ptr_null(log);
	ck_assert_int_eq(stat(dir, &sb), -1);

	cfg.flags = KS_LOG_CREATE;
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_str_eq(ks_log_dir(log), dir);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	ck_assert_int_eq(ks_log_end_offset(log), 0);
	ck_assert_int_eq(ks_log_durable_offset(log), 0);
	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_uint_eq(v.len, 0);
	ks_log_view_release(&v);
	KT_OK(ks_log_offset_for_time(log, 0, &off));
	ck_assert_int_eq(off, -1);

	append_n(log, 1, 0, 3, 1, NULL);
	ck_assert(kt_seg_exists(dir, 0, ".log"));
	ck_assert(kt_seg_exists(dir, 0, ".index"));
	ck_assert(kt_seg_exists(dir, 0, ".timeindex"));
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, 1);
	KT_OK(ks_log_close(log));
	ck_assert(kt_seg_exists(dir, 0, ".log"));
	ck_assert(kt_seg_exists(dir, 0, ".index"));
	ck_assert(kt_seg_exists(dir, 0, ".timeindex"));

	/* Now the directory exists: no flag needed, and NULL is the defaults. */
	log = kt_open_log(dir, NULL);
	ck_assert_str_eq(ks_log_dir(log), dir);
	ck_assert_int_eq(ks_log_end_offset(log), 3);
	check_range(log, 1, 0, 3);
	KT_OK(ks_log_close(log));

	ks_log_close(NULL);
	free(dir);
}
END_TEST

START_TEST(test_append_offsets)
{
	char *dir = new_dir("offsets");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 3, 1, &info);
	ck_assert_int_eq(ks_log_end_offset(log), 3);
	append_n(log, 1, 3, 5, 1, &info);
	ck_assert_int_eq(ks_log_end_offset(log), 8);
	append_n(log, 1, 8, 1, 1, &info);
	ck_assert_int_eq(info.base_offset, info.last_offset);
	ck_assert_int_eq(ks_log_end_offset(log), 9);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	check_range(log, 1, 0, 9);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- ks_log_append_batch ------------------------------------------------ */

START_TEST(test_append_batch_assigns)
{
	char *dir = new_dir("assign");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	ks_batch_info_t bi;
	ks_log_view_t v;
	uint8_t buf[8192], copy[8192];
	size_t len;

	small_cfg(&cfg);
	cfg.leader_epoch = 7;
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 5, 1, NULL);

	/* A producer's batch: offsets from 999, an epoch the log must replace. */
	len = encode(buf, sizeof buf, 1, 5, 4, 999);
	put_be32(buf + 12, 99);
	KT_OK(ks_batch_validate(buf, len, &bi));
	memcpy(copy, buf, len);
	KT_OK(ks_log_append_batch(log, buf, len, 0, &info));
	ck_assert_int_eq(info.base_offset, 5);
	ck_assert_int_eq(info.last_offset, 8);
	ck_assert_int_eq(ks_log_end_offset(log), 9);
	ck_assert_mem_eq(buf, copy, len);

	/* The log's copy: its own offset and epoch, the rest byte for byte. */
	KT_OK(ks_log_read(log, 5, BIG, &v));
	ck_assert_int_eq(v.base_offset, 5);
	ck_assert_int_eq(v.next_offset, 9);
	ck_assert_uint_eq(v.len, len);
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.base_offset, 5);
	ck_assert_int_eq(bi.leader_epoch, 7);
	ck_assert_int_eq(bi.record_count, 4);
	ck_assert_mem_eq((const uint8_t *)v.data + 8, buf + 8, 4);
	ck_assert_mem_eq((const uint8_t *)v.data + 16, buf + 16, len - 16);
	ks_log_view_release(&v);

	/* ks_log_append stamps the configured epoch too. */
	KT_OK(ks_log_read(log, 0, 1, &v));
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.leader_epoch, 7);
	ks_log_view_release(&v);

	check_range(log, 1, 0, 9);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* A small batch with one record, key "abc", value "hello", no headers. */
static size_t tiny_batch(uint8_t *buf, size_t cap)
{
	ks_record_t r;
	size_t len = 0;

	memset(&r, 0, sizeof r);
	r.timestamp = TS0;
	r.key = "abc";
	r.key_len = 3;
	r.value = "hello";
	r.value_len = 5;
	KT_OK(ks_batch_encode(buf, cap, &r, 1, 0, TS0, &len));
	/*
	 * 61 header bytes, then: length 14 (zigzag 28), attributes, timestamp
	 * delta 0, offset delta 0, key length 3 (zigzag 6), "abc", value length
	 * 5 (zigzag 10), "hello", header count 0. The edits below rely on it.
	 */
	ck_assert_uint_eq(len, 76);
	ck_assert_uint_eq(buf[61], 28);
	ck_assert_uint_eq(buf[65], 6);
	return len;
}

enum damage { D_MAGIC, D_CRC, D_RECLEN, D_KEYLEN, D_COUNT };

static const int damage_code[D_COUNT] = {
	[D_MAGIC] = KS_EMAGIC,
	[D_CRC] = KS_ECRC,
	[D_RECLEN] = KS_ERECORD,
	[D_KEYLEN] = KS_ERECORD,
};

/* Damages the tiny batch at b as one class of bad input. */
static void damage(uint8_t *b, size_t len, enum damage d)
{
	switch (d) {
	case D_MAGIC:
		b[16] = 1;
		break;
	case D_CRC:
		b[18] ^= 0x01;
		break;
	case D_RECLEN:
		b[61] = 80; /* 40 bytes: past the batch end; CRC fixed */
		fix_crc(b, len);
		break;
	case D_KEYLEN:
		b[65] = 100; /* key of 50 bytes: past the record; CRC fixed */
		fix_crc(b, len);
		break;
	default:
		ck_abort();
	}
}

/* The log's observable state must not move. */
struct state {
	int64_t start, end;
	uint64_t size;
};

static void get_state(ks_log_t *log, struct state *s)
{
	ks_log_stat_t st;

	KT_OK(ks_log_stat(log, &st));
	s->start = ks_log_start_offset(log);
	s->end = ks_log_end_offset(log);
	s->size = st.size_bytes;
}

static void assert_unchanged(ks_log_t *log, const struct state *s)
{
	struct state now;
	ks_log_view_t v;

	get_state(log, &now);
	ck_assert_int_eq(now.start, s->start);
	ck_assert_int_eq(now.end, s->end);
	ck_assert_uint_eq(now.size, s->size);
	KT_OK(ks_log_read(log, s->end, BIG, &v));
	ck_assert_uint_eq(v.len, 0);
	ks_log_view_release(&v);
}

START_TEST(test_append_batch_all_or_none)
{
	char *dir = new_dir("allornone");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	ks_log_view_t v;
	uint8_t buf[3 * 8192];
	size_t l1, l2, l3;
	struct state s;
	int d;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 4, 1, NULL);
	get_state(log, &s);

	/* Two good batches, then a bad one of each class: nothing goes in. */
	for (d = 0; d < D_COUNT; d++) {
		l1 = encode(buf, sizeof buf, 1, 4, 3, 0);
		l2 = encode(buf + l1, sizeof buf - l1, 1, 7, 5, 0);
		l3 = tiny_batch(buf + l1 + l2, sizeof buf - l1 - l2);
		damage(buf + l1 + l2, l3, (enum damage)d);
		ck_assert_int_eq(ks_log_append_batch(log, buf, l1 + l2 + l3, 0,
		    &info), damage_code[d]);
		assert_unchanged(log, &s);
	}

	/* The same three, undamaged: all in, offsets consecutive. */
	l1 = encode(buf, sizeof buf, 1, 4, 3, 0);
	l2 = encode(buf + l1, sizeof buf - l1, 1, 7, 5, 0);
	l3 = encode(buf + l1 + l2, sizeof buf - l1 - l2, 1, 12, 2, 0);
	KT_OK(ks_log_append_batch(log, buf, l1 + l2 + l3, 0, &info));
	ck_assert_int_eq(info.base_offset, 4);
	ck_assert_int_eq(info.last_offset, 13);
	ck_assert_int_eq(ks_log_end_offset(log), 14);
	KT_OK(ks_log_read(log, 4, BIG, &v));
	ck_assert_int_eq(v.base_offset, 4);
	ck_assert_uint_eq(v.len, l1 + l2 + l3);
	ck_assert_uint_eq(walk_view(&v), 3);
	ck_assert_int_eq(v.next_offset, 14);
	ks_log_view_release(&v);
	check_range(log, 1, 0, 14);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_bad_input)
{
	char *dir = new_dir("badinput");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	uint8_t buf[16384];
	size_t len;
	struct state s;
	int d;

	small_cfg(&cfg);
	cfg.max_message_bytes = 1024;
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 4, 1, NULL);
	get_state(log, &s);

	for (d = 0; d < D_COUNT; d++) {
		len = tiny_batch(buf, sizeof buf);
		damage(buf, len, (enum damage)d);
		ck_assert_int_eq(ks_log_append_batch(log, buf, len, 0, &info),
		    damage_code[d]);
		assert_unchanged(log, &s);
	}

	/* Truncated: cut short, shorter than a header, a partial second batch. */
	len = tiny_batch(buf, sizeof buf);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len - 1, 0, &info),
	    KS_EBATCH);
	assert_unchanged(log, &s);
	ck_assert_int_eq(ks_log_append_batch(log, buf, 40, 0, &info), KS_EBATCH);
	assert_unchanged(log, &s);
	ck_assert_int_eq(ks_log_append_batch(log, buf, 7, 0, &info), KS_EBATCH);
	assert_unchanged(log, &s);
	memcpy(buf + len, buf, 30);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len + 30, 0, &info),
	    KS_EBATCH);
	assert_unchanged(log, &s);
	/* A batchLength too small to hold the header. */
	len = tiny_batch(buf, sizeof buf);
	put_be32(buf + 8, 20);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len, 0, &info), KS_EBATCH);
	assert_unchanged(log, &s);

	/* Larger than max.message.bytes, by either door. */
	len = encode(buf, sizeof buf, 101, 4, 8, 0);
	ck_assert_uint_gt(len, 1024);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len, 0, &info),
	    KS_EMSGSIZE);
	assert_unchanged(log, &s);
	gen_fill(&g_gen, 101, 4, 8, 1);
	ck_assert_int_eq(ks_log_append(log, g_gen.rec, 8, &info), KS_EMSGSIZE);
	assert_unchanged(log, &s);

	/* Nothing to append. */
	len = tiny_batch(buf, sizeof buf);
	ck_assert_int_eq(ks_log_append_batch(log, NULL, len, 0, &info),
	    KS_EINVAL);
	ck_assert_int_eq(ks_log_append_batch(log, buf, 0, 0, &info), KS_EINVAL);
	ck_assert_int_eq(ks_log_append(log, NULL, 1, &info), KS_EINVAL);
	ck_assert_int_eq(ks_log_append(log, g_gen.rec, 0, &info), KS_EINVAL);
	assert_unchanged(log, &s);

	/* The log took none of it and goes on where it was. */
	append_n(log, 1, 4, 3, 1, &info);
	len = encode(buf, sizeof buf, 1, 7, 3, 0);
	ck_assert_uint_lt(len, 1024);
	KT_OK(ks_log_append_batch(log, buf, len, 0, &info));
	ck_assert_int_eq(info.base_offset, 7);
	check_range(log, 1, 0, 10);
	KT_OK(ks_log_close(log));

	/* And nothing of it reappears after a reopen. */
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), 10);
	check_range(log, 1, 0, 10);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_keep_offsets)
{
	char *dir = new_dir("keep");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	ks_batch_info_t bi;
	ks_log_view_t v;
	uint8_t buf[8192];
	size_t len;
	struct state s;

	small_cfg(&cfg);
	cfg.leader_epoch = 7;
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 3, 1, NULL);

	/* A follower's batch: the leader's offsets and epoch are kept. */
	len = encode(buf, sizeof buf, 1, 3, 4, 3);
	put_be32(buf + 12, 42);
	KT_OK(ks_log_append_batch(log, buf, len, KS_APPEND_KEEP_OFFSETS, &info));
	ck_assert_int_eq(info.base_offset, 3);
	ck_assert_int_eq(info.last_offset, 6);
	ck_assert_int_eq(ks_log_end_offset(log), 7);
	KT_OK(ks_log_read(log, 3, BIG, &v));
	ck_assert_uint_eq(v.len, len);
	ck_assert_mem_eq(v.data, buf, len);
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.base_offset, 3);
	ck_assert_int_eq(bi.leader_epoch, 42);
	ks_log_view_release(&v);

	/* Offsets that do not continue the log: a gap, an overlap. */
	get_state(log, &s);
	len = encode(buf, sizeof buf, 1, 7, 2, 100);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len,
	    KS_APPEND_KEEP_OFFSETS, &info), KS_ESEQUENCE);
	assert_unchanged(log, &s);
	len = encode(buf, sizeof buf, 1, 7, 2, 6);
	ck_assert_int_eq(ks_log_append_batch(log, buf, len,
	    KS_APPEND_KEEP_OFFSETS, &info), KS_ESEQUENCE);
	assert_unchanged(log, &s);

	/* Ordinary appends go on after the kept offsets. */
	append_n(log, 1, 7, 2, 1, NULL);
	check_range(log, 1, 0, 9);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- ks_log_read -------------------------------------------------------- */

START_TEST(test_read_views)
{
	char *dir = new_dir("read");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_view_t v;
	size_t size[10], total = 0;
	int i;

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	log = kt_open_log(dir, &cfg);
	append_batches(log, 1, 10, 5); /* batch i holds 5i..5i+4 */

	/* max_bytes below one batch: that one batch, whole. */
	for (i = 0; i < 10; i++) {
		KT_OK(ks_log_read(log, 5 * i, 1, &v));
		ck_assert_int_eq(v.base_offset, 5 * i);
		ck_assert_int_eq(v.next_offset, 5 * i + 5);
		ck_assert_uint_eq(walk_view(&v), 1);
		size[i] = v.len;
		total += v.len;
		ks_log_view_release(&v);
	}

	/* An offset inside a batch: the view starts at that batch. */
	KT_OK(ks_log_read(log, 7, 1, &v));
	ck_assert_int_eq(v.base_offset, 5);
	ck_assert_int_eq(v.next_offset, 10);
	ck_assert_uint_eq(v.len, size[1]);
	ks_log_view_release(&v);
	KT_OK(ks_log_read(log, 49, BIG, &v));
	ck_assert_int_eq(v.base_offset, 45);
	ck_assert_uint_eq(v.len, size[9]);
	ks_log_view_release(&v);

	/* Room for two and a half batches: two, never a partial third. */
	KT_OK(ks_log_read(log, 0, size[0] + size[1] + size[2] / 2, &v));
	ck_assert_uint_eq(v.len, size[0] + size[1]);
	ck_assert_int_eq(v.next_offset, 10);
	ck_assert_uint_eq(walk_view(&v), 2);
	ks_log_view_release(&v);
	KT_OK(ks_log_read(log, 12, size[2] + size[3], &v));
	ck_assert_int_eq(v.base_offset, 10);
	ck_assert_uint_eq(v.len, size[2] + size[3]);
	ks_log_view_release(&v);

	/* Plenty of room: everything, whole batches. */
	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_uint_eq(v.len, total);
	ck_assert_int_eq(v.base_offset, 0);
	ck_assert_int_eq(v.next_offset, 50);
	ck_assert_uint_eq(walk_view(&v), 10);
	ks_log_view_release(&v);

	/* At the end: empty and fine. Past it or below the start: an error. */
	KT_OK(ks_log_read(log, 50, BIG, &v));
	ck_assert_uint_eq(v.len, 0);
	ks_log_view_release(&v);
	memset(&v, 0xa5, sizeof v); /* release after an error is a no-op */
	ck_assert_int_eq(ks_log_read(log, 51, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	memset(&v, 0xa5, sizeof v);
	ck_assert_int_eq(ks_log_read(log, -1, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	memset(&v, 0xa5, sizeof v);
	ck_assert_int_eq(ks_log_read(log, INT64_MAX, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);

	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_read_segments)
{
	char *dir = new_dir("readseg");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_view_t v;
	ks_log_stat_t st;
	int64_t bases[MAXSEG], end;
	size_t n, i;
	uint64_t total = 0;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 120, 5);
	end = ks_log_end_offset(log);
	ck_assert_int_eq(end, 600);

	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 5);
	ck_assert_int_eq(bases[0], 0);
	for (i = 0; i < n; i++) {
		int64_t next = i + 1 < n ? bases[i + 1] : end;

		ck_assert(kt_seg_exists(dir, bases[i], ".index"));
		ck_assert(kt_seg_exists(dir, bases[i], ".timeindex"));
		/* A whole segment in one view, ending where the next begins. */
		KT_OK(ks_log_read(log, bases[i], BIG, &v));
		ck_assert_int_eq(v.base_offset, bases[i]);
		ck_assert_int_eq(v.next_offset, next);
		ck_assert_uint_le(v.len, SMALL_SEG);
		walk_view(&v);
		total += v.len;
		ks_log_view_release(&v);
		/* From the segment's last offset: still not past its end. */
		KT_OK(ks_log_read(log, next - 1, BIG, &v));
		ck_assert_int_le(v.base_offset, next - 1);
		ck_assert_int_eq(v.next_offset, next);
		ks_log_view_release(&v);
	}
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, n);
	ck_assert_uint_eq(st.size_bytes, total);
	check_range(log, 101, 0, end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_view_outlives_appends)
{
	char *dir = new_dir("viewlife");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_view_t v;
	int64_t bases[MAXSEG];
	uint8_t *copy;
	size_t len;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 3, 5);
	KT_OK(ks_log_read(log, 0, BIG, &v));
	len = v.len;
	copy = malloc(len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, v.data, len);

	/* Appends that grow the segment, roll it and fill more segments. */
	append_batches(log, 101, 60, 5);
	KT_OK(ks_log_roll(log));
	append_batches(log, 101, 2, 5);
	ck_assert_uint_ge(kt_list_segments(dir, bases, MAXSEG), 3);
	ck_assert_uint_eq(v.len, len);
	ck_assert_mem_eq(v.data, copy, len);
	ck_assert_uint_eq(walk_view(&v), 3);
	ks_log_view_release(&v);

	check_range(log, 101, 0, ks_log_end_offset(log));
	KT_OK(ks_log_close(log));
	free(copy);
	free(dir);
}
END_TEST

/* ---- iterators ---------------------------------------------------------- */

START_TEST(test_iter_follows)
{
	char *dir = new_dir("iter");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_record_t r;
	int64_t off = 0;
	size_t b;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	for (b = 0; b < 20; b++) {
		append_n(log, 1, off, 1 + b % 7, 1, NULL);
		off += (int64_t)(1 + b % 7);
	}

	KT_OK(ks_log_iter_new(log, 0, &it));
	for (off = 0; off < ks_log_end_offset(log); off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		check_rec(&r, 1, off, ts_of(off));
	}
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);

	/* New records arrive at the same iterator, also across a roll. */
	append_n(log, 1, off, 5, 1, NULL);
	for (; off < ks_log_end_offset(log); off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		check_rec(&r, 1, off, ts_of(off));
	}
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	KT_OK(ks_log_roll(log));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	append_n(log, 1, off, 2, 1, NULL);
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, off, ts_of(off));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, off + 1, ts_of(off + 1));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	ks_log_iter_free(it);
	ks_log_iter_free(NULL);

	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_iter_middle_and_seek)
{
	char *dir = new_dir("iterseek");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_record_t r;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 1, 6, 5);

	/* Offset 7 lies inside batch 5..9: the iterator starts at 7. */
	KT_OK(ks_log_iter_new(log, 7, &it));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 7, ts_of(7));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 8, ts_of(8));

	KT_OK(ks_log_iter_seek(it, 0));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 0, ts_of(0));
	KT_OK(ks_log_iter_seek(it, 23));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 23, ts_of(23));
	KT_OK(ks_log_iter_seek(it, 29));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 29, ts_of(29));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	KT_OK(ks_log_iter_seek(it, 30));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	KT_OK(ks_log_iter_seek(it, 12));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 12, ts_of(12));
	ks_log_iter_free(it);

	/* An iterator made at the end waits for the next record. */
	KT_OK(ks_log_iter_new(log, 30, &it));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	append_n(log, 1, 30, 3, 1, NULL);
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 1, 30, ts_of(30));
	ks_log_iter_free(it);

	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_iter_segments)
{
	char *dir = new_dir("iterseg");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t bases[MAXSEG];
	size_t n;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 100, 5);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 4);
	check_range(log, 101, 0, 500);
	/* Starting exactly at a segment's base and just before it. */
	check_range(log, 101, bases[2], 500);
	check_range(log, 101, bases[2] - 1, 500);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

#define CR_BATCHES 300

struct writer_arg {
	ks_log_t *log;
	int rc;
};

static void *writer_thread(void *p)
{
	struct writer_arg *a = p;
	struct gen *g = malloc(sizeof *g);
	int i;

	a->rc = g ? 0 : KS_ENOMEM;
	for (i = 0; i < CR_BATCHES && a->rc == 0; i++) {
		gen_fill(g, 101, 5 * i, 5, 1);
		a->rc = ks_log_append(a->log, g->rec, 5, NULL);
	}
	free(g);
	return NULL;
}

/* A reader following a writer, without locks, sees only whole batches. */
START_TEST(test_concurrent_reader)
{
	char *dir = new_dir("concurrent");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_log_view_t v;
	ks_record_t r;
	struct writer_arg wa;
	pthread_t th;
	int64_t off = 0;
	time_t deadline = time(NULL) + 30;
	int rc;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_iter_new(log, 0, &it));
	wa.log = log;
	wa.rc = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, writer_thread, &wa), 0);
	while (off < 5 * CR_BATCHES && time(NULL) < deadline) {
		rc = ks_log_iter_next(it, &r);
		ck_assert_int_ge(rc, 0);
		if (rc == 0) {
			sched_yield();
			continue;
		}
		check_rec(&r, 101, off, ts_of(off));
		if (off % 40 == 0) {
			KT_OK(ks_log_read(log, off, BIG, &v));
			ck_assert_int_le(v.base_offset, off);
			ck_assert_int_gt(v.next_offset, off);
			walk_view(&v);
			ks_log_view_release(&v);
		}
		off++;
	}
	pthread_join(th, NULL);
	KT_OK(wa.rc);
	ck_assert_int_eq(off, 5 * CR_BATCHES);
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- timestamps --------------------------------------------------------- */

START_TEST(test_timestamps)
{
	char *dir = new_dir("ts");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_log_view_t v;
	ks_batch_info_t bi;
	ks_record_t r, in[3];
	int64_t before, after;
	int i;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);

	before = (int64_t)time(NULL) * 1000;
	append_n(log, 1, 0, 4, 0, NULL);
	after = ((int64_t)time(NULL) + 1) * 1000;

	/* Explicit, out of order within the batch: kept as given. */
	memset(in, 0, sizeof in);
	in[0].timestamp = 5000;
	in[1].timestamp = 9000;
	in[2].timestamp = 7000;
	for (i = 0; i < 3; i++) {
		in[i].value = "x";
		in[i].value_len = 1;
	}
	KT_OK(ks_log_append(log, in, 3, NULL));

	KT_OK(ks_log_iter_new(log, 0, &it));
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		check_rec(&r, 1, i, INT64_MIN);
		ck_assert_int_ge(r.timestamp, before - 2000);
		ck_assert_int_le(r.timestamp, after + 2000);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		ck_assert_int_eq(r.offset, 4 + i);
		ck_assert_int_eq(r.timestamp, in[i].timestamp);
	}
	ks_log_iter_free(it);

	KT_OK(ks_log_read(log, 4, BIG, &v));
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.max_timestamp, 9000);
	ks_log_view_release(&v);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_offset_for_time)
{
	char *dir = new_dir("fortime");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t bases[MAXSEG], off, o, end;
	size_t n, i;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 100, 5); /* record o has ts_of(o) */
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 4);

	KT_OK(ks_log_offset_for_time(log, 0, &off));
	ck_assert_int_eq(off, 0);
	KT_OK(ks_log_offset_for_time(log, ts_of(0) - 1, &off));
	ck_assert_int_eq(off, 0);
	KT_OK(ks_log_offset_for_time(log, ts_of(0), &off));
	ck_assert_int_eq(off, 0);
	/* Equal and in between, everywhere, including mid-batch. */
	for (o = 1; o < end; o += 7) {
		KT_OK(ks_log_offset_for_time(log, ts_of(o), &off));
		ck_assert_int_eq(off, o);
		KT_OK(ks_log_offset_for_time(log, ts_of(o) - 5, &off));
		ck_assert_int_eq(off, o);
	}
	/* Around each segment boundary. */
	for (i = 1; i < n; i++) {
		KT_OK(ks_log_offset_for_time(log, ts_of(bases[i]), &off));
		ck_assert_int_eq(off, bases[i]);
		KT_OK(ks_log_offset_for_time(log, ts_of(bases[i] - 1) + 1, &off));
		ck_assert_int_eq(off, bases[i]);
		KT_OK(ks_log_offset_for_time(log, ts_of(bases[i] - 1), &off));
		ck_assert_int_eq(off, bases[i] - 1);
	}
	KT_OK(ks_log_offset_for_time(log, ts_of(end - 1), &off));
	ck_assert_int_eq(off, end - 1);
	KT_OK(ks_log_offset_for_time(log, ts_of(end - 1) + 1, &off));
	ck_assert_int_eq(off, -1);
	KT_OK(ks_log_offset_for_time(log, INT64_MAX, &off));
	ck_assert_int_eq(off, -1);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- durability --------------------------------------------------------- */

START_TEST(test_durable_explicit)
{
	char *dir = new_dir("durable0");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	ks_log_stat_t st;
	uint64_t fsyncs;

	small_cfg(&cfg);
	cfg.segment_bytes = 1u << 30;
	cfg.flush_messages = 0;
	cfg.flush_ms = 0;
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 5, 1, &info);
	ck_assert_int_eq(info.durable, 0);
	append_n(log, 1, 5, 5, 1, &info);
	ck_assert_int_eq(info.durable, 0);
	ck_assert_int_lt(info.durable_offset, 10);
	usleep(200 * 1000); /* no policy: nothing flushes behind our back */
	ck_assert_int_lt(ks_log_durable_offset(log), 10);
	KT_OK(ks_log_stat(log, &st));
	fsyncs = st.fsyncs;

	KT_OK(ks_log_flush(log, 3));
	ck_assert_int_ge(ks_log_durable_offset(log), 3);
	KT_OK(ks_log_flush(log, -1));
	ck_assert_int_eq(ks_log_durable_offset(log), 10);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_int_eq(st.durable_offset, 10);
	ck_assert_uint_gt(st.fsyncs, fsyncs);

	append_n(log, 1, 10, 2, 1, &info);
	ck_assert_int_eq(ks_log_durable_offset(log), 10);
	KT_OK(ks_log_flush(log, -1));
	ck_assert_int_eq(ks_log_durable_offset(log), 12);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_durable_every_append)
{
	char *dir = new_dir("durable1");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	uint8_t buf[8192];
	size_t len;
	int i;

	small_cfg(&cfg);
	cfg.flush_messages = 1;
	log = kt_open_log(dir, &cfg);
	for (i = 0; i < 20; i++) {
		append_n(log, 1, 3 * i, 3, 1, &info);
		ck_assert_int_eq(info.durable, 1);
		ck_assert_int_eq(info.durable_offset, info.last_offset + 1);
		ck_assert_int_eq(ks_log_durable_offset(log), 3 * i + 3);
	}
	len = encode(buf, sizeof buf, 1, 60, 4, 0);
	KT_OK(ks_log_append_batch(log, buf, len, 0, &info));
	ck_assert_int_eq(info.durable, 1);
	ck_assert_int_eq(info.durable_offset, 64);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* Polls the durable offset up to want, for at most five seconds. */
static int durable_reaches(ks_log_t *log, int64_t want)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (ks_log_durable_offset(log) >= want)
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

START_TEST(test_durable_flush_ms)
{
	char *dir = new_dir("durablems");
	ks_log_config_t cfg;
	ks_log_t *log;

	small_cfg(&cfg);
	cfg.flush_ms = 50;
	log = kt_open_log(dir, &cfg);
	append_n(log, 1, 0, 5, 1, NULL);
	ck_assert_msg(durable_reaches(log, 5), "flush.ms=50: durable offset "
	    "stuck at %" PRId64 " of 5", ks_log_durable_offset(log));
	append_n(log, 1, 5, 5, 1, NULL);
	ck_assert_msg(durable_reaches(log, 10), "flush.ms=50: durable offset "
	    "stuck at %" PRId64 " of 10", ks_log_durable_offset(log));
	ck_assert_int_eq(ks_log_durable_offset(log), 10);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_durable_flush_n)
{
	char *dir = new_dir("durablen");
	ks_log_config_t cfg;
	ks_log_t *log;
	int i;

	small_cfg(&cfg);
	cfg.flush_messages = 4;
	log = kt_open_log(dir, &cfg);
	for (i = 0; i < 10; i++)
		append_n(log, 1, i, 1, 1, NULL);
	/* Ten records with a flush every four: the first eight are durable. */
	ck_assert_msg(durable_reaches(log, 8), "flush.messages=4: durable "
	    "offset %" PRId64 " after 10 records", ks_log_durable_offset(log));
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

#define GC_THREADS 4
#define GC_APPENDS 200

struct gc_arg {
	ks_log_t *log;
	int id;
	int rc;
	ks_append_info_t info[GC_APPENDS];
};

static void *gc_thread(void *p)
{
	struct gc_arg *a = p;
	char val[32];
	ks_record_t r;
	int i;

	for (i = 0; i < GC_APPENDS; i++) {
		memset(&r, 0, sizeof r);
		r.timestamp = TS0;
		r.value = val;
		r.value_len = (size_t)snprintf(val, sizeof val, "t%d-%03d",
		    a->id, i);
		a->rc = ks_log_append(a->log, &r, 1, &a->info[i]);
		if (a->rc)
			break;
	}
	return NULL;
}

START_TEST(test_group_commit)
{
	char *dir = new_dir("group");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_log_stat_t st;
	ks_record_t r;
	pthread_t th[GC_THREADS];
	static struct gc_arg arg[GC_THREADS];
	static int64_t seen[GC_THREADS * GC_APPENDS];
	int t, i, last[GC_THREADS];
	int64_t off;

	small_cfg(&cfg);
	cfg.flush_messages = 1;
	log = kt_open_log(dir, &cfg);
	for (t = 0; t < GC_THREADS; t++) {
		arg[t].log = log;
		arg[t].id = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, gc_thread,
		    &arg[t]), 0);
	}
	for (t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);

	for (i = 0; i < GC_THREADS * GC_APPENDS; i++)
		seen[i] = -1;
	for (t = 0; t < GC_THREADS; t++) {
		KT_OK(arg[t].rc);
		for (i = 0; i < GC_APPENDS; i++) {
			ks_append_info_t *in = &arg[t].info[i];
			ck_assert_int_eq(in->base_offset, in->last_offset);
			ck_assert_int_ge(in->base_offset, 0);
			ck_assert_int_lt(in->base_offset, GC_THREADS * GC_APPENDS);
			ck_assert_msg(seen[in->base_offset] < 0, "offset %"
			    PRId64 " given twice", in->base_offset);
			seen[in->base_offset] = t * GC_APPENDS + i;
			ck_assert_int_eq(in->durable, 1);
			ck_assert_int_gt(in->durable_offset, in->last_offset);
		}
	}
	ck_assert_int_eq(ks_log_end_offset(log), GC_THREADS * GC_APPENDS);
	ck_assert_int_eq(ks_log_durable_offset(log), GC_THREADS * GC_APPENDS);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_gt(st.fsyncs, 0);
	ck_assert_uint_le(st.fsyncs, GC_THREADS * GC_APPENDS);

	/* Each offset holds the record its append was told about. */
	for (t = 0; t < GC_THREADS; t++)
		last[t] = -1;
	KT_OK(ks_log_iter_new(log, 0, &it));
	for (off = 0; off < GC_THREADS * GC_APPENDS; off++) {
		char want[32];
		int n;

		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		ck_assert_int_eq(r.offset, off);
		t = (int)(seen[off] / GC_APPENDS);
		i = (int)(seen[off] % GC_APPENDS);
		n = snprintf(want, sizeof want, "t%d-%03d", t, i);
		ck_assert_uint_eq(r.value_len, (size_t)n);
		ck_assert_mem_eq(r.value, want, (size_t)n);
		ck_assert_int_gt(i, last[t]); /* a thread's appends in order */
		last[t] = i;
	}
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- persistence -------------------------------------------------------- */

START_TEST(test_reopen)
{
	char *dir = new_dir("reopen");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	struct blob a, b;
	int64_t bases[MAXSEG], bases2[MAXSEG], end;
	size_t n, i;
	uint8_t buf[8192];
	size_t len;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 80, 5);
	len = encode(buf, sizeof buf, 101, 400, 5, 0);
	KT_OK(ks_log_append_batch(log, buf, len, 0, NULL));
	end = ks_log_end_offset(log);
	ck_assert_int_eq(end, 405);
	snapshot(log, &a);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 3);
	KT_OK(ks_log_close(log));

	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	ck_assert_int_eq(ks_log_durable_offset(log), end);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_int_eq(st.clean_open, 1);
	ck_assert_uint_eq(st.recovery_scanned, 0);
	ck_assert_uint_eq(st.recovery_cut, 0);
	ck_assert_int_eq(st.recovery_cut_offset, -1);
	ck_assert_uint_eq(st.segment_count, n);
	ck_assert_uint_eq(st.size_bytes, a.len);
	ck_assert_uint_eq(kt_list_segments(dir, bases2, MAXSEG), n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(bases2[i], bases[i]);
	snapshot(log, &b);
	ck_assert_uint_eq(b.len, a.len);
	ck_assert_mem_eq(b.p, a.p, a.len);
	free(b.p);
	check_range(log, 101, 0, end);

	/* It goes on from where it was, and again after another reopen. */
	append_batches(log, 101, 5, 5);
	KT_OK(ks_log_close(log));
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_int_eq(st.clean_open, 1);
	ck_assert_int_eq(ks_log_end_offset(log), end + 25);
	check_range(log, 101, 0, end + 25);
	snapshot(log, &b);
	ck_assert_uint_gt(b.len, a.len);
	ck_assert_mem_eq(b.p, a.p, a.len);
	free(b.p);
	KT_OK(ks_log_close(log));
	free(a.p);
	free(dir);
}
END_TEST

/* ---- configuration ------------------------------------------------------ */

static void assert_cfg_eq(const ks_log_config_t *a, const ks_log_config_t *b)
{
	ck_assert_int_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->segment_bytes, b->segment_bytes);
	ck_assert_int_eq(a->segment_ms, b->segment_ms);
	ck_assert_uint_eq(a->segment_index_bytes, b->segment_index_bytes);
	ck_assert_uint_eq(a->index_interval_bytes, b->index_interval_bytes);
	ck_assert_uint_eq(a->max_message_bytes, b->max_message_bytes);
	ck_assert_int_eq(a->retention_ms, b->retention_ms);
	ck_assert_int_eq(a->retention_bytes, b->retention_bytes);
	ck_assert_uint_eq(a->flush_messages, b->flush_messages);
	ck_assert_int_eq(a->flush_ms, b->flush_ms);
	ck_assert_int_eq(a->leader_epoch, b->leader_epoch);
	ck_assert(a->log_cb == b->log_cb);
	ck_assert_ptr_eq(a->log_opaque, b->log_opaque);
}

START_TEST(test_config)
{
	static const struct {
		const char *name, *value;
	} bad[] = {
		{ "segment.byte", "16384" },
		{ "SEGMENT.BYTES", "16384" },
		{ "", "1" },
		{ "retention.bytes.extra", "1" },
		{ "segment.bytes", "abc" },
		{ "segment.bytes", "" },
		{ "segment.bytes", "12x" },
		{ "segment.bytes", "-5" },
		{ "segment.bytes", "18446744073709551616" },
		{ "segment.index.bytes", "4294967296" },
		{ "max.message.bytes", "-1" },
		{ "index.interval.bytes", "1e3" },
		{ "retention.ms", "forever" },
		{ "retention.ms", "9223372036854775808" },
		{ "retention.bytes", "1.5" },
		{ "flush.messages", "-1" },
		{ "flush.ms", "x" },
	};
	ks_log_config_t c, before;
	size_t i;

	ks_log_config_init(&c);
	ck_assert_int_eq(c.flags, 0);
	ck_assert_uint_eq(c.segment_bytes, UINT64_C(1) << 30);
	ck_assert_int_eq(c.segment_ms, INT64_C(7) * 24 * 3600 * 1000);
	ck_assert_uint_eq(c.segment_index_bytes, 10u << 20);
	ck_assert_uint_eq(c.index_interval_bytes, 4096);
	ck_assert_uint_eq(c.max_message_bytes, 1048588);
	ck_assert_int_eq(c.retention_ms, INT64_C(7) * 24 * 3600 * 1000);
	ck_assert_int_eq(c.retention_bytes, -1);
	ck_assert_int_eq(c.leader_epoch, 0);
	ck_assert(c.log_cb == ks_log_stderr);

	KT_OK(ks_log_config_set(&c, "segment.bytes", "16384"));
	ck_assert_uint_eq(c.segment_bytes, 16384);
	KT_OK(ks_log_config_set(&c, "segment.ms", "3600000"));
	ck_assert_int_eq(c.segment_ms, 3600000);
	KT_OK(ks_log_config_set(&c, "segment.index.bytes", "65536"));
	ck_assert_uint_eq(c.segment_index_bytes, 65536);
	KT_OK(ks_log_config_set(&c, "index.interval.bytes", "1024"));
	ck_assert_uint_eq(c.index_interval_bytes, 1024);
	KT_OK(ks_log_config_set(&c, "max.message.bytes", "2000000"));
	ck_assert_uint_eq(c.max_message_bytes, 2000000);
	KT_OK(ks_log_config_set(&c, "retention.ms", "-1"));
	ck_assert_int_eq(c.retention_ms, -1);
	KT_OK(ks_log_config_set(&c, "retention.ms", "86400000"));
	ck_assert_int_eq(c.retention_ms, 86400000);
	KT_OK(ks_log_config_set(&c, "retention.bytes", "5000000000"));
	ck_assert_int_eq(c.retention_bytes, INT64_C(5000000000));
	KT_OK(ks_log_config_set(&c, "retention.bytes", "-1"));
	ck_assert_int_eq(c.retention_bytes, -1);
	KT_OK(ks_log_config_set(&c, "flush.messages", "1"));
	ck_assert_uint_eq(c.flush_messages, 1);
	KT_OK(ks_log_config_set(&c, "flush.ms", "50"));
	ck_assert_int_eq(c.flush_ms, 50);

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		before = c;
		ck_assert_msg(ks_log_config_set(&c, bad[i].name, bad[i].value)
		    == KS_ECONFIG, "%s=\"%s\" accepted", bad[i].name,
		    bad[i].value);
		assert_cfg_eq(&c, &before);
	}
}
END_TEST

/* The configuration takes effect: Kafka names, then open. */
START_TEST(test_config_applies)
{
	char *dir = new_dir("cfgapply");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_append_info_t info;
	int64_t bases[MAXSEG];

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	KT_OK(ks_log_config_set(&cfg, "segment.bytes", "16384"));
	KT_OK(ks_log_config_set(&cfg, "flush.messages", "1"));
	KT_OK(ks_log_config_set(&cfg, "max.message.bytes", "4000"));
	log = kt_open_log(dir, &cfg);
	/* The copy is the log's: changing ours now changes nothing. */
	cfg.segment_bytes = 1u << 30;
	cfg.flush_messages = 0;
	append_batches(log, 101, 20, 5);
	ck_assert_uint_ge(kt_list_segments(dir, bases, MAXSEG), 2);
	append_n(log, 1, 100, 1, 1, &info);
	ck_assert_int_eq(info.durable, 1);
	gen_fill(&g_gen, 101, 101, 20, 1);
	ck_assert_int_eq(ks_log_append(log, g_gen.rec, 20, &info), KS_EMSGSIZE);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- truncation --------------------------------------------------------- */

START_TEST(test_truncate_mid_batch)
{
	char *dir = new_dir("trunc");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_log_view_t v;
	ks_record_t r;
	int64_t off;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 1, 3, 5); /* 0..4, 5..9, 10..14 */

	/* An iterator that has read everything, overtaken by the truncation. */
	KT_OK(ks_log_iter_new(log, 0, &it));
	for (off = 0; off < 15; off++)
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	ck_assert_int_eq(ks_log_iter_next(it, &r), 0);

	ck_assert_int_eq(ks_log_truncate(log, 16), KS_EOFFSET);
	ck_assert_int_eq(ks_log_end_offset(log), 15);
	KT_OK(ks_log_truncate(log, 15));
	ck_assert_int_eq(ks_log_end_offset(log), 15);

	/* 10 is a batch boundary: batch 5..9 stays. */
	KT_OK(ks_log_truncate(log, 10));
	ck_assert_int_eq(ks_log_end_offset(log), 10);
	/* 7 is inside 5..9: the whole batch goes. */
	KT_OK(ks_log_truncate(log, 7));
	ck_assert_int_eq(ks_log_end_offset(log), 5);
	ck_assert_int_eq(ks_log_iter_next(it, &r), KS_EOFFSET);
	ks_log_iter_free(it);

	KT_OK(ks_log_read(log, 5, BIG, &v));
	ck_assert_uint_eq(v.len, 0);
	ks_log_view_release(&v);
	ck_assert_int_eq(ks_log_read(log, 6, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_int_eq(v.next_offset, 5);
	ck_assert_uint_eq(walk_view(&v), 1);
	ks_log_view_release(&v);
	KT_OK(ks_log_offset_for_time(log, ts_of(5), &off));
	ck_assert_int_eq(off, -1);

	/* New, different records take the freed offsets. */
	append_n(log, 2, 5, 4, 1, NULL);
	append_n(log, 2, 9, 4, 1, NULL);
	ck_assert_int_eq(ks_log_end_offset(log), 13);
	check_range(log, 1, 0, 5);
	check_range(log, 2, 5, 13);
	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_uint_eq(walk_view(&v), 3);
	ck_assert_int_eq(v.next_offset, 13);
	ks_log_view_release(&v);

	KT_OK(ks_log_close(log));
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), 13);
	check_range(log, 1, 0, 5);
	check_range(log, 2, 5, 13);
	KT_OK(ks_log_truncate(log, 0));
	ck_assert_int_eq(ks_log_end_offset(log), 0);
	append_n(log, 3, 0, 2, 1, NULL);
	check_range(log, 3, 0, 2);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_truncate_segments)
{
	char *dir = new_dir("truncseg");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	int64_t bases[MAXSEG], after[MAXSEG], cut, end;
	size_t n, m, i;
	struct blob a, b;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 120, 5);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 6);

	/* At a segment's base: that segment's records and all later go. */
	KT_OK(ks_log_truncate(log, bases[4]));
	ck_assert_int_eq(ks_log_end_offset(log), bases[4]);
	for (i = 5; i < n; i++) {
		ck_assert(!kt_seg_exists(dir, bases[i], ".log"));
		ck_assert(!kt_seg_exists(dir, bases[i], ".index"));
		ck_assert(!kt_seg_exists(dir, bases[i], ".timeindex"));
	}
	check_range(log, 101, 0, bases[4]);

	/* Inside segment 2, mid-batch (batches are 5 records from 0). */
	cut = bases[2] + 7;
	end = cut / 5 * 5;
	KT_OK(ks_log_truncate(log, cut));
	ck_assert_int_eq(ks_log_end_offset(log), end);
	m = kt_list_segments(dir, after, MAXSEG);
	ck_assert_uint_eq(m, 3);
	for (i = 0; i < m; i++)
		ck_assert_int_eq(after[i], bases[i]);
	for (i = 3; i < n; i++)
		ck_assert(!kt_seg_exists(dir, bases[i], ".log"));
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, 3);
	ck_assert_int_eq(st.end_offset, end);

	/* Appends continue at the new end; reads see them, not the old data. */
	append_batches(log, 7, 40, 5);
	check_range(log, 101, 0, end);
	check_range(log, 7, end, end + 200);
	snapshot(log, &a);
	KT_OK(ks_log_close(log));

	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), end + 200);
	snapshot(log, &b);
	ck_assert_uint_eq(b.len, a.len);
	ck_assert_mem_eq(b.p, a.p, a.len);
	check_range(log, 101, 0, end);
	check_range(log, 7, end, end + 200);
	KT_OK(ks_log_close(log));
	free(a.p);
	free(b.p);
	free(dir);
}
END_TEST

static int child_truncate(const char *dir, int64_t offset)
{
	ks_log_config_t cfg;
	ks_log_t *log = NULL;

	small_cfg(&cfg);
	if (ks_log_open(dir, &cfg, &log) != 0)
		return -1;
	return ks_log_truncate(log, offset); /* no close: the process dies */
}

START_TEST(test_truncate_crash)
{
	char *dir = new_dir("trunccrash");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	int64_t bases[MAXSEG], end, cut;
	size_t n;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 100, 5);
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 4);
	KT_OK(ks_log_close(log));

	/* Within the active segment, then across segments. */
	cut = end - 8; /* inside the second-to-last batch */
	in_crashing_child(child_truncate, dir, cut);
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_int_eq(st.clean_open, 0);
	ck_assert_int_eq(ks_log_end_offset(log), end - 10);
	check_range(log, 101, 0, end - 10);
	KT_OK(ks_log_close(log));

	cut = bases[1] + 3;
	in_crashing_child(child_truncate, dir, cut);
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), cut / 5 * 5);
	check_range(log, 101, 0, cut / 5 * 5);
	append_n(log, 9, cut / 5 * 5, 5, 1, NULL);
	check_range(log, 9, cut / 5 * 5, cut / 5 * 5 + 5);
	KT_OK(ks_log_close(log));

	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), cut / 5 * 5 + 5);
	check_range(log, 101, 0, cut / 5 * 5);
	check_range(log, 9, cut / 5 * 5, cut / 5 * 5 + 5);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- DeleteRecords ------------------------------------------------------ */

START_TEST(test_delete_records)
{
	char *dir = new_dir("delrec");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_log_view_t v;
	ks_log_stat_t st;
	ks_record_t r;
	int64_t bases[MAXSEG], target, end, off;
	size_t n, i;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 120, 5);
	end = ks_log_end_offset(log);
	n = kt_list_segments(dir, bases, MAXSEG);
	ck_assert_uint_ge(n, 6);

	target = bases[3] + 7;
	KT_OK(ks_log_delete_records(log, target));
	ck_assert_int_eq(ks_log_start_offset(log), target);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	for (i = 0; i < 3; i++) {
		ck_assert(!kt_seg_exists(dir, bases[i], ".log"));
		ck_assert(!kt_seg_exists(dir, bases[i], ".index"));
		ck_assert(!kt_seg_exists(dir, bases[i], ".timeindex"));
	}
	for (i = 3; i < n; i++)
		ck_assert(kt_seg_exists(dir, bases[i], ".log"));
	KT_OK(ks_log_stat(log, &st));
	ck_assert_int_eq(st.start_offset, target);
	ck_assert_uint_eq(st.segment_count, n - 3);

	ck_assert_int_eq(ks_log_read(log, target - 1, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	ck_assert_int_eq(ks_log_read(log, bases[0], BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	KT_OK(ks_log_read(log, target, 1, &v));
	ck_assert_int_le(v.base_offset, target);
	ck_assert_int_gt(v.next_offset, target);
	ks_log_view_release(&v);
	KT_OK(ks_log_iter_new(log, target, &it));
	ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
	check_rec(&r, 101, target, ts_of(target));
	ks_log_iter_free(it);
	KT_OK(ks_log_offset_for_time(log, 0, &off));
	ck_assert_int_eq(off, target);

	/* The start never moves back; past the end is an error. */
	(void)ks_log_delete_records(log, target - 3);
	ck_assert_int_eq(ks_log_start_offset(log), target);
	ck_assert_int_eq(ks_log_delete_records(log, end + 1), KS_EOFFSET);
	ck_assert_int_eq(ks_log_start_offset(log), target);
	KT_OK(ks_log_close(log));

	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_start_offset(log), target);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	ck_assert_int_eq(ks_log_read(log, target - 1, BIG, &v), KS_EOFFSET);
	ks_log_view_release(&v);
	check_range(log, 101, target, end);

	/* Everything: an empty log that still counts on from the end. */
	KT_OK(ks_log_delete_records(log, end));
	ck_assert_int_eq(ks_log_start_offset(log), end);
	KT_OK(ks_log_read(log, end, BIG, &v));
	ck_assert_uint_eq(v.len, 0);
	ks_log_view_release(&v);
	append_n(log, 3, end, 5, 1, NULL);
	ck_assert_int_eq(ks_log_start_offset(log), end);
	check_range(log, 3, end, end + 5);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

static int child_delete(const char *dir, int64_t offset)
{
	ks_log_config_t cfg;
	ks_log_t *log = NULL;

	small_cfg(&cfg);
	if (ks_log_open(dir, &cfg, &log) != 0)
		return -1;
	return ks_log_delete_records(log, offset);
}

START_TEST(test_delete_records_crash)
{
	char *dir = new_dir("delcrash");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t bases[MAXSEG], end, target;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 60, 5);
	end = ks_log_end_offset(log);
	ck_assert_uint_ge(kt_list_segments(dir, bases, MAXSEG), 3);
	KT_OK(ks_log_close(log));

	/* "Durable on return": the new start survives a crash right after. */
	target = bases[1] + 2;
	in_crashing_child(child_delete, dir, target);
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_start_offset(log), target);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	check_range(log, 101, target, end);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- roll, stat --------------------------------------------------------- */

START_TEST(test_roll)
{
	char *dir = new_dir("roll");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	ks_log_view_t v;
	int64_t bases[MAXSEG];

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_roll(log)); /* empty: nothing to roll */
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_le(st.segment_count, 1);
	ck_assert_uint_le(kt_list_segments(dir, bases, MAXSEG), 1);

	append_n(log, 1, 0, 3, 1, NULL);
	KT_OK(ks_log_roll(log));
	ck_assert(kt_seg_exists(dir, 3, ".log"));
	ck_assert_uint_eq(kt_list_segments(dir, bases, MAXSEG), 2);
	ck_assert_int_eq(bases[0], 0);
	ck_assert_int_eq(bases[1], 3);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, 2);
	KT_OK(ks_log_roll(log)); /* the new segment is empty: no-op */
	ck_assert_uint_eq(kt_list_segments(dir, bases, MAXSEG), 2);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.segment_count, 2);

	append_n(log, 1, 3, 4, 1, NULL);
	KT_OK(ks_log_read(log, 0, BIG, &v));
	ck_assert_int_eq(v.next_offset, 3);
	ks_log_view_release(&v);
	KT_OK(ks_log_read(log, 3, BIG, &v));
	ck_assert_int_eq(v.base_offset, 3);
	ck_assert_int_eq(v.next_offset, 7);
	ks_log_view_release(&v);
	KT_OK(ks_log_roll(log));
	ck_assert(kt_seg_exists(dir, 7, ".log"));
	ck_assert(kt_seg_exists(dir, 7, ".index"));
	ck_assert(kt_seg_exists(dir, 7, ".timeindex"));
	KT_OK(ks_log_close(log));

	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(ks_log_end_offset(log), 7);
	check_range(log, 1, 0, 7);
	append_n(log, 1, 7, 2, 1, NULL);
	check_range(log, 1, 0, 9);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_stat)
{
	char *dir = new_dir("stat");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	struct blob b;
	int64_t bases[MAXSEG];

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 101, 50, 5);
	ck_assert_uint_ge(kt_list_segments(dir, bases, MAXSEG), 3);
	/* At a segment base, so the views below cover every stored byte. */
	KT_OK(ks_log_delete_records(log, bases[1]));
	KT_OK(ks_log_stat(log, &st));
	snapshot(log, &b);
	ck_assert_int_eq(st.start_offset, ks_log_start_offset(log));
	ck_assert_int_eq(st.start_offset, bases[1]);
	ck_assert_int_eq(st.end_offset, ks_log_end_offset(log));
	ck_assert_int_eq(st.end_offset, 250);
	ck_assert_int_eq(st.durable_offset, ks_log_durable_offset(log));
	ck_assert_uint_eq(st.size_bytes, b.len);
	ck_assert_uint_eq(st.segment_count,
	    kt_list_segments(dir, bases, MAXSEG));
	ck_assert_uint_ge(st.segment_count, 2);
	free(b.p);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST


/* Closing releases the writer lock even while an iterator still holds the
 * handle; the iterator then says the log is closed. */
START_TEST(test_close_releases_lock)
{
	char *dir = new_dir("closelock");
	ks_log_config_t cfg;
	ks_log_t *log, *again = NULL;
	ks_log_iter_t *it;
	ks_log_view_t v;
	ks_record_t rec;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append_batches(log, 3, 4, 10);
	KT_OK(ks_log_iter_new(log, 40, &it));
	KT_OK(ks_log_read(log, 0, 1 << 20, &v));
	ck_assert_uint_gt(v.len, 0);
	KT_OK(ks_log_close(log));
	ck_assert_int_eq(ks_log_open(dir, &cfg, &again), 0);
	ck_assert_int_eq(ks_log_iter_next(it, &rec), KS_ECLOSED);
	ks_log_iter_free(it);
	/* the view still reads the batches it was given */
	ck_assert_int_eq(walk_view(&v) > 0, 1);
	ks_log_view_release(&v);
	ck_assert_int_eq(ks_log_end_offset(again), 40);
	check_range(again, 3, 0, 40);
	KT_OK(ks_log_close(again));
	free(dir);
}
END_TEST

/* A damaged log-start-offset file: the open refuses rather than bring
 * deleted records back. */
START_TEST(test_damaged_start_offset)
{
	char *dir = new_dir("badstart"), *path;
	ks_log_config_t cfg;
	ks_log_t *log = NULL;
	FILE *f;
	int c;

	small_cfg(&cfg);
	cfg.log_cb = NULL;
	log = kt_open_log(dir, &cfg);
	append_batches(log, 5, 10, 10);
	KT_OK(ks_log_delete_records(log, 35));
	KT_OK(ks_log_close(log));
	path = kt_path(dir, "log-start-offset");
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_eq(fseek(f, 12, SEEK_SET), 0);
	fputc(c ^ 0x40, f);
	fclose(f);
	ck_assert_int_eq(ks_log_open(dir, &cfg, &log), KS_ECORRUPT);
	ck_assert_ptr_null(log);
	/* once the file is gone the log opens, from its first segment */
	ck_assert_int_eq(unlink(path), 0);
	log = kt_open_log(dir, &cfg);
	ck_assert_int_le(ks_log_start_offset(log), 35);
	ck_assert_int_eq(ks_log_end_offset(log), 100);
	KT_OK(ks_log_close(log));
	free(path);
	free(dir);
}
END_TEST

/* segment.ms: a segment older than it rolls at the next append; a younger
 * one does not. */
START_TEST(test_roll_by_age)
{
	char *dir = new_dir("rollage");
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t bases[8];

	small_cfg(&cfg);
	cfg.segment_bytes = 64 << 20; /* never by size here */
	cfg.segment_ms = 500;
	log = kt_open_log(dir, &cfg);
	append_batches(log, 9, 3, 5);
	ck_assert_uint_eq(kt_list_segments(dir, bases, 8), 1);
	usleep(600 * 1000);
	append_batches(log, 9, 1, 5);
	ck_assert_uint_eq(kt_list_segments(dir, bases, 8), 2);
	ck_assert_int_eq(bases[1], 15);
	append_batches(log, 9, 2, 5); /* the new segment is young */
	ck_assert_uint_eq(kt_list_segments(dir, bases, 8), 2);
	check_range(log, 9, 0, 30);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

Suite *log_suite(void); /* for test/main.c */

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_create);
	tcase_add_test(tc, test_append_offsets);
	tcase_add_test(tc, test_append_batch_assigns);
	tcase_add_test(tc, test_append_batch_all_or_none);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_keep_offsets);
	tcase_add_test(tc, test_read_views);
	tcase_add_test(tc, test_read_segments);
	tcase_add_test(tc, test_view_outlives_appends);
	tcase_add_test(tc, test_iter_follows);
	tcase_add_test(tc, test_iter_middle_and_seek);
	tcase_add_test(tc, test_iter_segments);
	tcase_add_test(tc, test_concurrent_reader);
	tcase_add_test(tc, test_timestamps);
	tcase_add_test(tc, test_offset_for_time);
	tcase_add_test(tc, test_durable_explicit);
	tcase_add_test(tc, test_durable_every_append);
	tcase_add_test(tc, test_durable_flush_ms);
	tcase_add_test(tc, test_durable_flush_n);
	tcase_add_test(tc, test_group_commit);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_config_applies);
	tcase_add_test(tc, test_truncate_mid_batch);
	tcase_add_test(tc, test_truncate_segments);
	tcase_add_test(tc, test_truncate_crash);
	tcase_add_test(tc, test_delete_records);
	tcase_add_test(tc, test_delete_records_crash);
	tcase_add_test(tc, test_roll);
	tcase_add_test(tc, test_stat);
	tcase_add_test(tc, test_roll_by_age);
	tcase_add_test(tc, test_close_releases_lock);
	tcase_add_test(tc, test_damaged_start_offset);
	suite_add_tcase(s, tc);
	return s;
}
