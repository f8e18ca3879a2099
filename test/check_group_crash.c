/*
 * check_group_crash.c: committed offsets across kill -9.
 *
 * A store holds one topic of three partitions of generated records. Each
 * round forks a consumer in a group (subscribed, or assigned with
 * KS_OFFSET_STORED; enable.auto.commit off) that polls, reports every record
 * it got through a pipe, commits synchronously (durable on return) and then
 * reports what it committed. The parent SIGKILLs it at a random moment (or,
 * some rounds, lets it close cleanly), reopens the store and checks:
 *
 *   - every acknowledged commit is there: committed >= acknowledged;
 *   - nothing is committed that was not consumed: committed <= the position
 *     after the last record reported, and <= the log end;
 *   - a fresh consumer of the group sees the same committed offsets;
 *   - the next round resumes exactly at them: each round's records of a
 *     partition run contiguously from the offset committed before it.
 *
 * Across all rounds every record is consumed at least once, and the only
 * duplicates are the uncommitted tails of killed rounds (Kafka's
 * at-least-once): their total is counted exactly. After a clean close
 * there is no tail: the next consumer starts exactly at the committed
 * offsets, which the last part checks again in process, across a consumer's
 * close and a store's close.
 *
 * The seed is KS_TEST_SEED if set, else fixed; every failure message
 * names it and the round. Kill timing is wall-clock, not reproducible.
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define GC_T0 1700000000000LL     /* timestamp of offset 0 */
#define GC_SEED 0x67726f7570ULL   /* without KS_TEST_SEED: "group" */
#define GC_TOPIC "events"
#define GC_GROUP "resumers"
#define GC_PARTS 3
#define GC_AHEAD 600              /* records left to read after each round */
#define GC_CAP (1 << 17)          /* offsets tracked per partition */
#define GC_ROUNDS 40

/* Pipe messages from the consumer child: three int64s each. */
enum {
	GM_REC = 1,   /* a: partition, b: offset of a record consumed */
	GM_ACK,       /* a: partition, b: offset committed (durable) */
	GM_SET,       /* a commit's ACKs are complete; a: commits so far */
	GM_START,     /* a: partition, b: position right after assign() */
	GM_FAIL,      /* a: source line, b: value */
	GM_DONE,      /* closed cleanly */
};

struct gmsg {
	int64_t type, a, b;
};

static uint64_t part_seed(uint64_t seed, int32_t p)
{
	return seed ^ kt_mix64((uint64_t)p + 1);
}

static void quiet_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void store_config(ks_store_config_t *cfg, int flags)
{
	ks_store_config_init(cfg);
	cfg->flags = flags;
	cfg->cleaner_interval_ms = 0;
	cfg->log_cb = quiet_cb;
}

static void consumer_config(ks_consumer_config_t *cc, size_t max_poll)
{
	ks_consumer_config_init(cc);
	cc->group_id = GC_GROUP;
	cc->auto_offset_reset = KS_RESET_EARLIEST;
	cc->enable_auto_commit = 0;
	cc->max_poll_records = max_poll;
}

/* ---- the consumer child */

static void child_init(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(6);
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

static void child_fail(int fd, int line, int64_t v)
{
	struct gmsg m = { GM_FAIL, line, v };
	write_all(fd, &m, sizeof m);
	_exit(3);
}

/*
 * Consumes from the committed offsets until killed; with clean_after > 0,
 * closes everything after that many commits and exits.
 */
static void consumer_child(const char *dir, uint64_t seed, uint64_t rng,
    int subscribe, long clean_after, int fd)
{
	const char *topic = GC_TOPIC;
	static struct gmsg out[1024];
	ks_store_config_t sc;
	ks_consumer_config_t cc;
	ks_store_t *store;
	ks_consumer_t *c;
	const ks_message_t *m;
	const ks_topic_partition_t *as;
	size_t na, k, no;
	long commits = 0;
	char why[300];
	int rc, n, i;

	store_config(&sc, 0);
	if ((rc = ks_store_open(dir, &sc, &store)) != 0)
		child_fail(fd, __LINE__, rc);
	consumer_config(&cc, 1 + rng % 32);
	if ((rc = ks_consumer_new(store, &cc, &c)) != 0)
		child_fail(fd, __LINE__, rc);
	if (subscribe) {
		if ((rc = ks_consumer_subscribe(c, &topic, 1)) != 0)
			child_fail(fd, __LINE__, rc);
	} else {
		ks_topic_partition_t tp[GC_PARTS];
		for (i = 0; i < GC_PARTS; i++)
			tp[i] = (ks_topic_partition_t){ GC_TOPIC, i,
				KS_OFFSET_STORED };
		if ((rc = ks_consumer_assign(c, tp, GC_PARTS)) != 0)
			child_fail(fd, __LINE__, rc);
		for (i = 0; i < GC_PARTS; i++) {
			int64_t pos;
			if ((rc = ks_consumer_position(c, GC_TOPIC, i,
			         &pos)) != 0)
				child_fail(fd, __LINE__, rc);
			out[i] = (struct gmsg){ GM_START, i, pos };
		}
		write_all(fd, out, GC_PARTS * sizeof *out);
	}
	for (;;) {
		n = ks_consumer_poll(c, 10, &m);
		if (n < 0)
			child_fail(fd, __LINE__, n);
		if (n == 0)
			continue;
		if ((size_t)n > sizeof out / sizeof *out)
			child_fail(fd, __LINE__, n);
		for (i = 0; i < n; i++) {
			if (strcmp(m[i].topic, GC_TOPIC) != 0 ||
			    m[i].partition < 0 || m[i].partition >= GC_PARTS)
				child_fail(fd, __LINE__, m[i].partition);
			if (kt_gen_check(part_seed(seed, m[i].partition),
			        GC_T0, m[i].rec.offset, &m[i].rec, why,
			        sizeof why) != 0)
				child_fail(fd, __LINE__, m[i].rec.offset);
			out[i] = (struct gmsg){ GM_REC, m[i].partition,
				m[i].rec.offset };
		}
		/* reported before the commit: the parent always knows of a
		 * record before it can be committed */
		write_all(fd, out, (size_t)n * sizeof *out);
		if ((rc = ks_consumer_commit(c, NULL, 0, 0)) != 0)
			child_fail(fd, __LINE__, rc);
		commits++;
		/* no poll since the commit: the positions are what it
		 * committed */
		if ((rc = ks_consumer_assignment(c, &as, &na)) != 0)
			child_fail(fd, __LINE__, rc);
		for (k = 0, no = 0; k < na; k++)
			out[no++] = (struct gmsg){ GM_ACK, as[k].partition,
				as[k].offset };
		out[no++] = (struct gmsg){ GM_SET, commits, 0 };
		write_all(fd, out, no * sizeof *out);
		if (clean_after > 0 && commits >= clean_after) {
			if ((rc = ks_consumer_close(c)) != 0)
				child_fail(fd, __LINE__, rc);
			if ((rc = ks_store_close(store)) != 0)
				child_fail(fd, __LINE__, rc);
			out[0] = (struct gmsg){ GM_DONE, 0, 0 };
			write_all(fd, out, sizeof *out);
			_exit(0);
		}
		rng = kt_mix64(rng);
		if (rng % 4 == 0)
			usleep((useconds_t)((rng >> 8) % 200));
	}
}

/* ---- what the parent learns through the pipe */

struct track {
	uint16_t *count[GC_PARTS];  /* times each offset was consumed */
	int64_t start[GC_PARTS];    /* committed when the round began */
	int64_t next[GC_PARTS];     /* the round's expected next record */
	int64_t acked[GC_PARTS];    /* highest acknowledged commit, -1 */
	long sets, recs;            /* this round's commits and records */
	int done, failed;
	int64_t fail_line, fail_v;
	char err[300];              /* the first inconsistency */
	uint8_t buf[8192];
	size_t have;
};

static void track_err(struct track *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void track_err(struct track *t, const char *fmt, ...)
{
	va_list ap;
	if (t->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
}

static void track_one(struct track *t, const struct gmsg *m)
{
	int32_t p = (int32_t)m->a;

	switch (m->type) {
	case GM_REC:
		if (p < 0 || p >= GC_PARTS || m->b < 0 || m->b >= GC_CAP) {
			track_err(t, "record %" PRId64 "/%" PRId64
			    " out of bounds", m->a, m->b);
			break;
		}
		if (m->b != t->next[p])
			track_err(t, "partition %d: consumed offset %" PRId64
			    ", expected %" PRId64, p, m->b, t->next[p]);
		t->next[p] = m->b + 1;
		t->count[p][m->b]++;
		t->recs++;
		break;
	case GM_ACK:
		if (p < 0 || p >= GC_PARTS) {
			track_err(t, "ack for partition %" PRId64, m->a);
			break;
		}
		if (m->b > t->next[p] || m->b < t->start[p])
			track_err(t, "partition %d: committed %" PRId64
			    " outside the records consumed, %" PRId64 "..%"
			    PRId64, p, m->b, t->start[p], t->next[p]);
		if (m->b > t->acked[p])
			t->acked[p] = m->b;
		break;
	case GM_SET:
		t->sets++;
		break;
	case GM_START:
		if (p < 0 || p >= GC_PARTS || m->b != t->start[p])
			track_err(t, "partition %d: assigned at %" PRId64
			    ", committed %" PRId64, p, m->b,
			    p >= 0 && p < GC_PARTS ? t->start[p] : -1);
		break;
	case GM_FAIL:
		t->failed = 1;
		t->fail_line = m->a;
		t->fail_v = m->b;
		break;
	case GM_DONE:
		t->done = 1;
		break;
	default:
		track_err(t, "message type %" PRId64, m->type);
	}
}

/* Reads what is available on fd; 0 at EOF, 1 otherwise. */
static int track_read(struct track *t, int fd)
{
	struct gmsg m;
	size_t pos = 0;
	ssize_t n;

	do
		n = read(fd, t->buf + t->have, sizeof t->buf - t->have);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	t->have += (size_t)n;
	for (; t->have - pos >= sizeof m; pos += sizeof m) {
		memcpy(&m, t->buf + pos, sizeof m);
		track_one(t, &m);
	}
	memmove(t->buf, t->buf + pos, t->have - pos);
	t->have -= pos;
	return 1;
}

/* Waits up to timeout_ns for fd and reads; 0 at EOF. */
static int track_wait(struct track *t, int fd, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ms = (int)((timeout_ns + 999999) / 1000000);

	if (poll(&pfd, 1, ms < 0 ? 0 : ms) <= 0)
		return 1;
	return track_read(t, fd);
}

/* ---- the parent's store work */

static ks_store_t *open_store(const char *dir, int flags)
{
	ks_store_config_t sc;
	ks_store_t *s = NULL;

	store_config(&sc, flags);
	KT_OK(ks_store_open(dir, &sc, &s));
	return s;
}

static int64_t end_of(ks_store_t *s, int32_t p)
{
	ks_topic_t *t;
	ks_log_t *log;
	int64_t e;

	KT_OK(ks_topic_open(s, GC_TOPIC, &t));
	KT_OK(ks_topic_partition(t, p, &log));
	e = ks_log_end_offset(log);
	ks_topic_release(t);
	return e;
}

/* Appends generated records to partition p until it ends at >= upto. */
static void top_up(ks_store_t *s, uint64_t seed, int32_t p, int64_t upto)
{
	static struct kt_gen g[64];
	ks_record_t recs[64];
	ks_produce_result_t res[64];
	ks_producer_t *prod;
	int64_t end = end_of(s, p);
	size_t n, i;

	ck_assert_msg(upto <= GC_CAP, "seed %#" PRIx64 ": partition %d would"
	    " grow past %d records", seed, p, GC_CAP);
	KT_OK(ks_producer_new(s, NULL, &prod));
	while (end < upto) {
		n = upto - end < 64 ? (size_t)(upto - end) : 64;
		for (i = 0; i < n; i++) {
			kt_gen_record(part_seed(seed, p), GC_T0,
			    end + (int64_t)i, &g[i]);
			recs[i] = g[i].rec;
		}
		KT_OK(ks_produce(prod, GC_TOPIC, p, recs, n, 0, res));
		ck_assert_int_eq(res[0].offset, end);
		end += (int64_t)n;
	}
	ks_producer_free(prod);
}

/* The group's committed offsets, two ways, which must agree. */
static void committed_now(ks_store_t *s, uint64_t seed, int round,
    int64_t *off)
{
	ks_group_tp_t tps[GC_PARTS];
	ks_committed_t *cm = NULL;
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	size_t n = 0;
	int32_t p;

	for (p = 0; p < GC_PARTS; p++)
		tps[p] = (ks_group_tp_t){ GC_TOPIC, p };
	ck_assert_ptr_nonnull(ks_store_coordinator(s));
	KT_OK(ks_group_fetch_offsets(ks_store_coordinator(s), GC_GROUP, tps,
	    GC_PARTS, &cm, &n));
	ck_assert_uint_eq(n, GC_PARTS);
	consumer_config(&cc, 16);
	KT_OK(ks_consumer_new(s, &cc, &c));
	for (p = 0; p < GC_PARTS; p++) {
		int64_t o;
		ck_assert_str_eq(cm[p].topic, GC_TOPIC);
		ck_assert_int_eq(cm[p].partition, p);
		off[p] = cm[p].offset;
		KT_OK(ks_consumer_committed(c, GC_TOPIC, p, &o));
		ck_assert_msg(o == off[p], "seed %#" PRIx64 " round %d: "
		    "partition %d: a fresh consumer sees committed %" PRId64
		    ", OffsetFetch %" PRId64, seed, round, p, o, off[p]);
	}
	KT_OK(ks_consumer_close(c));
	ks_committed_free(cm);
}

/* ---- the rounds */

START_TEST(test_commit_kill9)
{
	uint64_t seed = kt_seed(GC_SEED);
	uint64_t rng = kt_mix64(seed);
	char *dir = kt_tmpdir("group-crash");
	struct track *t = calloc(1, sizeof *t);
	ks_store_t *s;
	ks_topic_config_t tc;
	int64_t committed[GC_PARTS], dups = 0, total = 0, sum = 0;
	long total_sets = 0, kills = 0, cleans = 0, subs = 0;
	int round;
	int32_t p;

	ck_assert_ptr_nonnull(t);
	for (p = 0; p < GC_PARTS; p++) {
		t->count[p] = calloc(GC_CAP, sizeof *t->count[p]);
		ck_assert_ptr_nonnull(t->count[p]);
		t->start[p] = 0;
		t->acked[p] = -1;
	}
	s = open_store(dir, KS_STORE_CREATE);
	ks_topic_config_init(&tc);
	tc.partitions = GC_PARTS;
	KT_OK(ks_topic_create(s, GC_TOPIC, &tc));
	for (p = 0; p < GC_PARTS; p++)
		top_up(s, seed, p, GC_AHEAD + 300 * p);
	/* the parent's handle is closed before every fork: a child must
	 * not inherit the store's lock */
	KT_OK(ks_store_close(s));

	for (round = 0; round < GC_ROUNDS; round++) {
		int fd[2], status, mode, subscribe, stalled = 0;
		long clean_after = 0;
		pid_t pid, parent;

		rng = kt_mix64(rng);
		/* every eighth round and the last close cleanly; the
		 * others are killed, after a delay (0) or commits (1) */
		mode = round % 8 == 6 || round == GC_ROUNDS - 1 ? 2 :
		    (int)(rng % 2);
		subscribe = round % 2;
		subs += subscribe;
		if (mode == 2)
			clean_after = 1 + (long)((rng >> 40) % 20);
		for (p = 0; p < GC_PARTS; p++)
			t->next[p] = t->start[p];
		t->sets = t->recs = 0;
		t->done = 0;

		ck_assert_int_eq(pipe(fd), 0);
		parent = getpid();
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			child_init(parent);
			close(fd[0]);
			consumer_child(dir, seed, kt_mix64(rng ^ 7), subscribe,
			    clean_after, fd[1]);
			_exit(5);
		}
		close(fd[1]);
		if (mode == 0) {
			/* kill after 0-20 ms: at any point, the store's
			 * open and the group's join included */
			int64_t until = kt_now_ns() + (int64_t)((rng >> 8) %
			    20001) * 1000;
			int open = 1;
			while (open && kt_now_ns() < until && !t->failed)
				open = track_wait(t, fd[0],
				    until - kt_now_ns());
		} else {
			/* mode 1: kill after 1-40 commits and 0-300 us;
			 * mode 2: wait for the clean exit */
			long want = mode == 1 ? 1 + (long)((rng >> 8) % 40) :
			                        LONG_MAX;
			int64_t give_up = kt_now_ns() + 20000000000LL;
			int open = 1;
			while (open && t->sets < want && !t->failed &&
			    !t->done && kt_now_ns() < give_up)
				open = track_wait(t, fd[0],
				    give_up - kt_now_ns());
			if (mode == 1 && (rng >> 16) % 300)
				usleep((useconds_t)((rng >> 16) % 300));
			stalled = mode == 1 ? t->sets < want && !t->failed :
			                      open && !t->done && !t->failed;
		}
		if (mode != 2)
			kill(pid, SIGKILL);
		else if (stalled || t->failed)
			kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		while (track_read(t, fd[0]))
			;
		close(fd[0]);
		ck_assert_msg(!t->failed, "seed %#" PRIx64 " round %d: "
		    "consumer check at check_group_crash.c:%" PRId64
		    " failed (value %" PRId64 ": %s)", seed, round,
		    t->fail_line, t->fail_v, ks_strerror((int)t->fail_v));
		ck_assert_msg(!stalled, "seed %#" PRIx64 " round %d: the "
		    "consumer made only %ld commits in 20 s", seed, round,
		    t->sets);
		if (mode == 2)
			ck_assert_msg(t->done && WIFEXITED(status) &&
			    WEXITSTATUS(status) == 0, "seed %#" PRIx64
			    " round %d: clean close: done %d, status %#x",
			    seed, round, t->done, status);
		else
			ck_assert_msg(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL, "seed %#" PRIx64
			    " round %d: consumer ended by itself (status %#x)",
			    seed, round, status);
		ck_assert_msg(!t->err[0], "seed %#" PRIx64 " round %d "
		    "(%s): %s", seed, round, subscribe ? "subscribed" :
		    "assigned", t->err);
		total_sets += t->sets;
		kills += mode != 2;
		cleans += mode == 2;

		/* Reopen (recovering the offsets log) and compare. */
		s = open_store(dir, 0);
		committed_now(s, seed, round, committed);
		for (p = 0; p < GC_PARTS; p++) {
			int64_t c = committed[p], end = end_of(s, p);
			/* nothing committed yet: the next round starts at
			 * the beginning (auto.offset.reset = earliest) */
			if (c == -1 && t->acked[p] == -1 && t->start[p] == 0)
				c = 0;
			ck_assert_msg(c >= t->acked[p], "seed %#" PRIx64
			    " round %d: partition %d: acknowledged commit %"
			    PRId64 " lost: committed %" PRId64, seed, round,
			    p, t->acked[p], c);
			ck_assert_msg(c >= t->start[p] && c <= t->next[p] &&
			    c <= end, "seed %#" PRIx64 " round %d: partition "
			    "%d: committed %" PRId64 " outside what was "
			    "consumed, %" PRId64 "..%" PRId64 " (log end %"
			    PRId64 ")", seed, round, p, c, t->start[p],
			    t->next[p], end);
			if (mode == 2)
				ck_assert_msg(c == t->next[p] &&
				    c == t->acked[p],
				    "seed %#" PRIx64 " round %d: partition %d:"
				    " after a clean close committed %" PRId64
				    ", consumed up to %" PRId64 ", acked %"
				    PRId64, seed, round, p, c, t->next[p],
				    t->acked[p]);
			/* consumed but not committed: read again next */
			dups += t->next[p] - c;
			t->start[p] = c;
			top_up(s, seed, p, c + GC_AHEAD);
		}
		KT_OK(ks_store_close(s));
	}
	ck_assert_msg(kills >= 30 && cleans >= 5 && subs == GC_ROUNDS / 2,
	    "seed %#" PRIx64 ": %ld kills, %ld clean "
	    "closes, %ld subscribed rounds", seed, kills, cleans, subs);
	ck_assert_msg(total_sets >= GC_ROUNDS, "seed %#" PRIx64 ": only %ld "
	    "commits in %d rounds", seed, total_sets, GC_ROUNDS);

	/* A clean close, then a resume: exactly at the committed offsets,
	 * in the same store and after the store's reopen. */
	s = open_store(dir, 0);
	{
		ks_consumer_config_t cc;
		ks_consumer_t *c;
		const ks_message_t *m;
		ks_topic_partition_t tp[GC_PARTS];
		const char *topic = GC_TOPIC;
		int64_t pos, ends[GC_PARTS];
		int n, i, polls, stage;

		for (p = 0; p < GC_PARTS; p++) {
			tp[p] = (ks_topic_partition_t){ GC_TOPIC, p,
				KS_OFFSET_STORED };
			t->next[p] = t->start[p];
			ends[p] = end_of(s, p);
		}
		/* stage 0: assigned, a few polls; 1: subscribed, to the end */
		for (stage = 0; stage < 2; stage++) {
			int64_t deadline = kt_now_ns() + 20000000000LL;
			consumer_config(&cc, 50);
			KT_OK(ks_consumer_new(s, &cc, &c));
			if (stage == 0) {
				KT_OK(ks_consumer_assign(c, tp, GC_PARTS));
				for (p = 0; p < GC_PARTS; p++) {
					KT_OK(ks_consumer_position(c, GC_TOPIC,
					    p, &pos));
					ck_assert_int_eq(pos, t->start[p]);
				}
			} else {
				KT_OK(ks_consumer_subscribe(c, &topic, 1));
			}
			for (polls = 0;; polls++) {
				int at_end = 1;
				for (p = 0; p < GC_PARTS; p++)
					at_end &= t->next[p] == ends[p];
				if (stage == 0 ? polls == 5 : at_end)
					break;
				ck_assert_msg(kt_now_ns() < deadline, "seed %#"
				    PRIx64 ": stage %d: stuck at %" PRId64
				    "/%" PRId64 "/%" PRId64, seed, stage,
				    t->next[0], t->next[1], t->next[2]);
				n = ks_consumer_poll(c, 100, &m);
				ck_assert_int_ge(n, 0);
				for (i = 0; i < n; i++) {
					struct gmsg g = { GM_REC,
						m[i].partition,
						m[i].rec.offset };
					track_one(t, &g);
				}
				ck_assert_msg(!t->err[0], "seed %#" PRIx64
				    ": resume stage %d: %s", seed, stage,
				    t->err);
			}
			KT_OK(ks_consumer_commit(c, NULL, 0, 0));
			KT_OK(ks_consumer_close(c));
			committed_now(s, seed, GC_ROUNDS + stage, committed);
			for (p = 0; p < GC_PARTS; p++) {
				ck_assert_int_eq(committed[p], t->next[p]);
				t->start[p] = committed[p];
			}
		}
		/* after the store's clean close: at the end, nothing more */
		KT_OK(ks_store_close(s));
		s = open_store(dir, 0);
		consumer_config(&cc, 50);
		KT_OK(ks_consumer_new(s, &cc, &c));
		KT_OK(ks_consumer_assign(c, tp, GC_PARTS));
		for (p = 0; p < GC_PARTS; p++) {
			KT_OK(ks_consumer_position(c, GC_TOPIC, p, &pos));
			ck_assert_int_eq(pos, ends[p]);
		}
		ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
		KT_OK(ks_consumer_close(c));
	}

	/* Every record consumed at least once; the duplicates are exactly
	 * the killed rounds' uncommitted tails. */
	for (p = 0; p < GC_PARTS; p++) {
		int64_t off, end = end_of(s, p);
		for (off = 0; off < end; off++) {
			ck_assert_msg(t->count[p][off] >= 1, "seed %#" PRIx64
			    ": partition %d offset %" PRId64 " never consumed",
			    seed, p, off);
			sum += t->count[p][off];
		}
		for (; off < GC_CAP; off++)
			ck_assert_int_eq(t->count[p][off], 0);
		total += end;
	}
	ck_assert_msg(sum - total == dups, "seed %#" PRIx64 ": %" PRId64
	    " records consumed %" PRId64 " times: %" PRId64 " duplicates, "
	    "but the uncommitted tails held %" PRId64, seed, total, sum,
	    sum - total, dups);
	KT_OK(ks_store_close(s));
	if (getenv("KS_TEST_VERBOSE"))
		fprintf(stderr, "group_crash: seed %#" PRIx64 ": %d rounds "
		    "(%ld killed, %ld clean), %ld commits, %" PRId64
		    " records, %" PRId64 " read twice\n", seed, GC_ROUNDS,
		    kills, cleans, total_sets, total, dups);

	for (p = 0; p < GC_PARTS; p++)
		free(t->count[p]);
	free(t);
	kt_rmrf(dir);
	free(dir);
}
END_TEST

Suite *group_crash_suite(void)
{
	Suite *s = suite_create("group_crash");
	TCase *tc = tcase_create("commit_kill9");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_commit_kill9);
	suite_add_tcase(s, tc);
	return s;
}
