/*
 * check_cluster.c: three kstream-broker processes as a cluster, and the
 * faults of issue 6 it must survive: the death of a partition leader
 * under a librdkafka producer with acks=all, its return, a paused
 * (zombie) leader, the loss of controller voters, a rolling restart,
 * min.insync.replicas, and the answers of members that do not lead.
 *
 * Every test starts its own cluster (test/cluster_util.c) in a scratch
 * directory, each broker's output in n<id>.log there (KT_KEEP=1 keeps
 * the directories, KT_VERBOSE=1 says where). Failure detection runs on
 * the fast settings of kstream-cluster(7), so a test takes seconds.
 */
#define _GNU_SOURCE
#include "cluster_util.h"
#include "kafka/msg.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What Kafka calls them. */
#define ERR_NOT_LEADER_OR_FOLLOWER 6
#define ERR_NOT_CONTROLLER 41

/* broker.session.timeout.ms of the fast settings */
#define SESSION_MS 1500

static char *base_dir; /* the test case's, made by the parent process */
static char *dir;      /* the test's own */
static struct kt_cluster cl;

static void base_setup(void)
{
	base_dir = kt_tmpdir("cluster");
}

static void base_teardown(void)
{
	if (getenv("KT_KEEP"))
		fprintf(stderr, "cluster suite: kept %s\n", base_dir);
	else
		kt_rmrf(base_dir);
	free(base_dir);
	base_dir = NULL;
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	dir = kt_subdir(base_dir);
	if (getenv("KT_VERBOSE"))
		fprintf(stderr, "cluster test in %s\n", dir);
}

static void teardown(void)
{
	kt_cluster_stop(&cl);
	kt_children_kill();
	free(dir);
	dir = NULL;
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* Creates topic through the admin API and waits until it has leaders. */
static void create(const char *topic, int parts, int rf,
    const char *const *configs)
{
	rd_kafka_resp_err_t err = kt_create_topic(&cl, topic, parts, rf,
	    configs, 15000);

	ck_assert_msg(err == 0, "CreateTopics %s: %s", topic,
	    rd_kafka_err2str(err));
	ck_assert_msg(kt_wait_topic(&cl, topic, parts, rf, 15000) == 0,
	    "%s: no leader with %d in-sync replicas on every partition "
	    "within 15 s", topic, rf);
}

static int has(const int32_t *ids, int32_t n, int32_t id)
{
	int32_t k;

	for (k = 0; k < n; k++)
		if (ids[k] == id)
			return 1;
	return 0;
}

/* Reads partition p back and checks l's acknowledgements against it;
 * the number of duplicates of acked records. */
static int64_t check_partition(const struct kt_load *l, const char *topic,
    int32_t p)
{
	int64_t end = kt_load_end(l, p), dups;
	int64_t *vals = malloc((size_t)(end ? end : 1) * sizeof *vals);

	ck_assert_ptr_nonnull(vals);
	kt_read_back(&cl, topic, p, end, vals, 30000);
	dups = kt_check_acked(l, p, vals, end);
	free(vals);
	return dups;
}

/* ---- forms --------------------------------------------------------------- */

/*
 * Three members form a cluster; a topic of 3 partitions with 3 replicas
 * each, made through librdkafka's admin API, has a leader, 3 replicas
 * and 3 in-sync ones on every partition, leaders on all three members;
 * 1000 records with acks=all come back at their offsets.
 */
START_TEST(forms)
{
	struct kt_meta md;
	struct kt_load l;
	int32_t p, leaders[KT_MEMBERS] = { 0 };
	int i, nleaders = 0;
	int64_t total = 0;

	kt_cluster_start(&cl, dir, NULL);
	create("t3", 3, 3, NULL);
	for (i = 0; i < KT_MEMBERS; i++) {
		ck_assert_int_eq(kt_meta(&cl, i, "t3", &md, 5000), 0);
		ck_assert_int_eq(md.nbrokers, 3);
		ck_assert(has(md.brokers, md.nbrokers, 1) &&
		    has(md.brokers, md.nbrokers, 2) &&
		    has(md.brokers, md.nbrokers, 3));
		ck_assert_int_ge(md.controller, 1);
		ck_assert_int_le(md.controller, 3);
		ck_assert_int_eq(md.topic_err, 0);
		ck_assert_int_eq(md.nparts, 3);
		for (p = 0; p < 3; p++) {
			struct kt_part *pp = &md.parts[p];
			int32_t id;
			ck_assert_int_eq(pp->err, 0);
			ck_assert_int_eq(pp->nrep, 3);
			ck_assert_int_eq(pp->nisr, 3);
			for (id = 1; id <= 3; id++)
				ck_assert_msg(has(pp->rep, pp->nrep, id) &&
				    has(pp->isr, pp->nisr, id), "t3-%d: "
				    "node %d not a replica in sync", p, id);
			ck_assert_msg(pp->leader >= 1 && pp->leader <= 3,
			    "t3-%d: leader %d", p, pp->leader);
			if (i == 0 && leaders[pp->leader - 1]++ == 0)
				nleaders++;
		}
	}
	ck_assert_msg(nleaders == 3, "the 3 partitions' leaders are on %d "
	    "member(s), not spread over the 3", nleaders);

	kt_load_start(&l, &cl, "t3", RD_KAFKA_PARTITION_UA, 1000, NULL);
	kt_load_wait(&l, 1000, 30000);
	kt_load_stop(&l);
	ck_assert_int_eq(l.failed, 0);
	for (p = 0; p < 3; p++) {
		ck_assert_int_eq(check_partition(&l, "t3", p), 0);
		total += kt_load_end(&l, p);
	}
	/* 1000 records, each at an offset of its own */
	ck_assert_int_eq(total, 1000);
	kt_load_free(&l);
}
END_TEST

/* ---- the leader dies --------------------------------------------------- */

#define KILL_AFTER 20000
#define KILL_MORE 20000

/*
 * A producer with acks=all writes numbered records to topic (1
 * partition, 3 replicas); after KILL_AFTER are acked the leader gets kill
 * -9, and KILL_MORE more are acked. Asserts a new leader within 5 s of
 * the kill (the first acknowledgement of a record produced after it) and
 * every acked record at its offset. Returns the killed member's index
 * and sets *new_leader.
 */
static int leader_kill(const char *topic, struct kt_load *l,
    int32_t *new_leader)
{
	int32_t leader, nl;
	int64_t t_kill, acked, failover_ms;
	int victim;

	create(topic, 1, 3, NULL);
	leader = kt_wait_leader(&cl, topic, 0, -1, 3, 10000);
	ck_assert_int_gt(leader, 0);
	victim = kt_member_of(&cl, leader);

	kt_load_start(l, &cl, topic, 0, 4 * (KILL_AFTER + KILL_MORE), NULL);
	kt_load_wait(l, KILL_AFTER, 60000);
	kt_load_mark(l);
	t_kill = kt_now_ns();
	kt_member_kill(&cl, victim);
	acked = kt_load_acked(l);

	nl = kt_wait_leader(&cl, topic, 0, leader, 1, 15000);
	ck_assert_msg(nl > 0, "no new leader of %s-0 in the survivors' "
	    "Metadata within 15 s of killing node %d:\n%s", topic, leader,
	    kt_member_tail(&cl, (victim + 1) % KT_MEMBERS));
	ck_assert_int_ne(nl, leader);
	kt_load_wait(l, acked + KILL_MORE, 60000);
	kt_load_stop(l);

	ck_assert_msg(l->mark_ack_ns > 0, "no record produced after the "
	    "kill was acknowledged");
	failover_ms = (l->mark_ack_ns - t_kill) / 1000000;
	if (getenv("KT_VERBOSE"))
		fprintf(stderr, "%s: failover %" PRId64 " ms (node %d -> %d), "
		    "%" PRId64 " failed deliveries\n", topic, failover_ms,
		    leader, nl, l->failed);
	ck_assert_msg(failover_ms <= 5000, "the first record produced after "
	    "killing leader %d was acknowledged %" PRId64 " ms later "
	    "(at most 5000)", leader, failover_ms);

	/* duplicates from retries are allowed without idempotence */
	check_partition(l, topic, 0);
	*new_leader = nl;
	return victim;
}

START_TEST(leader_kill_9)
{
	struct kt_load l;
	int32_t nl;

	kt_cluster_start(&cl, dir, NULL);
	leader_kill("lk", &l, &nl);
	kt_load_free(&l);
}
END_TEST

/*
 * After leader_kill, the old leader restarts on its directory and ports:
 * back in the ISR within 10 s, and its replica is the new leader's, record
 * by record, up to the high watermark, and ends no later (it cut what the
 * new leader never had). The third replica agrees too.
 */
START_TEST(old_leader_returns)
{
	struct kt_load l;
	int32_t nl;
	int64_t hw, end_old, end_new, end_3, end_n;
	int victim, third, leader_i;

	kt_cluster_start(&cl, dir, NULL);
	victim = leader_kill("ol", &l, &nl);
	leader_i = kt_member_of(&cl, nl);
	third = 3 - victim - leader_i;

	kt_member_start(&cl, victim, 1);
	nl = kt_wait_leader(&cl, "ol", 0, -1, 3, 10000);
	ck_assert_msg(nl > 0, "node %d not back in the ISR of ol-0 within "
	    "10 s:\n%s", victim + 1, kt_member_tail(&cl, victim));
	if (nl == victim + 1) {
		/* leadership went back to it: compare with the other two */
		leader_i = victim;
		victim = (victim + 1) % KT_MEMBERS;
		third = 3 - victim - leader_i;
	}

	hw = kt_high_watermark(&cl, "ol", 0);
	ck_assert_int_ge(hw, kt_load_end(&l, 0));
	kt_compare_replicas(&cl, leader_i, victim, "ol", 0, hw, &end_new,
	    &end_old);
	ck_assert_msg(end_old <= end_new, "the old leader's replica ends at %"
	    PRId64 ", past the leader's %" PRId64, end_old, end_new);
	kt_compare_replicas(&cl, leader_i, third, "ol", 0, hw, &end_n,
	    &end_3);
	ck_assert_int_le(end_3, end_n);
	kt_load_free(&l);
}
END_TEST

/* ---- a zombie leader ---------------------------------------------------- */

/*
 * The leader is paused (SIGSTOP) while a producer writes, for longer
 * than the session timeout, so that the others fence it and elect
 * another; then it resumes and the producer goes on. Afterwards every
 * acknowledged record is at its acked offset, once, and the three
 * replicas hold one history up to the high watermark.
 */
START_TEST(paused_leader)
{
	struct kt_load l;
	int32_t leader, nl, id;
	int64_t hw, dups, ends[KT_MEMBERS], e0;
	int zi, li, i;

	kt_cluster_start(&cl, dir, NULL);
	create("zp", 1, 3, NULL);
	leader = kt_wait_leader(&cl, "zp", 0, -1, 3, 10000);
	ck_assert_int_gt(leader, 0);
	zi = kt_member_of(&cl, leader);

	kt_load_start(&l, &cl, "zp", 0, 400000, NULL);
	kt_load_wait(&l, 10000, 60000);
	kt_member_pause(&cl, zi);
	sleep_ms(SESSION_MS + 2000);
	/* the test is about a zombie: the others must have moved on */
	nl = kt_wait_leader(&cl, "zp", 0, leader, 1, 5000);
	ck_assert_msg(nl > 0, "no new leader while node %d was paused",
	    leader);
	kt_member_resume(&cl, zi);
	kt_load_wait(&l, kt_load_acked(&l) + 10000, 60000);
	kt_load_stop(&l);

	nl = kt_wait_leader(&cl, "zp", 0, -1, 3, 15000);
	ck_assert_msg(nl > 0, "zp-0 not back to 3 in-sync replicas within "
	    "15 s of the end:\n%s", kt_member_tail(&cl, zi));
	/*
	 * Requests the zombie held when it stopped may have reached the
	 * followers and then be retried by the producer once it resumes:
	 * without idempotence Kafka allows such copies, so they are told,
	 * not failed.
	 */
	dups = check_partition(&l, "zp", 0);
	if (dups)
		fprintf(stderr, "paused_leader: %" PRId64 " acknowledged "
		    "records also appear at another offset (retries)\n", dups);

	hw = kt_high_watermark(&cl, "zp", 0);
	ck_assert_int_ge(hw, kt_load_end(&l, 0));
	li = kt_member_of(&cl, nl);
	for (i = 0; i < KT_MEMBERS; i++) {
		if (i == li)
			continue;
		kt_compare_replicas(&cl, li, i, "zp", 0, hw, &e0, &ends[i]);
		id = cl.m[i].id;
		ck_assert_msg(ends[i] <= e0, "node %d's replica ends at %"
		    PRId64 ", past leader %d's %" PRId64, id, ends[i], nl, e0);
	}
	kt_load_free(&l);
}
END_TEST

/* ---- controller voters --------------------------------------------------- */

/*
 * With one voter of three dead, the controller still creates topics;
 * with two dead there is no majority and creation fails; one back and
 * it works again.
 */
START_TEST(voter_loss)
{
	int32_t ctl;
	int other, ctl_i, i;
	rd_kafka_resp_err_t err;
	struct kt_meta md;
	int64_t deadline;

	kt_cluster_start(&cl, dir, NULL);
	ctl = kt_wait_controller(&cl, 10000);
	ck_assert_int_gt(ctl, 0);
	ctl_i = kt_member_of(&cl, ctl);
	other = (ctl_i + 1) % KT_MEMBERS;
	kt_member_kill(&cl, other);
	/* the metadata changes: the dead member is fenced ... */
	ck_assert_msg(kt_wait_brokers(&cl, 5000) == 0, "node %d still in "
	    "Metadata 5 s after its death", other + 1);
	/* ... and topics can be made, on the two that live */
	create("v2", 1, 2, NULL);

	kt_member_kill(&cl, ctl_i);
	err = kt_create_topic(&cl, "v-none", 1, 1, NULL, 5000);
	ck_assert_msg(err != 0, "a topic was created with one voter of "
	    "three alive");
	for (i = 0; i < KT_MEMBERS; i++)
		if (kt_member_live(&cl, i)) {
			ck_assert_int_eq(kt_meta(&cl, i, "v-none", &md, 2000),
			    0);
			ck_assert_msg(md.topic_err != 0, "v-none is in the "
			    "lone member's Metadata");
		}

	/* a majority again: creation works (retried while it elects) */
	kt_member_start(&cl, other, 1);
	/*
	 * The new controller gives the dead member a session timeout to
	 * show up: a topic created before it is fenced may land on it.
	 */
	ck_assert_msg(kt_wait_brokers(&cl, 10000) == 0, "node %d, dead, "
	    "still in Metadata 10 s after the quorum came back", ctl);
	deadline = kt_now_ns() + 20 * (int64_t)1000000000;
	for (;;) {
		err = kt_create_topic(&cl, "v-back", 1, 2, NULL, 5000);
		if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			err = 0; /* an earlier try that timed out went in */
		if (err == 0 || kt_now_ns() > deadline)
			break;
		sleep_ms(200);
	}
	ck_assert_msg(err == 0, "CreateTopics with 2 of 3 voters back: %s",
	    rd_kafka_err2str(err));
	ck_assert_int_eq(kt_wait_topic(&cl, "v-back", 1, 2, 15000), 0);
}
END_TEST

/* ---- rolling restart ----------------------------------------------------- */

/*
 * Under a producer with acks=all, each member in turn stops (SIGTERM),
 * restarts and is waited for until every partition has 3 in-sync
 * replicas again; no acknowledged record is lost.
 */
START_TEST(rolling_restart)
{
	struct kt_load l;
	int i;
	int32_t p;

	/* 20,000 records/s at most: the load lasts the whole restart */
	static const char *const rate[] = { "kt.rate", "20000", NULL };
	int64_t produced;

	kt_cluster_start(&cl, dir, NULL);
	create("rr", 3, 3, NULL);
	kt_load_start(&l, &cl, "rr", RD_KAFKA_PARTITION_UA, 2000000, rate);
	for (i = 0; i < KT_MEMBERS; i++) {
		kt_load_wait(&l, kt_load_acked(&l) + 3000, 60000);
		pthread_mutex_lock(&l.mu);
		produced = l.produced;
		pthread_mutex_unlock(&l.mu);
		ck_assert_msg(produced < l.cap, "the load ended before the "
		    "restart of node %d", i + 1);
		kt_member_term(&cl, i, 15000);
		kt_member_start(&cl, i, 1);
		ck_assert_msg(kt_wait_topic(&cl, "rr", 3, 3, 20000) == 0,
		    "rr: not 3 in-sync replicas everywhere within 20 s of "
		    "restarting node %d:\n%s", i + 1, kt_member_tail(&cl, i));
	}
	kt_load_wait(&l, kt_load_acked(&l) + 3000, 60000);
	kt_load_stop(&l);
	for (p = 0; p < 3; p++)
		check_partition(&l, "rr", p);
	/*
	 * No record lost; and none refused either: with retries unbounded
	 * and message.timeout.ms 30 s, a restart one member at a time must
	 * not make a delivery fail.
	 */
	ck_assert_msg(l.failed == 0 && l.refused == 0, "%" PRId64 " deliveries "
	    "failed during the rolling restart (the last: %s on partition "
	    "%d), %" PRId64 " records refused by producev (the last: %s)",
	    l.failed, rd_kafka_err2str(l.last_err), l.last_err_part,
	    l.refused, rd_kafka_err2str(l.last_refusal));
	kt_load_free(&l);
}
END_TEST

/* ---- min.insync.replicas ------------------------------------------------- */

struct one_dr {
	int done;
	rd_kafka_resp_err_t err;
	int64_t offset;
};

static void one_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
	struct one_dr *d = opaque;

	(void)rk;
	d->done = 1;
	d->err = m->err;
	d->offset = m->offset;
}

/* One record to topic-0 with acks; what its delivery report said. */
/* One record to topic-0 with acks and retries ("0": the broker's first
 * answer is the delivery report's); what its delivery report said. */
static struct one_dr produce_one_r(const char *topic, const char *acks,
    const char *timeout_ms, const char *retries)
{
	const char *kv[] = { "acks", acks, "message.timeout.ms", timeout_ms,
		"retries", retries, "retry.backoff.ms", "50",
		"enable.idempotence", "false", NULL };
	struct one_dr d = { 0, 0, -1 };
	rd_kafka_t *rk = kt_rk_new(&cl, RD_KAFKA_PRODUCER, kv, one_dr_cb, &d);

	ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	    RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("x", 1),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END), 0);
	rd_kafka_flush(rk, atoi(timeout_ms) + 10000);
	ck_assert_msg(d.done, "no delivery report");
	rd_kafka_destroy(rk);
	return d;
}

static struct one_dr produce_one(const char *topic, const char *acks,
    const char *timeout_ms)
{
	return produce_one_r(topic, acks, timeout_ms, "1000000");
}

/*
 * min.insync.replicas=3 (set at creation), 3 replicas: one follower dies,
 * the ISR shrinks to 2 (the controller keeps its majority), and an
 * acks=all write is refused with NOT_ENOUGH_REPLICAS while an acks=1 write
 * succeeds; the member back in the ISR, acks=all works again.
 */
START_TEST(min_insync)
{
	const char *cfg[] = { "min.insync.replicas", "3", NULL };
	struct one_dr d;
	int32_t leader;
	int li, gone;
	int64_t deadline;

	kt_cluster_start(&cl, dir, NULL);
	create("mi", 1, 3, cfg);
	leader = kt_wait_leader(&cl, "mi", 0, -1, 3, 10000);
	ck_assert_int_gt(leader, 0);
	li = kt_member_of(&cl, leader);
	d = produce_one("mi", "all", "10000");
	ck_assert_msg(d.err == 0, "acks=all with 3 in sync: %s",
	    rd_kafka_err2str(d.err));

	gone = (li + 1) % KT_MEMBERS;
	kt_member_kill(&cl, gone);
	/* fenced after the session timeout: out of the ISR. Until then an
	 * acks=all write waits for it (and may time out in the client). */
	deadline = kt_now_ns() + 20 * (int64_t)1000000000;
	do
		d = produce_one_r("mi", "all", "3000", "0");
	while ((d.err == 0 || d.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) &&
	    kt_now_ns() < deadline);
	ck_assert_msg(d.err == RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
	    "acks=all with 2 of 3 in sync: %s (%d)", rd_kafka_err2str(d.err),
	    d.err);
	d = produce_one("mi", "1", "10000");
	ck_assert_msg(d.err == 0, "acks=1 with 2 of 3 in sync: %s",
	    rd_kafka_err2str(d.err));

	kt_member_start(&cl, gone, 1);
	deadline = kt_now_ns() + 30 * (int64_t)1000000000;
	do
		d = produce_one("mi", "all", "5000");
	while (d.err != 0 && kt_now_ns() < deadline);
	ck_assert_msg(d.err == 0, "acks=all with node %d back: %s",
	    gone + 1, rd_kafka_err2str(d.err));
}
END_TEST

/* ---- the high watermark ---------------------------------------------------- */

/* How many records of topic-0 a consumer reads from the start in ms. */
static int64_t read_count(const char *topic, int ms)
{
	const char *kv[] = { "group.id", "hw-probe", "enable.auto.commit",
		"false", NULL };
	rd_kafka_t *rk = kt_rk_new(&cl, RD_KAFKA_CONSUMER, kv, NULL, NULL);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	int64_t n = 0, end = kt_now_ns() + (int64_t)ms * 1000000;

	rd_kafka_topic_partition_list_add(l, topic, 0)->offset =
	    RD_KAFKA_OFFSET_BEGINNING;
	ck_assert_int_eq(rd_kafka_assign(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	while (kt_now_ns() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (!m->err)
			n++;
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

/*
 * A follower paused (in the ISR still: the session and lag timeouts are
 * long here): a record written with acks=1 is in the leader's log but
 * not below the high watermark, so consumers do not see it; the follower
 * back, it is copied, the high watermark passes it and it is read.
 */
START_TEST(high_watermark_bounds_reads)
{
	static const char *const slow[] = {
		"broker.session.timeout.ms=20000",
		"replica.lag.time.max.ms=20000", NULL };
	struct one_dr d;
	int32_t leader;
	int li, paused;
	int64_t deadline, hw = -1;

	kt_cluster_start(&cl, dir, slow);
	create("hw", 1, 3, NULL);
	leader = kt_wait_leader(&cl, "hw", 0, -1, 3, 10000);
	ck_assert_int_gt(leader, 0);
	li = kt_member_of(&cl, leader);
	d = produce_one("hw", "all", "10000");
	ck_assert_msg(d.err == 0 && d.offset == 0, "first record: %s at %lld",
	    rd_kafka_err2str(d.err), (long long)d.offset);
	ck_assert_int_eq(kt_high_watermark(&cl, "hw", 0), 1);

	paused = (li + 1) % KT_MEMBERS;
	kt_member_pause(&cl, paused);
	d = produce_one("hw", "1", "10000");
	ck_assert_msg(d.err == 0 && d.offset == 1, "acks=1 record: %s at %lld",
	    rd_kafka_err2str(d.err), (long long)d.offset);
	/* in the leader's log, not yet committed: invisible */
	sleep_ms(500);
	ck_assert_int_eq(kt_high_watermark(&cl, "hw", 0), 1);
	ck_assert_int_eq(read_count("hw", 1500), 1);

	kt_member_resume(&cl, paused);
	deadline = kt_now_ns() + 10 * (int64_t)1000000000;
	while (kt_now_ns() < deadline &&
	    (hw = kt_high_watermark(&cl, "hw", 0)) != 2)
		sleep_ms(100);
	ck_assert_int_eq(hw, 2);
	ck_assert_int_eq(read_count("hw", 3000), 2);
}
END_TEST

/* ---- members that do not lead -------------------------------------------- */

/*
 * Raw requests: Produce and a consumer's Fetch to a follower answer
 * NOT_LEADER_OR_FOLLOWER, CreateTopics to a member that is not the
 * controller NOT_CONTROLLER; the same Produce to the leader succeeds.
 */
START_TEST(not_leader)
{
	uint8_t batch[256];
	size_t blen;
	ks_record_t rec = { .value = "v", .value_len = 1, .timestamp = -1 };
	int32_t leader, ctl;
	int fi, ni, li;
	kp_arena_t arena;

	kt_cluster_start(&cl, dir, NULL);
	create("nl", 1, 3, NULL);
	leader = kt_wait_leader(&cl, "nl", 0, -1, 3, 10000);
	ctl = kt_wait_controller(&cl, 10000);
	ck_assert(leader > 0 && ctl > 0);
	li = kt_member_of(&cl, leader);
	fi = (li + 1) % KT_MEMBERS;
	ni = (kt_member_of(&cl, ctl) + 1) % KT_MEMBERS;
	KT_OK(ks_batch_encode(batch, sizeof batch, &rec, 1, 0, 0, &blen));
	kp_arena_init(&arena);

	for (int i = 0; i < 2; i++) {
		int to = i == 0 ? fi : li;
		kp_produce_req_part_t rp = { .index = 0 };
		kp_produce_req_topic_t rt = { .n_partitions = 1,
			.partitions = &rp };
		kp_produce_req_t req = { .acks = 1, .timeout_ms = 5000,
			.n_topics = 1, .topics = &rt };
		kp_produce_resp_t resp;

		req.transactional_id = kp_cstr(NULL);
		rt.name = kp_cstr("nl");
		rp.records.p = batch;
		rp.records.len = (int32_t)blen;
		memset(&resp, 0, sizeof resp);
		ck_assert_int_eq(kt_raw_call(&cl, to, KP_PRODUCE, 7, &req,
		    &arena, &resp, 10000), 0);
		ck_assert_int_eq(resp.n_topics, 1);
		ck_assert_int_eq(resp.topics[0].n_partitions, 1);
		ck_assert_msg(resp.topics[0].partitions[0].error_code ==
		    (i == 0 ? ERR_NOT_LEADER_OR_FOLLOWER : 0),
		    "Produce to node %d (leader %d): error %d", to + 1, leader,
		    resp.topics[0].partitions[0].error_code);
	}

	{
		kp_fetch_req_part_t rp = { .partition = 0,
			.current_leader_epoch = -1, .fetch_offset = 0,
			.log_start_offset = -1, .partition_max_bytes = 1 << 20 };
		kp_fetch_req_topic_t rt = { .n_partitions = 1,
			.partitions = &rp };
		kp_fetch_req_t req = { .replica_id = -1, .max_wait_ms = 100,
			.min_bytes = 1, .max_bytes = 1 << 20,
			.session_epoch = -1, .n_topics = 1, .topics = &rt };
		kp_fetch_resp_t resp;

		rt.topic = kp_cstr("nl");
		req.rack_id = kp_cstr("");
		memset(&resp, 0, sizeof resp);
		ck_assert_int_eq(kt_raw_call(&cl, fi, KP_FETCH, 11, &req,
		    &arena, &resp, 10000), 0);
		ck_assert_int_eq(resp.n_topics, 1);
		ck_assert_int_eq(resp.topics[0].n_partitions, 1);
		ck_assert_msg(resp.topics[0].partitions[0].error_code ==
		    ERR_NOT_LEADER_OR_FOLLOWER, "a consumer's Fetch from "
		    "follower %d: error %d", fi + 1,
		    resp.topics[0].partitions[0].error_code);
	}

	{
		kp_creatable_topic_t t = { .num_partitions = 1,
			.replication_factor = 1 };
		kp_create_topics_req_t req = { .n_topics = 1, .topics = &t,
			.timeout_ms = 5000 };
		kp_create_topics_resp_t resp;

		t.name = kp_cstr("nc");
		memset(&resp, 0, sizeof resp);
		ck_assert_int_eq(kt_raw_call(&cl, ni, KP_CREATE_TOPICS, 4,
		    &req, &arena, &resp, 10000), 0);
		ck_assert_int_eq(resp.n_topics, 1);
		ck_assert_msg(resp.topics[0].error_code == ERR_NOT_CONTROLLER,
		    "CreateTopics to node %d (controller %d): error %d",
		    ni + 1, ctl, resp.topics[0].error_code);
	}
	kp_arena_free(&arena);
}
END_TEST

/*
 * One test case per test, so that CK_RUN_CASE=<name> runs one alone;
 * each has its own scratch directory.
 */
static void add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

Suite *cluster_suite(void)
{
	Suite *s = suite_create("cluster");

	add(s, "forms", forms);
	add(s, "leader_kill", leader_kill_9);
	add(s, "old_leader_returns", old_leader_returns);
	add(s, "paused_leader", paused_leader);
	add(s, "voter_loss", voter_loss);
	add(s, "rolling_restart", rolling_restart);
	add(s, "min_insync", min_insync);
	add(s, "high_watermark", high_watermark_bounds_reads);
	add(s, "not_leader", not_leader);
	return s;
}
