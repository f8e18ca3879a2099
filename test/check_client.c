/* check_client.c: producers and consumers on a store (no groups). */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static char *dir;
static ks_store_t *store;

static void setup(void)
{
	ks_store_config_t cfg;
	dir = kt_tmpdir("client");
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	KT_OK(ks_store_open(dir, &cfg, &store));
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

static ks_record_t rec_kv(const char *k, const char *v)
{
	ks_record_t r;
	memset(&r, 0, sizeof r);
	r.key = k;
	r.key_len = k ? strlen(k) : 0;
	r.value = v;
	r.value_len = strlen(v);
	r.timestamp = -1;
	return r;
}

static int64_t end_of(const char *topic, int32_t p)
{
	ks_topic_t *t;
	ks_log_t *log;
	int64_t e;
	KT_OK(ks_topic_open(store, topic, &t));
	KT_OK(ks_topic_partition(t, p, &log));
	e = ks_log_end_offset(log);
	ks_topic_release(t);
	return e;
}

/* ---- producer ------------------------------------------------------------ */

START_TEST(keyed_partitioning)
{
	ks_producer_t *p;
	ks_produce_result_t res[64];
	ks_record_t recs[64];
	char keys[64][16];
	int i, seen[4] = { 0 };

	create("t", 4);
	KT_OK(ks_producer_new(store, NULL, &p));
	for (i = 0; i < 64; i++) {
		snprintf(keys[i], sizeof keys[i], "key-%d", i % 16);
		recs[i] = rec_kv(keys[i], "v");
	}
	KT_OK(ks_produce(p, "t", KS_PARTITION_ANY, recs, 64, 0, res));
	for (i = 0; i < 64; i++) {
		/* the documented function of the key: XXH64 % partitions */
		int32_t want = (int32_t)(XXH64(keys[i], strlen(keys[i]), 0) % 4);
		ck_assert_int_eq(res[i].partition, want);
		ck_assert_int_eq(res[i].partition, res[i % 16].partition);
		seen[res[i].partition]++;
	}
	/* offsets within a partition follow the records' order */
	for (i = 16; i < 64; i++)
		ck_assert_int_gt(res[i].offset, res[i - 16].offset);
	for (i = 0; i < 4; i++)
		ck_assert_int_gt(seen[i], 0);
	ck_assert_int_eq(end_of("t", 0) + end_of("t", 1) + end_of("t", 2) +
	    end_of("t", 3), 64);
	ks_producer_free(p);
}
END_TEST

START_TEST(sticky_keyless)
{
	ks_producer_config_t pc;
	ks_producer_t *p;
	ks_produce_result_t res;
	ks_record_t r = rec_kv(NULL, "0123456789012345678901234567890123456789"
	                             "0123456789012345678901234567890123456789"
	                             "01234567890123456789");
	int i, changes = 0, run = 1, longest = 0;
	int32_t last = -1;

	create("s", 8);
	ks_producer_config_init(&pc);
	pc.batch_bytes = 1000; /* about 10 records of 100 bytes */
	KT_OK(ks_producer_new(store, &pc, &p));
	for (i = 0; i < 400; i++) {
		KT_OK(ks_produce(p, "s", KS_PARTITION_ANY, &r, 1, 0, &res));
		if (last >= 0 && res.partition != last) {
			changes++;
			longest = longest > run ? longest : run;
			run = 0;
		}
		run++;
		last = res.partition;
	}
	/* one partition per batch's worth, then another */
	ck_assert_int_ge(changes, 400 / 11 - 2);
	ck_assert_int_le(changes, 400 / 9 + 2);
	ck_assert_int_le(longest, 11);
	ks_producer_free(p);
}
END_TEST

static int32_t last_byte(void *opaque, const char *topic, const void *key,
    size_t key_len, int32_t partitions)
{
	(void)topic;
	++*(int *)opaque;
	if (!key || key_len == 0)
		return -1; /* the default */
	return ((const char *)key)[key_len - 1] - '0';
}

START_TEST(custom_partitioner)
{
	ks_producer_config_t pc;
	ks_producer_t *p;
	ks_produce_result_t res[3];
	ks_record_t recs[3] = { rec_kv("a2", "x"), rec_kv("b0", "y"),
		rec_kv("c9", "z") };
	int calls = 0;

	create("c", 3);
	ks_producer_config_init(&pc);
	pc.partitioner = last_byte;
	pc.partitioner_opaque = &calls;
	KT_OK(ks_producer_new(store, &pc, &p));
	KT_OK(ks_produce(p, "c", KS_PARTITION_ANY, recs, 2, 0, res));
	ck_assert_int_eq(res[0].partition, 2);
	ck_assert_int_eq(res[1].partition, 0);
	ck_assert_int_eq(calls, 2);
	/* a partition the topic does not have */
	ck_assert_int_eq(ks_produce(p, "c", KS_PARTITION_ANY, &recs[2], 1, 0,
	                     res), KS_EPARTITION);
	/* an explicit partition bypasses the partitioner */
	KT_OK(ks_produce(p, "c", 1, &recs[2], 1, 0, res));
	ck_assert_int_eq(res[0].partition, 1);
	ck_assert_int_eq(calls, 3);
	ks_producer_free(p);
}
END_TEST

START_TEST(produce_errors_and_durable)
{
	ks_producer_t *p;
	ks_produce_result_t res;
	ks_record_t r = rec_kv("k", "v");

	create("d", 2);
	ck_assert_int_eq(ks_producer_new(NULL, NULL, &p), KS_EINVAL);
	KT_OK(ks_producer_new(store, NULL, &p));
	ck_assert_int_eq(ks_produce(p, "nope", KS_PARTITION_ANY, &r, 1, 0,
	                     &res), KS_ETOPIC);
	ck_assert_int_eq(ks_produce(p, "d", 2, &r, 1, 0, &res), KS_EPARTITION);
	ck_assert_int_eq(ks_produce(p, "d", -5, &r, 1, 0, &res), KS_EPARTITION);
	ck_assert_int_eq(ks_produce(p, "d", 0, NULL, 1, 0, &res), KS_EINVAL);
	ck_assert_int_eq(ks_produce(p, "d", 0, &r, 0, 0, &res), KS_EINVAL);
	KT_OK(ks_produce(p, "d", 1, &r, 1, KS_PRODUCE_DURABLE, &res));
	ck_assert_int_eq(res.durable, 1);
	ck_assert_int_eq(res.partition, 1);
	ck_assert_int_eq(res.offset, 0);
	ks_producer_free(p);
	ks_producer_free(NULL);
}
END_TEST

struct pthr {
	ks_producer_t *p;
	int id, n;
};

static void *produce_thread(void *arg)
{
	struct pthr *a = arg;
	char v[32];
	int i;
	for (i = 0; i < a->n; i++) {
		ks_record_t r;
		int len = snprintf(v, sizeof v, "%d:%d", a->id, i);
		memset(&r, 0, sizeof r);
		r.value = v;
		r.value_len = (size_t)len;
		r.timestamp = -1;
		if (ks_produce(a->p, "m", KS_PARTITION_ANY, &r, 1, 0, NULL))
			abort();
	}
	return NULL;
}

/* Many producer threads on one topic, then one consumer reads all: every
 * record once, each thread's records in its order within a partition. */
START_TEST(many_producers_one_consumer)
{
	enum { T = 4, N = 5000 };
	ks_producer_t *p;
	ks_consumer_t *c;
	pthread_t th[T];
	struct pthr a[T];
	ks_topic_partition_t tp[3];
	const ks_message_t *m;
	int last[3][T], got = 0, i, k;

	create("m", 3);
	KT_OK(ks_producer_new(store, NULL, &p));
	for (i = 0; i < T; i++) {
		a[i] = (struct pthr){ p, i, N };
		ck_assert_int_eq(pthread_create(&th[i], NULL, produce_thread,
		                     &a[i]), 0);
	}
	for (i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	KT_OK(ks_consumer_new(store, NULL, &c));
	for (i = 0; i < 3; i++)
		tp[i] = (ks_topic_partition_t){ "m", i, KS_OFFSET_BEGINNING };
	KT_OK(ks_consumer_assign(c, tp, 3));
	memset(last, -1, sizeof last);
	while (got < T * N) {
		int n = ks_consumer_poll(c, 1000, &m);
		ck_assert_int_gt(n, 0);
		for (k = 0; k < n; k++) {
			int id, seq;
			char v[32];
			memcpy(v, m[k].rec.value, m[k].rec.value_len);
			v[m[k].rec.value_len] = 0;
			ck_assert_int_eq(sscanf(v, "%d:%d", &id, &seq), 2);
			ck_assert_int_gt(seq, last[m[k].partition][id]);
			last[m[k].partition][id] = seq;
		}
		got += n;
	}
	ck_assert_int_eq(got, T * N);
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
	KT_OK(ks_consumer_close(c));
	ks_producer_free(p);
}
END_TEST

/* ---- consumer ------------------------------------------------------------ */

static void fill(const char *topic, int32_t part, int n)
{
	ks_producer_t *p;
	char v[32];
	int i;
	KT_OK(ks_producer_new(store, NULL, &p));
	for (i = 0; i < n; i++) {
		ks_record_t r;
		memset(&r, 0, sizeof r);
		r.value = v;
		r.value_len = (size_t)snprintf(v, sizeof v, "%d", i);
		r.timestamp = 1000000 + i;
		KT_OK(ks_produce(p, topic, part, &r, 1, 0, NULL));
	}
	ks_producer_free(p);
}

static int value_of(const ks_message_t *m)
{
	char v[32];
	memcpy(v, m->rec.value, m->rec.value_len);
	v[m->rec.value_len] = 0;
	return atoi(v);
}

START_TEST(assign_poll_seek)
{
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	const ks_message_t *m;
	const ks_topic_partition_t *as;
	ks_topic_partition_t tp = { "a", 1, 5 };
	int64_t pos, lag;
	size_t na;
	int n, i;

	create("a", 2);
	fill("a", 1, 100);
	ks_consumer_config_init(&cc);
	cc.max_poll_records = 30;
	KT_OK(ks_consumer_new(store, &cc, &c));
	KT_OK(ks_consumer_assign(c, &tp, 1));
	n = ks_consumer_poll(c, 0, &m);
	ck_assert_int_eq(n, 30);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(m[i].topic, "a");
		ck_assert_int_eq(m[i].partition, 1);
		ck_assert_int_eq(m[i].rec.offset, 5 + i);
		ck_assert_int_eq(value_of(&m[i]), 5 + i);
	}
	KT_OK(ks_consumer_position(c, "a", 1, &pos));
	ck_assert_int_eq(pos, 35);
	KT_OK(ks_consumer_lag(c, "a", 1, &lag));
	ck_assert_int_eq(lag, 65);
	KT_OK(ks_consumer_assignment(c, &as, &na));
	ck_assert_uint_eq(na, 1);
	ck_assert_int_eq(as[0].offset, 35);
	/* seek: to an offset, the beginning, the end, a timestamp */
	KT_OK(ks_consumer_seek(c, "a", 1, 90));
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 10);
	ck_assert_int_eq(m[0].rec.offset, 90);
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
	KT_OK(ks_consumer_seek(c, "a", 1, KS_OFFSET_BEGINNING));
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 30);
	ck_assert_int_eq(m[0].rec.offset, 0);
	KT_OK(ks_consumer_seek_time(c, "a", 1, 1000000 + 42));
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 30);
	ck_assert_int_eq(m[0].rec.offset, 42);
	KT_OK(ks_consumer_seek_time(c, "a", 1, 9000000));
	KT_OK(ks_consumer_position(c, "a", 1, &pos));
	ck_assert_int_eq(pos, 100);
	KT_OK(ks_consumer_seek(c, "a", 1, KS_OFFSET_END));
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
	/* errors */
	ck_assert_int_eq(ks_consumer_seek(c, "a", 1, 101), KS_EOFFSET);
	ck_assert_int_eq(ks_consumer_seek(c, "a", 0, 0), KS_ENOTASSIGNED);
	ck_assert_int_eq(ks_consumer_position(c, "zz", 0, &pos),
	    KS_ENOTASSIGNED);
	ck_assert_int_eq(ks_consumer_poll(c, 0, NULL), KS_EINVAL);
	tp.partition = 7;
	ck_assert_int_eq(ks_consumer_assign(c, &tp, 1), KS_EPARTITION);
	tp = (ks_topic_partition_t){ "nope", 0, 0 };
	ck_assert_int_eq(ks_consumer_assign(c, &tp, 1), KS_ETOPIC);
	tp = (ks_topic_partition_t){ "a", 1, 500 };
	ck_assert_int_eq(ks_consumer_assign(c, &tp, 1), KS_EOFFSET);
	/* no group: nothing to commit to */
	ck_assert_int_eq(ks_consumer_commit(c, NULL, 0, 0), KS_EINVAL);
	KT_OK(ks_consumer_close(c));
	ck_assert_int_eq(ks_consumer_close(NULL), 0);
}
END_TEST

START_TEST(pause_resume)
{
	ks_consumer_t *c;
	const ks_message_t *m;
	ks_topic_partition_t tp[2] = { { "p", 0, KS_OFFSET_BEGINNING },
		{ "p", 1, KS_OFFSET_BEGINNING } };
	int n, i;

	create("p", 2);
	fill("p", 0, 10);
	fill("p", 1, 10);
	KT_OK(ks_consumer_new(store, NULL, &c));
	KT_OK(ks_consumer_assign(c, tp, 2));
	KT_OK(ks_consumer_pause(c, &tp[0], 1));
	n = ks_consumer_poll(c, 0, &m);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(m[i].partition, 1);
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
	KT_OK(ks_consumer_resume(c, &tp[0], 1));
	n = ks_consumer_poll(c, 0, &m);
	ck_assert_int_eq(n, 10);
	ck_assert_int_eq(m[0].partition, 0);
	tp[0].partition = 9;
	ck_assert_int_eq(ks_consumer_pause(c, tp, 1), KS_ENOTASSIGNED);
	KT_OK(ks_consumer_close(c));
}
END_TEST

struct later {
	int delay_ms;
	const char *topic;
};

static void *produce_later(void *arg)
{
	struct later *l = arg;
	usleep((useconds_t)l->delay_ms * 1000);
	fill(l->topic, 0, 1);
	return NULL;
}

/* A blocking poll wakes when a record arrives; the fd becomes readable. */
START_TEST(wakeups)
{
	ks_consumer_t *c;
	const ks_message_t *m;
	ks_topic_partition_t tp = { "w", 0, KS_OFFSET_END };
	struct later l = { 30, "w" };
	struct pollfd pfd;
	pthread_t t;

	create("w", 1);
	KT_OK(ks_consumer_new(store, NULL, &c));
	KT_OK(ks_consumer_assign(c, &tp, 1));
	ck_assert_int_eq(ks_consumer_poll(c, 20, &m), 0); /* times out */
	ck_assert_int_eq(pthread_create(&t, NULL, produce_later, &l), 0);
	ck_assert_int_eq(ks_consumer_poll(c, 10000, &m), 1);
	pthread_join(t, NULL);
	/* the event-loop way: wait on the fd, then poll without waiting */
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 0);
	pfd.fd = ks_consumer_fd(c);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, produce_later, &l), 0);
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(ks_consumer_poll(c, 0, &m), 1);
	ck_assert_int_eq(m[0].rec.offset, 1);
	pthread_join(t, NULL);
	KT_OK(ks_consumer_close(c));
}
END_TEST

struct blocked {
	ks_consumer_t *c;
	int rc;
};

static void *poll_long(void *arg)
{
	struct blocked *b = arg;
	const ks_message_t *m;
	b->rc = ks_consumer_poll(b->c, 500, &m);
	return NULL;
}

/* A consumer is one thread's at a time: a second thread gets KS_ETHREAD. */
START_TEST(one_thread_at_a_time)
{
	ks_consumer_t *c;
	ks_topic_partition_t tp = { "o", 0, KS_OFFSET_END };
	struct blocked b;
	pthread_t t;
	int64_t pos;

	create("o", 1);
	KT_OK(ks_consumer_new(store, NULL, &c));
	KT_OK(ks_consumer_assign(c, &tp, 1));
	b.c = c;
	ck_assert_int_eq(pthread_create(&t, NULL, poll_long, &b), 0);
	usleep(100 * 1000);
	ck_assert_int_eq(ks_consumer_position(c, "o", 0, &pos), KS_ETHREAD);
	pthread_join(t, NULL);
	ck_assert_int_eq(b.rc, 0);
	KT_OK(ks_consumer_position(c, "o", 0, &pos));
	KT_OK(ks_consumer_close(c));
}
END_TEST

/* Compaction removed the last batches of a partition: a consumer steps
 * over the gap to the end instead of spinning on it. */
START_TEST(gap_at_the_end)
{
	ks_topic_config_t tc;
	ks_topic_t *t;
	ks_log_t *log;
	ks_producer_t *p;
	ks_consumer_t *c;
	const ks_message_t *m;
	ks_log_view_t v;
	ks_record_t a = rec_kv("a", "1"), b = rec_kv("b", "x");
	ks_topic_partition_t tp = { "g", 0, KS_OFFSET_BEGINNING };
	int64_t pos, lag;

	b.value = NULL; /* a tombstone */
	b.value_len = 0;
	ks_topic_config_init(&tc);
	KT_OK(ks_topic_config_set(&tc, "cleanup.policy", "compact"));
	KT_OK(ks_topic_create(store, "g", &tc));
	KT_OK(ks_topic_open(store, "g", &t));
	KT_OK(ks_topic_partition(t, 0, &log));
	KT_OK(ks_producer_new(store, NULL, &p));
	KT_OK(ks_produce(p, "g", 0, &a, 1, 0, NULL));
	KT_OK(ks_produce(p, "g", 0, &b, 1, 0, NULL));
	KT_OK(ks_log_roll(log));
	/* two days on: the tombstone at offset 1 expired and is gone */
	KT_OK(ks_store_clean(store, (int64_t)time(NULL) * 1000 +
	    2 * 86400000LL));
	ck_assert_int_eq(ks_log_end_offset(log), 2);
	KT_OK(ks_log_read(log, 1, 1 << 20, &v));
	ck_assert_uint_eq(v.len, 0);
	ck_assert_int_eq(v.next_offset, 2);
	ks_log_view_release(&v);
	KT_OK(ks_consumer_new(store, NULL, &c));
	KT_OK(ks_consumer_assign(c, &tp, 1));
	ck_assert_int_eq(ks_consumer_poll(c, 100, &m), 1);
	ck_assert_int_eq(m[0].rec.offset, 0);
	ck_assert_int_eq(ks_consumer_poll(c, 100, &m), 0);
	KT_OK(ks_consumer_position(c, "g", 0, &pos));
	KT_OK(ks_consumer_lag(c, "g", 0, &lag));
	ck_assert_int_eq(pos, 2);
	ck_assert_int_eq(lag, 0);
	KT_OK(ks_consumer_close(c));
	ks_producer_free(p);
	ks_topic_release(t);
}
END_TEST

Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, keyed_partitioning);
	tcase_add_test(tc, sticky_keyless);
	tcase_add_test(tc, custom_partitioner);
	tcase_add_test(tc, produce_errors_and_durable);
	tcase_add_test(tc, many_producers_one_consumer);
	tcase_add_test(tc, assign_poll_seek);
	tcase_add_test(tc, pause_resume);
	tcase_add_test(tc, wakeups);
	tcase_add_test(tc, one_thread_at_a_time);
	tcase_add_test(tc, gap_at_the_end);
	suite_add_tcase(s, tc);
	return s;
}
