/*
 * bench_bus.c: the in-process event bus's benchmark table.
 *
 * Threads of one process hand records to each other through a store's topic
 * (kstream/client.h: ks_produce, ks_consumer_poll) and, as the peer, through
 * ZeroMQ's inproc transport doing the same work in the same process: the
 * throughput from one producer to four consumers, and the latency from a
 * produce to its delivery in another thread, with a blocking and a
 * busy-polling consumer. Runs each workload R times and prints one table of
 * medians with the kstream/ZeroMQ ratios and the target each row was set.
 * Benchmarks are not tests: nothing here asserts a target. See
 * bench/README.md for what every row measures.
 *
 *   bench_bus [-q] [-r RUNS] [-d DIR] [-v]
 *
 *   -q       quick run: smaller sizes (under half a minute in all)
 *   -r RUNS  runs per measurement, median reported (default 5)
 *   -d DIR   scratch directory (default $TMPDIR, else /tmp); the store lives
 *            in one fresh subdirectory, removed at exit
 *   -v       print every sample, not only the medians
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>
#include <kstream/client.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTES 32
#define NOTE_LEN 1024
#include "harness.h"
#include <zmq.h>

#define VALUE_LEN 100       /* bytes per record value, every row */
#define BATCH_RECS 1000     /* records per ks_produce, rows 1 and 1b */
#define NPARTS 4            /* partitions = consumer threads, rows 1, 1b */
#define MAX_POLL 10000      /* max_poll_records, rows 1 and 1b */
#define LAT_GAP_NS 20000    /* rows 2, 3: idle time between two produces */
#define LAT_SETTLE_US 200000 /* rows 2, 3: pause after the first record */
#define ZMQ_HWM 100000      /* ZeroMQ SNDHWM and RCVHWM, row 1's peer */
#define SETTLE_SECS 15.0    /* a consumer group must settle within this */

/* ------------------------------------------------------------------ */
/* Options, sizes, scratch directory                                   */

static struct {
	int runs;
	int quick;
	const char *base;
	char scratch[PATH_MAX];
} opt = { .runs = 5 };

static struct {
	long tput_n;            /* rows 1, 1b: records per kstream run */
	long peer_cap;          /* row 1's peer stops at this many records... */
	double peer_secs;       /* ...or after this many seconds */
	long lat_n;             /* rows 2, 3: measured records per run */
	long lat_warm;          /* rows 2, 3: unmeasured records sent first */
} sz;

static void set_sizes(int quick)
{
	sz.tput_n = quick ? 2000000 : 20000000;
	sz.peer_cap = sz.tput_n;
	sz.peer_secs = quick ? 1.0 : 3.0;
	sz.lat_n = quick ? 20000 : 100000;
	sz.lat_warm = quick ? 200 : 1000;
}

#define ZMQ_TRY(expr)                                                         \
	do {                                                                  \
		if ((expr) < 0)                                               \
			die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,       \
			    zmq_strerror(zmq_errno()));                       \
	} while (0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Keeps the compiler from dropping reads whose results are otherwise unused. */
static atomic_ulong sink;

/* ------------------------------------------------------------------ */
/* Samples, medians, the table                                         */

enum unit { U_RATE, U_NS };
enum col { C_KS, C_ZMQ };

static const bench_unit_t units[] = {
	[U_RATE] = BENCH_UNIT_RATE,
	[U_NS] = { { { 1e6, 1e6, "%.2f ms" }, { 0, 1e3, "%.2f us" } }, 1 },
};

static const bench_layout_t layout = {
	.units = units, .cols = { "kstream", "ZeroMQ" },
	.what_w = 44, .val_w = 12, .ratio_w = 10, .target_w = 11, .rule = 104,
	.none = "-",
};

/* ------------------------------------------------------------------ */
/* Machine context                                                     */

static void print_context(void)
{
	char fstype[64], clk[64], kextra[80];
	int zmaj, zmin, zpat;

	read_field("/sys/devices/system/clocksource/clocksource0/"
	    "current_clocksource", NULL, clk, sizeof(clk));
	snprintf(kextra, sizeof(kextra), ", clocksource %s", clk);
	zmq_version(&zmaj, &zmin, &zpat);
	printf("kstream %s in-process bus benchmark: medians of %d run%s%s\n",
	    ks_version_string(), opt.runs, opt.runs == 1 ? "" : "s",
	    opt.quick ? " (quick sizes)" : "");
	print_machine(kextra, fstype);
	printf("peer:    ZeroMQ %d.%d.%d, inproc transport\n", zmaj, zmin,
	    zpat);
	print_context_end();
}

/* ------------------------------------------------------------------ */
/* The store                                                           */

static ks_store_t *store;

/* The store in scratch: no cleaner thread, topics without fsync (an event
 * bus between threads; durability is bench_log's row 6). */
static void store_open(void)
{
	ks_store_config_t cfg;
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s/store", opt.scratch) >=
	    (int)sizeof(dir))
		die("scratch path too long");
	ks_store_config_init(&cfg);
	cfg.flags |= KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	cfg.topic_defaults.log.flush_messages = 0;
	cfg.topic_defaults.log.flush_ms = 0;
	KS_TRY(ks_store_open(dir, &cfg, &store));
}

static void topic_create(const char *name, int32_t partitions)
{
	ks_topic_config_t cfg;

	ks_topic_config_init(&cfg);
	cfg.partitions = partitions;
	cfg.log.flush_messages = 0;
	cfg.log.flush_ms = 0;
	KS_TRY(ks_topic_create(store, name, &cfg));
}

/* Removes a run's topic, so that no run pays for another's pages. */
static void topic_drop(const char *name)
{
	KS_TRY(ks_topic_delete(store, name));
	settle();
}

static ks_consumer_t *consumer_new(size_t max_poll, int busy,
    const char *group)
{
	ks_consumer_config_t cfg;
	ks_consumer_t *c;

	ks_consumer_config_init(&cfg);
	cfg.group_id = group;
	cfg.enable_auto_commit = 0;
	cfg.max_poll_records = max_poll;
	cfg.busy_poll = busy;
	KS_TRY(ks_consumer_new(store, &cfg, &c));
	return c;
}

/* ------------------------------------------------------------------ */
/* Rows 1, 1b: one producer, four partitions, four consumers            */

/* Records a consumer got twice, over all runs of rows 1 (kstream) and 2-3
 * (kstream, ZeroMQ): a bench does not die of them, it reports them. */
static long dups_tput, dups_lat_ks, dups_lat_zq;

enum cmode { CM_UNKNOWN, CM_GROUP, CM_ASSIGN };
static enum cmode cmode = CM_UNKNOWN;

typedef struct {
	const char *topic;
	char group[80];
	int group_mode;
	int rr;                 /* produce round-robin, not KS_PARTITION_ANY */
	long n;
	const recset_t *rs;
	ks_producer_t *prod;
	pthread_barrier_t start;
	atomic_long consumed;
	atomic_int held[NPARTS];  /* group mode: partitions each one holds */
	atomic_int failed;        /* group mode: it did not settle */
	atomic_long per_part[NPARTS];
	atomic_long dups;         /* records delivered again */
	double t0, t_prod, t_end;
} tput_t;

typedef struct {
	tput_t *t;
	int idx;
} tput_arg_t;

/* Group mode: polls until every member holds exactly one partition, or
 * SETTLE_SECS pass. 0 once settled. */
static int group_settle(tput_t *t, ks_consumer_t *c, int idx)
{
	const ks_topic_partition_t *parts;
	const ks_message_t *msgs;
	double dl = now_s() + SETTLE_SECS;
	size_t np;
	int i, all, rc;

	if (ks_consumer_subscribe(c, &t->topic, 1) < 0)
		return -1;
	while (now_s() < dl && !atomic_load(&t->failed)) {
		if ((rc = ks_consumer_poll(c, 10, &msgs)) < 0)
			return -1;
		if (rc > 0)
			die("group: records before the producer started");
		if (ks_consumer_assignment(c, &parts, &np) < 0)
			return -1;
		atomic_store(&t->held[idx], (int)np);
		for (i = 0, all = 1; i < NPARTS; i++)
			all &= atomic_load(&t->held[i]) == 1;
		if (all)
			return 0;
	}
	return -1;
}

static void *tput_consumer(void *arg)
{
	tput_arg_t *a = arg;
	tput_t *t = a->t;
	ks_consumer_t *c;
	const ks_message_t *msgs;
	int64_t next[NPARTS] = { 0 };
	long got[NPARTS] = { 0 }, dups = 0;
	unsigned long acc = 0;
	int i, n;

	c = consumer_new(MAX_POLL, 0, t->group_mode ? t->group : NULL);
	if (t->group_mode) {
		if (group_settle(t, c, a->idx) < 0)
			atomic_store(&t->failed, 1);
	} else {
		ks_topic_partition_t tp = { .topic = t->topic,
		    .partition = a->idx, .offset = KS_OFFSET_BEGINNING };

		KS_TRY(ks_consumer_assign(c, &tp, 1));
	}
	pthread_barrier_wait(&t->start);
	while (!atomic_load(&t->failed) && atomic_load(&t->consumed) < t->n) {
		long before;

		long fresh = 0;

		n = ks_consumer_poll(c, 20, &msgs);
		KS_TRY(n);
		for (i = 0; i < n; i++) {
			const ks_message_t *m = &msgs[i];
			int32_t p = m->partition;

			if (p < 0 || p >= NPARTS || m->rec.offset > next[p])
				die("consumer %d: partition %d offset %lld, "
				    "expected %lld", a->idx, (int)p,
				    (long long)m->rec.offset,
				    (long long)(p >= 0 && p < NPARTS ?
				    next[p] : -1));
			/* Delivered before: counted apart, in the notes. */
			if (m->rec.offset < next[p]) {
				dups++;
				continue;
			}
			next[p]++;
			got[p]++;
			fresh++;
			acc += m->rec.value_len +
			    ((const uint8_t *)m->rec.value)[0];
		}
		if (fresh == 0)
			continue;
		before = atomic_fetch_add(&t->consumed, fresh);
		if (before < t->n && before + fresh >= t->n)
			t->t_end = now_s();
	}
	for (i = 0; i < NPARTS; i++)
		atomic_fetch_add(&t->per_part[i], got[i]);
	atomic_fetch_add(&t->dups, dups);
	atomic_fetch_add(&sink, acc);
	KS_TRY(ks_consumer_close(c));
	return NULL;
}

static void *tput_producer(void *arg)
{
	tput_t *t = arg;
	long calls = t->n / BATCH_RECS, i;

	pthread_barrier_wait(&t->start);
	if (atomic_load(&t->failed))
		return NULL;
	t->t0 = now_s();
	for (i = 0; i < calls; i++)
		KS_TRY(ks_produce(t->prod, t->topic, t->rr ?
		    (int32_t)(i % NPARTS) : KS_PARTITION_ANY, t->rs->recs,
		    BATCH_RECS, 0, NULL));
	t->t_prod = now_s();
	return NULL;
}

/* One run of n records; returns records/s end to end, or -1 if the group
 * did not settle. prod_rate gets the producer's own rate, spread the
 * largest partition's share over the smallest's. n = 0 only tells whether
 * the group settles (0 if it does). */
static double ks_tput_run(int run, int rr, const recset_t *rs, int group_mode,
    long n, double *prod_rate, double *spread)
{
	pthread_t th[NPARTS + 1];
	tput_arg_t args[NPARTS];
	tput_t *t;
	char topic[64];
	long lo = LONG_MAX, hi = 0;
	double rate;
	int i;

	snprintf(topic, sizeof(topic), "tput-%s-%d", rr ? "rr" : "sticky", run);
	topic_create(topic, NPARTS);
	if (!(t = calloc(1, sizeof(*t))))
		die("out of memory");
	t->topic = topic;
	snprintf(t->group, sizeof(t->group), "bench-%s", topic);
	t->group_mode = group_mode;
	t->rr = rr;
	t->n = n;
	t->rs = rs;
	KS_TRY(ks_producer_new(store, NULL, &t->prod));
	PT_TRY(pthread_barrier_init(&t->start, NULL, NPARTS + 1));
	for (i = 0; i < NPARTS; i++) {
		args[i] = (tput_arg_t){ .t = t, .idx = i };
		PT_TRY(pthread_create(&th[i], NULL, tput_consumer, &args[i]));
	}
	PT_TRY(pthread_create(&th[NPARTS], NULL, tput_producer, t));
	for (i = 0; i <= NPARTS; i++)
		pthread_join(th[i], NULL);
	ks_producer_free(t->prod);
	pthread_barrier_destroy(&t->start);
	topic_drop(topic);
	if (atomic_load(&t->failed) || n == 0) {
		rate = atomic_load(&t->failed) ? -1 : 0;
		free(t);
		return rate;
	}
	if (atomic_load(&t->consumed) != t->n)
		die("%s: consumed %ld records, produced %ld", topic,
		    atomic_load(&t->consumed), t->n);
	dups_tput += atomic_load(&t->dups);
	for (i = 0; i < NPARTS; i++) {
		long c = atomic_load(&t->per_part[i]);

		lo = c < lo ? c : lo;
		hi = c > hi ? c : hi;
	}
	*spread = lo > 0 ? (double)hi / (double)lo : 1e9;
	*prod_rate = (double)t->n / (t->t_prod - t->t0);
	rate = (double)t->n / (t->t_end - t->t0);
	free(t);
	return rate;
}

/* ZeroMQ: one PUSH socket per consumer, sent to round-robin, one message
 * per record; an empty message ends a consumer's stream. */
typedef struct {
	void *ctx;
	void *push[NPARTS];
	char ep[NPARTS][64];
	const recset_t *rs;
	long cap;
	double secs;
	pthread_barrier_t start;
	atomic_int finished;
	atomic_long received;
	long sent;
	double t0, t_end;
} ztput_t;

typedef struct {
	ztput_t *z;
	int idx;
} ztput_arg_t;

static void zmq_hwm(void *s)
{
	int hwm = ZMQ_HWM;

	ZMQ_TRY(zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)));
	ZMQ_TRY(zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)));
}

static void *ztput_consumer(void *arg)
{
	ztput_arg_t *a = arg;
	ztput_t *z = a->z;
	uint8_t buf[VALUE_LEN];
	unsigned long acc = 0;
	long got = 0;
	void *s;
	int r;

	if (!(s = zmq_socket(z->ctx, ZMQ_PULL)))
		die("zmq_socket: %s", zmq_strerror(zmq_errno()));
	zmq_hwm(s);
	ZMQ_TRY(zmq_connect(s, z->ep[a->idx]));
	pthread_barrier_wait(&z->start);
	for (;;) {
		r = zmq_recv(s, buf, sizeof(buf), 0);
		if (r < 0 && zmq_errno() == EINTR)
			continue;
		ZMQ_TRY(r);
		if (r == 0)
			break;
		acc += (unsigned long)r + buf[0];
		got++;
	}
	atomic_fetch_add(&z->received, got);
	if (atomic_fetch_add(&z->finished, 1) == NPARTS - 1)
		z->t_end = now_s();
	atomic_fetch_add(&sink, acc);
	zmq_close(s);
	return NULL;
}

static void *ztput_producer(void *arg)
{
	ztput_t *z = arg;
	double dl;
	long i = 0, j;
	size_t k = 0;

	pthread_barrier_wait(&z->start);
	z->t0 = now_s();
	dl = z->t0 + z->secs;
	while (i < z->cap) {
		for (j = 0; j < BATCH_RECS && i < z->cap; j++, i++) {
			ZMQ_TRY(zmq_send(z->push[i % NPARTS],
			    z->rs->recs[k].value, VALUE_LEN, 0));
			if (++k == z->rs->n)
				k = 0;
		}
		if (now_s() >= dl)
			break;
	}
	z->sent = i;
	for (j = 0; j < NPARTS; j++)
		ZMQ_TRY(zmq_send(z->push[j], "", 0, 0));
	return NULL;
}

static double zmq_tput_run(int run, const recset_t *rs, long *sent)
{
	pthread_t th[NPARTS + 1];
	ztput_arg_t args[NPARTS];
	ztput_t *z;
	int i, linger = 0;
	double rate;

	if (!(z = calloc(1, sizeof(*z))))
		die("out of memory");
	if (!(z->ctx = zmq_ctx_new()))
		die("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
	z->rs = rs;
	z->cap = sz.peer_cap;
	z->secs = sz.peer_secs;
	for (i = 0; i < NPARTS; i++) {
		snprintf(z->ep[i], sizeof(z->ep[i]), "inproc://tput-%d-%d",
		    run, i);
		if (!(z->push[i] = zmq_socket(z->ctx, ZMQ_PUSH)))
			die("zmq_socket: %s", zmq_strerror(zmq_errno()));
		zmq_hwm(z->push[i]);
		ZMQ_TRY(zmq_setsockopt(z->push[i], ZMQ_LINGER, &linger,
		    sizeof(linger)));
		ZMQ_TRY(zmq_bind(z->push[i], z->ep[i]));
	}
	PT_TRY(pthread_barrier_init(&z->start, NULL, NPARTS + 1));
	for (i = 0; i < NPARTS; i++) {
		args[i] = (ztput_arg_t){ .z = z, .idx = i };
		PT_TRY(pthread_create(&th[i], NULL, ztput_consumer, &args[i]));
	}
	/* The PUSH sockets move to the producer thread: pthread_create is
	 * the full barrier ZeroMQ asks for when a socket changes threads. */
	PT_TRY(pthread_create(&th[NPARTS], NULL, ztput_producer, z));
	for (i = 0; i <= NPARTS; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&z->received) != z->sent)
		die("ZeroMQ: received %ld messages, sent %ld",
		    atomic_load(&z->received), z->sent);
	for (i = 0; i < NPARTS; i++)
		zmq_close(z->push[i]);
	zmq_ctx_term(z->ctx);
	pthread_barrier_destroy(&z->start);
	*sent = z->sent;
	rate = (double)z->sent / (z->t_end - z->t0);
	free(z);
	return rate;
}

static void rows_tput(const recset_t *rs)
{
	samples_t ks = { .n = 0 }, kp = { .n = 0 }, krr = { .n = 0 };
	samples_t krp = { .n = 0 }, zq = { .n = 0 };
	double prod_rate, spread, sp_max = 0, rr_sp_max = 0, v;
	long sent = 0;
	int i;
	row_t *r;

	progress("[1] 1 producer -> %d partitions -> %d consumers, %ld records "
	    "of %d B\n", NPARTS, NPARTS, sz.tput_n, VALUE_LEN);
	/* Whether consumer groups work yet: a group of four if they do. */
	if (cmode == CM_UNKNOWN) {
		v = ks_tput_run(0, 0, rs, 1, 0, &prod_rate, &spread);
		cmode = v < 0 ? CM_ASSIGN : CM_GROUP;
		progress("  consumers: %s\n", cmode == CM_GROUP ?
		    "a group of four (ks_consumer_subscribe)" :
		    "ks_consumer_assign, one partition each (the group did "
		    "not settle)");
	}
	for (i = 0; i < opt.runs; i++) {
		v = ks_tput_run(i + 1, 0, rs, cmode == CM_GROUP, sz.tput_n,
		    &prod_rate, &spread);
		if (v < 0)
			die("the consumer group did not settle in %.0f s",
			    SETTLE_SECS);
		sample(&ks, "kstream, sticky partitioner", U_RATE, v);
		kp.v[kp.n++] = prod_rate;
		sp_max = spread > sp_max ? spread : sp_max;
	}
	done_msg("kstream, sticky partitioner", U_RATE, median(&ks));
	for (i = 0; i < opt.runs; i++) {
		v = ks_tput_run(i + 1, 1, rs, cmode == CM_GROUP, sz.tput_n,
		    &prod_rate, &spread);
		if (v < 0)
			die("the consumer group did not settle in %.0f s",
			    SETTLE_SECS);
		sample(&krr, "kstream, round-robin", U_RATE, v);
		krp.v[krp.n++] = prod_rate;
		rr_sp_max = spread > rr_sp_max ? spread : rr_sp_max;
	}
	done_msg("kstream, round-robin", U_RATE, median(&krr));
	for (i = 0; i < opt.runs; i++)
		sample(&zq, "ZeroMQ PUSH/PULL", U_RATE,
		    zmq_tput_run(i, rs, &sent));
	done_msg("ZeroMQ PUSH/PULL", U_RATE, median(&zq));

	r = add_row("1", U_RATE, ">= 10 M/s", 10e6,
	    "1 prod -> %d parts -> %d cons, sticky, rec/s", NPARTS, NPARTS);
	r->v[C_KS] = median(&ks);
	r->v[C_ZMQ] = median(&zq);
	r = add_row("1b", U_RATE, ">= 10 M/s", 10e6,
	    "1 prod -> %d parts -> %d cons, round-robin", NPARTS, NPARTS);
	r->v[C_KS] = median(&krr);
	r->v[C_ZMQ] = median(&zq);
	note("1: end to end, from the first ks_produce to the last record "
	    "polled: %ld records of %d B per run, keyless, %d per ks_produce; "
	    "consumers %s, max_poll_records %d, ks_consumer_poll with a 20 ms "
	    "timeout, each checking every offset and reading each value's "
	    "first byte. Row 1 produces with KS_PARTITION_ANY (the sticky "
	    "partitioner, batch.size 16384): largest partition over smallest "
	    "%.3f at worst over the runs; row 1b names the partitions in turn "
	    "(%.3f). The producer alone ran at %.2f M/s (1) and %.2f M/s (1b).",
	    sz.tput_n, VALUE_LEN, BATCH_RECS, cmode == CM_GROUP ?
	    "in a group of four (ks_consumer_subscribe; the group settled "
	    "before the clock started)" :
	    "given one partition each with ks_consumer_assign (a group of four "
	    "through ks_consumer_subscribe did not settle)", MAX_POLL, sp_max,
	    rr_sp_max, median(&kp) / 1e6, median(&krp) / 1e6);
	note("1: records a kstream consumer polled a second time (an offset "
	    "below its position), over all runs: %ld; they are left out of "
	    "the counts and rates. Every offset is checked: none was skipped.",
	    dups_tput);
	note("1: ZeroMQ: %d PUSH sockets bound inproc, one PULL connected to "
	    "each in its consumer thread; the producer sends to them in turn, "
	    "one zmq_send of %d B per record (copied into a message), each "
	    "consumer zmq_recv's into its buffer; SNDHWM and RCVHWM %d. It "
	    "stops at %ld records or %.0f s (last run: %ld) and reports its "
	    "rate; the same figure is shown on both rows.", NPARTS, VALUE_LEN,
	    ZMQ_HWM, sz.peer_cap, sz.peer_secs, sent);
}

/* ------------------------------------------------------------------ */
/* Rows 2 and 3: latency from produce to delivery in another thread     */

typedef struct {
	int busy;
	long warm, n;
	int64_t next_seq;       /* consumer: the sequence number it expects */
	long dups;              /* consumer: records it got again */
	int64_t *lat;           /* n: delivery time minus producer's stamp */
	pthread_barrier_t start;
	/* kstream */
	const char *topic;
	/* ZeroMQ */
	void *ctx;
	const char *ep;
} lat_t;

/* Takes a record's stamp and sequence number, as the producer wrote
 * them; one seen before is counted apart. */
static void lat_take(lat_t *l, const void *value, int64_t now)
{
	int64_t stamp, seq;

	memcpy(&stamp, value, sizeof(stamp));
	memcpy(&seq, (const uint8_t *)value + 8, sizeof(seq));
	if (seq < l->next_seq) {
		l->dups++;
		return;
	}
	if (seq != l->next_seq)
		die("latency: sequence number %lld, expected %lld",
		    (long long)seq, (long long)l->next_seq);
	l->next_seq++;
	if (seq >= l->warm)
		l->lat[seq - l->warm] = now - stamp;
}

static void *ks_lat_consumer(void *arg)
{
	lat_t *l = arg;
	ks_topic_partition_t tp = { .topic = l->topic, .partition = 0,
	    .offset = KS_OFFSET_BEGINNING };
	const ks_message_t *msgs;
	ks_consumer_t *c;
	int i, n;

	c = consumer_new(500, l->busy, NULL);
	KS_TRY(ks_consumer_assign(c, &tp, 1));
	pthread_barrier_wait(&l->start);
	while (l->next_seq < l->warm + l->n) {
		n = ks_consumer_poll(c, 100, &msgs);
		KS_TRY(n);
		for (i = 0; i < n; i++) {
			if (msgs[i].rec.value_len != VALUE_LEN)
				die("latency: a value of %zu B",
				    msgs[i].rec.value_len);
			lat_take(l, msgs[i].rec.value, now_ns());
		}
	}
	KS_TRY(ks_consumer_close(c));
	return NULL;
}

static void *zmq_lat_consumer(void *arg)
{
	lat_t *l = arg;
	uint8_t buf[VALUE_LEN];
	void *s;
	int r;

	if (!(s = zmq_socket(l->ctx, ZMQ_PAIR)))
		die("zmq_socket: %s", zmq_strerror(zmq_errno()));
	ZMQ_TRY(zmq_connect(s, l->ep));
	pthread_barrier_wait(&l->start);
	while (l->next_seq < l->warm + l->n) {
		if (l->busy) {
			while ((r = zmq_recv(s, buf, sizeof(buf),
			    ZMQ_DONTWAIT)) < 0 && zmq_errno() == EAGAIN)
				;
		} else {
			r = zmq_recv(s, buf, sizeof(buf), 0);
		}
		if (r < 0 && zmq_errno() == EINTR)
			continue;
		ZMQ_TRY(r);
		if (r != VALUE_LEN)
			die("latency: a ZeroMQ message of %d B", r);
		lat_take(l, buf, now_ns());
	}
	zmq_close(s);
	return NULL;
}

/* The producer's side, in the calling thread: warm + n records, each
 * stamped just before it is handed over, LAT_GAP_NS apart (busy-waited, so
 * the consumer is idle when a record arrives), with a pause after the
 * first. Returns the minor page faults this thread took per measured
 * record. */
static double lat_produce(lat_t *l, ks_producer_t *prod, void *zs)
{
	uint8_t value[VALUE_LEN];
	ks_record_t rec = { .timestamp = -1, .value = value,
	    .value_len = VALUE_LEN };
	struct rusage ru0, ru1;
	int64_t seq, next, t;

	memset(value, 0x5a, sizeof(value));
	pthread_barrier_wait(&l->start);
	usleep(10000); /* let the consumer reach its poll */
	next = now_ns();
	for (seq = 0; seq < l->warm + l->n; seq++) {
		if (seq == l->warm)
			getrusage(RUSAGE_THREAD, &ru0);
		while ((t = now_ns()) < next)
			cpu_relax();
		memcpy(value, &t, sizeof(t));
		memcpy(value + 8, &seq, sizeof(seq));
		if (prod)
			KS_TRY(ks_produce(prod, l->topic, 0, &rec, 1, 0, NULL));
		else
			ZMQ_TRY(zmq_send(zs, value, VALUE_LEN, 0));
		/* The log's prefaulter populates a fresh segment's first
		 * 64 MiB after its first append: on a small machine that
		 * thread competes with these two for a CPU. Let it finish. */
		if (seq == 0)
			usleep(LAT_SETTLE_US);
		next = now_ns() + LAT_GAP_NS;
	}
	getrusage(RUSAGE_THREAD, &ru1);
	return (double)(ru1.ru_minflt - ru0.ru_minflt) / (double)l->n;
}

typedef struct {
	samples_t p50, p99, p999;
	int64_t max;
	double faults;          /* minor faults per record, last run */
} latres_t;

static void lat_record(latres_t *res, lat_t *l, const char *what)
{
	char name[64];

	qsort(l->lat, (size_t)l->n, sizeof(int64_t), cmp_i64);
	snprintf(name, sizeof(name), "%s p50", what);
	sample(&res->p50, name, U_NS, pct(l->lat, l->n, 500));
	snprintf(name, sizeof(name), "%s p99", what);
	sample(&res->p99, name, U_NS, pct(l->lat, l->n, 990));
	snprintf(name, sizeof(name), "%s p99.9", what);
	sample(&res->p999, name, U_NS, pct(l->lat, l->n, 999));
	if (l->lat[l->n - 1] > res->max)
		res->max = l->lat[l->n - 1];
}

static lat_t *lat_new(int busy)
{
	lat_t *l = calloc(1, sizeof(*l));

	if (!l)
		die("out of memory");
	l->busy = busy;
	l->warm = sz.lat_warm;
	l->n = sz.lat_n;
	l->lat = malloc((size_t)l->n * sizeof(int64_t));
	if (!l->lat)
		die("out of memory");
	/* Every slot gets written: sequence numbers come in order. */
	memset(l->lat, 0, (size_t)l->n * sizeof(int64_t));
	PT_TRY(pthread_barrier_init(&l->start, NULL, 2));
	return l;
}

static void lat_free(lat_t *l)
{
	pthread_barrier_destroy(&l->start);
	free(l->lat);
	free(l);
}

static void ks_lat_run(int run, int busy, latres_t *res)
{
	char topic[64];
	ks_producer_t *prod;
	pthread_t th;
	lat_t *l = lat_new(busy);

	snprintf(topic, sizeof(topic), "lat-%s-%d", busy ? "busy" : "block",
	    run);
	topic_create(topic, 1);
	l->topic = topic;
	KS_TRY(ks_producer_new(store, NULL, &prod));
	PT_TRY(pthread_create(&th, NULL, ks_lat_consumer, l));
	res->faults = lat_produce(l, prod, NULL);
	pthread_join(th, NULL);
	ks_producer_free(prod);
	topic_drop(topic);
	dups_lat_ks += l->dups;
	lat_record(res, l, busy ? "kstream busy poll" : "kstream blocking");
	lat_free(l);
}

static void zmq_lat_run(int run, int busy, latres_t *res)
{
	char ep[64];
	pthread_t th;
	void *s;
	lat_t *l = lat_new(busy);
	int linger = 0;

	snprintf(ep, sizeof(ep), "inproc://lat-%d-%d", busy, run);
	l->ep = ep;
	if (!(l->ctx = zmq_ctx_new()))
		die("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
	if (!(s = zmq_socket(l->ctx, ZMQ_PAIR)))
		die("zmq_socket: %s", zmq_strerror(zmq_errno()));
	ZMQ_TRY(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)));
	ZMQ_TRY(zmq_bind(s, ep));
	PT_TRY(pthread_create(&th, NULL, zmq_lat_consumer, l));
	res->faults = lat_produce(l, NULL, s);
	pthread_join(th, NULL);
	zmq_close(s);
	zmq_ctx_term(l->ctx);
	dups_lat_zq += l->dups;
	lat_record(res, l, busy ? "ZeroMQ busy poll" : "ZeroMQ blocking");
	lat_free(l);
}

static void rows_latency(void)
{
	static latres_t kb, kz, zb, zz; /* kstream/ZeroMQ, blocking/busy */
	const char *ids[2][3] = { { "2", "2b", "2c" }, { "3", "3b", "3c" } };
	const char *names[3] = { "p50", "p99", "p99.9" };
	int busy, i, k;
	row_t *r;

	for (busy = 0; busy < 2; busy++) {
		latres_t *ks = busy ? &kz : &kb, *zq = busy ? &zz : &zb;
		const char *how = busy ? "busy poll" : "blocking poll";

		progress("[%d] latency produce -> delivery, %s, %ld records "
		    "%d us apart\n", busy ? 3 : 2, how, sz.lat_n,
		    LAT_GAP_NS / 1000);
		for (i = 0; i < opt.runs; i++)
			ks_lat_run(i, busy, ks);
		done_msg(busy ? "kstream busy poll p50" :
		    "kstream blocking p50", U_NS, median(&ks->p50));
		for (i = 0; i < opt.runs; i++)
			zmq_lat_run(i, busy, zq);
		done_msg(busy ? "ZeroMQ busy poll p50" : "ZeroMQ blocking p50",
		    U_NS, median(&zq->p50));
		for (k = 0; k < 3; k++) {
			const samples_t *ksm = k == 0 ? &ks->p50 :
			    k == 1 ? &ks->p99 : &ks->p999;
			const samples_t *zsm = k == 0 ? &zq->p50 :
			    k == 1 ? &zq->p99 : &zq->p999;

			r = add_row(ids[busy][k], U_NS,
			    k != 0 ? "" : busy ? "< 1 us" : "< 5 us",
			    busy ? 1e3 : 5e3, "latency %s, %s", names[k], how);
			r->v[C_KS] = median(ksm);
			r->v[C_ZMQ] = median(zsm);
		}
	}
	note("2: one producer thread produces one record at a time (ks_produce "
	    "of one record to a 1-partition topic; ZeroMQ: zmq_send on a PAIR "
	    "socket, inproc), %d us apart (busy-waited between the end of one "
	    "call and the next), stamping CLOCK_MONOTONIC into the 100-byte "
	    "value just before the call; the consumer thread takes now minus "
	    "the stamp per record. %ld records per run are measured after %ld "
	    "unmeasured ones, the first of which is followed by a %d ms pause: "
	    "after a fresh segment's first append the log's prefaulter "
	    "populates its first 64 MiB, a one-off kept out of the figures "
	    "(later passes come every 32 MiB appended, none within a run). "
	    "Percentiles are nearest-rank over one run, the table the median "
	    "over runs. Worst single record over all runs: kstream %.1f us, "
	    "ZeroMQ %.1f us.", LAT_GAP_NS / 1000, sz.lat_n, sz.lat_warm,
	    LAT_SETTLE_US / 1000, (double)kb.max / 1e3, (double)zb.max / 1e3);
	note("2: blocking: ks_consumer_poll with a 100 ms timeout, woken "
	    "through its eventfd (busy_poll = 0); ZeroMQ: blocking zmq_recv. "
	    "Minor page faults in the producer thread per measured record, "
	    "last run: kstream %.4f, ZeroMQ %.4f.", kb.faults, zb.faults);
	note("3: busy poll: the consumer spins instead of sleeping: "
	    "ks_consumer_poll with busy_poll = 1; ZeroMQ: zmq_recv with "
	    "ZMQ_DONTWAIT in a loop while it returns EAGAIN. Worst single "
	    "record over all runs: kstream %.1f us, ZeroMQ %.1f us. Both "
	    "threads keep a CPU busy.", (double)kz.max / 1e3,
	    (double)zz.max / 1e3);
	note("3: (and 2) records a consumer got a second time, over all runs "
	    "of rows 2 and 3, left out of the figures: kstream %ld, ZeroMQ "
	    "%ld. None was skipped: every sequence number is checked.",
	    dups_lat_ks, dups_lat_zq);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	recset_t rs;
	double t0;

	bench_prog = "bench_bus";
	setvbuf(stdout, NULL, _IOLBF, 0);
	common_args(argc, argv, &opt.quick, &opt.runs, &opt.base);
	set_sizes(opt.quick);

	make_scratch(opt.base, opt.scratch);
	bench_layout = &layout;

	print_context();
	recset_init(&rs, BATCH_RECS, VALUE_LEN);
	store_open();
	t0 = now_s();

	rows_tput(&rs);
	rows_latency();

	KS_TRY(ks_store_close(store));
	print_table();
	printf("\nPublished figures to beat (context only: other machines, "
	    "other conditions):\n"
	    " - Chronicle Queue, 40 B messages, busy-polling reader: "
	    "p99 0.78 us\n");
	print_end(t0);
	recset_free(&rs);
	return 0;
}
