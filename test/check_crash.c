/*
 * check_crash.c: kill -9 during appends never loses an acknowledged record
 * and never leaves a corrupt one behind.
 *
 * Each round forks a writer that appends batches of generated records to one
 * log and reports every acknowledged last offset through a pipe; the parent
 * SIGKILLs it at a random moment, then reopens the log (running recovery)
 * and checks it record by record against the generator. The next round's
 * writer continues the same log, so recovered logs are recovered again, and
 * some rounds leave the log unclean on purpose (a verifier that exits
 * without closing, or no verification at all before the next writer).
 *
 * The seed is KS_TEST_SEED if set, else fixed; every failure message
 * names it. Kill timing is wall-clock and therefore not reproducible, but
 * every choice the test makes is.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define CR_T0 1700000000000LL        /* timestamp of offset 0 */
#define CR_SEED 0x6b73747265616dULL  /* without KS_TEST_SEED: "kstream" */
#define CR_SEGMENT_BYTES (256 * 1024)
#define CR_MAX_BATCH 20
#define CR_APPENDS_PER_CHILD 120     /* then the writer idles until killed */
#define CR_CHILD_FAIL INT64_MIN      /* pipe marker: a writer check failed */

/* ---- the writer child */

/* A child dies with the test: no orphan may keep the log locked. */
static void child_init(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(6);
}

static void quiet_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void crash_config(ks_log_config_t *cfg, uint64_t flush_messages)
{
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	cfg->segment_bytes = CR_SEGMENT_BYTES;
	cfg->index_interval_bytes = 1024;
	cfg->flush_messages = flush_messages;
	cfg->log_cb = quiet_cb;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(4); /* the parent is gone */
		p += n;
		len -= (size_t)n;
	}
}

/* Reports a failed check to the parent and ends the writer. */
static void child_fail(int fd, int line, int64_t rc)
{
	int64_t msg[3] = { CR_CHILD_FAIL, line, rc };
	write_all(fd, msg, sizeof msg);
	_exit(3);
}

static void writer_child(const char *dir, uint64_t flush_messages,
    uint64_t seed, uint64_t rng, int fd)
{
	static struct kt_gen g[CR_MAX_BATCH];
	ks_record_t recs[CR_MAX_BATCH];
	ks_log_config_t cfg;
	ks_append_info_t info;
	ks_log_t *log;
	int rc, a;

	crash_config(&cfg, flush_messages);
	if ((rc = ks_log_open(dir, &cfg, &log)) != 0)
		child_fail(fd, __LINE__, rc);
	for (a = 0; a < CR_APPENDS_PER_CHILD; a++) {
		size_t n, i;
		int64_t next = ks_log_end_offset(log);

		rng = kt_mix64(rng);
		n = 1 + rng % CR_MAX_BATCH;
		for (i = 0; i < n; i++) {
			kt_gen_record(seed, CR_T0, next + (int64_t)i, &g[i]);
			recs[i] = g[i].rec;
		}
		if ((rc = ks_log_append(log, recs, n, &info)) != 0)
			child_fail(fd, __LINE__, rc);
		if (info.base_offset != next)
			child_fail(fd, __LINE__, info.base_offset);
		if (info.last_offset != next + (int64_t)n - 1)
			child_fail(fd, __LINE__, info.last_offset);
		if (ks_log_end_offset(log) != info.last_offset + 1)
			child_fail(fd, __LINE__, ks_log_end_offset(log));
		if (flush_messages == 1 && (!info.durable ||
		    info.durable_offset < info.last_offset + 1))
			child_fail(fd, __LINE__, info.durable_offset);
		write_all(fd, &info.last_offset, sizeof info.last_offset);
		/* Without fsync an append takes microseconds: pace the writer
		 * so that the kill still finds it at work, not idle. */
		if (flush_messages == 0 && (rng >> 32) % 128)
			usleep((useconds_t)((rng >> 32) % 128));
	}
	for (;;)
		pause();
}

/* ---- verification: open (recovering), then check everything */

struct verdict {
	int ok;
	int64_t end;
	ks_log_stat_t st;
	char why[400];
};

#define VFAIL(v, ...)                                                        \
	do {                                                                 \
		snprintf((v)->why, sizeof (v)->why, __VA_ARGS__);            \
		goto out;                                                    \
	} while (0)

/*
 * Opens dir, which must hold every record up to last_ack (-1: none), and
 * checks the log against the generator: every batch whole and CRC-valid,
 * offsets contiguous from 0, every record byte for byte, the recovery report
 * consistent. unclean: the last writer surely did not close the log.
 * With keep the log is left open in *keep (for a verifier that then exits
 * without closing); otherwise it is closed cleanly.
 */
static void verify_log(const char *dir, uint64_t flush_messages,
    uint64_t seed, int64_t last_ack, int unclean, struct verdict *v,
    ks_log_t **keep)
{
	ks_log_config_t cfg;
	ks_log_t *log = NULL;
	ks_log_iter_t *it = NULL;
	ks_log_view_t view = { 0 };
	ks_record_t rec;
	struct kt_gen want;
	ks_log_stat_t *st = &v->st;
	uint64_t bytes = 0;
	int64_t start, end, off;
	int rc;

	memset(v, 0, sizeof *v);
	crash_config(&cfg, flush_messages);
	cfg.flags = 0;
	if ((rc = ks_log_open(dir, &cfg, &log)) != 0)
		VFAIL(v, "reopen after kill: %s", ks_strerror(rc));
	start = ks_log_start_offset(log);
	end = v->end = ks_log_end_offset(log);
	if (start != 0)
		VFAIL(v, "start offset %" PRId64 ", expected 0", start);
	if ((rc = ks_log_stat(log, st)) != 0)
		VFAIL(v, "ks_log_stat: %s", ks_strerror(rc));
	if (end < last_ack + 1)
		VFAIL(v, "acknowledged offset %" PRId64 " lost: end offset %"
		    PRId64 " (clean_open %d, scanned %" PRIu64 ", cut %" PRIu64
		    " from %" PRId64 ", %u segments)", last_ack, end,
		    st->clean_open, st->recovery_scanned, st->recovery_cut,
		    st->recovery_cut_offset, st->segment_count);
	if (st->start_offset != start || st->end_offset != end)
		VFAIL(v, "stat offsets %" PRId64 "..%" PRId64 " differ from %"
		    PRId64 "..%" PRId64, st->start_offset, st->end_offset,
		    start, end);
	if (st->durable_offset > end || st->durable_offset < start)
		VFAIL(v, "durable offset %" PRId64 " outside %" PRId64 "..%"
		    PRId64, st->durable_offset, start, end);
	if (unclean && st->clean_open)
		VFAIL(v, "clean_open = 1 after a writer was killed");
	if (st->clean_open && (st->recovery_scanned || st->recovery_cut))
		VFAIL(v, "clean open reports a scan of %" PRIu64 " bytes, cut %"
		    PRIu64, st->recovery_scanned, st->recovery_cut);
	if (st->recovery_cut == 0 && st->recovery_cut_offset != -1)
		VFAIL(v, "nothing cut but recovery_cut_offset %" PRId64,
		    st->recovery_cut_offset);
	if (st->recovery_cut > 0 && st->recovery_cut_offset != end)
		VFAIL(v, "cut %" PRIu64 " bytes from offset %" PRId64 ", but "
		    "the log now ends at %" PRId64, st->recovery_cut,
		    st->recovery_cut_offset, end);

	/* Every batch the log serves is whole, valid and contiguous. */
	for (off = start; off < end; off = view.next_offset) {
		size_t pos = 0;
		int64_t expect = off;

		if ((rc = ks_log_read(log, off, 1 << 20, &view)) != 0)
			VFAIL(v, "ks_log_read(%" PRId64 "): %s", off,
			    ks_strerror(rc));
		if (view.len == 0 || view.base_offset != off)
			VFAIL(v, "ks_log_read(%" PRId64 "): %zu bytes from "
			    "base %" PRId64, off, view.len, view.base_offset);
		while (pos < view.len) {
			ks_batch_info_t bi;
			const uint8_t *b = (const uint8_t *)view.data + pos;
			rc = ks_batch_validate(b, view.len - pos, &bi);
			if (rc != 0)
				VFAIL(v, "batch at offset %" PRId64 " in the "
				    "recovered log: %s", expect,
				    ks_strerror(rc));
			if (bi.base_offset != expect)
				VFAIL(v, "batch base %" PRId64 ", expected %"
				    PRId64, bi.base_offset, expect);
			expect = bi.base_offset + bi.last_offset_delta + 1;
			pos += KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
		}
		if (view.next_offset != expect)
			VFAIL(v, "view next_offset %" PRId64 ", batches end "
			    "at %" PRId64, view.next_offset, expect);
		bytes += view.len;
		ks_log_view_release(&view);
	}
	if (bytes != st->size_bytes)
		VFAIL(v, "stat size_bytes %" PRIu64 ", batches hold %" PRIu64,
		    st->size_bytes, bytes);
	if ((uint64_t)st->segment_count * CR_SEGMENT_BYTES < bytes)
		VFAIL(v, "%" PRIu64 " bytes in %u segments of at most %d",
		    bytes, st->segment_count, CR_SEGMENT_BYTES);

	/* Every record, in order, byte for byte. */
	if ((rc = ks_log_iter_new(log, start, &it)) != 0)
		VFAIL(v, "ks_log_iter_new: %s", ks_strerror(rc));
	for (off = start; (rc = ks_log_iter_next(it, &rec)) == 1; off++) {
		if (off >= end)
			VFAIL(v, "iterator returned offset %" PRId64 " past the"
			    " end %" PRId64, rec.offset, end);
		kt_gen_record(seed, CR_T0, off, &want);
		if (kt_gen_compare(&want, off, &rec, KT_WHY_FIELD, v->why,
		    sizeof v->why) != 0)
			goto out;
	}
	if (rc != 0)
		VFAIL(v, "iteration stopped at offset %" PRId64 ": %s", off,
		    ks_strerror(rc));
	if (off != end)
		VFAIL(v, "iteration ended at %" PRId64 ", end offset %" PRId64,
		    off, end);
	v->ok = 1;
out:
	ks_log_view_release(&view);
	ks_log_iter_free(it);
	if (keep && v->ok)
		*keep = log;
	else
		ks_log_close(log);
}

/* Runs verify_log in a child that exits without closing the log. */
static void verify_in_child(const char *dir, uint64_t flush_messages,
    uint64_t seed, int64_t last_ack, int unclean, struct verdict *v)
{
	int p[2], status;
	pid_t pid, parent;
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	parent = getpid();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ks_log_t *keep = NULL;
		child_init(parent);
		close(p[0]);
		verify_log(dir, flush_messages, seed, last_ack, unclean, v,
		    &keep);
		write_all(p[1], v, sizeof *v);
		_exit(0); /* keep stays open: the log is left unclean */
	}
	close(p[1]);
	memset(v, 0, sizeof *v);
	do
		n = read(p[0], v, sizeof *v);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (n != (ssize_t)sizeof *v) {
		v->ok = 0;
		snprintf(v->why, sizeof v->why, "verifier died (status %#x)",
		    status);
	}
}

/* ---- the kill rounds */

struct acks {
	int64_t last;       /* highest acknowledged offset so far, -1: none */
	long round_count;   /* acks received this round */
	int bad;            /* an ack did not exceed the one before */
	int64_t bad_prev, bad_ack;
	int64_t fail_line, fail_rc;
	int failed;         /* the writer reported a failed check */
	uint8_t buf[4096];
	size_t have;
};

/* Reads what is available on fd; returns 0 at EOF, 1 otherwise. */
static int acks_read(struct acks *a, int fd)
{
	ssize_t n;
	size_t pos = 0;

	do
		n = read(fd, a->buf + a->have, sizeof a->buf - a->have);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	a->have += (size_t)n;
	while (a->have - pos >= 8) {
		int64_t ack;
		memcpy(&ack, a->buf + pos, 8);
		if (ack == CR_CHILD_FAIL) {
			if (a->have - pos < 24)
				break;
			memcpy(&a->fail_line, a->buf + pos + 8, 8);
			memcpy(&a->fail_rc, a->buf + pos + 16, 8);
			a->failed = 1;
			pos += 24;
			continue;
		}
		if (ack <= a->last && !a->bad) {
			a->bad = 1;
			a->bad_prev = a->last;
			a->bad_ack = ack;
		}
		if (ack > a->last)
			a->last = ack;
		a->round_count++;
		pos += 8;
	}
	memmove(a->buf, a->buf + pos, a->have - pos);
	a->have -= pos;
	return 1;
}

/* Waits up to timeout_ns for fd to be readable and reads; 0 at EOF. */
static int acks_wait(struct acks *a, int fd, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ms = (int)((timeout_ns + 999999) / 1000000);

	if (poll(&pfd, 1, ms < 0 ? 0 : ms) <= 0)
		return 1;
	return acks_read(a, fd);
}

static void crash_rounds(uint64_t flush_messages, int rounds)
{
	uint64_t seed = kt_seed(CR_SEED) ^ flush_messages;
	uint64_t rng = kt_mix64(seed);
	char *tmp = kt_tmpdir("crash");
	char *dir = kt_path(tmp, "topic-0");
	struct acks *a = calloc(1, sizeof *a);
	struct verdict v;
	int unclean = 0, round;
	long total_acks = 0;

	ck_assert_ptr_nonnull(a);
	a->last = -1;
	{
		/* an empty log to start from, closed cleanly */
		ks_log_config_t cfg;
		ks_log_t *log;
		crash_config(&cfg, flush_messages);
		KT_OK(ks_log_open(dir, &cfg, &log));
		KT_OK(ks_log_close(log));
	}
	for (round = 0; round < rounds; round++) {
		int p[2], status, mode, how, stalled = 0;
		int last = round == rounds - 1;
		pid_t pid, parent;

		rng = kt_mix64(rng);
		mode = (int)(rng % 2);
		ck_assert_int_eq(pipe(p), 0);
		parent = getpid();
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			child_init(parent);
			close(p[0]);
			writer_child(dir, flush_messages, seed,
			    kt_mix64(rng ^ 1), p[1]);
			_exit(5);
		}
		close(p[1]);
		a->round_count = 0;
		if (mode == 0) {
			/* kill after a random delay of 0-20 ms */
			int64_t until = kt_now_ns() + (int64_t)((rng >> 8) %
			    20001) * 1000;
			int open = 1;
			while (open && kt_now_ns() < until && !a->failed)
				open = acks_wait(a, p[0], until - kt_now_ns());
		} else {
			/* kill after a random number of acks, plus 0-300 us */
			long want = 1 + (long)((rng >> 8) % 64);
			int64_t give_up = kt_now_ns() + 10000000000LL;
			int open = 1;
			while (open && a->round_count < want && !a->failed &&
			    kt_now_ns() < give_up)
				open = acks_wait(a, p[0],
				    give_up - kt_now_ns());
			if ((rng >> 16) % 300)
				usleep((useconds_t)((rng >> 16) % 300));
			stalled = a->round_count < want && !a->failed;
		}
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(!stalled, "seed %#" PRIx64 " round %d: writer "
		    "acknowledged only %ld appends in 10 s", seed, round,
		    a->round_count);
		while (acks_read(a, p[0]))
			;
		close(p[0]);
		ck_assert_msg(!a->failed, "seed %#" PRIx64 " round %d: writer "
		    "check at check_crash.c:%" PRId64 " failed (value %" PRId64
		    ": %s)", seed, round, a->fail_line, a->fail_rc,
		    ks_strerror((int)a->fail_rc));
		ck_assert_msg(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL, "seed %#" PRIx64 " round %d: "
		    "writer ended by itself (status %#x)", seed, round,
		    status);
		ck_assert_msg(!a->bad, "seed %#" PRIx64 " round %d: ack %"
		    PRId64 " after ack %" PRId64, seed, round, a->bad_ack,
		    a->bad_prev);
		total_acks += a->round_count;
		if (a->round_count > 0)
			unclean = 1;

		/* Verify: in process (clean close), in a child that leaves
		 * the log unclean, or not at all this round. */
		how = last ? 0 : (int)((rng >> 24) % 3);
		if (how == 2)
			continue;
		if (how == 0)
			verify_log(dir, flush_messages, seed, a->last, unclean,
			    &v, NULL);
		else
			verify_in_child(dir, flush_messages, seed, a->last,
			    unclean, &v);
		ck_assert_msg(v.ok, "seed %#" PRIx64 " round %d (last ack %"
		    PRId64 "): %s", seed, round, a->last, v.why);
		unclean = how == 1;
	}

	/* After the last, clean close: a clean open that scans nothing. */
	verify_log(dir, flush_messages, seed, a->last, 0, &v, NULL);
	ck_assert_msg(v.ok, "seed %#" PRIx64 " final reopen: %s", seed, v.why);
	ck_assert_msg(v.st.clean_open == 1 && v.st.recovery_scanned == 0 &&
	    v.st.recovery_cut == 0, "seed %#" PRIx64 ": open after a clean "
	    "close: clean_open %d, scanned %" PRIu64 ", cut %" PRIu64, seed,
	    v.st.clean_open, v.st.recovery_scanned, v.st.recovery_cut);
	/* The test must have exercised something. */
	ck_assert_msg(total_acks >= rounds, "seed %#" PRIx64 ": only %ld "
	    "appends acknowledged in %d rounds", seed, total_acks, rounds);
	ck_assert_msg(v.st.segment_count >= 2, "seed %#" PRIx64 ": the log "
	    "never rolled (%" PRIu64 " bytes)", seed, v.st.size_bytes);

	free(a);
	kt_rmrf(tmp);
	free(dir);
	free(tmp);
}

/* Every append fsynced before it is acknowledged: 120 kill rounds. */
START_TEST(test_kill9_fsync)
{
	crash_rounds(1, 120);
}
END_TEST

/* No fsync: the page cache survives kill -9, so acks still hold: 30 rounds. */
START_TEST(test_kill9_no_fsync)
{
	crash_rounds(0, 30);
}
END_TEST

Suite *crash_suite(void);

Suite *crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("kill9_fsync");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill9_fsync);
	suite_add_tcase(s, tc);
	tc = tcase_create("kill9_no_fsync");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill9_no_fsync);
	suite_add_tcase(s, tc);
	return s;
}
