/*
 * check_verify.c: ks_log_check and ks_store_check (kstream/log.h,
 * kstream/store.h) and the kstream tool's dump and check subcommands:
 * a clean store passes with exact counts; each kind of injected damage is
 * found in the right file, at the right position and offset; a repair
 * keeps exactly the records before the first bad batch, or all of them
 * when only an index was damaged; a store held by a writer is refused.
 */
#define _GNU_SOURCE
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBATCH 40          /* batches appended */
#define PER_BATCH 5        /* records in each */
#define T0 INT64_C(1700000000000)
#define CMD_TIMEOUT_MS 60000

static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("verify");
}

static void suite_teardown(void)
{
	kt_rmrf(g_base);
	free(g_base);
	g_base = NULL;
}

/* ---- the store under test --------------------------------------------- */

/* The record at offset off: key "k<off>", value "value-<off>-...". */
static void make_record(int64_t off, char *key, char *val, ks_record_t *r,
    ks_header_t *h)
{
	snprintf(key, 32, "k%" PRId64, off);
	snprintf(val, 96, "value-%" PRId64 "-abcdefghijklmnopqrstuvwxyz-%"
	    PRId64, off, off * 7);
	memset(r, 0, sizeof *r);
	r->key = key;
	r->key_len = strlen(key);
	r->value = val;
	r->value_len = strlen(val);
	r->timestamp = T0 + off;
	h->key = "h";
	h->key_len = 1;
	h->value = key;
	h->value_len = strlen(key);
	r->headers = h;
	r->header_count = 1;
}

static void check_record(int64_t off, const ks_record_t *r)
{
	char key[32], val[96];
	ks_record_t want;
	ks_header_t h;

	make_record(off, key, val, &want, &h);
	ck_assert_int_eq(r->offset, off);
	ck_assert_int_eq(r->timestamp, T0 + off);
	ck_assert_msg(kt_same_bytes(r->key, r->key_len, want.key,
	    want.key_len), "offset %" PRId64 ": key differs", off);
	ck_assert_msg(kt_same_bytes(r->value, r->value_len, want.value,
	    want.value_len), "offset %" PRId64 ": value differs", off);
}

static void topic_cfg(ks_topic_config_t *tc)
{
	ks_topic_config_init(tc);
	tc->partitions = 1;
	KT_OK(ks_topic_config_set(tc, "segment.bytes", "4096"));
	KT_OK(ks_topic_config_set(tc, "index.interval.bytes", "256"));
	KT_OK(ks_topic_config_set(tc, "segment.index.bytes", "4096"));
}

static ks_store_t *open_store(const char *dir, int flags)
{
	ks_store_config_t sc;
	ks_store_t *s;
	ks_store_config_init(&sc);
	sc.flags = flags;
	sc.cleaner_interval_ms = 0;
	KT_OK(ks_store_open(dir, &sc, &s));
	return s;
}

/* A store with topic "t" of one partition: NBATCH batches of PER_BATCH
 * records, in several segments, closed cleanly. */
static char *make_store(const char *name)
{
	char *dir = kt_path(g_base, name);
	ks_topic_config_t tc;
	ks_store_t *s;
	ks_topic_t *t;
	ks_log_t *log;
	int64_t off = 0;
	int b, i;

	kt_rmrf(dir);
	s = open_store(dir, KS_STORE_CREATE);
	topic_cfg(&tc);
	KT_OK(ks_topic_create(s, "t", &tc));
	KT_OK(ks_topic_open(s, "t", &t));
	KT_OK(ks_topic_partition(t, 0, &log));
	for (b = 0; b < NBATCH; b++) {
		char keys[PER_BATCH][32], vals[PER_BATCH][96];
		ks_record_t recs[PER_BATCH];
		ks_header_t hs[PER_BATCH];
		ks_append_info_t info;
		for (i = 0; i < PER_BATCH; i++)
			make_record(off + i, keys[i], vals[i], &recs[i], &hs[i]);
		KT_OK(ks_log_append(log, recs, PER_BATCH, &info));
		ck_assert_int_eq(info.base_offset, off);
		off += PER_BATCH;
	}
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	return dir;
}

/* The batches of a .log file: positions and base offsets. */
struct batches {
	size_t n;
	long pos[64];
	int64_t base[64];
	long size;
};

static void read_batches(const char *path, struct batches *bs)
{
	FILE *f = fopen(path, "rb");
	unsigned char h[12];
	long pos = 0;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	memset(bs, 0, sizeof *bs);
	while (fseek(f, pos, SEEK_SET) == 0 && fread(h, 1, 12, f) == 12) {
		uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
		    (uint32_t)h[10] << 8 | h[11];
		int64_t base = 0;
		int k;
		if (len == 0)
			break;
		for (k = 0; k < 8; k++)
			base = base << 8 | h[k];
		ck_assert_uint_lt(bs->n, 64);
		bs->pos[bs->n] = pos;
		bs->base[bs->n] = base;
		bs->n++;
		pos += 12 + (long)len;
	}
	bs->size = pos;
	fclose(f);
}

static char *part_dir(const char *store)
{
	return kt_path(store, "t-0");
}

/* The records the partition holds now, each checked; returns the end. */
static int64_t check_all_records(const char *store, int64_t want_end)
{
	ks_store_t *s = open_store(store, 0);
	ks_topic_t *t;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_record_t r;
	int64_t off = 0, end;
	int rc;

	KT_OK(ks_topic_open(s, "t", &t));
	KT_OK(ks_topic_partition(t, 0, &log));
	end = ks_log_end_offset(log);
	ck_assert_int_eq(end, want_end);
	KT_OK(ks_log_iter_new(log, 0, &it));
	while ((rc = ks_log_iter_next(it, &r)) == 1) {
		check_record(off, &r);
		off++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(off, want_end);
	ks_log_iter_free(it);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	return end;
}

/* ---- the problems reported -------------------------------------------- */

struct seen {
	size_t n;
	char file[16][512];
	uint64_t pos[16];
	int64_t off[16];
	int err[16];
	int repaired[16];
	char what[16][800];
};

static void collect(void *opaque, const ks_check_problem_t *p)
{
	struct seen *s = opaque;
	if (s->n >= 16)
		return;
	snprintf(s->file[s->n], sizeof s->file[0], "%s", p->file);
	snprintf(s->what[s->n], sizeof s->what[0], "%s", p->what);
	s->pos[s->n] = p->position;
	s->off[s->n] = p->offset;
	s->err[s->n] = p->error;
	s->repaired[s->n] = p->repaired;
	s->n++;
}

static void dump_seen(const struct seen *s)
{
	size_t i;
	for (i = 0; i < s->n; i++)
		fprintf(stderr, "  %s:%" PRIu64 ": offset %" PRId64 ": %s "
		    "(%s)%s\n", s->file[i], s->pos[i], s->off[i], s->what[i],
		    ks_errname(s->err[i]), s->repaired[i] ? " repaired" : "");
}

/* Exactly one problem, in file at pos, about offset off, with err. */
static void expect_one(const struct seen *s, const char *file, uint64_t pos,
    int64_t off, int err)
{
	if (s->n != 1)
		dump_seen(s);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_str_eq(s->file[0], file);
	ck_assert_uint_eq(s->pos[0], pos);
	ck_assert_int_eq(s->off[0], off);
	ck_assert_msg(s->err[0] == err, "error %s, expected %s",
	    ks_errname(s->err[0]), ks_errname(err));
}

static void put_byte(const char *path, long pos, int v)
{
	int fd = open(path, O_WRONLY);
	unsigned char b = (unsigned char)v;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &b, 1, pos), 1);
	close(fd);
}

static int get_byte(const char *path, long pos)
{
	int fd = open(path, O_RDONLY);
	unsigned char b;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, pos), 1);
	close(fd);
	return b;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Segment i's base offset in the partition. */
static int64_t seg_base(const char *pdir, size_t i)
{
	int64_t bases[64];
	size_t n = kt_list_segments(pdir, bases, 64);
	ck_assert_uint_lt(i, n);
	return bases[i];
}

static size_t seg_count(const char *pdir)
{
	int64_t bases[64];
	return kt_list_segments(pdir, bases, 64);
}

/* ---- the library ------------------------------------------------------ */

START_TEST(clean_store_counts)
{
	char *store = make_store("clean"), *pdir = part_dir(store);
	int64_t bases[64];
	size_t n = kt_list_segments(pdir, bases, 64), i;
	uint64_t bytes = 0;
	ks_check_stat_t st;
	struct seen s = { 0 };

	ck_assert_uint_ge(n, 3);
	for (i = 0; i < n; i++) {
		char *p = kt_seg_file(pdir, bases[i], ".log");
		bytes += (uint64_t)kt_file_size(p);
		free(p);
	}
	KT_OK(ks_store_check(store, 0, collect, &s, &st));
	if (s.n)
		dump_seen(&s);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.segments, n);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_uint_eq(st.bytes, bytes);
	ck_assert_uint_eq(st.problems, 0);

	/* The partition alone, the same. */
	memset(&st, 0xff, sizeof st);
	KT_OK(ks_log_check(pdir, 0, collect, &s, &st));
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_uint_eq(st.bytes, bytes);

	/* A repair of a clean store changes nothing. */
	KT_OK(ks_store_check(store, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(st.cut_bytes, 0);
	check_all_records(store, NBATCH * PER_BATCH);
	ck_assert_int_eq(ks_store_check(g_base, 0, NULL, NULL, NULL),
	    KS_ECORRUPT); /* the suite's directory: stray names */
	ck_assert_int_eq(ks_store_check("/nonexistent/verify", 0, NULL,
	    NULL, NULL), -ENOENT);
	ck_assert_int_eq(ks_log_check(NULL, 0, NULL, NULL, NULL), KS_EINVAL);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* A flipped byte inside a batch in the middle of a segment: CRC. The
 * repair keeps exactly the records before that batch. */
START_TEST(crc_flip_and_repair)
{
	char *store = make_store("crc"), *pdir = part_dir(store), *log;
	struct batches bs;
	struct seen s = { 0 };
	ks_check_stat_t st;
	size_t nseg;
	int64_t bad;
	long pos;

	nseg = seg_count(pdir);
	ck_assert_uint_ge(nseg, 3);
	log = kt_seg_file(pdir, seg_base(pdir, 1), ".log");
	read_batches(log, &bs);
	ck_assert_uint_ge(bs.n, 4);
	pos = bs.pos[2];
	bad = bs.base[2];
	put_byte(log, pos + 70, get_byte(log, pos + 70) ^ 0x20);

	ck_assert_int_eq(ks_store_check(store, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, log, (uint64_t)pos, bad, KS_ECRC);
	ck_assert_int_eq(s.repaired[0], 0);
	ck_assert_uint_eq(st.problems, 1);
	/* The walk of a segment stops at its first bad batch. */
	ck_assert_uint_eq(st.batches, NBATCH - (bs.n - 2));

	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, KS_CHECK_REPAIR, collect, &s, &st));
	expect_one(&s, log, (uint64_t)pos, bad, KS_ECRC);
	ck_assert_int_eq(s.repaired[0], 1);
	ck_assert_msg(strstr(s.what[0], "cut") != NULL, "%s", s.what[0]);
	ck_assert_uint_eq(st.repaired, 1);
	ck_assert_uint_gt(st.cut_bytes, 0);
	/* The segments after the damaged one are gone. */
	ck_assert_uint_eq(seg_count(pdir), 2);
	check_all_records(store, bad);

	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, 0, collect, &s, &st));
	ck_assert_uint_eq(s.n, 0);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* The last batch cut short, as a crash mid-append leaves it. */
START_TEST(truncated_last_batch)
{
	char *store = make_store("trunc"), *pdir = part_dir(store), *log;
	struct batches bs;
	struct seen s = { 0 };
	ks_check_stat_t st;
	size_t nseg = seg_count(pdir);

	log = kt_seg_file(pdir, seg_base(pdir, nseg - 1), ".log");
	read_batches(log, &bs);
	ck_assert_int_eq(truncate(log, bs.size - 10), 0);
	ck_assert_int_eq(ks_log_check(pdir, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, log, (uint64_t)bs.pos[bs.n - 1], bs.base[bs.n - 1],
	    KS_EBATCH);

	memset(&s, 0, sizeof s);
	KT_OK(ks_log_check(pdir, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.repaired[0], 1);
	ck_assert_uint_gt(st.cut_bytes, 0);
	ck_assert_uint_le(st.cut_bytes, (uint64_t)(bs.size - 10 -
	    bs.pos[bs.n - 1]));
	ck_assert_int_eq(kt_file_size(log), bs.pos[bs.n - 1]);
	check_all_records(store, bs.base[bs.n - 1]);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* Non-zero bytes after the zero-filled tail of the last segment. */
START_TEST(garbage_after_zero_tail)
{
	char *store = make_store("tail"), *pdir = part_dir(store), *log;
	struct batches bs;
	struct seen s = { 0 };
	ks_check_stat_t st;
	size_t nseg = seg_count(pdir);

	log = kt_seg_file(pdir, seg_base(pdir, nseg - 1), ".log");
	read_batches(log, &bs);
	/* A zero tail alone is normal (a crash leaves a preallocated one). */
	ck_assert_int_eq(truncate(log, bs.size + 4096), 0);
	KT_OK(ks_log_check(pdir, 0, collect, &s, &st));
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(st.batches, NBATCH);
	put_byte(log, bs.size + 100, 0xab);
	ck_assert_int_eq(ks_log_check(pdir, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, log, (uint64_t)bs.size + 100, NBATCH * PER_BATCH,
	    KS_ECORRUPT);

	memset(&s, 0, sizeof s);
	KT_OK(ks_log_check(pdir, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_int_eq(s.repaired[0], 1);
	ck_assert_int_eq(kt_file_size(log), bs.size);
	check_all_records(store, NBATCH * PER_BATCH);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* An offset index entry that points into the middle of a batch; the
 * repair rebuilds the index as it was and keeps every record. */
START_TEST(offset_index_entry)
{
	char *store = make_store("oidx"), *pdir = part_dir(store), *idx;
	struct seen s = { 0 };
	ks_check_stat_t st;
	char *orig, *now;
	size_t olen, nlen;

	idx = kt_seg_file(pdir, seg_base(pdir, 0), ".index");
	orig = read_whole(idx, &olen);
	ck_assert_uint_ge(olen, 16);
	put_byte(idx, 8 + 7, get_byte(idx, 8 + 7) ^ 0x01); /* entry 1 */
	ck_assert_int_eq(ks_store_check(store, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, idx, 8, seg_base(pdir, 0) +
	    (int64_t)((unsigned char)orig[8 + 3]), KS_ECORRUPT);

	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.repaired[0], 1);
	ck_assert_uint_eq(st.cut_bytes, 0);
	now = read_whole(idx, &nlen);
	ck_assert_msg(nlen == olen && memcmp(orig, now, olen) == 0,
	    "rebuilt index differs");
	check_all_records(store, NBATCH * PER_BATCH);
	free(orig);
	free(now);
	free(idx);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* A time index entry whose timestamp goes backwards. */
START_TEST(time_index_entry)
{
	char *store = make_store("tidx"), *pdir = part_dir(store), *idx;
	struct seen s = { 0 };
	ks_check_stat_t st;
	size_t len;
	char *orig;
	int64_t off;
	int k;

	idx = kt_seg_file(pdir, seg_base(pdir, 1), ".timeindex");
	orig = read_whole(idx, &len);
	ck_assert_uint_ge(len, 24);
	for (off = 0, k = 8; k < 12; k++)
		off = off << 8 | (unsigned char)orig[12 + k];
	put_byte(idx, 12 + 4, get_byte(idx, 12 + 4) ^ 0x80); /* entry 1 */
	ck_assert_int_eq(ks_store_check(store, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, idx, 12, seg_base(pdir, 1) + off, KS_ECORRUPT);
	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_int_eq(s.repaired[0], 1);
	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, 0, collect, &s, &st));
	ck_assert_uint_eq(s.n, 0);
	check_all_records(store, NBATCH * PER_BATCH);
	free(orig);
	free(idx);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* A base offset damaged far out of range (it lies outside the CRC): the
 * batch passes recovery's walk, so the check finds it and the repair cuts
 * there, leaving exactly the records before it and a sane log end. */
START_TEST(base_offset_out_of_range)
{
	char *store = make_store("range"), *pdir = part_dir(store), *log;
	struct batches bs;
	struct seen s = { 0 };
	ks_check_stat_t st;

	log = kt_seg_file(pdir, seg_base(pdir, 0), ".log");
	read_batches(log, &bs);
	ck_assert_uint_ge(bs.n, 4);
	put_byte(log, bs.pos[3] + 1, 0x40); /* base offset += 2^54 */
	ck_assert_int_eq(ks_log_check(pdir, 0, collect, &s, &st),
	    KS_ECORRUPT);
	expect_one(&s, log, (uint64_t)bs.pos[3], bs.base[3], KS_EBATCH);
	memset(&s, 0, sizeof s);
	KT_OK(ks_log_check(pdir, KS_CHECK_REPAIR, collect, &s, &st));
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.repaired[0], 1);
	ck_assert_uint_eq(seg_count(pdir), 1);
	ck_assert_int_eq(kt_file_size(log), bs.pos[3]);
	check_all_records(store, bs.base[3]);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* Damaged topic metadata: found, named, never "repaired". */
START_TEST(topic_metadata_damaged)
{
	char *store = make_store("meta"), *meta = kt_path(store, "t.topic");
	struct seen s = { 0 };
	ks_check_stat_t st;

	put_byte(meta, 20, get_byte(meta, 20) ^ 0x01);
	ck_assert_int_eq(ks_store_check(store, KS_CHECK_REPAIR, collect, &s,
	    &st), KS_ECORRUPT);
	expect_one(&s, meta, 0, -1, KS_ECORRUPT);
	ck_assert_int_eq(s.repaired[0], 0);
	ck_assert_msg(strstr(s.what[0], "checksum") != NULL, "%s", s.what[0]);
	/* Its partition is still checked, and left in place. */
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_int_eq(kt_file_size(meta) > 0, 1);
	free(meta);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* Stray files are reported and left alone; leftovers of interrupted
 * operations are removed by a repair. */
START_TEST(stray_and_leftovers)
{
	char *store = make_store("stray"), *pdir = part_dir(store);
	char *junk = kt_path(pdir, "junk.txt"), *tmp = kt_path(store,
	    "t.tmp~"), *orphan = kt_path(store, "gone-0");
	struct seen s = { 0 };
	ks_check_stat_t st;
	FILE *f;
	size_t i;
	int found_junk = 0, found_tmp = 0, found_orphan = 0;

	f = fopen(junk, "w");
	fputs("hello\n", f);
	fclose(f);
	f = fopen(tmp, "w");
	fclose(f);
	ck_assert_int_eq(mkdir(orphan, 0755), 0);
	ck_assert_int_eq(ks_store_check(store, KS_CHECK_REPAIR, collect, &s,
	    &st), KS_ECORRUPT);
	for (i = 0; i < s.n; i++) {
		if (strcmp(s.file[i], junk) == 0) {
			found_junk = 1;
			ck_assert_int_eq(s.repaired[i], 0);
		} else if (strcmp(s.file[i], tmp) == 0) {
			found_tmp = 1;
			ck_assert_int_eq(s.repaired[i], 1);
		} else if (strcmp(s.file[i], orphan) == 0) {
			found_orphan = 1;
			ck_assert_int_eq(s.repaired[i], 1);
		}
	}
	if (s.n != 3)
		dump_seen(&s);
	ck_assert_uint_eq(s.n, 3);
	ck_assert(found_junk && found_tmp && found_orphan);
	ck_assert_int_eq(access(junk, F_OK), 0);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_int_ne(access(orphan, F_OK), 0);
	ck_assert_uint_eq(st.problems, 3);
	ck_assert_uint_eq(st.repaired, 2);
	free(junk);
	free(tmp);
	free(orphan);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* A writer holds the store: KS_ELOCKED, naming the holder; a read-only
 * reader does not get in the way. */
START_TEST(locked_by_writer)
{
	char *store = make_store("locked"), *pdir = part_dir(store);
	char *lock = kt_path(store, ".lock"), pid[32];
	struct seen s = { 0 };
	ks_check_stat_t st;
	ks_store_t *w, *r;

	w = open_store(store, 0);
	ck_assert_int_eq(ks_store_check(store, KS_CHECK_REPAIR, collect, &s,
	    &st), KS_ELOCKED);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.file[0], lock);
	ck_assert_int_eq(s.err[0], KS_ELOCKED);
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	ck_assert_msg(strstr(s.what[0], pid) != NULL, "%s", s.what[0]);
	ck_assert_int_eq(ks_log_check(pdir, 0, NULL, NULL, NULL),
	    KS_ELOCKED);
	KT_OK(ks_store_close(w));

	r = open_store(store, KS_STORE_RDONLY);
	memset(&s, 0, sizeof s);
	KT_OK(ks_store_check(store, 0, collect, &s, &st));
	ck_assert_uint_eq(st.batches, NBATCH);
	KT_OK(ks_store_close(r));
	/* And the check let go of the lock: a writer opens. */
	w = open_store(store, 0);
	KT_OK(ks_store_close(w));
	free(lock);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

/* ---- the tool, as a user runs it ----------------------------------------- */
#ifdef KS_WITH_NET /* the kstream tool is built with the network layers */

static char *tool_path(void)
{
	char *ed = kt_exe_dir(), *bin;
	ck_assert_int_ge(asprintf(&bin, "%s/../kstream", ed), 0);
	free(ed);
	ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);
	return bin;
}

static void run(struct kt_cmd_out *o, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	char *bin = tool_path();
	char *argv[6] = { bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
		NULL };
	kt_run_cmd(argv, NULL, CMD_TIMEOUT_MS, o);
	free(bin);
}

static int exit_code(const struct kt_cmd_out *o)
{
	return o->status >= 0 && WIFEXITED(o->status) ?
	    WEXITSTATUS(o->status) : -1;
}

START_TEST(tool_dump)
{
	char *store = make_store("dump"), *pdir = part_dir(store), *log, *idx;
	struct kt_cmd_out o;
	struct batches bs;
	char want[256];
	size_t i, len;
	char *ib;

	log = kt_seg_file(pdir, seg_base(pdir, 0), ".log");
	read_batches(log, &bs);
	run(&o, "dump", log, NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "%s", o.err);
	for (i = 0; i < bs.n; i++) {
		snprintf(want, sizeof want, "baseOffset: %" PRId64
		    " lastOffset: %" PRId64 " count: %d ", bs.base[i],
		    bs.base[i] + PER_BATCH - 1, PER_BATCH);
		ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in:\n%s",
		    want, o.out);
		snprintf(want, sizeof want, "position: %ld ", bs.pos[i]);
		ck_assert_msg(strstr(o.out, want) != NULL, "no '%s'", want);
	}
	ck_assert_msg(strstr(o.out, "isvalid: false") == NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "payload:") == NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	run(&o, "dump", "-r", "--deep", log);
	ck_assert_msg(exit_code(&o) == 0, "%s", o.err);
	ck_assert_msg(strstr(o.out, "| offset: 3 CreateTime: 1700000000003 "
	    "keySize: 2 valueSize: ") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "headers: [h=k3] key: k3 payload: "
	    "value-3-abcdefghijklmnopqrstuvwxyz-21\n") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	/* The index, entry by entry. */
	idx = kt_seg_file(pdir, seg_base(pdir, 0), ".index");
	ib = read_whole(idx, &len);
	run(&o, "dump", idx, NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "%s", o.err);
	for (i = 0; i + 8 <= len; i += 8) {
		const unsigned char *e = (const unsigned char *)ib + i;
		snprintf(want, sizeof want, "offset: %u position: %u\n",
		    (unsigned)(e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3]),
		    (unsigned)(e[4] << 24 | e[5] << 16 | e[6] << 8 | e[7]));
		ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in:\n%s",
		    want, o.out);
	}
	kt_cmd_out_free(&o);

	/* A flipped byte: isvalid false, exit 1. */
	put_byte(log, bs.pos[1] + 70, get_byte(log, bs.pos[1] + 70) ^ 1);
	run(&o, "dump", log, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 1);
	ck_assert_msg(strstr(o.out, "isvalid: false") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	run(&o, "dump", NULL, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "dump", "--bogus", log, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "dump", "--help", NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 0);
	ck_assert_msg(strstr(o.out, "usage:") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	free(ib);
	free(idx);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

START_TEST(tool_check)
{
	char *store = make_store("tcheck"), *pdir = part_dir(store), *log;
	struct kt_cmd_out o;
	struct batches bs;
	char want[512];
	size_t nseg = seg_count(pdir);

	unsetenv("KSTREAM_STORE");
	run(&o, "check", store, NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "%s%s", o.out, o.err);
	snprintf(want, sizeof want, "1 partition, %zu segments, %d batches",
	    nseg, NBATCH);
	ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in %s", want,
	    o.out);
	ck_assert_msg(strstr(o.out, ": 0 problems") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	log = kt_seg_file(pdir, seg_base(pdir, 1), ".log");
	read_batches(log, &bs);
	put_byte(log, bs.pos[1] + 80, get_byte(log, bs.pos[1] + 80) ^ 4);
	run(&o, "check", "--store", store, NULL);
	ck_assert_int_eq(exit_code(&o), 1);
	snprintf(want, sizeof want, "%s:%ld: offset %" PRId64 ": CRC", log,
	    bs.pos[1], bs.base[1]);
	ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in %s", want,
	    o.out);
	kt_cmd_out_free(&o);

	/* A partition directory alone, quietly: just the status. */
	run(&o, "check", "-q", pdir, NULL);
	ck_assert_int_eq(exit_code(&o), 1);
	ck_assert_str_eq(o.out, "");
	kt_cmd_out_free(&o);

	run(&o, "check", "--repair", store, NULL);
	ck_assert_msg(exit_code(&o) == 0, "%s%s", o.out, o.err);
	ck_assert_msg(strstr(o.out, "[repaired]") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "bytes cut") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	run(&o, "check", store, NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "%s%s", o.out, o.err);
	ck_assert_msg(strstr(o.out, ": 0 problems") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	check_all_records(store, bs.base[1]);

	/* Usage errors. */
	run(&o, "check", NULL, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", "--bogus", store, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", store, pdir, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", "--help", NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 0);
	kt_cmd_out_free(&o);
	free(log);
	free(pdir);
	kt_rmrf(store);
	free(store);
}
END_TEST

#endif /* KS_WITH_NET */

Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tl = tcase_create("library");
#ifdef KS_WITH_NET
	TCase *tt = tcase_create("tool");
#endif

	tcase_add_unchecked_fixture(tl, suite_setup, suite_teardown);
	tcase_set_timeout(tl, 120);
	tcase_add_test(tl, clean_store_counts);
	tcase_add_test(tl, crc_flip_and_repair);
	tcase_add_test(tl, truncated_last_batch);
	tcase_add_test(tl, garbage_after_zero_tail);
	tcase_add_test(tl, base_offset_out_of_range);
	tcase_add_test(tl, offset_index_entry);
	tcase_add_test(tl, time_index_entry);
	tcase_add_test(tl, topic_metadata_damaged);
	tcase_add_test(tl, stray_and_leftovers);
	tcase_add_test(tl, locked_by_writer);
	suite_add_tcase(s, tl);

#ifdef KS_WITH_NET
	tcase_add_unchecked_fixture(tt, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tt, NULL, kt_children_kill);
	tcase_set_timeout(tt, 300);
	tcase_add_test(tt, tool_dump);
	tcase_add_test(tt, tool_check);
	suite_add_tcase(s, tt);
#endif
	return s;
}
