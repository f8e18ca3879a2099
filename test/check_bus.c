/*
 * check_bus.c: the store as an in-process message bus: producer threads and
 * consumer threads on one topic at the same time, every record delivered
 * exactly once. Written to be clean under ThreadSanitizer (make
 * check-threads): the test's own shared state is atomic or handed over by
 * pthread_join, and a thread never asserts (it records what went wrong, and
 * the main thread asserts after the join).
 */
#define _GNU_SOURCE
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUS_PRODUCERS 3
#define BUS_CONSUMERS 3
#define BUS_PARTS 3
#define BUS_RECORDS 2000          /* per producer */
#define BUS_TOTAL (BUS_PRODUCERS * BUS_RECORDS)

static char *dir;
static ks_store_t *store;

static void setup(void)
{
	ks_store_config_t cfg;
	ks_topic_config_t tc;

	dir = kt_tmpdir("bus");
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	KT_OK(ks_store_open(dir, &cfg, &store));
	ks_topic_config_init(&tc);
	tc.partitions = BUS_PARTS;
	KT_OK(ks_topic_create(store, "bus", &tc));
}

static void teardown(void)
{
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
}

/* What every thread shares: atomics only. */
struct bus {
	int producers_done;             /* set after every producer joined */
	int stop;                       /* a thread failed: everyone stops */
	int delivered;                  /* records consumed, all consumers */
	int hold;                       /* producers wait at half way ... */
	int late_assigned;              /* ... until the late member has
	                                   partitions */
	unsigned char seen[BUS_PRODUCERS][BUS_RECORDS]; /* deliveries */
};

/* A thread's own report, read after pthread_join. */
struct worker {
	struct bus *bus;
	int id;
	ks_producer_t *prod;            /* producers: NULL for their own */
	ks_consumer_t *c;               /* consumers */
	int group;                      /* consumers: subscribed */
	int late;                       /* subscribes once a third of the
	                                   records are delivered */
	int joined;                     /* late: has subscribed */
	long got;                       /* records this consumer got */
	int assigned, revoked;          /* rebalance callbacks' partitions */
	int partitions_seen;            /* bit mask */
	char err[200];                  /* empty: fine */
};

static void bus_fail(struct worker *w, const char *what, int rc)
{
	snprintf(w->err, sizeof w->err, "%s %d: %s: %s (%d)",
	    w->c ? "consumer" : "producer", w->id, what, ks_strerror(rc), rc);
	__atomic_store_n(&w->bus->stop, 1, __ATOMIC_RELAXED);
}

/* Producer id's record seq: key "id:seq" (keys spread the records over
 * the partitions), value the same. */
static void *producer_thread(void *arg)
{
	struct worker *w = arg;
	ks_producer_t *own = NULL, *prod = w->prod;
	char kv[8][32];
	ks_record_t recs[8];
	int seq = 0, held = 0, rc, i;

	if (!prod && (rc = ks_producer_new(store, NULL, &own)) != 0) {
		bus_fail(w, "ks_producer_new", rc);
		return NULL;
	}
	if (!prod)
		prod = own;
	while (seq < BUS_RECORDS &&
	    !__atomic_load_n(&w->bus->stop, __ATOMIC_RELAXED)) {
		/* 1 to 8 records a call, so that batches of several
		 * partitions interleave with the other producers' */
		int n = 1 + (int)(kt_mix64((uint64_t)(w->id * 100000 + seq)) %
		    8);
		if (n > BUS_RECORDS - seq)
			n = BUS_RECORDS - seq;
		if (seq == BUS_RECORDS / 2 && !held &&
		    __atomic_load_n(&w->bus->hold, __ATOMIC_RELAXED)) {
			/* the second half once the group has rebalanced */
			int64_t deadline = kt_now_ns() + 60000000000LL;
			while (!__atomic_load_n(&w->bus->late_assigned,
			           __ATOMIC_ACQUIRE) &&
			    !__atomic_load_n(&w->bus->stop, __ATOMIC_RELAXED)) {
				if (kt_now_ns() > deadline) {
					bus_fail(w, "waiting for the late "
					    "member", KS_ETIMEDOUT);
					break;
				}
				usleep(1000);
			}
			held = 1;
			continue;
		}
		if (seq < BUS_RECORDS / 2 && seq + n > BUS_RECORDS / 2)
			n = BUS_RECORDS / 2 - seq;
		for (i = 0; i < n; i++) {
			int len = snprintf(kv[i], sizeof kv[i], "%d:%d", w->id,
			    seq + i);
			memset(&recs[i], 0, sizeof recs[i]);
			recs[i].key = recs[i].value = kv[i];
			recs[i].key_len = recs[i].value_len = (size_t)len;
			recs[i].timestamp = -1;
		}
		if ((rc = ks_produce(prod, "bus", KS_PARTITION_ANY, recs,
		         (size_t)n, 0, NULL)) != 0) {
			bus_fail(w, "ks_produce", rc);
			break;
		}
		seq += n;
	}
	ks_producer_free(own);
	return NULL;
}

/* In the consumer's thread, from inside its poll. */
static void on_rebalance(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n)
{
	struct worker *w = opaque;
	(void)c;
	(void)parts;
	if (event == KS_REBALANCE_ASSIGNED) {
		w->assigned += (int)n;
		if (w->late && n)
			__atomic_store_n(&w->bus->late_assigned, 1,
			    __ATOMIC_RELEASE);
	}
	else
		w->revoked += (int)n;
}

/* Whether this consumer has read everything it owns, once the producers
 * are done. */
static int drained(ks_consumer_t *c)
{
	const ks_topic_partition_t *as;
	size_t n, i;
	int64_t lag;

	if (ks_consumer_assignment(c, &as, &n) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (ks_consumer_lag(c, as[i].topic, as[i].partition,
		        &lag) != 0 || lag != 0)
			return 0;
	return 1;
}

static void *consumer_thread(void *arg)
{
	struct worker *w = arg;
	struct bus *b = w->bus;
	int last[BUS_PARTS][BUS_PRODUCERS];
	int64_t deadline = kt_now_ns() + 120000000000LL;
	const ks_message_t *m;
	int n, i;

	memset(last, -1, sizeof last);
	while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		if (w->late && !w->joined) {
			/* joins a group that is consuming: a rebalance
			 * while records flow */
			const char *topic = "bus";
			if (__atomic_load_n(&b->delivered, __ATOMIC_RELAXED) <
			    BUS_TOTAL / 3) {
				usleep(1000);
				continue;
			}
			if ((n = ks_consumer_subscribe(w->c, &topic, 1)) != 0) {
				bus_fail(w, "ks_consumer_subscribe", n);
				break;
			}
			w->joined = 1;
		}
		if (w->group) {
			/* partitions move between members: done when all
			 * records are in, whoever consumed them */
			if (__atomic_load_n(&b->delivered, __ATOMIC_ACQUIRE) >=
			    BUS_TOTAL)
				break;
		} else if (__atomic_load_n(&b->producers_done,
		               __ATOMIC_ACQUIRE) && drained(w->c)) {
			break;
		}
		if (kt_now_ns() > deadline) {
			snprintf(w->err, sizeof w->err, "consumer %d: stuck "
			    "with %d of %d records delivered", w->id,
			    __atomic_load_n(&b->delivered, __ATOMIC_RELAXED),
			    BUS_TOTAL);
			__atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
			break;
		}
		n = ks_consumer_poll(w->c, 50, &m);
		if (n < 0) {
			bus_fail(w, "ks_consumer_poll", n);
			break;
		}
		for (i = 0; i < n; i++) {
			char v[32];
			int id, seq, p = m[i].partition;
			size_t len = m[i].rec.value_len;

			if (len >= sizeof v || p < 0 || p >= BUS_PARTS) {
				bus_fail(w, "a record out of bounds", p);
				break;
			}
			memcpy(v, m[i].rec.value, len);
			v[len] = 0;
			if (sscanf(v, "%d:%d", &id, &seq) != 2 || id < 0 ||
			    id >= BUS_PRODUCERS || seq < 0 ||
			    seq >= BUS_RECORDS) {
				bus_fail(w, "a record not produced", p);
				break;
			}
			/* one producer's records, in one partition, come
			 * in the order it produced them */
			if (!w->group && seq <= last[p][id]) {
				snprintf(w->err, sizeof w->err, "consumer %d: "
				    "partition %d: producer %d's record %d "
				    "after its %d", w->id, p, id, seq,
				    last[p][id]);
				__atomic_store_n(&b->stop, 1,
				    __ATOMIC_RELAXED);
				break;
			}
			last[p][id] = seq;
			w->partitions_seen |= 1 << p;
			__atomic_add_fetch(&b->seen[id][seq], 1,
			    __ATOMIC_RELAXED);
			w->got++;
		}
		__atomic_add_fetch(&b->delivered, n, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * Three producers and three consumers at once. Without group, each
 * consumer is assigned its own partition and must see only it, each
 * producer's records in order. With group, the three subscribe to one
 * group: two at once, the third once a third of the records are delivered,
 * while the producers hold their second half back until it has partitions:
 * a rebalance in mid-stream, eager, with the revoked partitions' positions
 * committed on the way (auto-commit), so that nothing is read twice.
 */
static void run_bus(int group, int shared_producer)
{
	struct bus *b = calloc(1, sizeof *b);
	struct worker pw[BUS_PRODUCERS], cw[BUS_CONSUMERS];
	pthread_t pt[BUS_PRODUCERS], ct[BUS_CONSUMERS];
	ks_producer_t *shared = NULL;
	const char *topic = "bus";
	long got = 0;
	int i, id, seq;

	ck_assert_ptr_nonnull(b);
	b->hold = group;
	if (shared_producer)
		KT_OK(ks_producer_new(store, NULL, &shared));
	memset(pw, 0, sizeof pw);
	memset(cw, 0, sizeof cw);
	for (i = 0; i < BUS_CONSUMERS; i++) {
		ks_consumer_config_t cc;

		ks_consumer_config_init(&cc);
		cc.max_poll_records = 64;
		if (group) {
			cc.group_id = "bus-readers";
			cc.auto_offset_reset = KS_RESET_EARLIEST;
			cc.session_timeout_ms = 60000;
			cc.rebalance_timeout_ms = 60000;
			cc.heartbeat_interval_ms = 20;
			cc.rebalance_cb = on_rebalance;
			cc.opaque = &cw[i];
		}
		cw[i].bus = b;
		cw[i].id = i;
		cw[i].group = group;
		cw[i].late = group && i == BUS_CONSUMERS - 1;
		KT_OK(ks_consumer_new(store, &cc, &cw[i].c));
		if (cw[i].late) {
			/* subscribes in its thread, later */
		} else if (group) {
			KT_OK(ks_consumer_subscribe(cw[i].c, &topic, 1));
		} else {
			ks_topic_partition_t tp = { "bus", i,
				KS_OFFSET_BEGINNING };
			KT_OK(ks_consumer_assign(cw[i].c, &tp, 1));
		}
	}
	/* the consumers start first and wait for records */
	for (i = 0; i < BUS_CONSUMERS; i++)
		ck_assert_int_eq(pthread_create(&ct[i], NULL,
		                     consumer_thread, &cw[i]), 0);
	for (i = 0; i < BUS_PRODUCERS; i++) {
		pw[i].bus = b;
		pw[i].id = i;
		pw[i].prod = shared;
		ck_assert_int_eq(pthread_create(&pt[i], NULL,
		                     producer_thread, &pw[i]), 0);
	}
	for (i = 0; i < BUS_PRODUCERS; i++)
		pthread_join(pt[i], NULL);
	__atomic_store_n(&b->producers_done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < BUS_CONSUMERS; i++)
		pthread_join(ct[i], NULL);

	for (i = 0; i < BUS_PRODUCERS; i++)
		ck_assert_msg(!pw[i].err[0], "%s", pw[i].err);
	for (i = 0; i < BUS_CONSUMERS; i++) {
		ck_assert_msg(!cw[i].err[0], "%s", cw[i].err);
		if (!group)
			ck_assert_msg(cw[i].partitions_seen == 1 << i,
			    "consumer %d, assigned partition %d, read "
			    "partitions %#x", i, i, cw[i].partitions_seen);
		got += cw[i].got;
		if (getenv("KS_TEST_VERBOSE"))
			fprintf(stderr, "bus %s: consumer %d: %ld records, "
			    "partitions %#x, %d assigned, %d revoked\n",
			    group ? "group" : "assigned", i, cw[i].got,
			    cw[i].partitions_seen, cw[i].assigned,
			    cw[i].revoked);
		KT_OK(ks_consumer_close(cw[i].c));
	}
	for (id = 0; id < BUS_PRODUCERS; id++)
		for (seq = 0; seq < BUS_RECORDS; seq++)
			ck_assert_msg(b->seen[id][seq] == 1, "producer %d's "
			    "record %d delivered %d times (%s)", id, seq,
			    b->seen[id][seq], group ? "group" : "assigned");
	ck_assert_int_eq(got, BUS_TOTAL);
	/* every partition had records: the keys spread them */
	for (i = 0; i < BUS_PARTS; i++) {
		ks_topic_t *t;
		ks_log_t *log;
		KT_OK(ks_topic_open(store, "bus", &t));
		KT_OK(ks_topic_partition(t, i, &log));
		ck_assert_int_gt(ks_log_end_offset(log), 0);
		ks_topic_release(t);
	}
	ks_producer_free(shared);
	free(b);
}

START_TEST(assigned_shared_producer)
{
	run_bus(0, 1);
}
END_TEST

START_TEST(group_own_producers)
{
	run_bus(1, 0);
}
END_TEST

Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, assigned_shared_producer);
	tcase_add_test(tc, group_own_producers);
	suite_add_tcase(s, tc);
	return s;
}
