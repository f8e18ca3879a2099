/*
 * check_recovery.c: a log damaged on disk reopens with its valid prefix.
 *
 * Recovery only runs after an unclean shutdown, so every case starts from a
 * log whose writer (a forked child, every append fsynced) exited without
 * ks_log_close. The parent then damages files and reopens: recovery must keep
 * every batch before the damage byte for byte, cut the first bad batch and
 * everything after it, report the cut (ks_log_stat and the log callback), and
 * continue appending at the cut. Damaged indexes are rebuilt from the log.
 * Damage recovery does not look at must never crash a reader. Also: opening
 * a missing directory, and the single-writer lock.
 */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RC_T0 1700000000000LL
#define RC_SEED 0x7265636f76ULL    /* without KS_TEST_SEED: "recov" */
#define RC_SEGMENT_BYTES 16384
#define RC_INDEX_BYTES 65536
#define RC_INTERVAL 512
#define RC_BATCHES 60      /* batches the writer appends */
#define RC_ACTIVE 8        /* of which the last RC_ACTIVE after a roll */
#define RC_MAX_BATCH 8
#define RC_MAX_SEGS 64
#define RC_MAX_SEG_BATCHES 128

/* ---- records: the generator's (kt_gen_record), and their other version */

/*
 * The other version of a record: the same sizes, other value bytes. Its
 * batch is byte for byte as long as the original's.
 */
static void gen_alt(uint64_t seed, int64_t off, struct kt_gen *g)
{
	size_t i;
	kt_gen_record(seed, RC_T0, off, g);
	for (i = 0; i < g->rec.value_len; i++)
		g->value[i] ^= 0xff;
}

/* 0 if rec is the record for off (alt: its other version), else -1 and why. */
static int gen_check_v(uint64_t seed, int64_t off, int alt,
    const ks_record_t *rec, char *why, size_t whylen)
{
	struct kt_gen g;

	if (alt)
		gen_alt(seed, off, &g);
	else
		kt_gen_record(seed, RC_T0, off, &g);
	return kt_gen_compare(&g, off, rec, KT_WHY_RECORD, why, whylen);
}

/* Batch i of a built log holds this many records. */
static size_t batch_records(uint64_t seed, int i)
{
	return 1 + kt_mix64(seed + 77 + (uint64_t)i) % RC_MAX_BATCH;
}

/* ---- configuration and the log callback */

struct reports {
	int count;
	char last[256];
};

static void report_cb(void *opaque, int level, const char *msg)
{
	struct reports *r = opaque;
	(void)level;
	__atomic_add_fetch(&r->count, 1, __ATOMIC_RELAXED);
	snprintf(r->last, sizeof r->last, "%s", msg);
}

static void quiet_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void rc_config(ks_log_config_t *cfg, int flags, struct reports *rep)
{
	ks_log_config_init(cfg);
	cfg->flags = flags;
	cfg->segment_bytes = RC_SEGMENT_BYTES;
	cfg->segment_index_bytes = RC_INDEX_BYTES;
	cfg->index_interval_bytes = RC_INTERVAL;
	cfg->flush_messages = 1;
	cfg->log_cb = rep ? report_cb : quiet_cb;
	cfg->log_opaque = rep;
}

/* ---- children */

typedef int child_fn(void *arg, char *why, size_t len);

/*
 * Runs fn(arg) in a forked child and returns its wait status; a message the
 * child leaves in why (on failure) is copied back. fn may end the child
 * itself (_exit without closing, SIGKILL).
 */
static int in_child(child_fn *fn, void *arg, char *why, size_t len)
{
	int p[2], status;
	pid_t pid, parent = getpid();
	size_t have = 0;
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char msg[512] = "";
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(6);
		close(p[0]);
		if (fn(arg, msg, sizeof msg) != 0) {
			if (write(p[1], msg, strlen(msg)) < 0)
				_exit(2);
			_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	why[0] = '\0';
	while (have + 1 < len) {
		n = read(p[0], why + have, len - have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	why[have] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

enum end_how { END_EXIT, END_KILL, END_CLOSE };

struct build {
	const char *dir;
	uint64_t seed;
	int first_batch;   /* batch numbers first_batch.. */
	int nbatches;
	int roll_before;   /* ks_log_roll before the last roll_before batches */
	enum end_how end;
};

/* Child: appends the batches of b, then ends as b->end says. */
static int build_child(void *arg, char *why, size_t len)
{
	struct build *b = arg;
	static struct kt_gen g[RC_MAX_BATCH];
	ks_record_t recs[RC_MAX_BATCH];
	ks_log_config_t cfg;
	ks_append_info_t info;
	ks_log_t *log;
	int rc, i;

	rc_config(&cfg, KS_LOG_CREATE, NULL);
	if ((rc = ks_log_open(b->dir, &cfg, &log)) != 0) {
		snprintf(why, len, "builder open: %s", ks_strerror(rc));
		return -1;
	}
	for (i = 0; i < b->nbatches; i++) {
		size_t n = batch_records(b->seed, b->first_batch + i), j;
		int64_t next = ks_log_end_offset(log);

		if (i == b->nbatches - b->roll_before &&
		    (rc = ks_log_roll(log)) != 0) {
			snprintf(why, len, "builder roll: %s", ks_strerror(rc));
			return -1;
		}
		for (j = 0; j < n; j++) {
			kt_gen_record(b->seed, RC_T0, next + (int64_t)j, &g[j]);
			recs[j] = g[j].rec;
		}
		rc = ks_log_append(log, recs, n, &info);
		if (rc != 0 || info.base_offset != next || !info.durable) {
			snprintf(why, len, "builder append %d: %s (base %"
			    PRId64 ", expected %" PRId64 ", durable %d)", i,
			    ks_strerror(rc), info.base_offset, next,
			    info.durable);
			return -1;
		}
	}
	if (b->end == END_KILL)
		raise(SIGKILL);
	if (b->end == END_CLOSE && (rc = ks_log_close(log)) != 0) {
		snprintf(why, len, "builder close: %s", ks_strerror(rc));
		return -1;
	}
	_exit(0); /* END_EXIT: no close, the log stays unclean */
}

static void run_build(struct build *b)
{
	char why[512];
	int status = in_child(build_child, b, why, sizeof why);

	if (b->end == END_KILL)
		ck_assert_msg(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL, "builder: status %#x: %s",
		    status, why);
	else
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "builder: status %#x: %s", status, why);
}

/* Total records in batches 0..nbatches-1. */
static int64_t records_in(uint64_t seed, int nbatches)
{
	int64_t n = 0;
	int i;
	for (i = 0; i < nbatches; i++)
		n += (int64_t)batch_records(seed, i);
	return n;
}

/* ---- the files on disk */

struct bpos {
	long pos;       /* in the .log */
	size_t len;     /* whole batch, with the log overhead */
	int64_t base, last;
};

struct seg {
	int64_t base;
	char path[512];  /* .../<base>.log */
	long size;
	int nb;
	struct bpos b[RC_MAX_SEG_BATCHES];
};

struct layout {
	int nseg;
	struct seg seg[RC_MAX_SEGS];
};

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->base < y->base ? -1 : x->base > y->base;
}

static void *read_file(const char *path, long *size)
{
	FILE *f = fopen(path, "rb");
	void *buf;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	*size = ftell(f);
	rewind(f);
	buf = malloc((size_t)*size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)*size, f), (size_t)*size);
	fclose(f);
	return buf;
}

/*
 * Finds the segments of dir and the valid batches in each, walking the .log
 * files as docs/format.md describes them: batches back to back from 0.
 */
static void layout_scan(const char *dir, struct layout *L)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int i;

	ck_assert_ptr_nonnull(d);
	memset(L, 0, sizeof *L);
	while ((e = readdir(d)) != NULL) {
		struct seg *s;
		if (strlen(e->d_name) != 24 ||
		    strspn(e->d_name, "0123456789") != 20 ||
		    strcmp(e->d_name + 20, ".log") != 0)
			continue;
		ck_assert_int_lt(L->nseg, RC_MAX_SEGS);
		s = &L->seg[L->nseg++];
		s->base = strtoll(e->d_name, NULL, 10);
		snprintf(s->path, sizeof s->path, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(L->seg, (size_t)L->nseg, sizeof L->seg[0], cmp_seg);
	for (i = 0; i < L->nseg; i++) {
		struct seg *s = &L->seg[i];
		uint8_t *buf = read_file(s->path, &s->size);
		long pos = 0;
		ks_batch_info_t bi;

		while (pos < s->size && ks_batch_validate(buf + pos,
		    (size_t)(s->size - pos), &bi) == 0) {
			struct bpos *b = &s->b[s->nb++];
			ck_assert_int_le(s->nb, RC_MAX_SEG_BATCHES);
			b->pos = pos;
			b->len = KS_BATCH_LOG_OVERHEAD +
			    (size_t)bi.batch_length;
			b->base = bi.base_offset;
			b->last = bi.base_offset + bi.last_offset_delta;
			pos += (long)b->len;
		}
		free(buf);
	}
}

static void seg_file(const struct seg *s, const char *ext, char *buf,
    size_t len)
{
	snprintf(buf, len, "%.*s%s", (int)(strlen(s->path) - 4), s->path, ext);
}

static void patch(const char *path, long pos, const void *bytes, size_t len)
{
	int fd = open(path, O_WRONLY);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(pwrite(fd, bytes, len, pos), (ssize_t)len);
	close(fd);
}

static void patch_be32(const char *path, long pos, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
	patch(path, pos, b, 4);
}

static void flip_byte(const char *path, long pos)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, pos), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, pos), 1);
	close(fd);
}

static void fill_random(const char *path, long pos, size_t len, uint64_t rng)
{
	uint8_t *buf = malloc(len);
	size_t i;
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			rng = kt_mix64(rng);
		buf[i] = (uint8_t)(rng >> (8 * (i % 8)));
	}
	patch(path, pos, buf, len);
	free(buf);
}

/* ---- checks on a reopened log */

/*
 * Iterates from the start: every record below upto must be the generator's;
 * then the iterator must be at the end (0). NULL or a message.
 */
static const char *check_records(ks_log_t *log, uint64_t seed, int64_t upto,
    char *why, size_t len)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	int64_t off = 0;
	int rc;

	if (ks_log_start_offset(log) != 0) {
		snprintf(why, len, "start offset %" PRId64,
		    ks_log_start_offset(log));
		return why;
	}
	if ((rc = ks_log_iter_new(log, 0, &it)) != 0) {
		snprintf(why, len, "iter_new: %s", ks_strerror(rc));
		return why;
	}
	while (off < upto && (rc = ks_log_iter_next(it, &rec)) == 1) {
		if (kt_gen_check(seed, RC_T0, off, &rec, why, len) != 0) {
			ks_log_iter_free(it);
			return why;
		}
		off++;
	}
	if (off == upto)
		rc = ks_log_iter_next(it, &rec);
	ks_log_iter_free(it);
	if (off < upto || rc != 0) {
		snprintf(why, len, "iteration to %" PRId64 " stopped at %"
		    PRId64 ": %d (%s)", upto, off, rc,
		    rc < 0 ? ks_strerror(rc) :
		    rc ? "records past the end" : "early end");
		return why;
	}
	return NULL;
}

/* Records [from, to) are the generator's, and to is the end. */
static void check_range(ks_log_t *log, uint64_t seed, int64_t from,
    int64_t to)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	char why[512];
	int64_t off;

	KT_OK(ks_log_iter_new(log, from, &it));
	for (off = from; off < to; off++) {
		int rc = ks_log_iter_next(it, &rec);
		ck_assert_msg(rc == 1, "record %" PRId64 ": %d", off, rc);
		ck_assert_msg(kt_gen_check(seed, RC_T0, off, &rec, why,
		    sizeof why) == 0, "%s", why);
	}
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);
	ks_log_iter_free(it);
}

#define CHECK_RECORDS(log, seed, upto)                                       \
	do {                                                                 \
		char w_[512];                                                \
		const char *e_ = check_records(log, seed, upto, w_,          \
		    sizeof w_);                                              \
		ck_assert_msg(e_ == NULL, "seed %#" PRIx64 ": %s",           \
		    (uint64_t)(seed), e_);                                   \
	} while (0)

/* Appends n generated records at the end; they must land at expect. */
static void append_more(ks_log_t *log, uint64_t seed, int64_t expect,
    size_t n)
{
	static struct kt_gen g[RC_MAX_BATCH];
	ks_record_t recs[RC_MAX_BATCH];
	ks_append_info_t info;
	size_t j;

	ck_assert_int_le(n, RC_MAX_BATCH);
	ck_assert_int_eq(ks_log_end_offset(log), expect);
	for (j = 0; j < n; j++) {
		kt_gen_record(seed, RC_T0, expect + (int64_t)j, &g[j]);
		recs[j] = g[j].rec;
	}
	KT_OK(ks_log_append(log, recs, n, &info));
	ck_assert_int_eq(info.base_offset, expect);
	ck_assert_int_eq(info.last_offset, expect + (int64_t)n - 1);
}

/*
 * Looks up every batch of L (below end) by its first, last and a middle
 * offset with ks_log_read, and every such offset's timestamp with
 * ks_log_offset_for_time.
 */
static void check_lookups(ks_log_t *log, const struct layout *L, int64_t end,
    const char *what)
{
	int i, j, k;
	int64_t off, got;

	for (i = 0; i < L->nseg; i++) {
		for (j = 0; j < L->seg[i].nb; j++) {
			const struct bpos *b = &L->seg[i].b[j];
			if (b->base >= end)
				continue;
			for (k = 0; k < 3; k++) {
				ks_log_view_t v;
				ks_batch_info_t bi;
				off = k == 0 ? b->base : k == 1 ? b->last :
				    (b->base + b->last) / 2;
				KT_OK(ks_log_read(log, off, 1, &v));
				ck_assert_msg(v.base_offset == b->base &&
				    v.len == b->len, "%s: read(%" PRId64 "): "
				    "base %" PRId64 " len %zu, batch at %"
				    PRId64 " of %zu bytes", what, off,
				    v.base_offset, v.len, b->base, b->len);
				KT_OK(ks_batch_validate(v.data, v.len, &bi));
				ck_assert_int_eq(bi.base_offset, b->base);
				ks_log_view_release(&v);

				KT_OK(ks_log_offset_for_time(log, RC_T0 + off,
				    &got));
				ck_assert_msg(got == off, "%s: offset_for_time("
				    "T0+%" PRId64 ") = %" PRId64, what, off,
				    got);
			}
		}
	}
	KT_OK(ks_log_offset_for_time(log, RC_T0 - 1000, &got));
	ck_assert_msg(got == 0, "%s: offset_for_time(T0-1000) = %" PRId64,
	    what, got);
	KT_OK(ks_log_offset_for_time(log, RC_T0 + end, &got));
	ck_assert_msg(got == -1, "%s: offset_for_time(T0+%" PRId64 "), past "
	    "every timestamp, = %" PRId64 ", expected -1", what, end, got);
}

/* ---- fixtures */

struct fixture {
	char *tmp, *dir;
	uint64_t seed;
	int64_t total;      /* records written */
	struct layout L;
	struct seg *active;
};

static struct fixture *fixture_new(const char *tag, uint64_t salt,
    enum end_how end)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct build b;

	ck_assert_ptr_nonnull(f);
	f->seed = kt_seed(RC_SEED) ^ kt_mix64(salt);
	f->tmp = kt_tmpdir(tag);
	f->dir = kt_path(f->tmp, "topic-0");
	b = (struct build){ f->dir, f->seed, 0, RC_BATCHES, RC_ACTIVE, end };
	run_build(&b);
	f->total = records_in(f->seed, RC_BATCHES);
	layout_scan(f->dir, &f->L);
	ck_assert_int_ge(f->L.nseg, 3);
	f->active = &f->L.seg[f->L.nseg - 1];
	/* The roll put exactly the last RC_ACTIVE batches in the active one. */
	ck_assert_int_eq(f->active->nb, RC_ACTIVE);
	ck_assert_int_eq(f->active->b[RC_ACTIVE - 1].last, f->total - 1);
	return f;
}

static void fixture_free(struct fixture *f)
{
	kt_rmrf(f->tmp);
	free(f->dir);
	free(f->tmp);
	free(f);
}

static int reopen(struct fixture *f, struct reports *rep, ks_log_t **log,
    ks_log_stat_t *st)
{
	ks_log_config_t cfg;
	int rc;

	memset(rep, 0, sizeof *rep);
	rc_config(&cfg, 0, rep);
	rc = ks_log_open(f->dir, &cfg, log);
	if (rc == 0)
		KT_OK(ks_log_stat(*log, st));
	else
		ck_assert_ptr_null(*log);
	return rc;
}

/*
 * Reopens after damage to the batch at cut (and maybe beyond): the log must
 * end at cut->base, report the cut, read back everything before it, and take
 * new appends from there, also across a clean close. must_report: the damage
 * leaves non-zero bytes, so recovery must say it cut something.
 */
static void expect_cut(struct fixture *f, const struct bpos *cut,
    int must_report, const char *what)
{
	struct reports rep;
	ks_log_stat_t st;
	ks_log_t *log = NULL;
	int64_t at = cut->base;

	KT_OK(reopen(f, &rep, &log, &st));
	ck_assert_msg(ks_log_end_offset(log) == at, "%s (seed %#" PRIx64 "): "
	    "end offset %" PRId64 ", expected the damaged batch's base %"
	    PRId64,
	    what, f->seed, ks_log_end_offset(log), at);
	ck_assert_msg(st.clean_open == 0, "%s: clean_open after a crash",
	    what);
	if (must_report || st.recovery_cut > 0) {
		ck_assert_msg(st.recovery_cut > 0 && st.recovery_cut_offset ==
		    at, "%s: recovery_cut %" PRIu64 ", recovery_cut_offset %"
		    PRId64 ", expected a cut at %" PRId64, what,
		    st.recovery_cut, st.recovery_cut_offset, at);
		ck_assert_msg(rep.count > 0, "%s: the cut was not reported "
		    "through the log callback", what);
	} else {
		ck_assert_int_eq(st.recovery_cut_offset, -1);
	}
	ck_assert_int_eq(st.end_offset, at);
	CHECK_RECORDS(log, f->seed, at);

	append_more(log, f->seed, at, 5);
	CHECK_RECORDS(log, f->seed, at + 5);
	KT_OK(ks_log_close(log));

	/* The recovered log closes and reopens cleanly with everything. */
	KT_OK(reopen(f, &rep, &log, &st));
	ck_assert_int_eq(st.clean_open, 1);
	ck_assert_int_eq(ks_log_end_offset(log), at + 5);
	CHECK_RECORDS(log, f->seed, at + 5);
	append_more(log, f->seed, at + 5, 3);
	CHECK_RECORDS(log, f->seed, at + 8);
	KT_OK(ks_log_close(log));
}

/* ---- damage to the active segment's .log */

/* A flipped byte inside the last batch's records: its CRC fails. */
START_TEST(test_flip_last_batch)
{
	struct fixture *f = fixture_new("rflip", 1, END_EXIT);
	const struct bpos *b = &f->active->b[RC_ACTIVE - 1];

	flip_byte(f->active->path, b->pos + KS_BATCH_HEADER_SIZE +
	    (long)(b->len - KS_BATCH_HEADER_SIZE) / 2);
	expect_cut(f, b, 1, "flipped byte in the last batch");
	fixture_free(f);
}
END_TEST

/* A flipped byte in a middle batch: it and every batch after it go. */
START_TEST(test_flip_middle_batch)
{
	struct fixture *f = fixture_new("rflipm", 2, END_KILL);
	const struct bpos *b = &f->active->b[RC_ACTIVE / 2];

	/* in the CRC-covered header (maxTimestamp) this time */
	flip_byte(f->active->path, b->pos + 36);
	expect_cut(f, b, 1, "flipped byte in a middle batch");
	fixture_free(f);
}
END_TEST

/* The file ends inside the last batch, at several places. */
START_TEST(test_truncated_last_batch)
{
	static const char *names[] = { "in baseOffset", "after batchLength",
		"in the header", "mid-batch", "one byte short" };
	int v;

	for (v = 0; v < 5; v++) {
		struct fixture *f = fixture_new("rtrunc", 10 + (uint64_t)v,
		    END_EXIT);
		const struct bpos *b = &f->active->b[RC_ACTIVE - 1];
		long cuts[5] = { 5, 12, 40, (long)b->len / 2,
			(long)b->len - 1 };
		char what[64];

		ck_assert_int_eq(truncate(f->active->path, b->pos + cuts[v]),
		    0);
		snprintf(what, sizeof what, "truncated %s", names[v]);
		/* 5 bytes of baseOffset are zeros: a zero tail, maybe silent */
		expect_cut(f, b, v > 0, what);
		fixture_free(f);
	}
}
END_TEST

/* The last batch overwritten with zeros, as after a lost page write. */
START_TEST(test_zeroed_tail)
{
	struct fixture *f = fixture_new("rzero", 20, END_EXIT);
	const struct bpos *b = &f->active->b[RC_ACTIVE - 1];
	static const uint8_t zeros[RC_SEGMENT_BYTES];

	/* All zeros: indistinguishable from unused space; a cut need not be
	 * reported, but the batch must not come back. */
	patch(f->active->path, b->pos, zeros, b->len);
	expect_cut(f, b, 0, "zeroed last batch");
	fixture_free(f);

	/* Only the second half zeroed: a torn batch, which is reported. */
	f = fixture_new("rzero", 21, END_EXIT);
	b = &f->active->b[RC_ACTIVE - 1];
	patch(f->active->path, b->pos + (long)b->len / 2, zeros,
	    b->len - b->len / 2);
	expect_cut(f, b, 1, "last batch half zeroed");
	fixture_free(f);

	/* Two middle batches zeroed, valid ones after them. */
	f = fixture_new("rzero", 22, END_EXIT);
	b = &f->active->b[2];
	patch(f->active->path, b->pos, zeros, b->len);
	patch(f->active->path, f->active->b[3].pos, zeros,
	    KS_BATCH_LOG_OVERHEAD);
	expect_cut(f, b, 1, "zeroed batches before valid ones");
	fixture_free(f);
}
END_TEST

/* Garbage in the last batch's batchLength field. */
START_TEST(test_bad_length)
{
	int v;

	for (v = 0; v < 7; v++) {
		struct fixture *f = fixture_new("rlen", 30 + (uint64_t)v,
		    END_EXIT);
		const struct bpos *b = &f->active->b[RC_ACTIVE - 1];
		int32_t real = (int32_t)(b->len - KS_BATCH_LOG_OVERHEAD);
		int32_t lens[7] = { INT32_MAX, -1, INT32_MIN, 0, 1,
			real - 1, real + 1 };
		char what[64];

		patch_be32(f->active->path, b->pos + 8, (uint32_t)lens[v]);
		snprintf(what, sizeof what, "batchLength %" PRId32 " (real %"
		    PRId32 ")", lens[v], real);
		expect_cut(f, b, 1, what);
		fixture_free(f);
	}
}
END_TEST

/* A magic byte other than 2 (the CRC does not cover it). */
START_TEST(test_bad_magic)
{
	static const uint8_t magics[] = { 0, 1, 3, 0xff };
	size_t v;

	for (v = 0; v < sizeof magics; v++) {
		struct fixture *f = fixture_new("rmagic", 40 + v, END_EXIT);
		const struct bpos *b = &f->active->b[RC_ACTIVE - 2];
		char what[64];

		patch(f->active->path, b->pos + 16, &magics[v], 1);
		snprintf(what, sizeof what, "magic %u", magics[v]);
		expect_cut(f, b, 1, what);
		fixture_free(f);
	}
}
END_TEST

/*
 * recovery_cut counts the bytes of batches lost: the damaged batch and what
 * followed it, not the file's preallocated zero tail.
 */
START_TEST(test_cut_counts_lost_bytes)
{
	int v;

	for (v = 0; v < 3; v++) {
		struct fixture *f = fixture_new("rcutn", 100 + (uint64_t)v,
		    END_EXIT);
		int first = v == 0 ? RC_ACTIVE - 1 : v == 1 ? 2 : RC_ACTIVE - 1;
		const struct bpos *b = &f->active->b[first];
		struct reports rep;
		ks_log_stat_t st;
		ks_log_t *log;
		uint64_t lost = 0;
		int j;

		for (j = first; j < RC_ACTIVE; j++)
			lost += f->active->b[j].len;
		if (v < 2) {
			flip_byte(f->active->path,
			    b->pos + KS_BATCH_HEADER_SIZE);
		} else {
			/* torn: the file ends 100 bytes into the last batch */
			ck_assert_int_eq(truncate(f->active->path,
			    b->pos + 100), 0);
			lost = 100;
		}
		KT_OK(reopen(f, &rep, &log, &st));
		ck_assert_int_eq(ks_log_end_offset(log), b->base);
		ck_assert_msg(st.recovery_cut == lost &&
		    st.recovery_cut_offset == b->base, "%s: recovery_cut %"
		    PRIu64 " bytes from %" PRId64 "; %" PRIu64 " bytes of "
		    "batches from %" PRId64 " were lost",
		    v == 0 ? "last batch damaged" : v == 1 ?
		    "6 batches damaged or after damage" : "last batch torn",
		    st.recovery_cut, st.recovery_cut_offset, lost, b->base);
		KT_OK(ks_log_close(log));
		fixture_free(f);
	}
}
END_TEST

/* ---- truncation, then a crash */

struct trunc_build {
	const char *dir;
	uint64_t seed;
	int64_t cut;        /* truncate here (a batch base) */
	int keep;           /* batches kept */
	int redo;           /* batches appended again after the cut */
};

/*
 * Child: appends RC_BATCHES batches, truncates to the base of batch keep,
 * appends redo batches of the same sizes but other bytes, and dies without
 * closing. The batches after those line up exactly with removed ones.
 */
static int trunc_child(void *arg, char *why, size_t len)
{
	struct trunc_build *t = arg;
	static struct kt_gen g[RC_MAX_BATCH];
	ks_record_t recs[RC_MAX_BATCH];
	ks_log_config_t cfg;
	ks_log_t *log;
	int rc, i;

	rc_config(&cfg, KS_LOG_CREATE, NULL);
	cfg.segment_bytes = 1 << 20; /* one segment: the cut is in it */
	if ((rc = ks_log_open(t->dir, &cfg, &log)) != 0) {
		snprintf(why, len, "open: %s", ks_strerror(rc));
		return -1;
	}
	for (i = 0; i < RC_BATCHES + t->redo; i++) {
		int b = i < RC_BATCHES ? i : t->keep + (i - RC_BATCHES);
		size_t n = batch_records(t->seed, b), j;
		int64_t next = ks_log_end_offset(log);

		if (i == RC_BATCHES) {
			if ((rc = ks_log_truncate(log, t->cut)) != 0 ||
			    ks_log_end_offset(log) != t->cut) {
				snprintf(why, len, "truncate(%" PRId64 "): %s, "
				    "end %" PRId64, t->cut, ks_strerror(rc),
				    ks_log_end_offset(log));
				return -1;
			}
			next = t->cut;
		}
		for (j = 0; j < n; j++) {
			if (i < RC_BATCHES)
				kt_gen_record(t->seed, RC_T0,
				    next + (int64_t)j, &g[j]);
			else
				gen_alt(t->seed, next + (int64_t)j, &g[j]);
			recs[j] = g[j].rec;
		}
		if ((rc = ks_log_append(log, recs, n, NULL)) != 0) {
			snprintf(why, len, "append %d: %s", i, ks_strerror(rc));
			return -1;
		}
	}
	_exit(0);
}

/*
 * Records removed by ks_log_truncate never come back, not even when a crash
 * follows and the batches that replaced them have exactly their sizes.
 */
START_TEST(test_truncate_then_crash)
{
	uint64_t seed = kt_seed(RC_SEED) ^ 0x7472;
	int v;

	for (v = 0; v < 2; v++) {
		char *tmp = kt_tmpdir("rtrc"), *dir = kt_path(tmp, "topic-0");
		struct trunc_build t = { dir, seed, 0, 40, v == 0 ? 1 : 5 };
		struct reports rep;
		ks_log_config_t cfg;
		ks_log_t *log;
		ks_log_iter_t *it;
		ks_record_t rec;
		char why[512];
		int64_t end, off;
		int status, rc;

		t.cut = records_in(seed, t.keep);
		end = t.cut;
		for (rc = 0; rc < t.redo; rc++)
			end += (int64_t)batch_records(seed, t.keep + rc);
		status = in_child(trunc_child, &t, why, sizeof why);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "writer: status %#x: %s", status, why);

		memset(&rep, 0, sizeof rep);
		rc_config(&cfg, 0, &rep);
		cfg.segment_bytes = 1 << 20;
		KT_OK(ks_log_open(dir, &cfg, &log));
		ck_assert_msg(ks_log_end_offset(log) == end, "truncated to %"
		    PRId64 ", %d batches appended again: end %" PRId64 " after "
		    "a crash, expected %" PRId64, t.cut, t.redo,
		    ks_log_end_offset(log), end);
		KT_OK(ks_log_iter_new(log, 0, &it));
		for (off = 0; off < end; off++) {
			ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
			ck_assert_msg(gen_check_v(seed, off, off >= t.cut, &rec,
			    why, sizeof why) == 0, "%s", why);
		}
		ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);
		ks_log_iter_free(it);
		KT_OK(ks_log_close(log));
		kt_rmrf(tmp);
		free(dir);
		free(tmp);
	}
}
END_TEST

/* ---- damaged indexes: rebuilt, lookups right */

enum idx_damage {
	IDX_GARBAGE, IDX_ODD_SIZE, IDX_BEYOND, IDX_MID_BATCH, IDX_DELETED,
	TIX_GARBAGE, TIX_ODD_SIZE, TIX_BEYOND, TIX_DELETED, IDX_NDAMAGE
};

static const char *idx_damage_name[IDX_NDAMAGE] = {
	"index garbage", "index odd size", "index entries beyond the log",
	"index entries inside batches", "index deleted",
	"timeindex garbage", "timeindex odd size",
	"timeindex entries beyond the log", "timeindex deleted"
};

static void damage_index(const struct seg *s, enum idx_damage d,
    uint64_t rng)
{
	char ix[520], tix[520];
	long sz;
	int i;

	seg_file(s, ".index", ix, sizeof ix);
	seg_file(s, ".timeindex", tix, sizeof tix);
	switch (d) {
	case IDX_GARBAGE:
		sz = kt_file_size(ix);
		fill_random(ix, 0, sz > 64 ? (size_t)sz : 4096, rng);
		break;
	case IDX_ODD_SIZE:
		sz = kt_file_size(ix);
		ck_assert_int_eq(truncate(ix, sz > 16 ? 13 : 3), 0);
		break;
	case IDX_BEYOND:
		/* increasing relative offsets, positions far past the data */
		for (i = 0; i < 64; i++) {
			patch_be32(ix, i * 8, (uint32_t)i);
			patch_be32(ix, i * 8 + 4,
			    0x100000u + (uint32_t)i * 4096);
		}
		break;
	case IDX_MID_BATCH:
		/* plausible entries, but each points one byte into a batch */
		for (i = 0; i < s->nb; i++) {
			patch_be32(ix, i * 8,
			    (uint32_t)(s->b[i].last - s->base));
			patch_be32(ix, i * 8 + 4, (uint32_t)s->b[i].pos + 1);
		}
		break;
	case IDX_DELETED:
		ck_assert_int_eq(unlink(ix), 0);
		break;
	case TIX_GARBAGE:
		sz = kt_file_size(tix);
		fill_random(tix, 0, sz > 64 ? (size_t)sz : 4096, rng);
		break;
	case TIX_ODD_SIZE:
		ck_assert_int_eq(truncate(tix, 17), 0);
		break;
	case TIX_BEYOND:
		/* timestamps below the real ones, offsets past the end */
		for (i = 0; i < 64; i++) {
			uint8_t e[12];
			uint64_t ts = (uint64_t)(RC_T0 - 500 + i);
			int j;
			for (j = 0; j < 8; j++)
				e[j] = (uint8_t)(ts >> (56 - 8 * j));
			e[8] = 0;
			e[9] = 1;
			e[10] = 0;
			e[11] = (uint8_t)i;
			patch(tix, i * 12, e, 12);
		}
		break;
	case TIX_DELETED:
		ck_assert_int_eq(unlink(tix), 0);
		break;
	case IDX_NDAMAGE:
		break;
	}
}

/* Damage to the active segment's indexes after a crash: rebuilt. */
START_TEST(test_active_index_damage)
{
	int d;

	for (d = 0; d < IDX_NDAMAGE; d++) {
		struct fixture *f = fixture_new("ridx", 50 + (uint64_t)d,
		    END_EXIT);
		struct reports rep;
		ks_log_stat_t st;
		ks_log_t *log;

		damage_index(f->active, (enum idx_damage)d, f->seed);
		KT_OK(reopen(f, &rep, &log, &st));
		ck_assert_msg(ks_log_end_offset(log) == f->total &&
		    st.recovery_cut == 0 && st.recovery_cut_offset == -1,
		    "%s: end %" PRId64 " of %" PRId64 ", cut %" PRIu64 " at %"
		    PRId64, idx_damage_name[d], ks_log_end_offset(log),
		    f->total, st.recovery_cut, st.recovery_cut_offset);
		check_lookups(log, &f->L, f->total, idx_damage_name[d]);
		CHECK_RECORDS(log, f->seed, f->total);
		append_more(log, f->seed, f->total, 4);
		CHECK_RECORDS(log, f->seed, f->total + 4);
		KT_OK(ks_log_close(log));

		/* What the rebuild wrote is right after a clean reopen too. */
		KT_OK(reopen(f, &rep, &log, &st));
		ck_assert_int_eq(st.clean_open, 1);
		check_lookups(log, &f->L, f->total + 4, idx_damage_name[d]);
		CHECK_RECORDS(log, f->seed, f->total + 4);
		KT_OK(ks_log_close(log));
		fixture_free(f);
	}
}
END_TEST

/*
 * A missing or truncated index of an old segment, after a clean close and
 * after a crash: rebuilt or done without, the lookups stay right.
 */
START_TEST(test_old_index_missing)
{
	static const enum idx_damage ds[] = { IDX_DELETED, TIX_DELETED,
		IDX_ODD_SIZE, TIX_ODD_SIZE };
	size_t d;
	int clean;

	for (clean = 0; clean < 2; clean++) {
		for (d = 0; d < sizeof ds / sizeof ds[0]; d++) {
			struct fixture *f = fixture_new("roidx", 60 + d * 2 +
			    (uint64_t)clean, clean ? END_CLOSE : END_EXIT);
			struct reports rep;
			ks_log_stat_t st;
			ks_log_t *log;
			int rc;

			damage_index(&f->L.seg[1], ds[d], f->seed);
			rc = reopen(f, &rep, &log, &st);
			ck_assert_msg(rc == 0, "%s of an old segment (%s): "
			    "open: %s", idx_damage_name[ds[d]],
			    clean ? "clean" : "crash", ks_strerror(rc));
			ck_assert_int_eq(ks_log_end_offset(log), f->total);
			check_lookups(log, &f->L, f->total,
			    idx_damage_name[ds[d]]);
			CHECK_RECORDS(log, f->seed, f->total);
			KT_OK(ks_log_close(log));
			fixture_free(f);
		}
	}
}
END_TEST

/*
 * Garbage in an old segment's indexes after a clean close (not scanned).
 * An index is only an accelerator and every entry used is checked against
 * the batch it names (docs/format.md, sections 5 and 6): reads and time
 * lookups stay right, and never crash.
 */
START_TEST(test_old_index_garbage)
{
	static const enum idx_damage ds[] = { IDX_GARBAGE, IDX_BEYOND,
		IDX_MID_BATCH, TIX_GARBAGE, TIX_BEYOND };
	size_t d;

	for (d = 0; d < sizeof ds / sizeof ds[0]; d++) {
		struct fixture *f = fixture_new("rgidx", 70 + d, END_CLOSE);
		struct reports rep;
		ks_log_stat_t st;
		ks_log_t *log;
		int rc;

		damage_index(&f->L.seg[0], ds[d], f->seed);
		rc = reopen(f, &rep, &log, &st);
		ck_assert_msg(rc == 0, "%s in an old segment: open: %s",
		    idx_damage_name[ds[d]], ks_strerror(rc));
		check_lookups(log, &f->L, f->total, idx_damage_name[ds[d]]);
		CHECK_RECORDS(log, f->seed, f->total);
		KT_OK(ks_log_close(log));
		fixture_free(f);
	}
}
END_TEST

/* ---- damage below the recovery point */

/*
 * A segment that was closed cleanly and then not touched is not scanned
 * after a later crash: damage in it may go unnoticed at open, but open must
 * work, everything before the damage must read back, and reading the damaged
 * batch must give an error (or the log was cut there), never a crash or
 * records from past the damage.
 */
START_TEST(test_damage_below_recovery_point)
{
	static const char *names[] = { "batchLength huge", "magic 3",
		"batchLength negative", "flipped record byte" };
	int v;

	for (v = 0; v < 4; v++) {
		struct fixture *f = fixture_new("rbelow", 80 + (uint64_t)v,
		    END_CLOSE);
		struct build more = { f->dir, f->seed, RC_BATCHES, 8, 8,
			END_EXIT };
		const struct seg *s = &f->L.seg[0];
		const struct bpos *b;
		struct reports rep;
		ks_log_stat_t st;
		ks_log_t *log;
		ks_log_iter_t *it;
		ks_record_t rec;
		ks_log_view_t view = { 0 };
		char why[512];
		int64_t off = 0, end;
		int rc;

		ck_assert_int_ge(s->nb, 3);
		b = &s->b[s->nb / 2];
		/* a writer reopens (clean), appends in a new segment, dies */
		run_build(&more);
		switch (v) {
		case 0:
			patch_be32(s->path, b->pos + 8, 0x7ffffff0u);
			break;
		case 1:
			patch(s->path, b->pos + 16, "\3", 1);
			break;
		case 2:
			patch_be32(s->path, b->pos + 8, 0xfffffff0u);
			break;
		default:
			flip_byte(s->path, b->pos + KS_BATCH_HEADER_SIZE + 3);
			break;
		}
		rc = reopen(f, &rep, &log, &st);
		ck_assert_msg(rc == 0, "%s below the recovery point: open: %s",
		    names[v], ks_strerror(rc));
		end = ks_log_end_offset(log);
		ck_assert_msg(end >= b->base, "%s: end %" PRId64 " before the "
		    "damage at %" PRId64, names[v], end, b->base);

		KT_OK(ks_log_iter_new(log, 0, &it));
		while (off < b->base &&
		    (rc = ks_log_iter_next(it, &rec)) == 1) {
			ck_assert_msg(kt_gen_check(f->seed, RC_T0, off, &rec,
			    why, sizeof why) == 0, "%s: %s", names[v], why);
			off++;
		}
		ck_assert_msg(off == b->base, "%s: records before the damage:"
		    " iteration stopped at %" PRId64 " (%d)", names[v], off,
		    rc);
		if (v < 3) {
			/* Structural damage: no record of the damaged batch
			 * or past it may come back as if nothing happened. */
			rc = ks_log_iter_next(it, &rec);
			ck_assert_msg(rc < 0 || (rc == 0 && end == b->base),
			    "%s at offset %" PRId64 " of segment 0: the "
			    "iterator then returned %d (offset %" PRId64 "),"
			    " log end %" PRId64, names[v], b->base, rc,
			    rc == 1 ? rec.offset : -1, end);
		} else {
			/* Not checked on read: anything but a crash. */
			while ((rc = ks_log_iter_next(it, &rec)) == 1)
				;
		}
		ks_log_iter_free(it);

		/* Reading the damaged batch directly: an error or a view
		 * whose every byte is readable. */
		rc = ks_log_read(log, b->base, 1 << 20, &view);
		if (rc == 0) {
			volatile uint8_t sum = 0;
			size_t i;
			for (i = 0; i < view.len; i++)
				sum ^= ((const uint8_t *)view.data)[i];
			(void)sum;
			ck_assert_int_le(view.base_offset, b->base);
		}
		ks_log_view_release(&view);
		KT_OK(ks_log_close(log));
		fixture_free(f);
	}
}
END_TEST

/* ---- the clean-shutdown and recovery-point records */

static void spill(const char *path, const void *buf, long size)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fwrite(buf, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
}

/*
 * A clean-shutdown record that cannot be trusted (damaged, cut short, or
 * left over from an earlier close) must not make a crashed log look clean:
 * recovery runs and cuts the batch damaged after the crash.
 */
START_TEST(test_clean_marker_damage)
{
	static const char *names[] = { "flipped byte", "truncated",
		"stale copy", "empty" };
	int v;

	for (v = 0; v < 4; v++) {
		struct fixture *f = fixture_new("rclean", 90 + (uint64_t)v,
		    END_CLOSE);
		char *marker = kt_path(f->dir, "clean-shutdown");
		struct build more = { f->dir, f->seed, RC_BATCHES, 6, 6,
			END_EXIT };
		struct layout L2;
		const struct seg *act;
		const struct bpos *b;
		void *saved;
		long msize;
		char what[64];

		ck_assert_msg(kt_file_size(marker) > 0, "no clean-shutdown "
		    "record after a clean close");
		saved = read_file(marker, &msize);
		/* a writer reopens, appends 6 batches, and dies */
		run_build(&more);
		layout_scan(f->dir, &L2);
		act = &L2.seg[L2.nseg - 1];
		ck_assert_int_eq(act->nb, 6);
		b = &act->b[act->nb - 1];
		flip_byte(act->path, b->pos + KS_BATCH_HEADER_SIZE + 1);

		switch (v) {
		case 0:
			/* the writer removed it: put it back, damaged */
			spill(marker, saved, msize);
			flip_byte(marker, msize / 2);
			break;
		case 1:
			spill(marker, saved, msize / 2);
			break;
		case 2:
			spill(marker, saved, msize);
			break;
		default:
			spill(marker, saved, 0);
			break;
		}
		snprintf(what, sizeof what, "clean-shutdown record %s",
		    names[v]);
		expect_cut(f, b, 1, what);
		free(saved);
		free(marker);
		fixture_free(f);
	}
}
END_TEST

/* A damaged recovery-point record: recovery scans from further back. */
START_TEST(test_recovery_point_damage)
{
	int v;

	for (v = 0; v < 3; v++) {
		struct fixture *f = fixture_new("rrp", 95 + (uint64_t)v,
		    END_EXIT);
		char *rp = kt_path(f->dir, "recovery-point");
		const struct bpos *b = &f->active->b[RC_ACTIVE - 1];
		long sz = kt_file_size(rp);

		ck_assert_msg(sz > 0, "no recovery-point record");
		if (v == 0)
			flip_byte(rp, sz - 3);
		else if (v == 1)
			ck_assert_int_eq(truncate(rp, sz - 5), 0);
		else
			fill_random(rp, 0, (size_t)sz, f->seed);
		flip_byte(f->active->path, b->pos + KS_BATCH_HEADER_SIZE + 2);
		expect_cut(f, b, 1, v == 0 ? "recovery point flipped" :
		    v == 1 ? "recovery point truncated" :
		    "recovery point garbage");
		free(rp);
		fixture_free(f);
	}
}
END_TEST

/*
 * A writer that dies right after opening (its recovery point then lies at
 * the end of the data, with nothing after it), once or twice in a row, or
 * after one more append: nothing is lost.
 */
START_TEST(test_crash_after_open)
{
	int v;

	for (v = 0; v < 3; v++) {
		struct fixture *f = fixture_new("rcao", 110 + (uint64_t)v,
		    v == 2 ? END_EXIT : END_CLOSE);
		struct build idle = { f->dir, f->seed, RC_BATCHES, 0, 0,
			END_EXIT };
		struct build one = { f->dir, f->seed, RC_BATCHES, 1, 0,
			END_KILL };
		struct reports rep;
		ks_log_stat_t st;
		ks_log_t *log;
		int64_t end = f->total;

		run_build(&idle);
		if (v >= 1)
			run_build(&idle);
		if (v == 2) {
			run_build(&one);
			end += (int64_t)batch_records(f->seed, RC_BATCHES);
		}
		KT_OK(reopen(f, &rep, &log, &st));
		ck_assert_msg(ks_log_end_offset(log) == end &&
		    st.recovery_cut == 0, "writer died after open (%d): end %"
		    PRId64 ", expected %" PRId64 ", cut %" PRIu64, v,
		    ks_log_end_offset(log), end, st.recovery_cut);
		ck_assert_int_eq(st.clean_open, 0);
		CHECK_RECORDS(log, f->seed, end);
		append_more(log, f->seed, end, 2);
		KT_OK(ks_log_close(log));
		fixture_free(f);
	}
}
END_TEST

/* ---- stray files */

/* A file named like a segment but full of garbage. */
START_TEST(test_stray_segment)
{
	uint64_t seed = kt_seed(RC_SEED);
	int v;

	for (v = 0; v < 4; v++) {
		char *tmp = kt_tmpdir("rstray"), *dir = kt_path(tmp, "topic-0");
		char path[600];
		struct reports rep;
		ks_log_config_t cfg;
		ks_log_t *log = (ks_log_t *)&rep; /* NULL after an error */
		int64_t total = 0;
		int rc;

		if (v == 0) {
			ck_assert_int_eq(mkdir(dir, 0755), 0);
		} else {
			/* 10 batches: all in the first segment */
			struct build b = { dir, seed, 0, 10, 0,
				v == 1 ? END_CLOSE : END_EXIT };
			run_build(&b);
			total = records_in(seed, 10);
		}
		snprintf(path, sizeof path, "%s/%020lld.log", dir,
		    v == 3 ? 0LL : 99999LL);
		if (v == 3) {
			/* the real first segment replaced by garbage */
			ck_assert_int_eq(truncate(path, 0), 0);
		} else {
			FILE *fp = fopen(path, "w");
			ck_assert_ptr_nonnull(fp);
			fclose(fp);
		}
		fill_random(path, 0, 3000, kt_mix64(seed + (uint64_t)v));

		memset(&rep, 0, sizeof rep);
		rc_config(&cfg, 0, &rep);
		rc = ks_log_open(dir, &cfg, &log);
		if (rc != 0) {
			ck_assert_msg(log == NULL, "failed open set *logp");
			ck_assert_msg(rc < 0, "open returned %d", rc);
		} else if (v == 0 || v == 3) {
			/* nothing valid: an empty log that takes appends */
			int64_t end = ks_log_end_offset(log);
			ks_log_iter_t *it;
			ks_record_t rec;

			KT_OK(ks_log_iter_new(log, ks_log_start_offset(log),
			    &it));
			rc = ks_log_iter_next(it, &rec);
			ck_assert_msg(rc <= 0, "garbage segment yielded a "
			    "record (offset %" PRId64 ")", rec.offset);
			ks_log_iter_free(it);
			append_more(log, seed, end, 3);
			check_range(log, seed, end, end + 3);
		} else {
			/* the valid log before the stray file reads back */
			ks_log_iter_t *it;
			ks_record_t rec;
			char why[512];
			int64_t off;

			KT_OK(ks_log_iter_new(log, 0, &it));
			for (off = 0; off < total; off++) {
				rc = ks_log_iter_next(it, &rec);
				ck_assert_msg(rc == 1, "stray segment: record %"
				    PRId64 ": %d", off, rc);
				ck_assert_msg(kt_gen_check(seed, RC_T0, off,
				    &rec, why, sizeof why) == 0, "%s", why);
			}
			ks_log_iter_free(it);
		}
		ks_log_close(log);
		kt_rmrf(tmp);
		free(dir);
		free(tmp);
	}
}
END_TEST

/* ---- opening: missing directories, the writer lock */

START_TEST(test_open_missing_dir)
{
	char *tmp = kt_tmpdir("rmiss"), *dir = kt_path(tmp, "nope");
	ks_log_config_t cfg;
	ks_log_t *log = (ks_log_t *)&cfg;

	ks_log_config_init(&cfg);
	cfg.log_cb = quiet_cb;
	ck_assert_int_eq(ks_log_open(dir, &cfg, &log), -ENOENT);
	ck_assert_ptr_null(log);
	ck_assert_int_eq(kt_file_size(dir), -1);   /* not created */

	cfg.flags = KS_LOG_RDONLY;
	log = (ks_log_t *)&cfg;
	ck_assert_int_eq(ks_log_open(dir, &cfg, &log), -ENOENT);
	ck_assert_ptr_null(log);
	ck_assert_int_eq(kt_file_size(dir), -1);

	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}
END_TEST

/* Child: opens dir for writing and expects *(int *)arg back. */
struct lock_try {
	const char *dir;
	int expect;
};

static int lock_child(void *arg, char *why, size_t len)
{
	struct lock_try *t = arg;
	ks_log_config_t cfg;
	ks_log_t *log;
	int rc;

	rc_config(&cfg, 0, NULL);
	rc = ks_log_open(t->dir, &cfg, &log);
	if (rc != t->expect || (rc != 0 && log != NULL)) {
		snprintf(why, len, "second writer's open: %s, expected %s",
		    ks_strerror(rc), ks_strerror(t->expect));
		return -1;
	}
	if (rc == 0 && (rc = ks_log_close(log)) != 0) {
		snprintf(why, len, "close: %s", ks_strerror(rc));
		return -1;
	}
	return 0;
}

START_TEST(test_writer_lock)
{
	char *tmp = kt_tmpdir("rlock"), *dir = kt_path(tmp, "topic-0");
	uint64_t seed = kt_seed(RC_SEED);
	struct lock_try t = { dir, KS_ELOCKED };
	ks_log_config_t cfg;
	ks_log_t *a, *b = (ks_log_t *)&cfg;
	char why[512];
	int status;

	rc_config(&cfg, KS_LOG_CREATE, NULL);
	KT_OK(ks_log_open(dir, &cfg, &a));
	append_more(a, seed, 0, 4);

	/* the same process, a second handle */
	ck_assert_int_eq(ks_log_open(dir, &cfg, &b), KS_ELOCKED);
	ck_assert_ptr_null(b);
	/* another process */
	status = in_child(lock_child, &t, why, sizeof why);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x: %s", status, why);
	/* the holder is unaffected */
	append_more(a, seed, 4, 4);
	CHECK_RECORDS(a, seed, 8);
	KT_OK(ks_log_close(a));

	/* released by close */
	t.expect = 0;
	status = in_child(lock_child, &t, why, sizeof why);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "after close: status %#x: %s", status, why);

	/* released when a holder is killed */
	{
		struct build k = { dir, seed, 100, 1, 0, END_KILL };
		ks_log_t *c;
		run_build(&k);
		KT_OK(ks_log_open(dir, &cfg, &c));
		ck_assert_int_eq(ks_log_end_offset(c),
		    8 + (int64_t)batch_records(seed, 100));
		CHECK_RECORDS(c, seed, ks_log_end_offset(c));
		KT_OK(ks_log_close(c));
	}

	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}
END_TEST

Suite *recovery_suite(void);

Suite *recovery_suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("log_damage");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_flip_last_batch);
	tcase_add_test(tc, test_flip_middle_batch);
	tcase_add_test(tc, test_truncated_last_batch);
	tcase_add_test(tc, test_zeroed_tail);
	tcase_add_test(tc, test_bad_length);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_cut_counts_lost_bytes);
	tcase_add_test(tc, test_truncate_then_crash);
	suite_add_tcase(s, tc);

	tc = tcase_create("index_damage");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_active_index_damage);
	tcase_add_test(tc, test_old_index_missing);
	tcase_add_test(tc, test_old_index_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("other_damage");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_damage_below_recovery_point);
	tcase_add_test(tc, test_clean_marker_damage);
	tcase_add_test(tc, test_recovery_point_damage);
	tcase_add_test(tc, test_crash_after_open);
	tcase_add_test(tc, test_stray_segment);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_missing_dir);
	tcase_add_test(tc, test_writer_lock);
	suite_add_tcase(s, tc);
	return s;
}
