/*
 * demo.c: a short tour of kstream (`make demo`).
 *
 * The partition log: appends a million records, reads them back through
 * the record iterator and as zero-copy batch views, looks an offset up by
 * time, then lets a child process append with fsync-on-every-append, kills
 * it with SIGKILL in the middle and shows that reopening keeps every
 * acknowledged record.
 *
 * kstream as an event bus: a store with a topic of 4 partitions, a
 * producer thread sending two million records, and a consumer group of 4
 * threads reading them, with the group's assignment and lag at the end.
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0) {                                              \
			fprintf(stderr, "%s: %s\n", #expr, ks_strerror(rc_)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

/* ---- kstream as an event bus ------------------------------------------- */

#define BUS_RECORDS 2000000L
#define BUS_BATCH 1000
#define BUS_PARTITIONS 4
#define BUS_CONSUMERS 4

struct bus_member {
	int id;
	long consumed;
	char assignment[64];    /* what it held at the end */
	int64_t lag;            /* over those partitions, at the end */
	atomic_int owned;       /* partitions held now (rebalance callback) */
};

static ks_store_t *bus_store;
static struct bus_member bus_members[BUS_CONSUMERS];
static atomic_long bus_consumed;
static double bus_t0, bus_t_last;      /* first produce, last record read */
static pthread_barrier_t bus_done;

/* Eager rebalances (the range assignor): every partition is revoked
 * before the member joins again, then its new share is assigned. */
static void bus_rebalance(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n)
{
	struct bus_member *m = opaque;

	(void)c;
	(void)parts;
	if (event == KS_REBALANCE_ASSIGNED)
		atomic_fetch_add(&m->owned, (int)n);
	else
		atomic_fetch_sub(&m->owned, (int)n);
}

static void *bus_consume(void *arg)
{
	struct bus_member *m = arg;
	const char *topics[] = { "bus" };
	const ks_topic_partition_t *parts;
	const ks_message_t *msgs;
	ks_consumer_config_t cfg;
	ks_consumer_t *c;
	size_t i, np;
	int n;

	ks_consumer_config_init(&cfg);
	cfg.group_id = "demo";
	cfg.auto_offset_reset = KS_RESET_EARLIEST;
	cfg.heartbeat_interval_ms = 100; /* quick to notice joins */
	cfg.max_poll_records = BUS_BATCH;
	cfg.rebalance_cb = bus_rebalance;
	cfg.opaque = m;
	CHECK(ks_consumer_new(bus_store, &cfg, &c));
	CHECK(ks_consumer_subscribe(c, topics, 1));
	while (atomic_load(&bus_consumed) < BUS_RECORDS) {
		CHECK(n = ks_consumer_poll(c, 100, &msgs));
		m->consumed += n;
		if (n > 0 && atomic_fetch_add(&bus_consumed, n) + n ==
		    BUS_RECORDS)
			bus_t_last = now();
	}
	/* Everything is read: commit the positions (auto-commit would too,
	 * at close) and note the assignment and its lag. The barrier keeps
	 * every member in the group until all have committed: the first to
	 * leave starts a rebalance. */
	CHECK(ks_consumer_commit(c, NULL, 0, 0));
	CHECK(ks_consumer_assignment(c, &parts, &np));
	for (i = 0; i < np; i++) {
		int64_t lag;
		size_t len = strlen(m->assignment);

		CHECK(ks_consumer_lag(c, parts[i].topic, parts[i].partition,
		    &lag));
		m->lag += lag;
		snprintf(m->assignment + len, sizeof m->assignment - len,
		    "%s%s-%d", len ? " " : "", parts[i].topic,
		    (int)parts[i].partition);
	}
	pthread_barrier_wait(&bus_done);
	CHECK(ks_consumer_close(c));
	return NULL;
}

static void *bus_produce(void *arg)
{
	ks_producer_t *prod = arg;
	ks_record_t recs[BUS_BATCH];
	static char value[100];
	long i;

	memset(value, 'e', sizeof value);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < BUS_BATCH; i++) {
		recs[i].value = value;
		recs[i].value_len = sizeof value;
		recs[i].timestamp = -1;
	}
	/* Keyless records: the sticky partitioner sends about a batch.size
	 * (16 KiB) to one partition, then moves to another. */
	for (i = 0; i < BUS_RECORDS; i += BUS_BATCH)
		CHECK(ks_produce(prod, "bus", KS_PARTITION_ANY, recs,
		    BUS_BATCH, 0, NULL));
	return NULL;
}

static int event_bus(const char *parent)
{
	char dir[256];
	ks_store_config_t scfg;
	ks_topic_config_t tcfg;
	ks_producer_t *prod;
	ks_topic_t *topic;
	ks_committed_t *committed;
	pthread_t producer, consumers[BUS_CONSUMERS];
	size_t ncommitted, i;
	double t, t_produced;
	int32_t p;
	int formed, ok = 1;

	snprintf(dir, sizeof dir, "%s/bus", parent);
	ks_store_config_init(&scfg);
	scfg.flags = KS_STORE_CREATE;
	CHECK(ks_store_open(dir, &scfg, &bus_store));
	ks_topic_config_init(&tcfg);
	tcfg.partitions = BUS_PARTITIONS;
	CHECK(ks_topic_create(bus_store, "bus", &tcfg));
	CHECK(ks_producer_new(bus_store, NULL, &prod));
	printf("\nkstream as an event bus: a store in %s, topic \"bus\" of %d partitions\n",
	    dir, BUS_PARTITIONS);

	/* The group forms first: each member joins from its first poll, and
	 * each join rebalances the group, until all four share the topic. */
	t = now();
	pthread_barrier_init(&bus_done, NULL, BUS_CONSUMERS);
	for (i = 0; i < BUS_CONSUMERS; i++) {
		bus_members[i].id = (int)i + 1;
		pthread_create(&consumers[i], NULL, bus_consume,
		    &bus_members[i]);
	}
	do {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
		for (formed = 1, i = 0; i < BUS_CONSUMERS; i++)
			formed &= atomic_load(&bus_members[i].owned) == 1;
	} while (!formed && now() - t < 10);
	if (!formed) {
		fprintf(stderr, "the group did not form in 10 s\n");
		exit(1);
	}
	printf("group \"demo\" of %d consumer threads formed in %.3f s, a partition each\n",
	    BUS_CONSUMERS, now() - t);

	/* 1 producer thread, 2,000 calls of 1000 records each. */
	bus_t0 = now();
	pthread_create(&producer, NULL, bus_produce, prod);
	pthread_join(producer, NULL);
	t_produced = now() - bus_t0;
	for (i = 0; i < BUS_CONSUMERS; i++)
		pthread_join(consumers[i], NULL);
	pthread_barrier_destroy(&bus_done);
	t = bus_t_last - bus_t0;
	printf("produced 2,000,000 records of 100 bytes, 1000 per call, in %.3f s (%.1f M records/s)\n",
	    t_produced, BUS_RECORDS / t_produced / 1e6);
	printf("the group consumed all %ld in %.3f s from the first produce: %.1f M records/s end to end\n",
	    (long)atomic_load(&bus_consumed), t, BUS_RECORDS / t / 1e6);
	for (i = 0; i < BUS_CONSUMERS; i++) {
		struct bus_member *m = &bus_members[i];
		printf("  consumer %d: %-6s %8ld records, lag %lld\n", m->id,
		    m->assignment, m->consumed, (long long)m->lag);
	}

	/* The group's committed offsets (kept in the store's
	 * __consumer_offsets topic) against each partition's end. */
	CHECK(ks_group_fetch_offsets(ks_store_coordinator(bus_store), "demo",
	    NULL, 0, &committed, &ncommitted));
	CHECK(ks_topic_open(bus_store, "bus", &topic));
	printf("the group's committed offsets:\n");
	for (p = 0; p < BUS_PARTITIONS; p++) {
		int64_t end, lag, off = -1;
		ks_log_t *log;

		CHECK(ks_topic_partition(topic, p, &log));
		end = ks_log_end_offset(log);
		for (i = 0; i < ncommitted; i++)
			if (committed[i].partition == p)
				off = committed[i].offset;
		lag = off < 0 ? end : end - off;
		ok = ok && lag == 0;
		printf("  bus-%d: committed %lld, end offset %lld, lag %lld\n",
		    (int)p, (long long)off, (long long)end, (long long)lag);
	}
	ks_committed_free(committed);
	ks_topic_release(topic);
	ks_producer_free(prod);
	CHECK(ks_store_close(bus_store));
	return ok && atomic_load(&bus_consumed) == BUS_RECORDS ? 0 : -1;
}

int main(void)
{
	char dir[] = "/tmp/kstream-demo-XXXXXX", cmd[64];
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_record_t recs[1000], rec;
	ks_append_info_t info;
	ks_log_view_t view;
	ks_log_stat_t st;
	char value[100];
	int64_t off, n = 0, t0_ms = 1700000000000LL;
	int pfd[2], i, r;
	double t;
	pid_t pid;

	if (!mkdtemp(dir))
		return 1;
	printf("kstream %s: a partition log in %s\n\n", ks_version_string(), dir);

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	cfg.segment_bytes = 32 << 20;
	CHECK(ks_log_open(dir, &cfg, &log));

	/* 1. Append: 1000 batches of 1000 records, 100-byte values. */
	memset(value, 'v', sizeof value);
	for (i = 0; i < 1000; i++) {
		memset(&recs[i], 0, sizeof recs[i]);
		recs[i].value = value;
		recs[i].value_len = sizeof value;
	}
	t = now();
	for (i = 0; i < 1000; i++) {
		int j;
		for (j = 0; j < 1000; j++)
			recs[j].timestamp = t0_ms + i; /* one ms per batch */
		CHECK(ks_log_append(log, recs, 1000, &info));
	}
	t = now() - t;
	CHECK(ks_log_stat(log, &st));
	printf("appended 1,000,000 records of 100 bytes in %.3f s (%.1f M records/s)\n",
	    t, 1.0 / t);
	printf("  offsets %lld..%lld, %u segments, %.1f MiB\n",
	    (long long)ks_log_start_offset(log),
	    (long long)ks_log_end_offset(log) - 1, st.segment_count,
	    st.size_bytes / 1048576.0);

	/* 2. Read every record back through the iterator. */
	t = now();
	CHECK(ks_log_iter_new(log, 0, &it));
	while ((r = ks_log_iter_next(it, &rec)) > 0)
		n += (int64_t)rec.value_len == 100;
	CHECK(r);
	ks_log_iter_free(it);
	t = now() - t;
	printf("iterated %lld records in %.3f s (%.1f M records/s)\n",
	    (long long)n, t, n / t / 1e6);

	/* 3. Zero-copy reads of whole batches, as a Fetch would send them. */
	CHECK(ks_log_read(log, 123456, 1 << 20, &view));
	printf("read(offset 123456, 1 MiB): %zu bytes of whole batches, offsets %lld..%lld, no copy\n",
	    view.len, (long long)view.base_offset, (long long)view.next_offset - 1);
	ks_log_view_release(&view);

	/* 4. Offset by timestamp. */
	CHECK(ks_log_offset_for_time(log, t0_ms + 500, &off));
	printf("first record at or after timestamp base+500 ms: offset %lld\n",
	    (long long)off);
	CHECK(ks_log_close(log));

	/* 5. Crash: a child appends, fsync on every append, and is killed. */
	printf("\nchild appends with flush.messages=1 and reports each acknowledged offset...\n");
	if (pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		cfg.flush_messages = 1;
		close(pfd[0]);
		CHECK(ks_log_open(dir, &cfg, &log));
		for (;;) {
			CHECK(ks_log_append(log, recs, 10, &info));
			if (write(pfd[1], &info.last_offset, 8) != 8)
				_exit(1);
		}
	}
	close(pfd[1]);
	{
		int64_t ack = -1, a;
		int acks = 0;
		while (acks < 200 && read(pfd[0], &a, 8) == 8) {
			ack = a;
			acks++;
		}
		kill(pid, SIGKILL);
		while (read(pfd[0], &a, 8) == 8)
			ack = a; /* acks already in the pipe */
		waitpid(pid, NULL, 0);
		close(pfd[0]);
		printf("killed it with SIGKILL after %d+ acknowledged appends; last acknowledged offset %lld\n",
		    acks, (long long)ack);
		cfg.flush_messages = 0;
		cfg.log_cb = NULL;
		CHECK(ks_log_open(dir, &cfg, &log));
		CHECK(ks_log_stat(log, &st));
		printf("reopened: clean=%d, recovery scanned %llu bytes, cut %llu bytes; end offset %lld: %s\n",
		    st.clean_open, (unsigned long long)st.recovery_scanned,
		    (unsigned long long)st.recovery_cut,
		    (long long)st.end_offset,
		    st.end_offset > ack ? "every acknowledged record is there" :
		                          "RECORDS LOST");
		CHECK(ks_log_close(log));
		if (st.end_offset <= ack)
			return 1;
	}

	/* 6. kstream as an event bus between threads. */
	if (event_bus(dir) != 0)
		return 1;

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	printf("\ndone; removed %s\n", dir);
	return 0;
}
