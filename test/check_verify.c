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
	kt_rmrf_free(&g_base);
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
	kt_store_config(&sc, flags, NULL);
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

/* A test's store (make_store), its partition and one file damaged. */
struct fx {
	char *store, *pdir;
	char *file;          /* fx_file's, else NULL */
	struct batches bs;   /* file's batches, when it is a .log */
};

static void fx_make(struct fx *f, const char *name)
{
	memset(f, 0, sizeof *f);
	f->store = make_store(name);
	f->pdir = part_dir(f->store);
}

/* f->file: segment seg's file ext (seg -1: the last segment's); a .log's
 * batches go to f->bs. */
static void fx_file(struct fx *f, int seg, const char *ext)
{
	size_t i = seg < 0 ? seg_count(f->pdir) - 1 : (size_t)seg;

	free(f->file);
	f->file = kt_seg_file(f->pdir, seg_base(f->pdir, i), ext);
	if (strcmp(ext, ".log") == 0)
		read_batches(f->file, &f->bs);
}

/* Frees f and removes its store. */
static void fx_free(struct fx *f)
{
	free(f->file);
	free(f->pdir);
	kt_rmrf(f->store);
	free(f->store);
}

/* A check with flags of the whole store, or with part of the partition
 * alone; its problems in s (emptied first), its figures in st. */
static int check(const struct fx *f, int part, int flags, struct seen *s,
    ks_check_stat_t *st)
{
	memset(s, 0, sizeof *s);
	return part ? ks_log_check(f->pdir, flags, collect, s, st) :
	    ks_store_check(f->store, flags, collect, s, st);
}

/* A repair that finds exactly one problem and repairs it. */
static void repair_one(const struct fx *f, int part, struct seen *s,
    ks_check_stat_t *st)
{
	KT_OK(check(f, part, KS_CHECK_REPAIR, s, st));
	if (s->n != 1)
		dump_seen(s);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_eq(s->repaired[0], 1);
}

/* A check that finds nothing. */
static void expect_clean(const struct fx *f, int part, ks_check_stat_t *st)
{
	struct seen s;

	KT_OK(check(f, part, 0, &s, st));
	if (s.n)
		dump_seen(&s);
	ck_assert_uint_eq(s.n, 0);
}

/* ---- the library ------------------------------------------------------ */

START_TEST(clean_store_counts)
{
	struct fx f;
	int64_t bases[64];
	size_t n, i;
	uint64_t bytes = 0;
	ks_check_stat_t st;

	fx_make(&f, "clean");
	n = kt_list_segments(f.pdir, bases, 64);
	ck_assert_uint_ge(n, 3);
	for (i = 0; i < n; i++) {
		char *p = kt_seg_file(f.pdir, bases[i], ".log");
		bytes += (uint64_t)kt_file_size(p);
		free(p);
	}
	expect_clean(&f, 0, &st);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.segments, n);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_uint_eq(st.bytes, bytes);
	ck_assert_uint_eq(st.problems, 0);

	/* The partition alone, the same. */
	memset(&st, 0xff, sizeof st);
	expect_clean(&f, 1, &st);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_uint_eq(st.bytes, bytes);

	/* A repair of a clean store changes nothing. */
	{
		struct seen s;
		KT_OK(check(&f, 0, KS_CHECK_REPAIR, &s, &st));
		ck_assert_uint_eq(s.n, 0);
		ck_assert_uint_eq(st.cut_bytes, 0);
	}
	check_all_records(f.store, NBATCH * PER_BATCH);
	ck_assert_int_eq(ks_store_check(g_base, 0, NULL, NULL, NULL),
	    KS_ECORRUPT); /* the suite's directory: stray names */
	ck_assert_int_eq(ks_store_check("/nonexistent/verify", 0, NULL,
	    NULL, NULL), -ENOENT);
	ck_assert_int_eq(ks_log_check(NULL, 0, NULL, NULL, NULL), KS_EINVAL);
	fx_free(&f);
}
END_TEST

/* A flipped byte inside a batch in the middle of a segment: CRC. The
 * repair keeps exactly the records before that batch. */
START_TEST(crc_flip_and_repair)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;
	int64_t bad;
	long pos;

	fx_make(&f, "crc");
	ck_assert_uint_ge(seg_count(f.pdir), 3);
	fx_file(&f, 1, ".log");
	ck_assert_uint_ge(f.bs.n, 4);
	pos = f.bs.pos[2];
	bad = f.bs.base[2];
	put_byte(f.file, pos + 70, get_byte(f.file, pos + 70) ^ 0x20);

	ck_assert_int_eq(check(&f, 0, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, (uint64_t)pos, bad, KS_ECRC);
	ck_assert_int_eq(s.repaired[0], 0);
	ck_assert_uint_eq(st.problems, 1);
	/* The walk of a segment stops at its first bad batch. */
	ck_assert_uint_eq(st.batches, NBATCH - (f.bs.n - 2));

	repair_one(&f, 0, &s, &st);
	expect_one(&s, f.file, (uint64_t)pos, bad, KS_ECRC);
	ck_assert_msg(strstr(s.what[0], "cut") != NULL, "%s", s.what[0]);
	ck_assert_uint_eq(st.repaired, 1);
	ck_assert_uint_gt(st.cut_bytes, 0);
	/* The segments after the damaged one are gone. */
	ck_assert_uint_eq(seg_count(f.pdir), 2);
	check_all_records(f.store, bad);
	expect_clean(&f, 0, &st);
	fx_free(&f);
}
END_TEST

/* The last batch cut short, as a crash mid-append leaves it. */
START_TEST(truncated_last_batch)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;
	long last_pos;

	fx_make(&f, "trunc");
	fx_file(&f, -1, ".log");
	last_pos = f.bs.pos[f.bs.n - 1];
	ck_assert_int_eq(truncate(f.file, f.bs.size - 10), 0);
	ck_assert_int_eq(check(&f, 1, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, (uint64_t)last_pos, f.bs.base[f.bs.n - 1],
	    KS_EBATCH);

	repair_one(&f, 1, &s, &st);
	ck_assert_uint_gt(st.cut_bytes, 0);
	ck_assert_uint_le(st.cut_bytes, (uint64_t)(f.bs.size - 10 -
	    last_pos));
	ck_assert_int_eq(kt_file_size(f.file), last_pos);
	check_all_records(f.store, f.bs.base[f.bs.n - 1]);
	fx_free(&f);
}
END_TEST

/* Non-zero bytes after the zero-filled tail of the last segment. */
START_TEST(garbage_after_zero_tail)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;

	fx_make(&f, "tail");
	fx_file(&f, -1, ".log");
	/* A zero tail alone is normal (a crash leaves a preallocated one). */
	ck_assert_int_eq(truncate(f.file, f.bs.size + 4096), 0);
	expect_clean(&f, 1, &st);
	ck_assert_uint_eq(st.batches, NBATCH);
	put_byte(f.file, f.bs.size + 100, 0xab);
	ck_assert_int_eq(check(&f, 1, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, (uint64_t)f.bs.size + 100, NBATCH * PER_BATCH,
	    KS_ECORRUPT);

	repair_one(&f, 1, &s, &st);
	ck_assert_int_eq(kt_file_size(f.file), f.bs.size);
	check_all_records(f.store, NBATCH * PER_BATCH);
	fx_free(&f);
}
END_TEST

/* An offset index entry that points into the middle of a batch; the
 * repair rebuilds the index as it was and keeps every record. */
START_TEST(offset_index_entry)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;
	char *orig, *now;
	size_t olen, nlen;

	fx_make(&f, "oidx");
	fx_file(&f, 0, ".index");
	orig = read_whole(f.file, &olen);
	ck_assert_uint_ge(olen, 16);
	put_byte(f.file, 8 + 7, get_byte(f.file, 8 + 7) ^ 0x01); /* entry 1 */
	ck_assert_int_eq(check(&f, 0, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, 8, seg_base(f.pdir, 0) +
	    (int64_t)((unsigned char)orig[8 + 3]), KS_ECORRUPT);

	repair_one(&f, 0, &s, &st);
	ck_assert_uint_eq(st.cut_bytes, 0);
	now = read_whole(f.file, &nlen);
	ck_assert_msg(nlen == olen && memcmp(orig, now, olen) == 0,
	    "rebuilt index differs");
	check_all_records(f.store, NBATCH * PER_BATCH);
	free(orig);
	free(now);
	fx_free(&f);
}
END_TEST

/* A time index entry whose timestamp goes backwards. */
START_TEST(time_index_entry)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;
	size_t len;
	char *orig;
	int64_t off;
	int k;

	fx_make(&f, "tidx");
	fx_file(&f, 1, ".timeindex");
	orig = read_whole(f.file, &len);
	ck_assert_uint_ge(len, 24);
	for (off = 0, k = 8; k < 12; k++)
		off = off << 8 | (unsigned char)orig[12 + k];
	put_byte(f.file, 12 + 4, get_byte(f.file, 12 + 4) ^ 0x80); /* entry 1 */
	ck_assert_int_eq(check(&f, 0, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, 12, seg_base(f.pdir, 1) + off, KS_ECORRUPT);
	repair_one(&f, 0, &s, &st);
	expect_clean(&f, 0, &st);
	check_all_records(f.store, NBATCH * PER_BATCH);
	free(orig);
	fx_free(&f);
}
END_TEST

/* A base offset damaged far out of range (it lies outside the CRC): the
 * batch passes recovery's walk, so the check finds it and the repair cuts
 * there, leaving exactly the records before it and a sane log end. */
START_TEST(base_offset_out_of_range)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;

	fx_make(&f, "range");
	fx_file(&f, 0, ".log");
	ck_assert_uint_ge(f.bs.n, 4);
	put_byte(f.file, f.bs.pos[3] + 1, 0x40); /* base offset += 2^54 */
	ck_assert_int_eq(check(&f, 1, 0, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, (uint64_t)f.bs.pos[3], f.bs.base[3], KS_EBATCH);
	repair_one(&f, 1, &s, &st);
	ck_assert_uint_eq(seg_count(f.pdir), 1);
	ck_assert_int_eq(kt_file_size(f.file), f.bs.pos[3]);
	check_all_records(f.store, f.bs.base[3]);
	fx_free(&f);
}
END_TEST

/* Damaged topic metadata: found, named, never "repaired". */
START_TEST(topic_metadata_damaged)
{
	struct fx f;
	struct seen s;
	ks_check_stat_t st;

	fx_make(&f, "meta");
	f.file = kt_path(f.store, "t.topic");
	put_byte(f.file, 20, get_byte(f.file, 20) ^ 0x01);
	ck_assert_int_eq(check(&f, 0, KS_CHECK_REPAIR, &s, &st), KS_ECORRUPT);
	expect_one(&s, f.file, 0, -1, KS_ECORRUPT);
	ck_assert_int_eq(s.repaired[0], 0);
	ck_assert_msg(strstr(s.what[0], "checksum") != NULL, "%s", s.what[0]);
	/* Its partition is still checked, and left in place. */
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.batches, NBATCH);
	ck_assert_int_eq(kt_file_size(f.file) > 0, 1);
	fx_free(&f);
}
END_TEST

/* Stray files are reported and left alone; leftovers of interrupted
 * operations are removed by a repair. */
START_TEST(stray_and_leftovers)
{
	struct fx f;
	char *junk, *tmp, *orphan;
	struct seen s;
	ks_check_stat_t st;
	FILE *fp;
	size_t i;
	int found_junk = 0, found_tmp = 0, found_orphan = 0;

	fx_make(&f, "stray");
	junk = kt_path(f.pdir, "junk.txt");
	tmp = kt_path(f.store, "t.tmp~");
	orphan = kt_path(f.store, "gone-0");
	fp = fopen(junk, "w");
	fputs("hello\n", fp);
	fclose(fp);
	fp = fopen(tmp, "w");
	fclose(fp);
	ck_assert_int_eq(mkdir(orphan, 0755), 0);
	ck_assert_int_eq(check(&f, 0, KS_CHECK_REPAIR, &s, &st), KS_ECORRUPT);
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
	fx_free(&f);
}
END_TEST

/* A writer holds the store: KS_ELOCKED, naming the holder; a read-only
 * reader does not get in the way. */
START_TEST(locked_by_writer)
{
	struct fx f;
	char *lock, pid[32];
	struct seen s;
	ks_check_stat_t st;
	ks_store_t *w, *r;

	fx_make(&f, "locked");
	lock = kt_path(f.store, ".lock");
	w = open_store(f.store, 0);
	ck_assert_int_eq(check(&f, 0, KS_CHECK_REPAIR, &s, &st), KS_ELOCKED);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.file[0], lock);
	ck_assert_int_eq(s.err[0], KS_ELOCKED);
	snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
	ck_assert_msg(strstr(s.what[0], pid) != NULL, "%s", s.what[0]);
	ck_assert_int_eq(ks_log_check(f.pdir, 0, NULL, NULL, NULL),
	    KS_ELOCKED);
	KT_OK(ks_store_close(w));

	r = open_store(f.store, KS_STORE_RDONLY);
	KT_OK(check(&f, 0, 0, &s, &st));
	ck_assert_uint_eq(st.batches, NBATCH);
	KT_OK(ks_store_close(r));
	/* And the check let go of the lock: a writer opens. */
	w = open_store(f.store, 0);
	KT_OK(ks_store_close(w));
	free(lock);
	fx_free(&f);
}
END_TEST

/* ---- the tool, as a user runs it ----------------------------------------- */
#ifdef KS_WITH_NET /* the kstream tool is built with the network layers */

static void run(struct kt_cmd_out *o, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	char *bin = kt_program("kstream");
	char *argv[6] = { bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
		NULL };
	kt_run_cmd(argv, NULL, CMD_TIMEOUT_MS, o);
	free(bin);
}

START_TEST(tool_dump)
{
	struct fx f;
	struct kt_cmd_out o;
	char want[256], *log, *idx;
	size_t i, len;
	char *ib;

	fx_make(&f, "dump");
	fx_file(&f, 0, ".log");
	log = f.file;
	run(&o, "dump", log, NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s", o.err);
	for (i = 0; i < f.bs.n; i++) {
		snprintf(want, sizeof want, "baseOffset: %" PRId64
		    " lastOffset: %" PRId64 " count: %d ", f.bs.base[i],
		    f.bs.base[i] + PER_BATCH - 1, PER_BATCH);
		ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in:\n%s",
		    want, o.out);
		snprintf(want, sizeof want, "position: %ld ", f.bs.pos[i]);
		ck_assert_msg(strstr(o.out, want) != NULL, "no '%s'", want);
	}
	ck_assert_msg(strstr(o.out, "isvalid: false") == NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "payload:") == NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	run(&o, "dump", "-r", "--deep", log);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s", o.err);
	ck_assert_msg(strstr(o.out, "| offset: 3 CreateTime: 1700000000003 "
	    "keySize: 2 valueSize: ") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "headers: [h=k3] key: k3 payload: "
	    "value-3-abcdefghijklmnopqrstuvwxyz-21\n") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	/* The index, entry by entry. */
	idx = kt_seg_file(f.pdir, seg_base(f.pdir, 0), ".index");
	ib = read_whole(idx, &len);
	run(&o, "dump", idx, NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s", o.err);
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
	put_byte(log, f.bs.pos[1] + 70, get_byte(log, f.bs.pos[1] + 70) ^ 1);
	run(&o, "dump", log, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 1);
	ck_assert_msg(strstr(o.out, "isvalid: false") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	run(&o, "dump", NULL, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "dump", "--bogus", log, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "dump", "--help", NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 0);
	ck_assert_msg(strstr(o.out, "usage:") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	free(ib);
	free(idx);
	fx_free(&f);
}
END_TEST

START_TEST(tool_check)
{
	struct fx f;
	struct kt_cmd_out o;
	char want[512], *store, *pdir;
	size_t nseg;

	fx_make(&f, "tcheck");
	store = f.store;
	pdir = f.pdir;
	nseg = seg_count(pdir);
	unsetenv("KSTREAM_STORE");
	run(&o, "check", store, NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s%s", o.out, o.err);
	snprintf(want, sizeof want, "1 partition, %zu segments, %d batches",
	    nseg, NBATCH);
	ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in %s", want,
	    o.out);
	ck_assert_msg(strstr(o.out, ": 0 problems") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	fx_file(&f, 1, ".log");
	put_byte(f.file, f.bs.pos[1] + 80, get_byte(f.file, f.bs.pos[1] + 80) ^
	    4);
	run(&o, "check", "--store", store, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 1);
	snprintf(want, sizeof want, "%s:%ld: offset %" PRId64 ": CRC", f.file,
	    f.bs.pos[1], f.bs.base[1]);
	ck_assert_msg(strstr(o.out, want) != NULL, "no '%s' in %s", want,
	    o.out);
	kt_cmd_out_free(&o);

	/* A partition directory alone, quietly: just the status. */
	run(&o, "check", "-q", pdir, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 1);
	ck_assert_str_eq(o.out, "");
	kt_cmd_out_free(&o);

	run(&o, "check", "--repair", store, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s%s", o.out, o.err);
	ck_assert_msg(strstr(o.out, "[repaired]") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "bytes cut") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	run(&o, "check", store, NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "%s%s", o.out, o.err);
	ck_assert_msg(strstr(o.out, ": 0 problems") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);
	check_all_records(store, f.bs.base[1]);

	/* Usage errors. */
	run(&o, "check", NULL, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", "--bogus", store, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", store, pdir, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	kt_cmd_out_free(&o);
	run(&o, "check", "--help", NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 0);
	kt_cmd_out_free(&o);
	fx_free(&f);
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
