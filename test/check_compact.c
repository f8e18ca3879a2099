/*
 * check_compact.c: ks_log_compact (Kafka's log cleaner): the latest record
 * of every key survives with its offset, superseded ones go, tombstones go
 * after delete.retention.ms, young records stay for min.compaction.lag.ms,
 * compressed and control batches stay byte for byte, readers holding the
 * old segments keep reading them, appends go on during a pass, and a crash
 * at any point leaves the old segment or the new one.
 *
 * The tests keep a model of what was appended at each offset and of which
 * records a pass removed (the rule of ks_log_compact(3)), and check the log
 * against it record by record.
 */
#define _GNU_SOURCE
#include "util.h"
#include "log/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG 8192
#define T0 INT64_C(1700000000000)
#define DAY INT64_C(86400000)
#define VLEN 32
#define MAXREC 20000
#define MAXKEYS 1024
#define MAXSEGS 2048
#define MAXPER 8

static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("compact");
}

static void suite_teardown(void)
{
	kt_rmrf(g_base);
	free(g_base);
	g_base = NULL;
}

static void quiet_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void small_cfg(ks_log_config_t *cfg)
{
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	cfg->segment_bytes = SEG;
	cfg->index_interval_bytes = 256;
	cfg->retention_ms = -1;
	cfg->retention_bytes = -1;
	cfg->log_cb = quiet_cb;
}

/* ---- the model ---------------------------------------------------------- */

/* What was appended at each offset, and what compaction took. */
static struct model {
	int64_t n;
	int key[MAXREC];       /* -1: null key (or a record compaction can't
	                          read: compressed, control) */
	uint8_t tomb[MAXREC];
	uint8_t gone[MAXREC];  /* removed by a pass */
	int64_t ts[MAXREC];
	int64_t bbase[MAXREC], blast[MAXREC]; /* the batch holding it */
} M;

static void key_str(char *buf, size_t len, int k)
{
	snprintf(buf, len, "key-%05d", k);
}

static uint8_t vbyte(int64_t off, int j)
{
	return (uint8_t)(off * 31 + j * 7 + 3);
}

/* Records a batch of n offsets from first in the model. */
static void model_batch(int64_t first, size_t n, const int *keys,
    const int *tombs, const int64_t *ts)
{
	size_t i;
	ck_assert_int_le(first + (int64_t)n, MAXREC);
	for (i = 0; i < n; i++) {
		int64_t o = first + (int64_t)i;
		M.key[o] = keys ? keys[i] : -1;
		M.tomb[o] = tombs ? (uint8_t)tombs[i] : 0;
		M.ts[o] = ts ? ts[i] : 0;
		M.gone[o] = 0;
		M.bbase[o] = first;
		M.blast[o] = first + (int64_t)n - 1;
	}
	M.n = first + (int64_t)n;
}

/* Appends one batch: keys[i] (-1: null), tombs[i] (null value), ts[i]. */
static void append(ks_log_t *log, size_t n, const int *keys, const int *tombs,
    const int64_t *ts)
{
	static char kb[MAXPER][16];
	static uint8_t vb[MAXPER][VLEN];
	ks_record_t r[MAXPER];
	ks_append_info_t info;
	int64_t first = ks_log_end_offset(log);
	size_t i;
	int j;

	ck_assert_uint_le(n, MAXPER);
	memset(r, 0, sizeof r);
	for (i = 0; i < n; i++) {
		int64_t o = first + (int64_t)i;
		if (keys[i] >= 0) {
			key_str(kb[i], sizeof kb[i], keys[i]);
			r[i].key = kb[i];
			r[i].key_len = strlen(kb[i]);
		}
		if (!tombs[i]) {
			for (j = 0; j < VLEN; j++)
				vb[i][j] = vbyte(o, j);
			r[i].value = vb[i];
			r[i].value_len = VLEN;
		}
		r[i].timestamp = ts[i];
	}
	KT_OK(ks_log_append(log, r, n, &info));
	ck_assert_int_eq(info.base_offset, first);
	model_batch(first, n, keys, tombs, ts);
}

/* A batch of one record. */
static void append1(ks_log_t *log, int key, int tomb, int64_t ts)
{
	append(log, 1, &key, &tomb, &ts);
}

/*
 * nrec records over nkeys keys, in batches of 1 to 5, timestamps T0 +
 * offset; tomb_pct and null_pct percent of them tombstones and keyless.
 */
static void fill(ks_log_t *log, uint64_t *rng, int nrec, int nkeys,
    int tomb_pct, int null_pct)
{
	while (nrec > 0) {
		int keys[5], tombs[5];
		int64_t ts[5];
		int n, i;

		*rng = kt_mix64(*rng);
		n = 1 + (int)(*rng % 5);
		if (n > nrec)
			n = nrec;
		for (i = 0; i < n; i++) {
			*rng = kt_mix64(*rng);
			keys[i] = (int)(*rng % (uint64_t)nkeys);
			tombs[i] = (int)((*rng >> 20) % 100) < tomb_pct;
			if ((int)((*rng >> 40) % 100) < null_pct)
				keys[i] = -1;
			ts[i] = T0 + ks_log_end_offset(log) + i;
		}
		append(log, (size_t)n, keys, tombs, ts);
		nrec -= n;
	}
}

/* Whether the record at off (not yet gone) survives a pass over the
 * segments below upto: the rule of ks_log_compact(3). */
static int survives(int64_t off, int64_t upto, int64_t now,
    const ks_compact_config_t *c)
{
	int64_t o;
	int drop = 0;

	if (off >= upto || M.key[off] < 0)
		return 1;
	for (o = off + 1; o < upto && !drop; o++)
		drop = !M.gone[o] && M.key[o] == M.key[off];
	if (!drop && M.tomb[off] && M.ts[off] < now - c->delete_retention_ms)
		drop = 1;
	if (drop && c->min_compaction_lag_ms > 0 &&
	    M.ts[off] > now - c->min_compaction_lag_ms)
		drop = 0;
	return !drop;
}

static size_t list_segs(const char *dir, int64_t *bases)
{
	return kt_list_segments(dir, bases, MAXSEGS);
}

static int64_t active_base(const char *dir)
{
	static int64_t b[MAXSEGS];
	size_t n = list_segs(dir, b);
	ck_assert_uint_gt(n, 0);
	return b[n - 1];
}

/*
 * Runs a pass and checks its statistics against the model, which it then
 * updates. Returns 1 if the pass ran, 0 if the dirty ratio skipped it.
 */
static int compact(ks_log_t *log, const char *dir,
    const ks_compact_config_t *c, int64_t now, ks_compact_stat_t *out)
{
	static uint8_t drop[MAXREC];
	int64_t upto = active_base(dir), o;
	uint64_t live = 0, removed = 0, tombs = 0;
	ks_compact_stat_t st;

	for (o = 0; o < upto; o++) {
		drop[o] = !M.gone[o] && !survives(o, upto, now, c);
		live += !M.gone[o];
		removed += drop[o];
		tombs += drop[o] && M.tomb[o];
	}
	memset(&st, 0xa5, sizeof st);
	KT_OK(ks_log_compact(log, c, now, &st));
	if (out)
		*out = st;
	if (st.bytes_before == 0) {
		ck_assert_uint_eq(st.segments_cleaned, 0);
		ck_assert_uint_eq(st.records_kept, 0);
		ck_assert_uint_eq(st.records_removed, 0);
		ck_assert_uint_eq(st.tombstones_removed, 0);
		ck_assert_uint_eq(st.bytes_after, 0);
		return 0;
	}
	ck_assert_msg(st.records_removed == removed,
	    "removed %" PRIu64 ", expected %" PRIu64, st.records_removed,
	    removed);
	ck_assert_uint_eq(st.records_kept, live - removed);
	ck_assert_uint_eq(st.tombstones_removed, tombs);
	ck_assert_uint_le(st.bytes_after, st.bytes_before);
	ck_assert(removed == 0 || st.segments_cleaned > 0);
	ck_assert(removed == 0 || st.bytes_after < st.bytes_before);
	for (o = 0; o < upto; o++)
		M.gone[o] |= drop[o];
	return 1;
}

/* rec is exactly what was appended at its offset. */
static void check_record(const ks_record_t *r)
{
	int64_t o = r->offset;
	char kb[16];
	int j;

	ck_assert_int_lt(o, M.n);
	if (M.key[o] < 0) {
		ck_assert_ptr_null(r->key);
	} else {
		key_str(kb, sizeof kb, M.key[o]);
		ck_assert(kt_same_bytes(r->key, r->key_len, kb, strlen(kb)));
	}
	ck_assert_int_eq(r->timestamp, M.ts[o]);
	if (M.tomb[o]) {
		ck_assert_ptr_null(r->value);
		return;
	}
	ck_assert_uint_eq(r->value_len, VLEN);
	for (j = 0; j < VLEN; j++)
		ck_assert_uint_eq(((const uint8_t *)r->value)[j], vbyte(o, j));
}

/* The log holds exactly the records the model says are not gone, each as
 * appended, at its offset. */
static void check_log(ks_log_t *log)
{
	static uint8_t seen[MAXREC];
	ks_log_iter_t *it = NULL;
	ks_record_t r;
	int64_t prev = -1, o;
	int rc;

	memset(seen, 0, sizeof seen);
	ck_assert_int_eq(ks_log_end_offset(log), M.n);
	KT_OK(ks_log_iter_new(log, ks_log_start_offset(log), &it));
	while ((rc = ks_log_iter_next(it, &r)) == 1) {
		ck_assert_int_gt(r.offset, prev);
		prev = r.offset;
		check_record(&r);
		seen[r.offset] = 1;
	}
	ck_assert_int_eq(rc, 0);
	ks_log_iter_free(it);
	for (o = ks_log_start_offset(log); o < M.n; o++)
		ck_assert_msg(seen[o] == !M.gone[o],
		    "offset %" PRId64 " (key %d, tomb %d, ts %" PRId64 "): %s",
		    o, M.key[o], M.tomb[o], M.ts[o],
		    seen[o] ? "should be gone" : "missing");
}

/* Every batch validates and keeps its original baseOffset and
 * lastOffsetDelta, with no more records than it had. */
static void check_batches(ks_log_t *log)
{
	int64_t off = ks_log_start_offset(log), end = ks_log_end_offset(log);

	while (off < end) {
		ks_log_view_t v;
		const uint8_t *p;
		size_t left;

		KT_OK(ks_log_read(log, off, 1 << 20, &v));
		if (v.len == 0)
			break;
		for (p = v.data, left = v.len; left > 0;) {
			ks_batch_info_t bi;
			size_t total;
			KT_OK(ks_batch_validate(p, left, &bi));
			ck_assert_int_eq(M.bbase[bi.base_offset], bi.base_offset);
			ck_assert_int_eq(bi.base_offset + bi.last_offset_delta,
			    M.blast[bi.base_offset]);
			ck_assert_int_ge(bi.record_count, 1);
			total = (size_t)bi.batch_length + KS_BATCH_LOG_OVERHEAD;
			p += total;
			left -= total;
		}
		off = v.next_offset;
		ks_log_view_release(&v);
	}
}

/* No file of an unfinished compaction is left in dir. */
static void check_no_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		ck_assert_msg(!strstr(e->d_name, ".cleaned") &&
		        !strstr(e->d_name, ".swap"),
		    "%s/%s left behind", dir, e->d_name);
	closedir(d);
}

static ino_t inode_of(const char *dir, int64_t base)
{
	char *p = kt_seg_file(dir, base, ".log");
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	free(p);
	return st.st_ino;
}

/* Removes the markers that let an open skip recovery, so that the next
 * open walks and CRC-checks every segment. */
static void force_full_recovery(const char *dir)
{
	char *p = kt_path(dir, "clean-shutdown");
	unlink(p);
	free(p);
	p = kt_path(dir, "recovery-point");
	unlink(p);
	free(p);
}

static ks_log_t *reopen_checked(const char *dir, int full)
{
	ks_log_config_t cfg;
	ks_log_stat_t st;
	ks_log_t *log;

	if (full)
		force_full_recovery(dir);
	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_stat(log, &st));
	ck_assert_uint_eq(st.recovery_cut, 0);
	check_no_leftovers(dir);
	check_log(log);
	check_batches(log);
	return log;
}

/* Time lookups land on the first surviving record at or after the time
 * (timestamps here are T0 + offset). */
static void check_times(ks_log_t *log)
{
	int64_t o, want, got;
	for (o = 0; o < M.n; o += 37) {
		for (want = o; want < M.n && M.gone[want]; want++)
			;
		KT_OK(ks_log_offset_for_time(log, T0 + o, &got));
		ck_assert_int_eq(got, want < M.n ? want : -1);
	}
}

/* The bytes of a file, malloc'd, and their length. */
static uint8_t *slurp(const char *path, size_t *len)
{
	long long n = kt_file_size(path);
	uint8_t *b;
	FILE *f;

	ck_assert_int_ge(n, 0);
	b = malloc((size_t)n + 1);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* The sealed segments' index files equal those in the files saved: both
 * follow the rules of docs/format.md 5 and 6, whoever wrote them. */
static void check_same_indexes(const char *dir, uint8_t **saved,
    size_t *slen, size_t nseg, const int64_t *bases)
{
	static const char *ext[2] = { ".index", ".timeindex" };
	size_t i, len;
	int e;

	for (i = 0; i + 1 < nseg; i++)
		for (e = 0; e < 2; e++) {
			char *p = kt_seg_file(dir, bases[i], ext[e]);
			uint8_t *b = slurp(p, &len);
			ck_assert_msg(len == slen[2 * i + (size_t)e] &&
			        memcmp(b, saved[2 * i + (size_t)e], len) == 0,
			    "%s differs from the index recovery builds", p);
			free(b);
			free(p);
		}
}

static void cfg_now(ks_compact_config_t *c, double ratio)
{
	ks_compact_config_init(c);
	c->min_cleanable_dirty_ratio = ratio;
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_config_defaults)
{
	ks_compact_config_t c;
	memset(&c, 0xff, sizeof c);
	ks_compact_config_init(&c);
	ck_assert_int_eq(c.delete_retention_ms, 86400000);
	ck_assert_int_eq(c.min_compaction_lag_ms, 0);
	ck_assert(c.min_cleanable_dirty_ratio == 0.5);
	ks_compact_config_init(NULL);
}
END_TEST

START_TEST(test_latest_per_key)
{
	char *dir = kt_path(g_base, "latest");
	static int64_t bases[MAXSEGS];
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_stat_t ls0, ls1;
	uint64_t rng = kt_seed(0x636f6d70616374ULL);
	int64_t act;
	ino_t act_ino, first_ino;
	size_t n;
	ks_log_t *log;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	fill(log, &rng, 3000, 150, 0, 5);
	n = list_segs(dir, bases);
	ck_assert_uint_gt(n, 10);
	act = bases[n - 1];
	act_ino = inode_of(dir, act);
	first_ino = inode_of(dir, 0);
	KT_OK(ks_log_stat(log, &ls0));

	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert_uint_gt(st.segments_cleaned, 0);
	ck_assert_uint_gt(st.records_removed, 1000);
	KT_OK(ks_log_stat(log, &ls1));
	ck_assert_uint_eq(ls0.size_bytes - ls1.size_bytes,
	    st.bytes_before - st.bytes_after);
	ck_assert_uint_eq(ls1.segment_count, n);
	ck_assert_int_eq(ls1.start_offset, 0);
	ck_assert_int_eq(ls1.end_offset, M.n);
	/* The active segment is left alone; cleaned ones are new files. */
	ck_assert(inode_of(dir, act) == act_ino);
	ck_assert(inode_of(dir, 0) != first_ino);
	check_no_leftovers(dir);
	check_log(log);
	check_batches(log);
	check_times(log);

	/* Nothing new: the dirty ratio skips the next pass... */
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 0);
	/* ...and a forced one finds nothing to do. */
	cfg_now(&c, 0.0);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert_uint_eq(st.segments_cleaned, 0);
	ck_assert_uint_eq(st.records_removed, 0);
	ck_assert_uint_eq(st.bytes_after, st.bytes_before);

	/* Appends go on after it, and a reopen (clean, then walking every
	 * batch) finds the same log. */
	fill(log, &rng, 300, 150, 0, 5);
	KT_OK(ks_log_close(log));
	log = reopen_checked(dir, 0);
	KT_OK(ks_log_close(log));
	{
		/* The cleaned segments' indexes are the ones recovery would
		 * build from their batches. */
		static const char *ext[2] = { ".index", ".timeindex" };
		static uint8_t *saved[2 * MAXSEGS];
		static size_t slen[2 * MAXSEGS];
		size_t i;
		int e;

		n = list_segs(dir, bases);
		for (i = 0; i + 1 < n; i++)
			for (e = 0; e < 2; e++) {
				char *p = kt_seg_file(dir, bases[i], ext[e]);
				saved[2 * i + (size_t)e] =
				    slurp(p, &slen[2 * i + (size_t)e]);
				free(p);
			}
		log = reopen_checked(dir, 1);
		KT_OK(ks_log_close(log));
		check_same_indexes(dir, saved, slen, n, bases);
		for (i = 0; i < 2 * (n - 1); i++)
			free(saved[i]);
	}
	log = reopen_checked(dir, 0);
	check_times(log);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	check_log(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_tombstones)
{
	char *dir = kt_path(g_base, "tombs");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_t *log;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append1(log, 1, 0, 100);  /* 0: A */
	append1(log, 1, 1, 200);  /* 1: A deleted */
	append1(log, 2, 1, 300);  /* 2: B deleted... */
	append1(log, 2, 0, 400);  /* 3: ...and back */
	append1(log, 3, 1, 5000); /* 4: C deleted, recently */
	append1(log, -1, 1, 50);  /* 5: no key: stays */
	KT_OK(ks_log_roll(log));
	append1(log, 4, 0, 100);  /* 6: active */
	append1(log, 4, 1, 100);  /* 7: active tombstone, never cleaned */

	cfg_now(&c, 0.0);
	c.delete_retention_ms = 1000;
	/* Cutoff 100: A's tombstone is too young to go, B's is superseded. */
	ck_assert_int_eq(compact(log, dir, &c, 1100, &st), 1);
	ck_assert_uint_eq(st.records_removed, 2);
	ck_assert_uint_eq(st.tombstones_removed, 1);
	ck_assert(M.gone[0] && !M.gone[1] && M.gone[2] && !M.gone[3]);
	check_log(log);
	/* Cutoff 250: A's tombstone goes; C's stays. */
	ck_assert_int_eq(compact(log, dir, &c, 1250, &st), 1);
	ck_assert_uint_eq(st.tombstones_removed, 1);
	ck_assert(M.gone[1] && !M.gone[4]);
	check_log(log);
	/* Cutoff 5500: C's goes too; the keyless one and the active
	 * segment's stay. */
	ck_assert_int_eq(compact(log, dir, &c, 6500, &st), 1);
	ck_assert(M.gone[4] && !M.gone[5] && !M.gone[7]);
	check_log(log);
	check_batches(log);
	KT_OK(ks_log_close(log));
	log = reopen_checked(dir, 1);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_min_lag)
{
	char *dir = kt_path(g_base, "lag");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_t *log;
	int i;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append1(log, 7, 0, 8000);  /* 0: old, superseded: goes */
	append1(log, 7, 0, 9500);  /* 1: superseded but young: stays */
	append1(log, 7, 0, 9600);  /* 2: latest */
	append1(log, 8, 1, 9700);  /* 3: young tombstone */
	for (i = 0; i < 20; i++)   /* bulk of older records in the segment */
		append1(log, 100 + i, 0, 1000);
	KT_OK(ks_log_roll(log));
	append1(log, 9, 0, 9999);

	cfg_now(&c, 0.5);
	c.min_compaction_lag_ms = 1000;
	c.delete_retention_ms = 0;
	ck_assert_int_eq(compact(log, dir, &c, 10000, &st), 1);
	ck_assert(M.gone[0] && !M.gone[1] && !M.gone[2] && !M.gone[3]);
	check_log(log);
	/* The young records left the segment dirty: the next pass, later,
	 * runs at the default ratio and takes them. */
	ck_assert_int_eq(compact(log, dir, &c, 20000, &st), 1);
	ck_assert(M.gone[1] && !M.gone[2] && M.gone[3]);
	check_log(log);
	check_batches(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* Encodes recs as one batch with the given attributes, CRC recomputed. */
static size_t odd_batch(uint8_t *buf, size_t cap, const ks_record_t *recs,
    size_t n, int16_t attr)
{
	size_t len;
	uint16_t a;
	KT_OK(ks_batch_encode(buf, cap, recs, n, 0, T0, &len));
	a = (uint16_t)(((buf[21] << 8) | buf[22]) | (uint16_t)attr);
	buf[21] = (uint8_t)(a >> 8);
	buf[22] = (uint8_t)a;
	{
		uint32_t crc = ks_crc32c(0, buf + 21, len - 21);
		buf[17] = (uint8_t)(crc >> 24);
		buf[18] = (uint8_t)(crc >> 16);
		buf[19] = (uint8_t)(crc >> 8);
		buf[20] = (uint8_t)crc;
	}
	KT_OK(ks_batch_validate(buf, len, NULL));
	return len;
}

/* The bytes of the batch holding off, copied. */
static size_t batch_copy(ks_log_t *log, int64_t off, uint8_t *buf, size_t cap)
{
	ks_log_view_t v;
	ks_batch_info_t bi;
	size_t len;

	KT_OK(ks_log_read(log, off, 1, &v));
	KT_OK(ks_batch_parse(v.data, v.len, &bi));
	len = (size_t)bi.batch_length + KS_BATCH_LOG_OVERHEAD;
	ck_assert_uint_le(len, cap);
	memcpy(buf, v.data, len);
	ks_log_view_release(&v);
	return len;
}

START_TEST(test_compressed_and_control_kept)
{
	char *dir = kt_path(g_base, "codec");
	static uint8_t zb[512], cb[512], zsave[512], csave[512], buf[512];
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_record_t r[2];
	ks_append_info_t info;
	ks_log_view_t v;
	const uint8_t ctl_key[4] = { 0, 0, 0, 1 }, ctl_val[6] = { 0 };
	size_t zlen, clen;
	ks_log_t *log;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	append1(log, 5, 0, T0);                  /* 0: superseded at 4 */
	memset(r, 0, sizeof r);
	r[0].key = r[1].key = "key-00005";
	r[0].key_len = r[1].key_len = 9;
	r[0].value = r[1].value = "opaque, 'compressed'";
	r[0].value_len = r[1].value_len = 20;
	zlen = odd_batch(zb, sizeof zb, r, 2, 1); /* 1-2: gzip, unreadable */
	KT_OK(ks_log_append_batch(log, zb, zlen, 0, &info));
	ck_assert_int_eq(info.base_offset, 1);
	model_batch(1, 2, NULL, NULL, NULL);
	memset(r, 0, sizeof r);
	r[0].key = ctl_key;
	r[0].key_len = 4;
	r[0].value = ctl_val;
	r[0].value_len = 6;
	clen = odd_batch(cb, sizeof cb, r, 1,
	    KS_BATCH_CONTROL | KS_BATCH_TRANSACTIONAL); /* 3: commit marker */
	KT_OK(ks_log_append_batch(log, cb, clen, 0, &info));
	ck_assert_int_eq(info.base_offset, 3);
	model_batch(3, 1, NULL, NULL, NULL);
	append1(log, 5, 0, T0);                  /* 4 */
	KT_OK(ks_log_roll(log));
	append1(log, 6, 0, T0);                  /* 5: active */
	ck_assert_uint_eq(batch_copy(log, 1, zsave, sizeof zsave), zlen);
	ck_assert_uint_eq(batch_copy(log, 3, csave, sizeof csave), clen);

	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert_uint_eq(st.segments_cleaned, 1);
	ck_assert_uint_eq(st.records_removed, 1);
	ck_assert_uint_eq(st.records_kept, 4);
	ck_assert(M.gone[0]);
	/* Byte for byte, offsets, epochs and CRCs included. */
	ck_assert_uint_eq(batch_copy(log, 1, buf, sizeof buf), zlen);
	ck_assert(memcmp(buf, zsave, zlen) == 0);
	ck_assert_uint_eq(batch_copy(log, 3, buf, sizeof buf), clen);
	ck_assert(memcmp(buf, csave, clen) == 0);
	/* Offset 0 is gone: a read there starts at the compressed batch. */
	KT_OK(ks_log_read(log, 0, 1, &v));
	ck_assert_int_eq(v.base_offset, 1);
	ks_log_view_release(&v);
	check_batches(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Keyed records k[i] with timestamps ts[i] as one batch with producer
 * fields and attributes set, appended; recorded in the model. */
static void append_raw(ks_log_t *log, size_t n, const int *k,
    const int64_t *ts, int16_t attr)
{
	static uint8_t buf[2048];
	static char kb[MAXPER][16];
	static uint8_t vb[MAXPER][VLEN];
	ks_record_t r[MAXPER];
	ks_append_info_t info;
	int64_t first = ks_log_end_offset(log), mts[MAXPER];
	int tombs[MAXPER] = { 0 };
	size_t len, i;
	int j;

	memset(r, 0, sizeof r);
	for (i = 0; i < n; i++) {
		key_str(kb[i], sizeof kb[i], k[i]);
		for (j = 0; j < VLEN; j++)
			vb[i][j] = vbyte(first + (int64_t)i, j);
		r[i].key = kb[i];
		r[i].key_len = strlen(kb[i]);
		r[i].value = vb[i];
		r[i].value_len = VLEN;
		r[i].timestamp = ts[i];
	}
	KT_OK(ks_batch_encode(buf, sizeof buf, r, n, 0, T0, &len));
	put64(buf + 43, 77);  /* producerId */
	put16(buf + 51, 3);   /* producerEpoch */
	put32(buf + 53, 10);  /* baseSequence */
	put16(buf + 21, (uint16_t)(((buf[21] << 8) | buf[22]) | attr));
	put32(buf + 17, ks_crc32c(0, buf + 21, len - 21));
	KT_OK(ks_log_append_batch(log, buf, len, 0, &info));
	ck_assert_int_eq(info.base_offset, first);
	/* A LogAppendTime batch's records all read as its maxTimestamp. */
	for (i = 0; i < n; i++) {
		uint64_t m = 0;
		for (j = 35; j < 43; j++)
			m = m << 8 | buf[j];
		mts[i] = (attr & KS_BATCH_TIMESTAMP_LOG_APPEND) ?
		    (int64_t)m : ts[i];
	}
	model_batch(first, n, k, tombs, mts);
}

/* A rewritten batch keeps what identifies it and recomputes what
 * describes its records. */
START_TEST(test_rewritten_batch_fields)
{
	char *dir = kt_path(g_base, "fields");
	static const int k1[4] = { 1, 2, 1, 3 }, k2[3] = { 5, 5, 6 };
	static const int64_t t1[4] = { 500, 900, 700, 100 };
	static const int64_t t2[3] = { 2000, 3000, 2500 };
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_batch_info_t bi;
	ks_log_view_t v;
	ks_log_t *log;

	small_cfg(&cfg);
	cfg.leader_epoch = 9;
	log = kt_open_log(dir, &cfg);
	append_raw(log, 4, k1, t1, 0);                         /* 0-3 */
	append_raw(log, 3, k2, t2, KS_BATCH_TIMESTAMP_LOG_APPEND); /* 4-6 */
	append1(log, 1, 0, 50);                                /* 7 */
	append1(log, 5, 0, 50);                                /* 8 */
	KT_OK(ks_log_roll(log));
	append1(log, 9, 0, 50);
	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, dir, &c, T0, NULL), 1);
	ck_assert(M.gone[0] && !M.gone[1] && M.gone[2] && !M.gone[3]);
	ck_assert(M.gone[4] && M.gone[5] && !M.gone[6]);

	KT_OK(ks_log_read(log, 0, 1, &v));
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.base_offset, 0);
	ck_assert_int_eq(bi.last_offset_delta, 3);
	ck_assert_int_eq(bi.record_count, 2);
	ck_assert_int_eq(bi.leader_epoch, 9);
	ck_assert_int_eq(bi.producer_id, 77);
	ck_assert_int_eq(bi.producer_epoch, 3);
	ck_assert_int_eq(bi.base_sequence, 10);
	ck_assert_int_eq(bi.attributes, 0);
	ck_assert_int_eq(bi.base_timestamp, 900); /* the first kept, 1 */
	ck_assert_int_eq(bi.max_timestamp, 900);
	ks_log_view_release(&v);

	KT_OK(ks_log_read(log, 4, 1, &v));
	KT_OK(ks_batch_validate(v.data, v.len, &bi));
	ck_assert_int_eq(bi.base_offset, 4);
	ck_assert_int_eq(bi.last_offset_delta, 2);
	ck_assert_int_eq(bi.record_count, 1);
	ck_assert_int_eq(bi.attributes, KS_BATCH_TIMESTAMP_LOG_APPEND);
	ck_assert_int_eq(bi.max_timestamp, 3000); /* LogAppendTime: kept */
	ks_log_view_release(&v);
	/* Timestamps read back as appended (check_record). */
	check_log(log);
	check_batches(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_readers_keep_old_data)
{
	char *dir = kt_path(g_base, "readers");
	static int64_t bases[MAXSEGS];
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_iter_t *it = NULL;
	ks_log_view_t v;
	ks_record_t r;
	uint64_t rng = 42;
	uint8_t *copy;
	int64_t prev = -1, end0;
	size_t vlen, n;
	int i, rc;
	ks_log_t *log;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	fill(log, &rng, 1500, 20, 0, 0);
	n = list_segs(dir, bases);
	ck_assert_uint_gt(n, 3);
	end0 = bases[1];
	KT_OK(ks_log_read(log, 0, 1 << 20, &v));
	ck_assert_int_eq(v.next_offset, end0);
	vlen = v.len;
	copy = malloc(vlen);
	memcpy(copy, v.data, vlen);
	KT_OK(ks_log_iter_new(log, 0, &it));
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ks_log_iter_next(it, &r), 1);
		ck_assert_int_eq(r.offset, i);
		prev = r.offset;
	}

	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert(M.gone[5] || M.gone[6] || M.gone[7]);

	/* The view still shows the old segment, untouched. */
	ck_assert(memcmp(v.data, copy, vlen) == 0);
	/* The iterator reads the old segment to its end, every record
	 * (superseded ones too), then the compacted segments. */
	while ((rc = ks_log_iter_next(it, &r)) == 1) {
		ck_assert_int_gt(r.offset, prev);
		if (r.offset < end0)
			ck_assert_int_eq(r.offset, prev + 1);
		else
			ck_assert_msg(!M.gone[r.offset], "offset %" PRId64
			    " was compacted away", r.offset);
		check_record(&r);
		prev = r.offset;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(prev, M.n - 1);
	ks_log_iter_free(it);
	ks_log_view_release(&v);
	free(copy);
	check_log(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

/* ---- appends during compaction ------------------------------------------ */

#define CC_KEYS 64
#define CC_RECORDS 6000

static int gen_key(uint64_t seed, int64_t off)
{
	return (int)(kt_mix64(seed ^ (uint64_t)off) % CC_KEYS);
}

struct cc {
	ks_log_t *log;
	uint64_t seed;
	int done;        /* atomic: the appender finished */
	int fail;
	int busy;        /* passes refused: another was running */
	uint64_t cleaned;/* segments the second cleaner rewrote */
};

/* A second cleaner on the same log: one pass at a time runs. */
static void *cc_compactor(void *arg)
{
	struct cc *cc = arg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	int rc;

	ks_compact_config_init(&c);
	c.min_cleanable_dirty_ratio = 0.0;
	while (!__atomic_load_n(&cc->done, __ATOMIC_ACQUIRE)) {
		rc = ks_log_compact(cc->log, &c, T0 + DAY, &st);
		cc->cleaned += st.segments_cleaned;
		if (rc == KS_EBUSY)
			cc->busy++;
		else if (rc != 0)
			cc->fail = __LINE__;
	}
	return NULL;
}

static void *cc_appender(void *arg)
{
	struct cc *cc = arg;
	uint64_t rng = cc->seed;
	int64_t off = 0;

	while (off < CC_RECORDS) {
		int keys[5], tombs[5] = { 0 };
		int64_t ts[5];
		int n, i;
		rng = kt_mix64(rng);
		n = 1 + (int)(rng % 5);
		for (i = 0; i < n; i++) {
			keys[i] = gen_key(cc->seed, off + i);
			ts[i] = T0 + off + i;
		}
		append(cc->log, (size_t)n, keys, tombs, ts);
		off += n;
		if (rng % 16 == 0)
			usleep(50);
	}
	__atomic_store_n(&cc->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Follows the log while it is appended to and compacted: every record is
 * the generator's for its offset, in increasing order. */
static void *cc_reader(void *arg)
{
	struct cc *cc = arg;
	ks_log_iter_t *it = NULL;
	ks_record_t r;
	int64_t prev = -1;
	char kb[16];
	int rc;

	if (ks_log_iter_new(cc->log, 0, &it) != 0) {
		cc->fail = __LINE__;
		return NULL;
	}
	for (;;) {
		rc = ks_log_iter_next(it, &r);
		if (rc == 1) {
			key_str(kb, sizeof kb, gen_key(cc->seed, r.offset));
			if (r.offset <= prev ||
			    !kt_same_bytes(r.key, r.key_len, kb, strlen(kb)) ||
			    r.value_len != VLEN ||
			    ((const uint8_t *)r.value)[3] != vbyte(r.offset, 3)) {
				cc->fail = __LINE__;
				break;
			}
			prev = r.offset;
			continue;
		}
		if (rc < 0) {
			cc->fail = __LINE__;
			break;
		}
		if (__atomic_load_n(&cc->done, __ATOMIC_ACQUIRE) &&
		    prev + 1 >= CC_RECORDS)
			break;
		/* At the end: wait for more (compaction may have left the
		 * iterator past prev + 1). */
		(void)ks_log_wait(cc->log, ks_log_end_offset(cc->log), 10);
	}
	ks_log_iter_free(it);
	return NULL;
}

START_TEST(test_concurrent_appends)
{
	char *dir = kt_path(g_base, "concurrent");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	pthread_t ta, tr, tc;
	struct cc cc;
	uint64_t cleaned = 0;
	int passes = 0;

	small_cfg(&cfg);
	memset(&cc, 0, sizeof cc);
	cc.seed = kt_seed(0x7468726561647321ULL);
	cc.log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(pthread_create(&ta, NULL, cc_appender, &cc), 0);
	ck_assert_int_eq(pthread_create(&tr, NULL, cc_reader, &cc), 0);
	ck_assert_int_eq(pthread_create(&tc, NULL, cc_compactor, &cc), 0);
	cfg_now(&c, 0.0);
	while (!__atomic_load_n(&cc.done, __ATOMIC_ACQUIRE)) {
		int rc = ks_log_compact(cc.log, &c, T0 + DAY, &st);
		ck_assert_msg(rc == 0 || rc == KS_EBUSY, "%s", ks_strerror(rc));
		cleaned += st.segments_cleaned;
		passes += rc == 0;
	}
	pthread_join(ta, NULL);
	pthread_join(tr, NULL);
	pthread_join(tc, NULL);
	ck_assert_msg(cc.fail == 0, "reader failed at line %d", cc.fail);
	ck_assert_int_gt(passes + cc.busy, 1);
	ck_assert_uint_gt(cleaned + cc.cleaned, 0);
	/* Whatever the passes during the appends did, one more over the
	 * final log leaves exactly the latest of each key below the active
	 * segment (no tombstones: a pass only ever removes records that a
	 * later one would remove too). */
	KT_OK(ks_log_compact(cc.log, &c, T0 + DAY, &st));
	{
		static uint8_t drop[MAXREC];
		int64_t upto = active_base(dir), o;
		for (o = 0; o < M.n; o++)
			drop[o] = !survives(o, upto, T0 + DAY, &c);
		memcpy(M.gone, drop, sizeof drop);
	}
	check_log(cc.log);
	check_batches(cc.log);
	check_times(cc.log);
	KT_OK(ks_log_close(cc.log));
	free(dir);
}
END_TEST

/* ---- crashes -------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	ck_assert_int_ge(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void copy_dir(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(mkdir(to, 0755), 0);
	while ((e = readdir(d)) != NULL) {
		char *a, *b;
		if (e->d_name[0] == '.' && (!e->d_name[1] ||
		        (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		a = kt_path(from, e->d_name);
		b = kt_path(to, e->d_name);
		copy_file(a, b);
		free(a);
		free(b);
	}
	closedir(d);
}

/* Copies segment base's file ext from dir a to dir b under the name with
 * suffix sfx. */
static void seg_copy(const char *a, const char *b, int64_t base,
    const char *ext, const char *sfx)
{
	char *from = kt_seg_file(a, base, ext), *to, *name;
	if (asprintf(&name, "%s%s", ext, sfx) < 0)
		abort();
	to = kt_seg_file(b, base, name);
	copy_file(from, to);
	free(from);
	free(to);
	free(name);
}

static void seg_rm(const char *dir, int64_t base, const char *ext)
{
	char *p = kt_seg_file(dir, base, ext);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
}

static int same_file(const char *a, const char *b)
{
	char *cmd;
	int rc;
	if (asprintf(&cmd, "cmp -s '%s' '%s'", a, b) < 0)
		abort();
	rc = system(cmd);
	free(cmd);
	return rc == 0;
}

/* Marks the records of [from, to) gone as the cleaned copy had them. */
static void model_take(const uint8_t *gone, int64_t from, int64_t to)
{
	int64_t o;
	for (o = from; o < to; o++)
		M.gone[o] = gone[o];
}

START_TEST(test_crash_leftovers)
{
	char *orig = kt_path(g_base, "left-orig");
	char *clean = kt_path(g_base, "left-clean");
	char *d;
	static int64_t bases[MAXSEGS];
	static uint8_t gone[MAXREC];
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_log_t *log;
	uint64_t rng = 7;
	int64_t b, bnext;
	size_t n;
	char *p, *q;

	small_cfg(&cfg);
	log = kt_open_log(orig, &cfg);
	fill(log, &rng, 1500, 30, 0, 0);
	KT_OK(ks_log_close(log));
	copy_dir(orig, clean);
	log = kt_open_log(clean, &cfg);
	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, clean, &c, T0 + DAY, NULL), 1);
	KT_OK(ks_log_close(log));
	memcpy(gone, M.gone, sizeof gone);
	n = list_segs(orig, bases);
	ck_assert_uint_gt(n, 4);
	b = bases[2];
	bnext = bases[3];

	/* Committed (.log.swap there) but not renamed: the open completes
	 * it. A .cleaned of another segment is dropped. */
	d = kt_path(g_base, "left-swap");
	copy_dir(orig, d);
	seg_copy(clean, d, b, ".log", ".swap");
	seg_copy(clean, d, b, ".index", ".swap");
	seg_copy(clean, d, b, ".timeindex", ".swap");
	seg_copy(clean, d, bases[1], ".log", ".cleaned");
	seg_copy(clean, d, bases[1], ".index", ".cleaned");
	memset(M.gone, 0, sizeof M.gone);
	model_take(gone, b, bnext);
	log = reopen_checked(d, 0);
	KT_OK(ks_log_close(log));
	p = kt_seg_file(d, b, ".log");
	q = kt_seg_file(clean, b, ".log");
	ck_assert(same_file(p, q));
	free(p);
	free(q);
	p = kt_seg_file(d, bases[1], ".log");
	q = kt_seg_file(orig, bases[1], ".log");
	ck_assert(same_file(p, q));
	free(p);
	free(q);
	free(d);

	/* Killed between the renames to the final names: the index is
	 * already new, the rest completes. */
	d = kt_path(g_base, "left-half");
	copy_dir(orig, d);
	seg_copy(clean, d, b, ".index", "");
	seg_copy(clean, d, b, ".timeindex", ".swap");
	seg_copy(clean, d, b, ".log", ".swap");
	log = reopen_checked(d, 1);
	KT_OK(ks_log_close(log));
	p = kt_seg_file(d, b, ".timeindex");
	q = kt_seg_file(clean, b, ".timeindex");
	ck_assert(same_file(p, q));
	free(p);
	free(q);
	free(d);

	/* Not committed: the index swaps and the .log.cleaned go, the old
	 * segment stays whole. */
	d = kt_path(g_base, "left-uncommitted");
	copy_dir(orig, d);
	seg_copy(clean, d, b, ".index", ".swap");
	seg_copy(clean, d, b, ".timeindex", ".swap");
	seg_copy(clean, d, b, ".log", ".cleaned");
	memset(M.gone, 0, sizeof M.gone);
	log = reopen_checked(d, 1);
	KT_OK(ks_log_close(log));
	p = kt_seg_file(d, b, ".index");
	q = kt_seg_file(orig, b, ".index");
	ck_assert(same_file(p, q));
	free(p);
	free(q);
	free(d);

	/* A swap whose segment retention deleted meanwhile must not bring it
	 * back. */
	d = kt_path(g_base, "left-deleted");
	copy_dir(orig, d);
	seg_rm(d, 0, ".log");
	seg_rm(d, 0, ".index");
	seg_rm(d, 0, ".timeindex");
	seg_copy(clean, d, 0, ".log", ".swap");
	seg_copy(clean, d, 0, ".index", ".swap");
	log = kt_open_log(d, &cfg);
	ck_assert_int_eq(ks_log_start_offset(log), bases[1]);
	ck_assert(!kt_seg_exists(d, 0, ".log"));
	check_no_leftovers(d);
	KT_OK(ks_log_close(log));
	free(d);

	free(orig);
	free(clean);
}
END_TEST

#define CK_ROUNDS 12
#define CK_NKEYS 40

static void ck_gen_batch(uint64_t seed, int64_t off, size_t n, int *keys,
    int *tombs, int64_t *ts)
{
	size_t i;
	for (i = 0; i < n; i++) {
		keys[i] = (int)(kt_mix64(seed ^ (uint64_t)(off + (int64_t)i)) %
		    CK_NKEYS);
		tombs[i] = 0;
		ts[i] = T0 + off + (int64_t)i;
	}
}

/* The compacting child: appends generated records, rolls, compacts, until
 * killed. Exits non-zero on a failure. */
static void ck_child(const char *dir, uint64_t seed, pid_t parent)
{
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_t *log;
	int round, i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(6);
	small_cfg(&cfg);
	if (ks_log_open(dir, &cfg, &log) != 0)
		_exit(3);
	cfg_now(&c, 0.0);
	for (round = 0; round < 30; round++) {
		/* Bounded, so that the parent's model holds the log. */
		for (i = 0; i < 60 && ks_log_end_offset(log) < MAXREC / 2; i++) {
			int keys[4], tombs[4];
			int64_t ts[4], off = ks_log_end_offset(log);
			ks_record_t r[4];
			char kb[4][16];
			uint8_t vb[4][VLEN];
			size_t k, n = 1 + (size_t)(kt_mix64(seed + (uint64_t)off) % 4);
			int j;
			memset(r, 0, sizeof r);
			ck_gen_batch(seed, off, n, keys, tombs, ts);
			for (k = 0; k < n; k++) {
				key_str(kb[k], sizeof kb[k], keys[k]);
				for (j = 0; j < VLEN; j++)
					vb[k][j] = vbyte(off + (int64_t)k, j);
				r[k].key = kb[k];
				r[k].key_len = strlen(kb[k]);
				r[k].value = vb[k];
				r[k].value_len = VLEN;
				r[k].timestamp = ts[k];
			}
			if (ks_log_append(log, r, n, NULL) != 0)
				_exit(4);
		}
		if (ks_log_roll(log) != 0 ||
		    ks_log_compact(log, &c, T0 + DAY, &st) != 0)
			_exit(5);
	}
	for (;;)
		pause();
}

START_TEST(test_crash_kill)
{
	char *dir = kt_path(g_base, "kill");
	uint64_t seed = kt_seed(0x6b696c6c2d39ULL), rng = seed;
	ks_log_config_t cfg;
	ks_log_t *log;
	int round;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_close(log));
	for (round = 0; round < CK_ROUNDS; round++) {
		pid_t parent = getpid(), pid;
		int status;
		int64_t o, end;

		rng = kt_mix64(rng);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			ck_child(dir, seed, parent);
		/* From 0.2 to 40 ms: mid-append, mid-write of a cleaned
		 * segment, mid-rename. */
		usleep((useconds_t)(200 + rng % 40000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "seed %#" PRIx64
		    ": child exited with %d", seed, WEXITSTATUS(status));

		/* Rebuild the model: the generator made every record; the
		 * check is that each key's latest is there. */
		log = kt_open_log(dir, &cfg);
		end = ks_log_end_offset(log);
		ck_assert_int_le(end, MAXREC);
		for (o = 0; o < end;) {
			int keys[4], tombs[4];
			int64_t ts[4];
			size_t n = 1 + (size_t)(kt_mix64(seed + (uint64_t)o) % 4);
			ck_gen_batch(seed, o, n, keys, tombs, ts);
			model_batch(o, n, keys, tombs, ts);
			o += (int64_t)n;
		}
		ck_assert_int_eq(M.n, end);
		check_no_leftovers(dir);
		{
			/* Present: each record as generated; latest of each
			 * key: present, whatever else a pass removed. */
			static uint8_t seen[MAXREC];
			int64_t latest[CK_NKEYS];
			ks_log_iter_t *it = NULL;
			ks_record_t r;
			int k, rc;

			memset(seen, 0, sizeof seen);
			for (k = 0; k < CK_NKEYS; k++)
				latest[k] = -1;
			for (o = 0; o < end; o++)
				latest[M.key[o]] = o;
			KT_OK(ks_log_iter_new(log, 0, &it));
			while ((rc = ks_log_iter_next(it, &r)) == 1) {
				check_record(&r);
				seen[r.offset] = 1;
			}
			ck_assert_int_eq(rc, 0);
			ks_log_iter_free(it);
			for (k = 0; k < CK_NKEYS; k++)
				ck_assert_msg(latest[k] < 0 || seen[latest[k]],
				    "seed %#" PRIx64 " round %d: key %d's "
				    "latest, offset %" PRId64 ", lost", seed,
				    round, k, latest[k]);
		}
		check_batches(log);
		KT_OK(ks_log_close(log));
	}
	free(dir);
}
END_TEST

/* ---- dirty ratio, empty segments, errors ---------------------------------- */

START_TEST(test_dirty_ratio)
{
	char *dir = kt_path(g_base, "ratio");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	uint64_t rng = 99;
	ks_log_t *log;
	char *p;

	/* Many keys, so that the cleaned part stays large. */
	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	fill(log, &rng, 2000, 1000, 0, 0);
	KT_OK(ks_log_roll(log));
	cfg_now(&c, 0.5);
	/* Never cleaned: all dirty. */
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	p = kt_path(dir, "cleaner-offset");
	ck_assert_int_ge(kt_file_size(p), 0);

	/* A little more: far below half of the log, skipped, duplicates
	 * and all. */
	fill(log, &rng, 60, 1000, 0, 0);
	KT_OK(ks_log_roll(log));
	memset(&st, 0xff, sizeof st);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 0);
	ck_assert_uint_eq(st.bytes_before, 0);
	check_log(log);

	/* The ratio survives a reopen (the cleaner-offset file). */
	KT_OK(ks_log_close(log));
	log = kt_open_log(dir, &cfg);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 0);

	/* A damaged cleaner-offset file: everything counts as dirty. */
	{
		FILE *f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		fputs("garbage", f);
		fclose(f);
	}
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);

	/* Much more: over the ratio again. */
	fill(log, &rng, 4000, 1000, 0, 0);
	KT_OK(ks_log_roll(log));
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert_uint_gt(st.records_removed, 0);
	check_log(log);
	KT_OK(ks_log_close(log));
	free(p);
	free(dir);
}
END_TEST

START_TEST(test_empty_segments)
{
	char *dir = kt_path(g_base, "empty");
	static int64_t bases[MAXSEGS];
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_view_t v;
	size_t n, removed;
	int i;
	ks_log_t *log;
	char *p;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	for (i = 0; i < 600; i++)
		append1(log, 1, 0, T0 + i);
	KT_OK(ks_log_roll(log));
	append1(log, 2, 0, T0);
	n = list_segs(dir, bases);
	ck_assert_uint_gt(n, 3);
	cfg_now(&c, 0.5);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	ck_assert_uint_eq(st.records_kept, 1);
	/* Every segment but the one holding the latest record is empty; the
	 * segments and the start offset stay. */
	p = kt_seg_file(dir, 0, ".log");
	ck_assert_int_eq(kt_file_size(p), 0);
	free(p);
	ck_assert_uint_eq(list_segs(dir, bases), n);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	KT_OK(ks_log_read(log, 0, 1 << 20, &v));
	ck_assert_int_eq(v.base_offset, 599);
	ks_log_view_release(&v);
	check_log(log);
	KT_OK(ks_log_close(log));
	log = reopen_checked(dir, 0);
	KT_OK(ks_log_close(log));
	log = reopen_checked(dir, 1);
	ck_assert_int_eq(ks_log_start_offset(log), 0);
	KT_OK(ks_log_close(log));

	/* Retention deletes cleaned segments as any others. */
	small_cfg(&cfg);
	cfg.retention_bytes = 1;
	log = kt_open_log(dir, &cfg);
	KT_OK(ks_log_retention(log, -1, &removed));
	ck_assert_uint_eq(removed, n - 1);
	ck_assert_uint_eq(list_segs(dir, bases), 1);
	ck_assert(!kt_seg_exists(dir, 0, ".index"));
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

START_TEST(test_errors)
{
	char *dir = kt_path(g_base, "errors");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	ks_log_t *log, *ro;
	uint64_t rng = 5;

	cfg_now(&c, 0.5);
	memset(&st, 0xff, sizeof st);
	ck_assert_int_eq(ks_log_compact(NULL, &c, 0, &st), KS_EINVAL);
	ck_assert_uint_eq(st.segments_cleaned, 0);
	ck_assert_uint_eq(st.bytes_before, 0);

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	fill(log, &rng, 500, 10, 0, 0);
	ck_assert_int_eq(ks_log_compact(log, NULL, 0, &st), KS_EINVAL);
	c.min_cleanable_dirty_ratio = 1.5;
	ck_assert_int_eq(ks_log_compact(log, &c, 0, &st), KS_EINVAL);
	cfg_now(&c, 0.5);
	c.delete_retention_ms = -1;
	ck_assert_int_eq(ks_log_compact(log, &c, 0, &st), KS_EINVAL);
	cfg_now(&c, 0.5);
	c.min_compaction_lag_ms = -5;
	ck_assert_int_eq(ks_log_compact(log, &c, 0, &st), KS_EINVAL);
	cfg_now(&c, 0.5);
	/* st may be NULL; now < 0 is the current time. */
	KT_OK(ks_log_compact(log, &c, -1, NULL));

	/* A read-only handle never writes. */
	small_cfg(&cfg);
	cfg.flags = KS_LOG_RDONLY;
	KT_OK(ks_log_open(dir, &cfg, &ro));
	memset(&st, 0xff, sizeof st);
	ck_assert_int_eq(ks_log_compact(ro, &c, 0, &st), KS_ERDONLY);
	ck_assert_uint_eq(st.records_kept, 0);
	KT_OK(ks_log_close(ro));
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

static int fail_eio(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

/* The disk fails the cleaned segment's fdatasync: the pass fails, nothing
 * of it is left, and the log (whose own files were not involved) goes on
 * taking writes; a later pass succeeds. */
START_TEST(test_io_error)
{
	char *dir = kt_path(g_base, "eio");
	ks_log_config_t cfg;
	ks_compact_config_t c;
	ks_compact_stat_t st;
	uint64_t rng = 11;
	ino_t ino;
	ks_log_t *log;

	small_cfg(&cfg);
	log = kt_open_log(dir, &cfg);
	fill(log, &rng, 1500, 20, 0, 0);
	KT_OK(ks_log_flush(log, -1));
	ino = inode_of(dir, 0);
	cfg_now(&c, 0.5);
	ks__segment_fdatasync = fail_eio;
	memset(&st, 0xff, sizeof st);
	ck_assert_int_eq(ks_log_compact(log, &c, T0 + DAY, &st), -EIO);
	ks__segment_fdatasync = fdatasync;
	ck_assert_uint_eq(st.segments_cleaned, 0);
	ck_assert(inode_of(dir, 0) == ino);
	check_no_leftovers(dir);
	check_log(log);
	fill(log, &rng, 10, 20, 0, 0);
	ck_assert_int_eq(compact(log, dir, &c, T0 + DAY, &st), 1);
	check_log(log);
	KT_OK(ks_log_close(log));
	free(dir);
}
END_TEST

Suite *compact_suite(void)
{
	Suite *s = suite_create("compact");
	TCase *tc = tcase_create("compact");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_latest_per_key);
	tcase_add_test(tc, test_tombstones);
	tcase_add_test(tc, test_min_lag);
	tcase_add_test(tc, test_compressed_and_control_kept);
	tcase_add_test(tc, test_rewritten_batch_fields);
	tcase_add_test(tc, test_readers_keep_old_data);
	tcase_add_test(tc, test_concurrent_appends);
	tcase_add_test(tc, test_crash_leftovers);
	tcase_add_test(tc, test_crash_kill);
	tcase_add_test(tc, test_dirty_ratio);
	tcase_add_test(tc, test_empty_segments);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_io_error);
	suite_add_tcase(s, tc);
	return s;
}
