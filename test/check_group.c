/*
 * check_group.c: consumers in groups on a store: partitions shared and
 * rebalanced on join, leave and timeout, committed offsets across reopen,
 * rebalance callbacks, cooperative rebalancing, pattern subscriptions.
 */
#define _GNU_SOURCE
#include "util.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static ks_store_t *store;

static void open_store(void)
{
	ks_store_config_t cfg;
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	cfg.group_min_session_timeout_ms = 100;
	KT_OK(ks_store_open(dir, &cfg, &store));
}

static void setup(void)
{
	dir = kt_tmpdir("group");
	open_store();
}

static void teardown(void)
{
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
}

static void create(const char *name, int32_t parts)
{
	ks_topic_config_t tc;
	ks_topic_config_init(&tc);
	tc.partitions = parts;
	KT_OK(ks_topic_create(store, name, &tc));
}

/* n records with values "0".."n-1" spread over the topic's partitions. */
static void produce(const char *topic, int n)
{
	ks_producer_t *p;
	char v[16];
	int i;
	KT_OK(ks_producer_new(store, NULL, &p));
	for (i = 0; i < n; i++) {
		ks_record_t r;
		memset(&r, 0, sizeof r);
		r.key = v;
		r.key_len = (size_t)snprintf(v, sizeof v, "%d", i);
		r.value = v;
		r.value_len = r.key_len;
		r.timestamp = -1;
		KT_OK(ks_produce(p, topic, KS_PARTITION_ANY, &r, 1, 0, NULL));
	}
	ks_producer_free(p);
}

/* Rebalance events, recorded. */
struct events {
	int assigned, revoked, lost; /* partitions, summed */
	int calls;
};

static void on_rebalance(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n)
{
	struct events *e = opaque;
	(void)c;
	(void)parts;
	e->calls++;
	if (event == KS_REBALANCE_ASSIGNED)
		e->assigned += (int)n;
	else if (event == KS_REBALANCE_REVOKED)
		e->revoked += (int)n;
	else if (event == KS_REBALANCE_LOST)
		e->lost += (int)n;
}

static ks_consumer_t *member(const char *group, const char *assignors,
    struct events *ev, int32_t session_ms)
{
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	ks_consumer_config_init(&cc);
	cc.group_id = group;
	cc.auto_offset_reset = KS_RESET_EARLIEST;
	cc.heartbeat_interval_ms = 20;
	cc.session_timeout_ms = session_ms;
	cc.rebalance_timeout_ms = 2000;
	cc.max_poll_records = 100000;
	if (assignors)
		cc.assignors = assignors;
	cc.rebalance_cb = ev ? on_rebalance : NULL;
	cc.opaque = ev;
	KT_OK(ks_consumer_new(store, &cc, &c));
	return c;
}

static size_t owned(ks_consumer_t *c)
{
	const ks_topic_partition_t *a;
	size_t n;
	KT_OK(ks_consumer_assignment(c, &a, &n));
	return n;
}

/* Values seen, to check for loss and duplication. */
static unsigned char *seen;

static int consume(ks_consumer_t *c, int timeout_ms)
{
	const ks_message_t *m;
	int n = ks_consumer_poll(c, timeout_ms, &m), i;
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		char v[16];
		memcpy(v, m[i].rec.value, m[i].rec.value_len);
		v[m[i].rec.value_len] = 0;
		seen[atoi(v)]++;
	}
	return n;
}

/* Polls every consumer in turn until want(cs) holds or 10 s pass. */
static void drive(ks_consumer_t **cs, size_t n, int (*want)(ks_consumer_t **))
{
	int64_t deadline = kt_now_ns() + 10000000000LL;
	size_t i;
	while (!want(cs)) {
		ck_assert_msg(kt_now_ns() < deadline, "the group did not settle");
		for (i = 0; i < n; i++)
			consume(cs[i], 5);
	}
}

static int one_has_4(ks_consumer_t **cs)
{
	return owned(cs[0]) == 4;
}

static int split_2_2(ks_consumer_t **cs)
{
	return owned(cs[0]) == 2 && owned(cs[1]) == 2;
}

static int has_any(ks_consumer_t **cs)
{
	return owned(cs[0]) > 0;
}

/* Join, share, leave: partitions move, no record is lost or seen twice. */
static void share_and_leave(const char *assignors)
{
	ks_consumer_t *cs[2];
	struct events e0 = { 0 }, e1 = { 0 };
	const char *t = "orders";
	int total = 0, i;

	seen = calloc(4000, 1);
	create(t, 4);
	produce(t, 2000);
	cs[0] = member("g", assignors, &e0, 10000);
	cs[1] = member("g", assignors, &e1, 10000);
	KT_OK(ks_consumer_subscribe(cs[0], &t, 1));
	drive(cs, 1, one_has_4);
	KT_OK(ks_consumer_subscribe(cs[1], &t, 1));
	drive(cs, 2, split_2_2);
	produce(t, 2000); /* values 0..1999 again: seen counts 2 each */
	for (i = 0; i < 200; i++) {
		consume(cs[0], 1);
		consume(cs[1], 1);
	}
	KT_OK(ks_consumer_close(cs[0]));
	cs[0] = cs[1];
	drive(cs, 1, one_has_4);
	for (i = 0; i < 50; i++)
		consume(cs[0], 1);
	for (i = 0; i < 2000; i++) {
		ck_assert_msg(seen[i] == 2, "value %d seen %d times", i,
		    seen[i]);
		total += seen[i];
	}
	ck_assert_int_eq(total, 4000);
	ck_assert_int_ge(e0.assigned, 4);
	ck_assert_int_ge(e1.assigned, 2);
	KT_OK(ks_consumer_close(cs[0]));
	free(seen);
}

START_TEST(eager_range)
{
	share_and_leave("range");
}
END_TEST

START_TEST(eager_roundrobin)
{
	share_and_leave("roundrobin");
}
END_TEST

START_TEST(cooperative)
{
	ks_consumer_t *cs[2];
	struct events e0 = { 0 }, e1 = { 0 };
	const char *t = "coop";

	share_and_leave("cooperative-sticky");
	create(t, 4);
	cs[0] = member("gc", "cooperative-sticky", &e0, 10000);
	cs[1] = member("gc", "cooperative-sticky", &e1, 10000);
	seen = calloc(16, 1);
	KT_OK(ks_consumer_subscribe(cs[0], &t, 1));
	drive(cs, 1, one_has_4);
	KT_OK(ks_consumer_subscribe(cs[1], &t, 1));
	drive(cs, 2, split_2_2);
	/* incremental: the first member gave up only what moved */
	ck_assert_int_eq(e0.revoked, 2);
	ck_assert_int_eq(e0.assigned, 4);
	ck_assert_int_eq(e1.assigned, 2);
	ck_assert_int_eq(e1.revoked, 0);
	KT_OK(ks_consumer_close(cs[0]));
	KT_OK(ks_consumer_close(cs[1]));
	free(seen);
}
END_TEST

/* Committed offsets survive the store's close and reopen. */
START_TEST(commits_survive_reopen)
{
	ks_consumer_t *c;
	ks_topic_partition_t tp = { "log", 0, KS_OFFSET_STORED };
	const ks_message_t *m;
	ks_consumer_config_t cc;
	int64_t off;
	int n;

	create("log", 1);
	produce("log", 100);
	ks_consumer_config_init(&cc);
	cc.group_id = "keeper";
	cc.auto_offset_reset = KS_RESET_EARLIEST;
	cc.enable_auto_commit = 0;
	cc.max_poll_records = 40;
	KT_OK(ks_consumer_new(store, &cc, &c));
	KT_OK(ks_consumer_committed(c, "log", 0, &off));
	ck_assert_int_eq(off, -1);
	KT_OK(ks_consumer_assign(c, &tp, 1));
	n = ks_consumer_poll(c, 100, &m);
	ck_assert_int_eq(n, 40);
	KT_OK(ks_consumer_commit(c, NULL, 0, 0));
	KT_OK(ks_consumer_committed(c, "log", 0, &off));
	ck_assert_int_eq(off, 40);
	KT_OK(ks_consumer_close(c));
	KT_OK(ks_store_close(store));
	open_store();
	KT_OK(ks_consumer_new(store, &cc, &c));
	KT_OK(ks_consumer_assign(c, &tp, 1));
	n = ks_consumer_poll(c, 100, &m);
	ck_assert_int_eq(n, 40);
	ck_assert_int_eq(m[0].rec.offset, 40);
	KT_OK(ks_consumer_close(c));
}
END_TEST

/* auto.offset.reset = none: a group without a committed offset fails. */
START_TEST(reset_none)
{
	ks_consumer_t *c;
	ks_consumer_config_t cc;
	ks_topic_partition_t tp = { "r", 0, KS_OFFSET_STORED };

	create("r", 1);
	ks_consumer_config_init(&cc);
	cc.group_id = "strict";
	cc.auto_offset_reset = KS_RESET_NONE;
	KT_OK(ks_consumer_new(store, &cc, &c));
	ck_assert_int_eq(ks_consumer_assign(c, &tp, 1), KS_ENOOFFSET);
	KT_OK(ks_consumer_close(c));
}
END_TEST

/* A member that stops polling loses its partitions after its session
 * timeout; the other takes them over from the committed offsets. */
START_TEST(silent_member_evicted)
{
	ks_consumer_t *cs[2];
	struct events e1 = { 0 };
	const char *t = "quiet";
	const ks_topic_partition_t *a;
	int64_t off;
	size_t n, i;

	seen = calloc(1000, 1);
	create(t, 4);
	produce(t, 400);
	cs[0] = member("gq", "range", NULL, 300);
	cs[1] = member("gq", "range", &e1, 300);
	KT_OK(ks_consumer_subscribe(cs[0], &t, 1));
	KT_OK(ks_consumer_subscribe(cs[1], &t, 1));
	drive(cs, 2, split_2_2);
	for (i = 0; i < 20; i++) {
		consume(cs[0], 1);
		consume(cs[1], 1);
	}
	KT_OK(ks_consumer_commit(cs[0], NULL, 0, 0));
	KT_OK(ks_consumer_assignment(cs[0], &a, &n));
	ck_assert_uint_eq(n, 2);
	KT_OK(ks_consumer_committed(cs[0], a[0].topic, a[0].partition, &off));
	ck_assert_int_eq(off, a[0].offset);
	/* cs[0] goes silent; only cs[1] polls */
	drive(cs + 1, 1, one_has_4);
	for (i = 0; i < 400; i++)
		ck_assert_msg(seen[i] == 1, "value %zu seen %d times", i,
		    seen[i]);
	/* the silent one finds out it lost them on its next poll */
	consume(cs[0], 50);
	ck_assert_uint_eq(owned(cs[0]) <= 2, 1);
	KT_OK(ks_consumer_close(cs[0]));
	KT_OK(ks_consumer_close(cs[1]));
	free(seen);
}
END_TEST

/* A commit for a partition the member does not own is refused. */
START_TEST(commit_not_owned)
{
	ks_consumer_t *cs[1];
	const char *t = "own";
	ks_topic_partition_t other = { "own", 0, 5 };

	create(t, 1);
	create("elsewhere", 1);
	seen = calloc(16, 1);
	cs[0] = member("go", "range", NULL, 10000);
	KT_OK(ks_consumer_subscribe(cs[0], &t, 1));
	drive(cs, 1, has_any);
	other.topic = "elsewhere";
	ck_assert_int_eq(ks_consumer_commit(cs[0], &other, 1, 0),
	    KS_ENOTASSIGNED);
	other.topic = "own";
	KT_OK(ks_consumer_commit(cs[0], &other, 1, 0));
	KT_OK(ks_consumer_close(cs[0]));
	free(seen);
}
END_TEST

/* A pattern subscription picks up topics created later. */
START_TEST(pattern)
{
	ks_consumer_t *cs[1];
	const char *pat = "^ev\\.[a-z]+$";

	seen = calloc(16, 1);
	create("ev.a", 2);
	create("other", 2);
	cs[0] = member("gp", "range", NULL, 10000);
	KT_OK(ks_consumer_subscribe(cs[0], &pat, 1));
	drive(cs, 1, has_any);
	ck_assert_uint_eq(owned(cs[0]), 2);
	create("ev.b", 2);
	drive(cs, 1, one_has_4);
	ck_assert_int_eq(ks_consumer_subscribe(cs[0], (const char *[]){ "^(" },
	                     1), KS_EINVAL);
	KT_OK(ks_consumer_close(cs[0]));
	free(seen);
}
END_TEST

Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("group");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, eager_range);
	tcase_add_test(tc, eager_roundrobin);
	tcase_add_test(tc, cooperative);
	tcase_add_test(tc, commits_survive_reopen);
	tcase_add_test(tc, reset_none);
	tcase_add_test(tc, silent_member_evicted);
	tcase_add_test(tc, commit_not_owned);
	tcase_add_test(tc, pattern);
	suite_add_tcase(s, tc);
	return s;
}
