/*
 * check_multiproc.c: readers beside a writer, in other processes
 * (KS_LOG_RDONLY) and in other threads of the same process.
 *
 * A reader must see every record the writer appends, in order and byte for
 * byte, across segment rolls, and never a partial or corrupt batch; a
 * read-only handle must refuse every write. The thread cases are meant to be
 * clean under ThreadSanitizer as well: all the test's own shared state is
 * atomic or handed over by pthread_join.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MP_T0 1700000000000LL
#define MP_SEED 0x6d756c7469ULL    /* without KS_TEST_SEED: "multi" */
#define MP_SEGMENT_BYTES (64 * 1024)
#define MP_MAX_BATCH 20

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* The writer's batch sizes: batch i has this many records. */
static size_t batch_records(uint64_t seed, long i)
{
	return 1 + kt_mix64(seed * 31 + (uint64_t)i) % MP_MAX_BATCH;
}

static int64_t records_in(uint64_t seed, long nbatches)
{
	int64_t n = 0;
	long i;
	for (i = 0; i < nbatches; i++)
		n += (int64_t)batch_records(seed, i);
	return n;
}

static void quiet_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void mp_config(ks_log_config_t *cfg, int flags)
{
	ks_log_config_init(cfg);
	cfg->flags = flags;
	cfg->segment_bytes = MP_SEGMENT_BYTES;
	cfg->index_interval_bytes = 1024;
	cfg->log_cb = quiet_cb;
}

/* Appends batch i (of batch_records records) at the log end. */
static int append_batch(ks_log_t *log, uint64_t seed, long i, char *why,
    size_t len)
{
	struct kt_gen g[MP_MAX_BATCH];
	ks_record_t recs[MP_MAX_BATCH];
	ks_append_info_t info;
	size_t n = batch_records(seed, i), j;
	int64_t next = ks_log_end_offset(log);
	int rc;

	for (j = 0; j < n; j++) {
		kt_gen_record(seed, MP_T0, next + (int64_t)j, &g[j]);
		recs[j] = g[j].rec;
	}
	rc = ks_log_append(log, recs, n, &info);
	if (rc != 0 || info.base_offset != next ||
	    info.last_offset != next + (int64_t)n - 1) {
		snprintf(why, len, "append of batch %ld: %s (base %" PRId64
		    ", expected %" PRId64 ")", i, ks_strerror(rc),
		    info.base_offset, next);
		return -1;
	}
	return 0;
}

/*
 * Checks that a view holds whole, valid batches only, contiguous from the
 * one holding offset, and that the records from offset on are the
 * generator's; *records counts them. NULL or a message.
 */
static const char *check_view(const ks_log_view_t *v, int64_t offset,
    size_t max_bytes, uint64_t seed, int64_t *records, char *why,
    size_t len)
{
	ks_batch_iter_t bit;
	ks_record_t rec;
	size_t pos = 0, first = 0;
	int64_t expect = v->base_offset, off = offset;
	int rc;

	if (v->len == 0)
		return NULL;
	if (v->base_offset > offset) {
		snprintf(why, len, "read(%" PRId64 ") starts at %" PRId64,
		    offset, v->base_offset);
		return why;
	}
	while (pos < v->len) {
		ks_batch_info_t bi;
		rc = ks_batch_validate((const uint8_t *)v->data + pos,
		    v->len - pos, &bi);
		if (rc != 0) {
			snprintf(why, len, "read(%" PRId64 ", %zu): batch %zu "
			    "bytes into a %zu-byte view: %s", offset,
			    max_bytes, pos, v->len, ks_strerror(rc));
			return why;
		}
		if (bi.base_offset != expect || (pos == 0 &&
		    bi.base_offset + bi.last_offset_delta < offset)) {
			snprintf(why, len, "read(%" PRId64 "): batch base %"
			    PRId64 ", expected %" PRId64, offset,
			    bi.base_offset, expect);
			return why;
		}
		expect = bi.base_offset + bi.last_offset_delta + 1;
		pos += KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
		if (first == 0)
			first = pos;
	}
	if (v->next_offset != expect) {
		snprintf(why, len, "read(%" PRId64 "): next_offset %" PRId64
		    ", the batches end at %" PRId64, offset, v->next_offset,
		    expect);
		return why;
	}
	if (v->len > max_bytes && v->len != first) {
		snprintf(why, len, "read(%" PRId64 ", %zu): %zu bytes, first "
		    "batch %zu", offset, max_bytes, v->len, first);
		return why;
	}
	ks_batch_iter_init(&bit, v->data, v->len, offset);
	while ((rc = ks_batch_iter_next(&bit, &rec)) == 1) {
		if (kt_gen_check(seed, MP_T0, off, &rec, why, len) != 0)
			return why;
		off++;
	}
	if (rc != 0 || off != expect) {
		snprintf(why, len, "read(%" PRId64 "): records end at %" PRId64
		    " (%d), batches at %" PRId64, offset, off, rc, expect);
		return why;
	}
	*records += off - offset;
	return NULL;
}

/* ---- a reader process beside the writer */

enum reader_kind { READ_ITER, READ_VIEWS };

struct reader_args {
	const char *dir;
	uint64_t seed;
	int64_t total;
	enum reader_kind kind;
	int go_fd;
};

/* Child: reads total records with a read-only handle. */
static int reader_proc(const struct reader_args *a, char *why, size_t len)
{
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it = NULL;
	ks_record_t rec;
	int64_t off = 0, deadline = kt_now_ns() + 30000000000LL;
	uint64_t rng = kt_mix64(a->seed ^ 0x5eed);
	char go;
	int rc;

	if (read(a->go_fd, &go, 1) != 1) {
		snprintf(why, len, "the writer never started");
		return -1;
	}
	mp_config(&cfg, KS_LOG_RDONLY);
	if ((rc = ks_log_open(a->dir, &cfg, &log)) != 0) {
		snprintf(why, len, "read-only open beside a writer: %s",
		    ks_strerror(rc));
		return -1;
	}
	if (a->kind == READ_ITER && (rc = ks_log_iter_new(log, 0, &it)) != 0) {
		snprintf(why, len, "iter_new: %s", ks_strerror(rc));
		goto fail;
	}
	while (off < a->total) {
		if (kt_now_ns() > deadline) {
			snprintf(why, len, "reader stuck at offset %" PRId64
			    " of %" PRId64, off, a->total);
			goto fail;
		}
		if (a->kind == READ_ITER) {
			rc = ks_log_iter_next(it, &rec);
			if (rc == 1) {
				if (kt_gen_check(a->seed, MP_T0, off, &rec, why,
				    len))
					goto fail;
				off++;
				continue;
			}
		} else {
			ks_log_view_t v = { 0 };
			size_t max;
			int64_t n = 0;

			rng = kt_mix64(rng);
			max = 1 + rng % 6000;
			rc = ks_log_read(log, off, max, &v);
			if (rc == 0 && v.len > 0) {
				const char *e = check_view(&v, off, max,
				    a->seed, &n, why, len);
				off = v.next_offset;
				ks_log_view_release(&v);
				if (e)
					goto fail;
				continue;
			}
			ks_log_view_release(&v);
		}
		if (rc < 0) {
			snprintf(why, len, "reader at offset %" PRId64 ": %s",
			    off, ks_strerror(rc));
			goto fail;
		}
		nap_us(200);
	}
	if (off != a->total) {
		snprintf(why, len, "read to %" PRId64 " of %" PRId64, off,
		    a->total);
		goto fail;
	}
	/* The writer appends no more: nothing lies past the end. */
	if (a->kind == READ_ITER && (rc = ks_log_iter_next(it, &rec)) != 0) {
		snprintf(why, len, "past the last record the iterator gave "
		    "%d", rc);
		goto fail;
	}
	if (ks_log_end_offset(log) != a->total) {
		snprintf(why, len, "read-only end offset %" PRId64 ", wrote %"
		    PRId64, ks_log_end_offset(log), a->total);
		goto fail;
	}
	ks_log_iter_free(it);
	if ((rc = ks_log_close(log)) != 0) {
		snprintf(why, len, "read-only close: %s", ks_strerror(rc));
		return -1;
	}
	return 0;
fail:
	ks_log_iter_free(it);
	ks_log_close(log);
	return -1;
}

/*
 * The writer appends nbatches at a steady pace while a forked reader
 * follows with a read-only handle; the reader must read every record.
 */
static void writer_and_reader_process(enum reader_kind kind, long nbatches)
{
	uint64_t seed = kt_seed(MP_SEED) ^ (uint64_t)kind;
	char *tmp = kt_tmpdir("mproc"), *dir = kt_path(tmp, "topic-0");
	struct reader_args a = { dir, seed, records_in(seed, nbatches), kind,
		-1 };
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_stat_t st;
	int go[2], res[2], status = 0;
	char why[512] = "", werr[512] = "";
	pid_t pid, parent = getpid(), done = 0;
	int64_t deadline;
	size_t have = 0;
	long i;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(res), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char msg[512] = "";
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(6);
		close(go[1]);
		close(res[0]);
		a.go_fd = go[0];
		if (reader_proc(&a, msg, sizeof msg) != 0) {
			if (write(res[1], msg, strlen(msg)) < 0)
				_exit(2);
			_exit(1);
		}
		_exit(0);
	}
	close(go[0]);
	close(res[1]);

	mp_config(&cfg, KS_LOG_CREATE);
	KT_OK(ks_log_open(dir, &cfg, &log));
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	for (i = 0; i < nbatches; i++) {
		if (append_batch(log, seed, i, werr, sizeof werr) != 0)
			break;
		if (i % 4 == 0)
			nap_us(50);
	}

	if (werr[0])
		kill(pid, SIGKILL);
	deadline = kt_now_ns() + 30000000000LL;
	while (kt_now_ns() < deadline &&
	    (done = waitpid(pid, &status, WNOHANG)) == 0)
		nap_us(1000);
	if (done == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	for (;;) {
		ssize_t n = read(res[0], why + have, sizeof why - have - 1);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	why[have] = '\0';
	close(res[0]);
	close(go[1]);
	KT_OK(ks_log_stat(log, &st));
	KT_OK(ks_log_close(log));
	kt_rmrf(tmp);
	free(dir);
	free(tmp);

	ck_assert_msg(werr[0] == '\0', "seed %#" PRIx64 ": writer: %s", seed,
	    werr);
	ck_assert_msg(done != 0, "seed %#" PRIx64 ": the reader process did "
	    "not finish within 30 s", seed);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "seed %#" PRIx64 ": reader process (status %#x): %s", seed, status,
	    why);
	/* The reader followed the writer across rolls. */
	ck_assert_msg(st.segment_count >= 5, "only %u segments",
	    st.segment_count);
}

/* A reader process iterates while the writer appends. */
START_TEST(test_reader_process_iter)
{
	writer_and_reader_process(READ_ITER, 1500);
}
END_TEST

/* A reader process reads views while the writer appends: whole batches. */
START_TEST(test_reader_process_views)
{
	writer_and_reader_process(READ_VIEWS, 1500);
}
END_TEST

/* ---- a read-only handle */

START_TEST(test_rdonly_refuses_writes)
{
	uint64_t seed = kt_seed(MP_SEED) ^ 0x40;
	char *tmp = kt_tmpdir("mro"), *dir = kt_path(tmp, "topic-0");
	ks_log_config_t cfg;
	ks_log_t *w, *ro;
	ks_log_iter_t *it;
	ks_record_t rec;
	struct kt_gen g;
	uint8_t batch[1024];
	size_t blen;
	char why[512];
	int64_t total = records_in(seed, 40), off;
	long i;

	mp_config(&cfg, KS_LOG_CREATE);
	KT_OK(ks_log_open(dir, &cfg, &w));
	for (i = 0; i < 40; i++)
		ck_assert_msg(append_batch(w, seed, i, why, sizeof why) == 0,
		    "%s", why);
	KT_OK(ks_log_close(w));

	/* No writer holds the log: a read-only open works and reads all. */
	mp_config(&cfg, KS_LOG_RDONLY);
	KT_OK(ks_log_open(dir, &cfg, &ro));
	ck_assert_int_eq(ks_log_start_offset(ro), 0);
	ck_assert_int_eq(ks_log_end_offset(ro), total);
	KT_OK(ks_log_iter_new(ro, 0, &it));
	for (off = 0; off < total; off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
		ck_assert_msg(kt_gen_check(seed, MP_T0, off, &rec, why,
		    sizeof why) == 0, "%s", why);
	}
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);

	/* Every write is refused, and changes nothing. */
	kt_gen_record(seed, MP_T0, total, &g);
	ck_assert_int_eq(ks_log_append(ro, &g.rec, 1, NULL), KS_ERDONLY);
	KT_OK(ks_batch_encode(batch, sizeof batch, &g.rec, 1, 0, MP_T0,
	    &blen));
	ck_assert_int_eq(ks_log_append_batch(ro, batch, blen, 0, NULL),
	    KS_ERDONLY);
	ck_assert_int_eq(ks_log_truncate(ro, 0), KS_ERDONLY);
	ck_assert_int_eq(ks_log_truncate(ro, total / 2), KS_ERDONLY);
	ck_assert_int_eq(ks_log_delete_records(ro, total / 2), KS_ERDONLY);
	ck_assert_int_eq(ks_log_roll(ro), KS_ERDONLY);
	ck_assert_int_eq(ks_log_start_offset(ro), 0);
	ck_assert_int_eq(ks_log_end_offset(ro), total);

	/* A read-only handle takes no lock: a writer opens beside it, and
	 * the reader sees what the writer appends. */
	mp_config(&cfg, 0);
	KT_OK(ks_log_open(dir, &cfg, &w));
	ck_assert_int_eq(ks_log_end_offset(w), total);
	ck_assert_int_eq(ks_log_start_offset(w), 0);
	ck_assert_msg(append_batch(w, seed, 40, why, sizeof why) == 0, "%s",
	    why);
	for (off = total; off < total + (int64_t)batch_records(seed, 40);
	    off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
		ck_assert_msg(kt_gen_check(seed, MP_T0, off, &rec, why,
		    sizeof why) == 0, "%s", why);
	}
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(ro));

	/* Nothing the read-only handle tried took effect. */
	KT_OK(ks_log_iter_new(w, 0, &it));
	for (off = 0; off < total; off++) {
		ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
		ck_assert_msg(kt_gen_check(seed, MP_T0, off, &rec, why,
		    sizeof why) == 0, "%s", why);
	}
	ks_log_iter_free(it);
	KT_OK(ks_log_close(w));

	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}
END_TEST

/* ---- threads: one writer, concurrent readers in the same process */

struct shared {
	ks_log_t *log;
	uint64_t seed;
	long nbatches;
	int64_t total;
	int stop;              /* atomic: give up (the writer failed) */
};

struct reader {
	pthread_t th;
	struct shared *sh;
	int id;
	int64_t from;          /* first offset to read */
	int64_t got;           /* records read (for the joiner) */
	char why[512];         /* failure, for the joiner */
};

static int stopped(struct shared *sh)
{
	return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
}

static void *writer_thread(void *arg)
{
	struct reader *r = arg;
	struct shared *sh = r->sh;
	long i;

	for (i = 0; i < sh->nbatches && !stopped(sh); i++) {
		if (append_batch(sh->log, sh->seed, i, r->why,
		    sizeof r->why) != 0) {
			__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
			break;
		}
		r->got += (int64_t)batch_records(sh->seed, i);
		if (i % 16 == 0)
			sched_yield();
	}
	return NULL;
}

/* Iterates from r->from until the writer's total, checking every record. */
static void *iter_thread(void *arg)
{
	struct reader *r = arg;
	struct shared *sh = r->sh;
	ks_log_iter_t *it;
	ks_record_t rec;
	int64_t off = r->from, deadline = kt_now_ns() + 60000000000LL;
	int rc;

	/* A late starter waits until its offset exists. */
	while (ks_log_end_offset(sh->log) < off && !stopped(sh))
		sched_yield();
	if ((rc = ks_log_iter_new(sh->log, off, &it)) != 0) {
		snprintf(r->why, sizeof r->why, "iter_new(%" PRId64 "): %s",
		    off, ks_strerror(rc));
		return NULL;
	}
	while (off < sh->total && !stopped(sh)) {
		rc = ks_log_iter_next(it, &rec);
		if (rc == 1) {
			if (kt_gen_check(sh->seed, MP_T0, off, &rec, r->why,
			    sizeof r->why) != 0)
				break;
			off++;
			r->got++;
		} else if (rc == 0) {
			if (kt_now_ns() > deadline) {
				snprintf(r->why, sizeof r->why, "stuck at %"
				    PRId64, off);
				break;
			}
			sched_yield();
		} else {
			snprintf(r->why, sizeof r->why, "iterator at %" PRId64
			    ": %s", off, ks_strerror(rc));
			break;
		}
	}
	ks_log_iter_free(it);
	return NULL;
}

/* Reads views with ks_log_read from r->from, checking whole batches. */
static void *view_thread(void *arg)
{
	struct reader *r = arg;
	struct shared *sh = r->sh;
	int64_t off = r->from, deadline = kt_now_ns() + 60000000000LL;
	uint64_t rng = kt_mix64(sh->seed + (uint64_t)r->id);

	while (off < sh->total && !stopped(sh)) {
		ks_log_view_t v = { 0 };
		size_t max;
		int rc;

		rng = kt_mix64(rng);
		max = 1 + rng % 5000;
		rc = ks_log_read(sh->log, off, max, &v);
		if (rc != 0) {
			snprintf(r->why, sizeof r->why, "read(%" PRId64 "): %s",
			    off, ks_strerror(rc));
			break;
		}
		if (v.len == 0) {
			ks_log_view_release(&v);
			if (kt_now_ns() > deadline) {
				snprintf(r->why, sizeof r->why, "stuck at %"
				    PRId64, off);
				break;
			}
			sched_yield();
			continue;
		}
		if (check_view(&v, off, max, sh->seed, &r->got, r->why,
		    sizeof r->why) != NULL) {
			ks_log_view_release(&v);
			break;
		}
		off = v.next_offset;
		ks_log_view_release(&v);
	}
	return NULL;
}

/*
 * One writer thread, three iterating threads (two from the start, one from
 * the middle) and one reading views, all on one handle.
 */
START_TEST(test_threads_one_writer_readers)
{
	uint64_t seed = kt_seed(MP_SEED) ^ 0x7468;
	char *tmp = kt_tmpdir("mthr"), *dir = kt_path(tmp, "topic-0");
	struct shared sh = { NULL, seed, 1200, 0, 0 };
	struct reader rd[5];
	ks_log_config_t cfg;
	ks_log_stat_t st;
	int i;

	sh.total = records_in(seed, sh.nbatches);
	mp_config(&cfg, KS_LOG_CREATE);
	KT_OK(ks_log_open(dir, &cfg, &sh.log));
	memset(rd, 0, sizeof rd);
	for (i = 0; i < 5; i++) {
		rd[i].sh = &sh;
		rd[i].id = i;
		rd[i].from = i == 2 ? sh.total / 2 : 0;
	}
	ck_assert_int_eq(pthread_create(&rd[0].th, NULL, writer_thread,
	    &rd[0]), 0);
	for (i = 1; i < 4; i++)
		ck_assert_int_eq(pthread_create(&rd[i].th, NULL, iter_thread,
		    &rd[i]), 0);
	ck_assert_int_eq(pthread_create(&rd[4].th, NULL, view_thread, &rd[4]),
	    0);
	for (i = 0; i < 5; i++)
		pthread_join(rd[i].th, NULL);

	for (i = 0; i < 5; i++)
		ck_assert_msg(rd[i].why[0] == '\0', "seed %#" PRIx64 ": thread"
		    " %d: %s", seed, i, rd[i].why);
	ck_assert_int_eq(rd[0].got, sh.total);
	for (i = 1; i < 5; i++)
		ck_assert_msg(rd[i].got == sh.total - rd[i].from, "thread %d "
		    "read %" PRId64 " of %" PRId64, i, rd[i].got,
		    sh.total - rd[i].from);
	KT_OK(ks_log_stat(sh.log, &st));
	ck_assert_int_eq(st.end_offset, sh.total);
	ck_assert_msg(st.segment_count >= 5, "only %u segments: no rolls to "
	    "race with", st.segment_count);
	KT_OK(ks_log_close(sh.log));
	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}
END_TEST

/* ---- threads: several writers on one handle */

#define MW_WRITERS 3
#define MW_BATCHES 400

struct mwriter {
	pthread_t th;
	ks_log_t *log;
	int id;
	int64_t bases[MW_BATCHES];
	int counts[MW_BATCHES];
	char why[256];
};

/* Record value: writer id, batch number, index in the batch. */
static void *mwriter_thread(void *arg)
{
	struct mwriter *w = arg;
	ks_record_t recs[8];
	uint32_t vals[8][3];
	int b, j;

	for (b = 0; b < MW_BATCHES; b++) {
		ks_append_info_t info;
		int n = 1 + (w->id + b) % 8, rc;

		memset(recs, 0, sizeof recs);
		for (j = 0; j < n; j++) {
			vals[j][0] = (uint32_t)w->id;
			vals[j][1] = (uint32_t)b;
			vals[j][2] = (uint32_t)j;
			recs[j].value = vals[j];
			recs[j].value_len = sizeof vals[j];
			recs[j].timestamp = MP_T0;
		}
		rc = ks_log_append(w->log, recs, (size_t)n, &info);
		if (rc != 0 || info.last_offset != info.base_offset + n - 1) {
			snprintf(w->why, sizeof w->why, "writer %d batch %d: "
			    "%s (%" PRId64 "..%" PRId64 ")", w->id, b,
			    ks_strerror(rc), info.base_offset,
			    info.last_offset);
			return NULL;
		}
		w->bases[b] = info.base_offset;
		w->counts[b] = n;
	}
	return NULL;
}

/*
 * Writers appending at once are serialised: each append gets its own
 * contiguous offsets, and the log holds every batch whole, in the order of
 * the offsets the appends were given.
 */
START_TEST(test_threads_writers)
{
	char *tmp = kt_tmpdir("mwr"), *dir = kt_path(tmp, "topic-0");
	struct mwriter *w = calloc(MW_WRITERS, sizeof *w);
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_record_t rec;
	int64_t total = 0, off;
	int8_t *owner;
	int i, b, rc;

	ck_assert_ptr_nonnull(w);
	mp_config(&cfg, KS_LOG_CREATE);
	KT_OK(ks_log_open(dir, &cfg, &log));
	for (i = 0; i < MW_WRITERS; i++) {
		w[i].log = log;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, mwriter_thread,
		    &w[i]), 0);
	}
	for (i = 0; i < MW_WRITERS; i++)
		pthread_join(w[i].th, NULL);
	for (i = 0; i < MW_WRITERS; i++) {
		ck_assert_msg(w[i].why[0] == '\0', "%s", w[i].why);
		for (b = 0; b < MW_BATCHES; b++)
			total += w[i].counts[b];
	}
	ck_assert_int_eq(ks_log_end_offset(log), total);

	/* The appends' offset ranges tile [0, total) exactly. */
	owner = calloc((size_t)total, 1);
	ck_assert_ptr_nonnull(owner);
	for (i = 0; i < MW_WRITERS; i++) {
		for (b = 0; b < MW_BATCHES; b++) {
			int64_t o;
			if (b > 0)
				ck_assert_int_gt(w[i].bases[b],
				    w[i].bases[b - 1]);
			for (o = w[i].bases[b]; o < w[i].bases[b] +
			    w[i].counts[b]; o++) {
				ck_assert_int_ge(o, 0);
				ck_assert_int_lt(o, total);
				ck_assert_msg(owner[o] == 0, "offset %" PRId64
				    " given to two appends", o);
				owner[o] = (int8_t)(1 + i);
			}
		}
	}

	/* Each record is where its append said. */
	KT_OK(ks_log_iter_new(log, 0, &it));
	for (off = 0; off < total; off++) {
		uint32_t val[3];
		rc = ks_log_iter_next(it, &rec);
		ck_assert_int_eq(rc, 1);
		ck_assert_int_eq(rec.offset, off);
		ck_assert_int_eq(rec.value_len, sizeof val);
		memcpy(val, rec.value, sizeof val);
		ck_assert_int_eq(val[0] + 1, (uint32_t)owner[off]);
		ck_assert_uint_lt(val[1], MW_BATCHES);
		ck_assert_int_eq(w[val[0]].bases[val[1]] + val[2], off);
	}
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(log));
	free(owner);
	free(w);
	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}
END_TEST

Suite *multiproc_suite(void);

Suite *multiproc_suite(void)
{
	Suite *s = suite_create("multiproc");
	TCase *tc = tcase_create("processes");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reader_process_iter);
	tcase_add_test(tc, test_reader_process_views);
	tcase_add_test(tc, test_rdonly_refuses_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_threads_one_writer_readers);
	tcase_add_test(tc, test_threads_writers);
	suite_add_tcase(s, tc);
	return s;
}
