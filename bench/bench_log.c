/*
 * bench_log.c: the log engine's benchmark table.
 *
 * Runs each workload R times through kstream and, where a peer makes sense,
 * through SQLite and LMDB in the same process on the same scratch directory,
 * and prints one table of medians with the kstream/peer ratios and the target
 * each row was set. Benchmarks are not tests: nothing here asserts a target.
 * See bench/README.md for what every row measures.
 *
 *   bench_log [-q] [-r RUNS] [-d DIR] [-v]
 *
 *   -q       quick run: smaller sizes (about a minute in all)
 *   -r RUNS  runs per measurement, median reported (default 5)
 *   -d DIR   scratch directory (default $TMPDIR, else /tmp); everything the
 *            benchmark creates lives in one fresh subdirectory, removed at exit
 *   -v       print every sample, not only the medians
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTES 48
#define NOTE_LEN 640
#include "harness.h"

#define KIB (1024ULL)
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

#define VALUE_LEN 100      /* bytes per record value, every row */
#define BATCH_RECS 1000    /* records per call / per peer transaction, row 1 */
#define FLUSH_BATCH 100    /* records per durable append, row 6 */
#define FLUSH_THREADS 4

/* ------------------------------------------------------------------ */
/* Options, sizes, scratch directory                                   */

static struct {
	int runs;
	int quick;
	const char *base;
	char scratch[PATH_MAX];
} opt = { .runs = 5 };

static struct {
	long append_n;          /* row 1: kstream records per run */
	long peer_append_cap;   /* row 1: peers stop at this many records... */
	double peer_secs;       /* ...or after this many seconds (rows 1, 2) */
	long single_n;          /* row 2: kstream records per run */
	long lmdb_single_cap;   /* row 2: LMDB, one put per transaction */
	long sqlite_single_cap; /* row 2: SQLite, one row per transaction */
	uint64_t open_bytes;    /* row 4: log size */
	uint64_t open_small_seg;/* row 4: the several-segments variant */
	uint64_t crash_bytes;   /* row 5: appended before kill -9 */
	double flush_secs;      /* row 6: seconds per run */
} sz;

static void set_sizes(int quick)
{
	sz.append_n = quick ? 1000000 : 10000000;
	sz.peer_append_cap = quick ? 200000 : 2000000;
	sz.peer_secs = quick ? 1.0 : 3.0;
	sz.single_n = quick ? 500000 : 5000000;
	sz.lmdb_single_cap = quick ? 50000 : 500000;
	sz.sqlite_single_cap = quick ? 20000 : 200000;
	sz.open_bytes = quick ? 256 * MIB : 1 * GIB;
	sz.open_small_seg = quick ? 64 * MIB : 256 * MIB;
	/* below the default 1 GiB segment.bytes: one segment, no roll */
	sz.crash_bytes = quick ? 256 * MIB : 992 * MIB;
	sz.flush_secs = quick ? 0.5 : 2.0;
}

#define MDB_TRY(expr)                                                         \
	do {                                                                  \
		int mdb__rc = (expr);                                         \
		if (mdb__rc != MDB_SUCCESS)                                   \
			die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,       \
			    mdb_strerror(mdb__rc));                           \
	} while (0)

static void sq_fail(sqlite3 *db, int rc, const char *what, int line)
{
	die("%s:%d: %s: %s (%d)", __FILE__, line, what,
	    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
}

#define SQ_TRY(db, expr, ok)                                                  \
	do {                                                                  \
		int sq__rc = (expr);                                          \
		if (sq__rc != (ok))                                           \
			sq_fail((db), sq__rc, #expr, __LINE__);               \
	} while (0)

/* scratch/name into buf (PATH_MAX). */
static char *spath(char *buf, const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", opt.scratch, name) >= PATH_MAX)
		die("scratch path too long");
	return buf;
}

static void mkdir_p1(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

/* Keeps the compiler from dropping reads whose results are otherwise unused. */
static volatile uint64_t sink;

/* ------------------------------------------------------------------ */
/* Samples, medians, the table                                         */

enum unit { U_RATE, U_BYTES, U_MS };
enum col { C_KS, C_SQLITE, C_LMDB };

static const bench_unit_t units[] = {
	[U_RATE] = BENCH_UNIT_RATE,
	[U_BYTES] = { { { 0, 1e9, "%.2f GB/s" } }, 0 },
	[U_MS] = { { { 0, 1e-3, "%.2f ms" } }, 1 },
};

static const bench_layout_t layout = {
	.units = units, .cols = { "kstream", "SQLite", "LMDB" },
	.what_w = 42, .val_w = 12, .ratio_w = 9, .target_w = 11, .rule = 120,
	.none = "-",
};

/* Rows run in whatever order suits the data they share; they are shown
 * in this one. */
static const char *const row_order[] = { "1", "2", "3", "3b", "3c", "4",
    "4b", "5", "5b", "6", "6b" };

/* Position in row_order of the id s starts with (up to ':' or its end). */
static int row_rank(const char *s)
{
	size_t n = strcspn(s, ":"), i;

	for (i = 0; i < sizeof(row_order) / sizeof(row_order[0]); i++)
		if (strlen(row_order[i]) == n &&
		    strncmp(s, row_order[i], n) == 0)
			return (int)i;
	return INT_MAX;
}

/* Stable insertion sorts: rows and notes into row order. */
static void sort_output(void)
{
	char tmp[sizeof(notes[0])];
	row_t r;
	int i, j;

	for (i = 1; i < nrows; i++) {
		r = table[i];
		for (j = i; j > 0 && row_rank(table[j - 1].id) > row_rank(r.id);
		    j--)
			table[j] = table[j - 1];
		table[j] = r;
	}
	for (i = 1; i < nnotes; i++) {
		memcpy(tmp, notes[i], sizeof(tmp));
		for (j = i; j > 0 &&
		    row_rank(notes[j - 1]) > row_rank(tmp); j--)
			memcpy(notes[j], notes[j - 1], sizeof(tmp));
		memcpy(notes[j], tmp, sizeof(tmp));
	}
}

/* ------------------------------------------------------------------ */
/* Machine context                                                     */

static void print_context(int *tmpfs)
{
	char fstype[64];
	const char *lmdb;

	printf("kstream %s log benchmark: medians of %d run%s%s\n",
	    ks_version_string(), opt.runs, opt.runs == 1 ? "" : "s",
	    opt.quick ? " (quick sizes)" : "");
	print_machine("", fstype);
	*tmpfs = strcmp(fstype, "tmpfs") == 0;
	lmdb = mdb_version(NULL, NULL, NULL);
	printf("peers:   SQLite %s, %.*s\n", sqlite3_libversion(),
	    (int)strcspn(lmdb, ":"), lmdb);
	print_context_end();
}

/* ------------------------------------------------------------------ */
/* Logs                                                                */

static void ks_cfg(ks_log_config_t *cfg)
{
	ks_log_config_init(cfg);
	cfg->flags |= KS_LOG_CREATE;
	cfg->flush_messages = 0; /* no fsync but at close */
	cfg->flush_ms = 0;
}

static ks_log_stat_t ks_stat(ks_log_t *log)
{
	ks_log_stat_t st;

	KS_TRY(ks_log_stat(log, &st));
	return st;
}

/* ------------------------------------------------------------------ */
/* Appends (rows 1 and 2)                                              */

/* One run: n records into a fresh log at dir, per_call records per
 * ks_log_append. Returns records/s; the open and the close (which flushes)
 * are outside the timed region. */
static double ks_append_run(const char *dir, const recset_t *rs,
    size_t per_call, long n)
{
	ks_log_config_t cfg;
	ks_log_t *log;
	long done = 0;
	size_t next = 0;
	double t0, t1;

	rm_rf(dir);
	ks_cfg(&cfg);
	KS_TRY(ks_log_open(dir, &cfg, &log));
	t0 = now_s();
	while (done < n) {
		KS_TRY(ks_log_append(log, rs->recs + next, per_call, NULL));
		done += (long)per_call;
		next += per_call;
		if (next + per_call > rs->n)
			next = 0;
	}
	t1 = now_s();
	if (ks_log_end_offset(log) != done)
		die("append: log end %lld, expected %ld",
		    (long long)ks_log_end_offset(log), done);
	KS_TRY(ks_log_close(log));
	return (double)done / (t1 - t0);
}

/* SQLite database with the log table; sync is "OFF" or "FULL". */
static sqlite3 *sq_open(const char *path, const char *sync)
{
	char sql[128];
	sqlite3 *db;

	SQ_TRY(NULL, sqlite3_open(path, &db), SQLITE_OK);
	SQ_TRY(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL,
	    NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", sync);
	SQ_TRY(db, sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	SQ_TRY(db, sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS "
	    "log(off INTEGER PRIMARY KEY, v BLOB)", NULL, NULL, NULL),
	    SQLITE_OK);
	return db;
}

static void sq_remove(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static void sq_exec_stmt(sqlite3 *db, sqlite3_stmt *st)
{
	SQ_TRY(db, sqlite3_step(st), SQLITE_DONE);
	SQ_TRY(db, sqlite3_reset(st), SQLITE_OK);
}

/* One run: rows of 100-byte blobs, per_txn rows per transaction, until cap
 * rows or secs seconds. Returns rows/s; *rows gets the count. */
static double sq_append_run(const char *path, const recset_t *rs,
    size_t per_txn, long cap, double secs, const char *sync, long *rows)
{
	sqlite3 *db;
	sqlite3_stmt *ins, *begin, *commit;
	long off = 0;
	size_t next = 0, j;
	double t0, t1;

	sq_remove(path);
	db = sq_open(path, sync);
	SQ_TRY(db, sqlite3_prepare_v2(db,
	    "INSERT INTO log(off, v) VALUES(?, ?)", -1, &ins, NULL), SQLITE_OK);
	SQ_TRY(db, sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL),
	    SQLITE_OK);
	SQ_TRY(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL),
	    SQLITE_OK);
	t0 = t1 = now_s();
	while (off < cap && t1 - t0 < secs) {
		sq_exec_stmt(db, begin);
		for (j = 0; j < per_txn; j++) {
			SQ_TRY(db, sqlite3_bind_int64(ins, 1, off), SQLITE_OK);
			SQ_TRY(db, sqlite3_bind_blob(ins, 2,
			    rs->recs[next].value, VALUE_LEN, SQLITE_STATIC),
			    SQLITE_OK);
			sq_exec_stmt(db, ins);
			off++;
			if (++next == rs->n)
				next = 0;
		}
		sq_exec_stmt(db, commit);
		t1 = now_s();
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	SQ_TRY(db, sqlite3_close(db), SQLITE_OK);
	*rows = off;
	return (double)off / (t1 - t0);
}

static MDB_env *lm_open(const char *dir, unsigned flags)
{
	MDB_env *env;

	mkdir_p1(dir);
	MDB_TRY(mdb_env_create(&env));
	MDB_TRY(mdb_env_set_mapsize(env, (size_t)64 * GIB));
	MDB_TRY(mdb_env_open(env, dir, flags, 0644));
	return env;
}

/* One run: 8-byte big-endian offset keys with MDB_APPEND, per_txn puts per
 * transaction, until cap records or secs seconds. Returns records/s. */
static double lm_append_run(const char *dir, const recset_t *rs,
    size_t per_txn, long cap, double secs, unsigned flags, long *recs)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	long off = 0;
	size_t next = 0, j;
	double t0, t1;

	rm_rf(dir);
	env = lm_open(dir, flags);
	MDB_TRY(mdb_txn_begin(env, NULL, 0, &txn));
	MDB_TRY(mdb_dbi_open(txn, NULL, 0, &dbi));
	MDB_TRY(mdb_txn_commit(txn));
	t0 = t1 = now_s();
	while (off < cap && t1 - t0 < secs) {
		MDB_TRY(mdb_txn_begin(env, NULL, 0, &txn));
		for (j = 0; j < per_txn; j++) {
			uint64_t be = htobe64((uint64_t)off);
			MDB_val k = { sizeof(be), &be };
			MDB_val v = { VALUE_LEN, (void *)rs->recs[next].value };

			MDB_TRY(mdb_put(txn, dbi, &k, &v, MDB_APPEND));
			off++;
			if (++next == rs->n)
				next = 0;
		}
		MDB_TRY(mdb_txn_commit(txn));
		t1 = now_s();
	}
	mdb_env_close(env);
	*recs = off;
	return (double)off / (t1 - t0);
}

/* ------------------------------------------------------------------ */
/* Sequential reads (row 3)                                            */

static double ks_iter_run(ks_log_t *log, int64_t expect)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	uint64_t acc = 0;
	int64_t n = 0;
	double t0, t1;
	int rc;

	t0 = now_s();
	KS_TRY(ks_log_iter_new(log, 0, &it));
	while ((rc = ks_log_iter_next(it, &rec)) == 1) {
		acc += rec.key_len + rec.value_len +
		    ((const uint8_t *)rec.value)[0];
		n++;
	}
	t1 = now_s();
	KS_TRY(rc);
	ks_log_iter_free(it);
	sink += acc;
	if (n != expect)
		die("iterator: read %lld records, expected %lld",
		    (long long)n, (long long)expect);
	return (double)n / (t1 - t0);
}

static void ks_view_run(ks_log_t *log, int64_t expect, double *bps,
    double *rps)
{
	ks_log_view_t v;
	uint64_t bytes = 0, acc = 0;
	int64_t off = ks_log_start_offset(log);
	double t0, t1;

	t0 = now_s();
	for (;;) {
		KS_TRY(ks_log_read(log, off, MIB, &v));
		if (v.len == 0) {
			ks_log_view_release(&v);
			break;
		}
		bytes += v.len;
		acc += ((const uint8_t *)v.data)[v.len - 1];
		off = v.next_offset;
		ks_log_view_release(&v);
	}
	t1 = now_s();
	sink += acc;
	if (off != expect)
		die("ks_log_read: reached offset %lld, expected %lld",
		    (long long)off, (long long)expect);
	*bps = (double)bytes / (t1 - t0);
	*rps = (double)off / (t1 - t0);
}

static double sq_read_run(const char *path, long expect)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t acc = 0;
	long n = 0;
	double t0, t1;
	int rc;

	SQ_TRY(NULL, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	SQ_TRY(db, sqlite3_prepare_v2(db, "SELECT v FROM log ORDER BY off",
	    -1, &st, NULL), SQLITE_OK);
	t0 = now_s();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(st, 0);

		acc += (uint64_t)sqlite3_column_bytes(st, 0) + p[0];
		n++;
	}
	t1 = now_s();
	if (rc != SQLITE_DONE)
		sq_fail(db, rc, "sqlite3_step(SELECT)", __LINE__);
	sqlite3_finalize(st);
	SQ_TRY(db, sqlite3_close(db), SQLITE_OK);
	sink += acc;
	if (n != expect)
		die("SQLite: read %ld rows, expected %ld", n, expect);
	return (double)n / (t1 - t0);
}

static double lm_read_run(const char *dir, long expect)
{
	MDB_env *env = lm_open(dir, MDB_RDONLY);
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t acc = 0;
	long n = 0;
	double t0, t1;
	int rc;

	MDB_TRY(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	MDB_TRY(mdb_dbi_open(txn, NULL, 0, &dbi));
	t0 = now_s();
	MDB_TRY(mdb_cursor_open(txn, dbi, &cur));
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
		acc += k.mv_size + v.mv_size + ((const uint8_t *)v.mv_data)[0];
		n++;
	}
	t1 = now_s();
	if (rc != MDB_NOTFOUND)
		MDB_TRY(rc);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	sink += acc;
	if (n != expect)
		die("LMDB: read %ld records, expected %ld", n, expect);
	return (double)n / (t1 - t0);
}

/* ------------------------------------------------------------------ */
/* Rows 1 and 3: batch appends, then reading back what they wrote       */

static void rows_append_batch_and_read(const recset_t *rs)
{
	char ksdir[PATH_MAX], sqpath[PATH_MAX], lmdir[PATH_MAX];
	samples_t ks = { .n = 0 }, sq = { .n = 0 }, lm = { .n = 0 };
	samples_t ki = { .n = 0 }, kvb = { .n = 0 }, kvr = { .n = 0 };
	samples_t si = { .n = 0 }, li = { .n = 0 };
	long sq_rows = 0, lm_recs = 0;
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	row_t *r;
	int i;

	spath(ksdir, "ks-append");
	spath(sqpath, "sqlite-append.db");
	spath(lmdir, "lmdb-append");

	progress("[1] append, %d records of %d B per call\n", BATCH_RECS,
	    VALUE_LEN);
	for (i = 0; i < opt.runs; i++)
		sample(&ks, "kstream", U_RATE,
		    ks_append_run(ksdir, rs, BATCH_RECS, sz.append_n));
	done_msg("kstream", U_RATE, median(&ks));
	for (i = 0; i < opt.runs; i++)
		sample(&sq, "SQLite", U_RATE, sq_append_run(sqpath, rs,
		    BATCH_RECS, sz.peer_append_cap, sz.peer_secs, "OFF",
		    &sq_rows));
	done_msg("SQLite", U_RATE, median(&sq));
	for (i = 0; i < opt.runs; i++)
		sample(&lm, "LMDB", U_RATE, lm_append_run(lmdir, rs,
		    BATCH_RECS, sz.peer_append_cap, sz.peer_secs, MDB_NOSYNC,
		    &lm_recs));
	done_msg("LMDB", U_RATE, median(&lm));

	r = add_row("1", U_RATE, ">= 20 M/s", 20e6,
	    "append %dx%d B per call, rec/s", BATCH_RECS, VALUE_LEN);
	r->v[C_KS] = median(&ks);
	r->v[C_SQLITE] = median(&sq);
	r->v[C_LMDB] = median(&lm);
	note("1: one writer, no fsync in the timed loop (flush.messages=0, "
	    "flush.ms=0; open and the flushing close not timed). kstream "
	    "appends %ld records per run; peers stop at %ld records or %.0f s "
	    "(last run: SQLite %ld, LMDB %ld) and report their rate.",
	    sz.append_n, sz.peer_append_cap, sz.peer_secs, sq_rows, lm_recs);
	note("1: SQLite in WAL mode with synchronous=OFF to match "
	    "\"no fsync\", prepared INSERT, one transaction per %d rows; LMDB "
	    "with MDB_NOSYNC, 8-byte big-endian keys, MDB_APPEND, one "
	    "transaction per %d puts.",
	    BATCH_RECS, BATCH_RECS);
	settle();

	/* Row 3 reads back what the last run of each wrote. */
	progress("[3] sequential read of what row 1 wrote\n");
	ks_cfg(&cfg);
	KS_TRY(ks_log_open(ksdir, &cfg, &log));
	st = ks_stat(log);
	for (i = 0; i < opt.runs; i++)
		sample(&ki, "kstream iterator", U_RATE,
		    ks_iter_run(log, st.end_offset));
	done_msg("kstream iterator", U_RATE, median(&ki));
	for (i = 0; i < opt.runs; i++) {
		double bps, rps;

		ks_view_run(log, st.end_offset, &bps, &rps);
		sample(&kvb, "kstream ks_log_read bytes", U_BYTES, bps);
		sample(&kvr, "kstream ks_log_read records", U_RATE, rps);
	}
	done_msg("kstream ks_log_read", U_BYTES, median(&kvb));
	KS_TRY(ks_log_close(log));
	for (i = 0; i < opt.runs; i++)
		sample(&si, "SQLite SELECT", U_RATE,
		    sq_read_run(sqpath, sq_rows));
	done_msg("SQLite SELECT", U_RATE, median(&si));
	for (i = 0; i < opt.runs; i++)
		sample(&li, "LMDB cursor", U_RATE, lm_read_run(lmdir, lm_recs));
	done_msg("LMDB cursor", U_RATE, median(&li));

	r = add_row("3", U_RATE, ">= 30 M/s", 30e6,
	    "read: record iterator, rec/s");
	r->v[C_KS] = median(&ki);
	r->v[C_SQLITE] = median(&si);
	r->v[C_LMDB] = median(&li);
	r = add_row("3b", U_BYTES, "", 0,
	    "read: ks_log_read 1 MiB views, bytes/s *");
	r->v[C_KS] = median(&kvb);
	r = add_row("3c", U_RATE, "", 0,
	    "read: ks_log_read 1 MiB views, rec/s *");
	r->v[C_KS] = median(&kvr);
	note("3: warm page cache. kstream walks all %lld records (%.2f GB, "
	    "%u segment%s) from offset 0, touching each record's lengths and "
	    "first value byte; SQLite steps \"SELECT v FROM log ORDER BY off\" "
	    "over its %ld rows, LMDB walks a cursor with MDB_NEXT over its %ld "
	    "records, touching the same. The first iterator run after the "
	    "reopen also faults the mapping in.",
	    (long long)st.end_offset, (double)st.size_bytes / 1e9,
	    st.segment_count, st.segment_count == 1 ? "" : "s", sq_rows,
	    lm_recs);

	note("3b: (*, also 3c) ks_log_read views of whole batches, max_bytes "
	    "1 MiB, from offset 0 to the end, released at once; the bytes "
	    "are neither decoded nor copied (only each view's last byte is "
	    "read), as a "
	    "Fetch server would hand them to writev or sendfile. The figure is "
	    "the engine's per-view cost expressed per byte and per record, not "
	    "a memory bandwidth.");

	rm_rf(ksdir);
	sq_remove(sqpath);
	rm_rf(lmdir);
	settle();
}

/* ------------------------------------------------------------------ */
/* Row 2: one record per call                                          */

static void row_append_single(const recset_t *rs)
{
	char ksdir[PATH_MAX], sqpath[PATH_MAX], lmdir[PATH_MAX];
	samples_t ks = { .n = 0 }, sq = { .n = 0 }, lm = { .n = 0 };
	long sq_rows = 0, lm_recs = 0;
	row_t *r;
	int i;

	spath(ksdir, "ks-single");
	spath(sqpath, "sqlite-single.db");
	spath(lmdir, "lmdb-single");

	progress("[2] append, one record of %d B per call\n", VALUE_LEN);
	for (i = 0; i < opt.runs; i++)
		sample(&ks, "kstream", U_RATE,
		    ks_append_run(ksdir, rs, 1, sz.single_n));
	done_msg("kstream", U_RATE, median(&ks));
	rm_rf(ksdir);
	settle();
	for (i = 0; i < opt.runs; i++)
		sample(&sq, "SQLite, 1 row per txn", U_RATE,
		    sq_append_run(sqpath, rs, 1, sz.sqlite_single_cap,
		    sz.peer_secs, "OFF", &sq_rows));
	done_msg("SQLite, 1 row per txn", U_RATE, median(&sq));
	sq_remove(sqpath);
	for (i = 0; i < opt.runs; i++)
		sample(&lm, "LMDB, 1 put per txn", U_RATE,
		    lm_append_run(lmdir, rs, 1, sz.lmdb_single_cap,
		    sz.peer_secs, MDB_NOSYNC, &lm_recs));
	done_msg("LMDB, 1 put per txn", U_RATE, median(&lm));
	rm_rf(lmdir);

	r = add_row("2", U_RATE, ">= 5 M/s", 5e6,
	    "append 1x%d B per call, rec/s", VALUE_LEN);
	r->v[C_KS] = median(&ks);
	r->v[C_SQLITE] = median(&sq);
	r->v[C_LMDB] = median(&lm);
	note("2: one record per ks_log_append (one batch each), %ld per run, "
	    "no fsync. Peers commit one transaction per record, no fsync "
	    "(SQLite WAL synchronous=OFF, capped at %ld rows; LMDB MDB_NOSYNC, "
	    "capped at %ld puts; both also capped at %.0f s; last run: SQLite "
	    "%ld, LMDB %ld).",
	    sz.single_n, sz.sqlite_single_cap, sz.lmdb_single_cap,
	    sz.peer_secs, sq_rows, lm_recs);
	settle();
}

/* ------------------------------------------------------------------ */
/* Row 4: open after a clean close                                     */

/* Appends 1000-record batches to log until it holds about bytes. */
static void fill_log(ks_log_t *log, const recset_t *rs, uint64_t bytes)
{
	ks_log_stat_t st;
	uint64_t nb, i;

	KS_TRY(ks_log_append(log, rs->recs, BATCH_RECS, NULL));
	st = ks_stat(log);
	nb = bytes / (st.size_bytes ? st.size_bytes : 1);
	for (i = 1; i < nb; i++)
		KS_TRY(ks_log_append(log, rs->recs, BATCH_RECS, NULL));
}

static void open_clean(const recset_t *rs, uint64_t seg_bytes)
{
	char dir[PATH_MAX];
	samples_t t = { .n = 0 };
	ks_log_config_t cfg;
	ks_log_stat_t st = { 0 };
	ks_log_t *log;
	int i, clean = 0;
	row_t *r;

	spath(dir, "ks-open");
	rm_rf(dir);
	ks_cfg(&cfg);
	cfg.segment_bytes = seg_bytes;
	KS_TRY(ks_log_open(dir, &cfg, &log));
	fill_log(log, rs, sz.open_bytes);
	KS_TRY(ks_log_close(log));
	settle();
	for (i = 0; i < opt.runs; i++) {
		double t0, t1;

		t0 = now_s();
		KS_TRY(ks_log_open(dir, &cfg, &log));
		t1 = now_s();
		st = ks_stat(log);
		clean += st.clean_open == 1;
		KS_TRY(ks_log_close(log));
		sample(&t, "kstream open", U_MS, t1 - t0);
	}
	done_msg("kstream open", U_MS, median(&t));
	r = add_row(seg_bytes == sz.open_small_seg ? "4b" : "4", U_MS,
	    "< 10 ms", 10e-3, "open after clean close, %llu MiB segs",
	    (unsigned long long)(seg_bytes / MIB));
	r->v[C_KS] = median(&t);
	note("%s: %.2f GB log, %lld records, %u segment%s of at most %llu MiB; "
	    "clean_open=1 in %d of %d opens (each open followed by a close); "
	    "warm page cache.", r->id, (double)st.size_bytes / 1e9,
	    (long long)st.end_offset, st.segment_count,
	    st.segment_count == 1 ? "" : "s",
	    (unsigned long long)(seg_bytes / MIB), clean, opt.runs);
	rm_rf(dir);
	settle();
}

static void rows_open_clean(const recset_t *rs)
{
	ks_log_config_t cfg;

	ks_log_config_init(&cfg);
	progress("[4] open after clean close, %llu MiB log\n",
	    (unsigned long long)(sz.open_bytes / MIB));
	open_clean(rs, cfg.segment_bytes);
	open_clean(rs, sz.open_small_seg);
}

/* ------------------------------------------------------------------ */
/* Row 5: open after kill -9                                           */

/* The child: fresh log, crash_bytes appended, tells the parent, waits to be
 * killed. Reports a failure through the pipe instead. */
static void __attribute__((noreturn)) crash_child(const char *dir,
    const recset_t *rs, int wfd)
{
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	uint64_t nb, i;
	int rc;

	ks_cfg(&cfg);
	rc = ks_log_open(dir, &cfg, &log);
	if (rc == 0)
		rc = ks_log_append(log, rs->recs, BATCH_RECS, NULL);
	if (rc == 0)
		rc = ks_log_stat(log, &st);
	if (rc == 0) {
		nb = sz.crash_bytes / (st.size_bytes ? st.size_bytes : 1);
		for (i = 1; i < nb && rc == 0; i++)
			rc = ks_log_append(log, rs->recs, BATCH_RECS, NULL);
	}
	if (write(wfd, &rc, sizeof(rc)) != sizeof(rc))
		_exit(2);
	for (;;)
		pause();
}

static void row_open_crash(const recset_t *rs)
{
	char dir[PATH_MAX];
	samples_t rate = { .n = 0 }, t = { .n = 0 };
	ks_log_config_t cfg;
	ks_log_stat_t st = { 0 };
	ks_log_t *log;
	int i, unclean = 0;
	uint64_t cut = 0;
	row_t *r;

	spath(dir, "ks-crash");
	progress("[5] open after kill -9 of a writer that appended %llu MiB\n",
	    (unsigned long long)(sz.crash_bytes / MIB));
	ks_cfg(&cfg);
	for (i = 0; i < opt.runs; i++) {
		int fds[2], status, crc;
		double t0, t1;
		pid_t pid;
		ssize_t n;

		rm_rf(dir);
		if (pipe(fds) < 0)
			die("pipe: %s", strerror(errno));
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(fds[0]);
			crash_child(dir, rs, fds[1]);
		}
		close(fds[1]);
		do
			n = read(fds[0], &crc, sizeof(crc));
		while (n < 0 && errno == EINTR);
		close(fds[0]);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (n != sizeof(crc))
			die("crash child died before appending");
		KS_TRY(crc);

		t0 = now_s();
		KS_TRY(ks_log_open(dir, &cfg, &log));
		t1 = now_s();
		st = ks_stat(log);
		KS_TRY(ks_log_close(log));
		unclean += st.clean_open == 0;
		cut += st.recovery_cut;
		sample(&t, "kstream open", U_MS, t1 - t0);
		sample(&rate, "kstream recovery scan", U_BYTES,
		    (double)st.recovery_scanned / (t1 - t0));
		rm_rf(dir);
		settle();
	}
	done_msg("kstream recovery scan", U_BYTES, median(&rate));
	r = add_row("5", U_BYTES, ">= 1 GB/s", 1e9,
	    "open after kill -9: scanned bytes/s");
	r->v[C_KS] = median(&rate);
	r = add_row("5b", U_MS, "", 0, "open after kill -9: open time");
	r->v[C_KS] = median(&t);
	note("5: the child opened a fresh log (flush.messages=0, so no "
	    "recovery point past the start), appended %llu MiB in %d-record "
	    "batches, signalled through a pipe and was SIGKILLed. Last run: "
	    "recovery_scanned %.2f GB, %lld records, clean_open=0 in %d of %d "
	    "opens, %llu bytes cut over all runs. The page cache still held "
	    "the data (kill -9, not power loss): this is the CPU cost of the "
	    "scan, CRC-32C of every batch.",
	    (unsigned long long)(sz.crash_bytes / MIB), BATCH_RECS,
	    (double)st.recovery_scanned / 1e9, (long long)st.end_offset,
	    unclean, opt.runs, (unsigned long long)cut);
	if (st.recovery_scanned == 0)
		note("5: recovery scanned 0 bytes: the rate is 0 by "
		    "construction (the engine checkpointed a recovery point "
		    "or found the log clean).");
}

/* ------------------------------------------------------------------ */
/* Row 6: flush on every append                                        */

typedef struct {
	ks_log_t *log;
	const recset_t *rs;
	double deadline;
	long appends;
	long not_durable;
	int rc;
} flusher_t;

static void *flusher(void *arg)
{
	flusher_t *f = arg;
	ks_append_info_t info;

	while (now_s() < f->deadline) {
		f->rc = ks_log_append(f->log, f->rs->recs, FLUSH_BATCH, &info);
		if (f->rc < 0)
			break;
		f->appends++;
		f->not_durable += !info.durable;
	}
	return NULL;
}

/* One run with nthreads appenders on one log; returns records/s and fills
 * appends/s and fsyncs per append. */
static double ks_flush_run(const char *dir, const recset_t *rs, int nthreads,
    double *aps, double *fpa, long *not_durable)
{
	flusher_t f[FLUSH_THREADS];
	pthread_t th[FLUSH_THREADS];
	ks_log_config_t cfg;
	ks_log_stat_t s0, s1;
	ks_log_t *log;
	long appends = 0;
	double t0, t1;
	int i, rc;

	rm_rf(dir);
	ks_cfg(&cfg);
	cfg.flush_messages = 1;
	KS_TRY(ks_log_open(dir, &cfg, &log));
	s0 = ks_stat(log);
	t0 = now_s();
	for (i = 0; i < nthreads; i++) {
		f[i] = (flusher_t){ .log = log, .rs = rs,
		    .deadline = t0 + sz.flush_secs };
		if ((rc = pthread_create(&th[i], NULL, flusher, &f[i])) != 0)
			die("pthread_create: %s", strerror(rc));
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	s1 = ks_stat(log);
	for (i = 0; i < nthreads; i++) {
		KS_TRY(f[i].rc);
		appends += f[i].appends;
		*not_durable += f[i].not_durable;
	}
	KS_TRY(ks_log_close(log));
	rm_rf(dir);
	*aps = (double)appends / (t1 - t0);
	*fpa = appends ? (double)(s1.fsyncs - s0.fsyncs) / (double)appends : 0;
	return (double)appends * FLUSH_BATCH / (t1 - t0);
}

static void rows_flush(const recset_t *rs, int tmpfs)
{
	char ksdir[PATH_MAX], sqpath[PATH_MAX], lmdir[PATH_MAX];
	samples_t k1 = { .n = 0 }, k1a = { .n = 0 }, k1f = { .n = 0 };
	samples_t k4 = { .n = 0 }, k4a = { .n = 0 }, k4f = { .n = 0 };
	samples_t sq = { .n = 0 }, lm = { .n = 0 };
	long nd1 = 0, nd4 = 0, rows_done = 0;
	row_t *r;
	int i;

	spath(ksdir, "ks-flush");
	spath(sqpath, "sqlite-flush.db");
	spath(lmdir, "lmdb-flush");
	progress("[6] durable appends, %d records per append, %.1f s per run\n",
	    FLUSH_BATCH, sz.flush_secs);
	for (i = 0; i < opt.runs; i++) {
		double aps, fpa;

		sample(&k1, "kstream 1 thread", U_RATE,
		    ks_flush_run(ksdir, rs, 1, &aps, &fpa, &nd1));
		k1a.v[k1a.n++] = aps;
		k1f.v[k1f.n++] = fpa;
	}
	done_msg("kstream 1 thread", U_RATE, median(&k1));
	for (i = 0; i < opt.runs; i++) {
		double aps, fpa;

		sample(&k4, "kstream 4 threads", U_RATE,
		    ks_flush_run(ksdir, rs, FLUSH_THREADS, &aps, &fpa, &nd4));
		k4a.v[k4a.n++] = aps;
		k4f.v[k4f.n++] = fpa;
	}
	done_msg("kstream 4 threads", U_RATE, median(&k4));
	for (i = 0; i < opt.runs; i++)
		sample(&sq, "SQLite synchronous=FULL", U_RATE,
		    sq_append_run(sqpath, rs, FLUSH_BATCH, LONG_MAX,
		    sz.flush_secs, "FULL", &rows_done));
	done_msg("SQLite synchronous=FULL", U_RATE, median(&sq));
	sq_remove(sqpath);
	for (i = 0; i < opt.runs; i++)
		sample(&lm, "LMDB synced commits", U_RATE,
		    lm_append_run(lmdir, rs, FLUSH_BATCH, LONG_MAX,
		    sz.flush_secs, 0, &rows_done));
	done_msg("LMDB synced commits", U_RATE, median(&lm));
	rm_rf(lmdir);

	r = add_row("6", U_RATE, "", 0,
	    "durable append %dx%d B, 1 thread, rec/s", FLUSH_BATCH,
	    VALUE_LEN);
	r->v[C_KS] = median(&k1);
	r->v[C_SQLITE] = median(&sq);
	r->v[C_LMDB] = median(&lm);
	r = add_row("6b", U_RATE, "", 0,
	    "durable append %dx%d B, %d threads, rec/s", FLUSH_BATCH,
	    VALUE_LEN, FLUSH_THREADS);
	r->v[C_KS] = median(&k4);
	note("6: every append returns only once durable; %.1f s per run. "
	    "1 thread: %.0f appends/s, %.3f fsyncs per append; %d threads "
	    "sharing one log (group commit): %.0f appends/s, %.3f fsyncs per "
	    "append (< 1: fsyncs shared). Appends returning durable=0: %ld "
	    "(1 thread), %ld (%d threads).", sz.flush_secs, median(&k1a),
	    median(&k1f), FLUSH_THREADS, median(&k4a), median(&k4f), nd1, nd4,
	    FLUSH_THREADS);
	note("6: peers, one writer, one durable transaction per %d records: "
	    "SQLite WAL synchronous=FULL; LMDB without MDB_NOSYNC.",
	    FLUSH_BATCH);
	if (tmpfs)
		note("6: the scratch directory is on tmpfs, where fsync costs "
		    "nothing: use -d on a disk for meaningful row 6 figures.");
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	recset_t rs;
	double t0;
	int tmpfs;

	bench_prog = "bench_log";
	setvbuf(stdout, NULL, _IOLBF, 0);
	common_args(argc, argv, &opt.quick, &opt.runs, &opt.base);
	set_sizes(opt.quick);

	make_scratch(opt.base, opt.scratch);
	bench_layout = &layout;

	print_context(&tmpfs);
	recset_init(&rs, BATCH_RECS, VALUE_LEN);
	t0 = now_s();

	rows_append_batch_and_read(&rs);
	row_append_single(&rs);
	rows_open_clean(&rs);
	row_open_crash(&rs);
	rows_flush(&rs, tmpfs);

	sort_output();
	print_table();
	printf("\nPublished figures to beat (context only: other machines, "
	    "other conditions):\n"
	    " - Kafka, single producer, 100 B records: 0.82 M records/s\n"
	    " - Chronicle Queue, 200 B messages: 8.8 M writes/s, "
	    "15.5 M reads/s\n");
	print_end(t0);
	recset_free(&rs);
	return 0;
}
