/*
 * consumer_group.c: a consumer group between the threads of one process.
 *
 * A producer thread writes orders, keyed by customer, to the topic "orders"
 * (6 partitions) for a second and a half. Three consumer threads form the
 * group "billing" with ks_consumer_subscribe() and share the partitions
 * with the cooperative-sticky assignor; their rebalance callbacks print
 * each partition they gain or give up. Midway, consumer-3 leaves the group
 * (ks_consumer_close) and the two others take over its partitions, from
 * the offsets it committed. At the end: what each consumer read, every
 * record read exactly once, the group's committed offsets and its lag.
 *
 * Commits are made by hand (enable.auto.commit off): after polls, when
 * partitions are revoked, and before leaving.
 *
 *   cc -o consumer_group consumer_group.c $(pkg-config --cflags --libs kstream)
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARTITIONS 6
#define CONSUMERS 3
#define CUSTOMERS 40
#define BATCH 20            /* records per ks_produce call */
#define PRODUCE_MS 1500     /* how long the producer runs */
#define LEAVER 2            /* consumer-3 ... */
#define LEAVE_AT_MS 700     /* ... leaves the group then */
#define COMMIT_EVERY_MS 200 /* the routine commit */

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0) {                                              \
			fprintf(stderr, "%s: %s\n", #expr, ks_strerror(rc_)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

struct member {
	int id;
	char name[16];
	long consumed;
	long per_part[PARTITIONS];
	char final_assignment[128]; /* what it held when it stopped */
};

static ks_store_t *store;
static struct timespec t0;

/* What the threads share, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long produced;
static int producing = 1;
static int64_t next_offset[PARTITIONS]; /* per partition, across members */
static long read_once, duplicates, skipped;

static long elapsed_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - t0.tv_sec) * 1000 +
	    (ts.tv_nsec - t0.tv_nsec) / 1000000;
}

/* Appends to a line buffer, never past its end. */
static void add(char *buf, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
}

/*
 * The rebalance callback, in the consumer's own thread, from inside
 * ks_consumer_poll() or ks_consumer_close(). With cooperative-sticky it
 * hears only of the partitions that move. Revoked partitions are still
 * this member's during the call: commit their positions now, so that the
 * next owner starts right after the last record read here.
 */
static void on_rebalance(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n)
{
	struct member *m = opaque;
	char line[512] = "";
	size_t i;
	int rc;

	add(line, sizeof line, "[%4ld ms] %s %s", elapsed_ms(), m->name,
	    event == KS_REBALANCE_ASSIGNED ? "assigned" :
	    event == KS_REBALANCE_REVOKED ? "revoked " : "lost    ");
	for (i = 0; i < n; i++)
		add(line, sizeof line, " %s-%d@%lld", parts[i].topic,
		    (int)parts[i].partition, (long long)parts[i].offset);
	if (event == KS_REBALANCE_REVOKED) {
		rc = ks_consumer_commit(c, parts, n, 0);
		add(line, sizeof line, rc == 0 ? " (committed)" :
		    " (commit failed: %s)", ks_strerror(rc));
	}
	printf("%s\n", line);
}

/* Counts the records of one poll, and checks that no record is read
 * twice or skipped, whichever member reads it. */
static void account(struct member *m, const ks_message_t *msgs, int n)
{
	int i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < n; i++) {
		int32_t p = msgs[i].partition;
		int64_t off = msgs[i].rec.offset;

		if (off < next_offset[p]) {
			duplicates++;
			continue;
		}
		if (off > next_offset[p])
			skipped += off - next_offset[p];
		next_offset[p] = off + 1;
		read_once++;
	}
	pthread_mutex_unlock(&mu);
	for (i = 0; i < n; i++)
		m->per_part[msgs[i].partition]++;
	m->consumed += n;
}

static int all_read(void)
{
	int done;

	pthread_mutex_lock(&mu);
	done = !producing && read_once + skipped == produced;
	pthread_mutex_unlock(&mu);
	return done;
}

/*
 * Commits every assigned partition's position, durably. While the group
 * rebalances it refuses (KS_EREBALANCE, or KS_EGENERATION until this
 * member has heard of the new generation): polling moves the rebalance
 * on, and the commit is tried again.
 */
static int commit_positions(struct member *m, ks_consumer_t *c)
{
	const ks_message_t *msgs;
	long deadline = elapsed_ms() + 5000;
	int rc, n;

	while ((rc = ks_consumer_commit(c, NULL, 0, 0)) == KS_EREBALANCE ||
	    rc == KS_EGENERATION) {
		if (elapsed_ms() > deadline)
			break;
		if ((n = ks_consumer_poll(c, 10, &msgs)) < 0)
			return n;
		account(m, msgs, n);
	}
	return rc;
}

static void *consume(void *arg)
{
	struct member *m = arg;
	const char *topics[] = { "orders" };
	const ks_topic_partition_t *parts;
	const ks_message_t *msgs;
	ks_consumer_config_t cfg;
	ks_consumer_t *c;
	long next_commit = 0;
	size_t i, np;
	int n, rc;

	ks_consumer_config_init(&cfg);
	cfg.group_id = "billing";
	cfg.client_id = m->name;
	cfg.auto_offset_reset = KS_RESET_EARLIEST; /* a new group reads all */
	cfg.enable_auto_commit = 0;
	cfg.assignors = "cooperative-sticky";
	/* Members learn of a rebalance at their next heartbeat: a short
	 * interval makes the hand-overs quick. */
	cfg.heartbeat_interval_ms = 100;
	cfg.rebalance_cb = on_rebalance;
	cfg.opaque = m;
	CHECK(ks_consumer_new(store, &cfg, &c));
	CHECK(ks_consumer_subscribe(c, topics, 1));

	for (;;) {
		if (m->id == LEAVER && elapsed_ms() >= LEAVE_AT_MS)
			break;
		if (all_read())
			break;
		/* The timeout bounds the wait, so that the loop looks at
		 * its exit conditions and heartbeats keep going. */
		n = ks_consumer_poll(c, 100, &msgs);
		CHECK(n);
		account(m, msgs, n);
		if (elapsed_ms() >= next_commit) {
			rc = ks_consumer_commit(c, NULL, 0, 0);
			/* refused during a rebalance: the next one commits */
			if (rc != 0 && rc != KS_EREBALANCE &&
			    rc != KS_EGENERATION)
				CHECK(rc);
			next_commit = elapsed_ms() + COMMIT_EVERY_MS;
		}
	}

	CHECK(commit_positions(m, c));
	CHECK(ks_consumer_assignment(c, &parts, &np));
	for (i = 0; i < np; i++)
		add(m->final_assignment, sizeof m->final_assignment, " %s-%d",
		    parts[i].topic, (int)parts[i].partition);
	if (m->id == LEAVER)
		printf("[%4ld ms] %s leaves the group after %ld records\n",
		    elapsed_ms(), m->name, m->consumed);
	/* Gives its partitions up (the callback hears of it) and leaves the
	 * group: the others rebalance at once. */
	CHECK(ks_consumer_close(c));
	return NULL;
}

static void *produce(void *arg)
{
	ks_producer_t *prod = arg;
	ks_record_t recs[BATCH];
	char keys[BATCH][16], values[BATCH][48];
	struct timespec pause = { 0, 2000000 }; /* 2 ms between calls */
	long seq = 0;
	int i;

	while (elapsed_ms() < PRODUCE_MS) {
		for (i = 0; i < BATCH; i++, seq++) {
			int cust = (int)(seq * 7 % CUSTOMERS);

			snprintf(keys[i], sizeof keys[i], "customer-%02d", cust);
			snprintf(values[i], sizeof values[i],
			    "order %ld: %ld.%02ld EUR", seq, 5 + seq % 95,
			    seq * 37 % 100);
			memset(&recs[i], 0, sizeof recs[i]);
			recs[i].key = keys[i];
			recs[i].key_len = strlen(keys[i]);
			recs[i].value = values[i];
			recs[i].value_len = strlen(values[i]);
			recs[i].timestamp = -1; /* now */
		}
		/* KS_PARTITION_ANY: the key's hash picks the partition, so
		 * a customer's orders stay in order. */
		CHECK(ks_produce(prod, "orders", KS_PARTITION_ANY, recs, BATCH,
		    0, NULL));
		pthread_mutex_lock(&mu);
		produced += BATCH;
		pthread_mutex_unlock(&mu);
		nanosleep(&pause, NULL);
	}
	pthread_mutex_lock(&mu);
	producing = 0;
	pthread_mutex_unlock(&mu);
	printf("[%4ld ms] producer done: %ld orders\n", elapsed_ms(), seq);
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	char dir[] = "/tmp/kstream-group-XXXXXX";
	static struct member members[CONSUMERS];
	ks_store_config_t scfg;
	ks_topic_config_t tcfg;
	ks_producer_t *prod;
	ks_topic_t *topic;
	ks_committed_t *committed;
	ks_group_info_t *info;
	pthread_t prod_thread, threads[CONSUMERS];
	long total = 0;
	size_t ncommitted, i;
	int ok = 1;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ks_store_config_init(&scfg);
	scfg.flags |= KS_STORE_CREATE;
	CHECK(ks_store_open(dir, &scfg, &store));
	ks_topic_config_init(&tcfg);
	tcfg.partitions = PARTITIONS;
	CHECK(ks_topic_create(store, "orders", &tcfg));
	CHECK(ks_producer_new(store, NULL, &prod));
	printf("kstream %s: topic \"orders\" (%d partitions), group \"billing\" "
	    "of %d consumers (cooperative-sticky)\n\n", ks_version_string(),
	    PARTITIONS, CONSUMERS);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < CONSUMERS; i++) {
		members[i].id = (int)i;
		snprintf(members[i].name, sizeof members[i].name,
		    "consumer-%d", (int)i + 1);
		pthread_create(&threads[i], NULL, consume, &members[i]);
	}
	pthread_create(&prod_thread, NULL, produce, prod);
	pthread_join(prod_thread, NULL);
	for (i = 0; i < CONSUMERS; i++)
		pthread_join(threads[i], NULL);

	/* What each member read. */
	printf("\n");
	for (i = 0; i < CONSUMERS; i++) {
		struct member *m = &members[i];
		int p;

		const char *sep = "";

		printf("%s: %6ld records (", m->name, m->consumed);
		for (p = 0; p < PARTITIONS; p++) {
			if (!m->per_part[p])
				continue;
			printf("%sorders-%d: %ld", sep, p, m->per_part[p]);
			sep = ", ";
		}
		printf(")\n    held when it stopped:%s\n",
		    *m->final_assignment ? m->final_assignment : " nothing");
		total += m->consumed;
	}
	printf("total consumed %ld, produced %ld: %s (%ld read twice, %ld "
	    "skipped)\n", total, produced,
	    total == produced ? "every record exactly once" : "MISMATCH",
	    duplicates, skipped);
	ok = total == produced && duplicates == 0 && skipped == 0;

	/* The group's committed offsets, from the store's coordinator, next
	 * to each partition's end: the difference is the lag. */
	CHECK(ks_group_fetch_offsets(ks_store_coordinator(store), "billing",
	    NULL, 0, &committed, &ncommitted));
	CHECK(ks_topic_open(store, "orders", &topic));
	printf("\npartition  end offset  committed  lag\n");
	for (i = 0; i < ncommitted; i++) {
		ks_log_t *log;
		int64_t end, lag;

		CHECK(ks_topic_partition(topic, committed[i].partition, &log));
		end = ks_log_end_offset(log);
		lag = end - committed[i].offset;
		printf("%s-%-4d %10lld %10lld %4lld\n", committed[i].topic,
		    (int)committed[i].partition, (long long)end,
		    (long long)committed[i].offset, (long long)lag);
		ok = ok && lag == 0;
	}
	ok = ok && ncommitted == PARTITIONS;
	ks_committed_free(committed);
	ks_topic_release(topic);

	CHECK(ks_group_describe(ks_store_coordinator(store), "billing", &info));
	printf("group \"billing\": %s, generation %d, %zu members\n",
	    ks_group_state_name(info->state), (int)info->generation,
	    info->member_count);
	ks_group_info_free(info);

	ks_producer_free(prod);
	CHECK(ks_store_close(store));
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	printf("\n%s; removed %s\n", ok ? "done" : "FAILED", dir);
	return ok ? 0 : 1;
}
