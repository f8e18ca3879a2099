/*
 * check_replica.c: a cluster formed in one process through the public API
 * (three stores, each with its own Kafka server and cluster member), and
 * the replication properties seen from inside: every acknowledged record
 * on every in-sync replica, byte for byte, at the leader's offsets; the
 * high watermark; min.insync.replicas; a member's loss moves leadership
 * with a new epoch and writes go on; a returning member catches up and
 * rejoins the in-sync set. (The same through kstream-broker processes,
 * kill -9 and librdkafka: check_cluster.c.)
 */
#include "util.h"

#include <kstream/kstream.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 3

struct member {
	char *dir;
	ks_store_t *store;
	ks_kafka_server_t *srv;
	ks_cluster_t *cl;
	char url[128];
};

struct icluster {
	int min_isr;                 /* the members' min.insync.replicas */
	char *certs;                 /* gen_certs.sh's: members listen on
	                                tls+tcp and fetch through TLS; NULL:
	                                tcp */
	ks_tls_config_t stls, ctls;  /* the servers' side, the clients' */
	char *base;
	char voters[256];
	struct member m[N];
};

static void quiet(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_WARNING)
		fprintf(stderr, "replica test: %s\n", msg);
}

static void member_start(struct icluster *ic, int i)
{
	struct member *m = &ic->m[i];
	ks_kafka_server_config_t sc;
	ks_cluster_config_t cc;
	ks_store_config_t st;

	kt_store_config(&st, KS_STORE_CREATE, quiet);
	ck_assert_int_eq(ks_store_open(m->dir, &st, &m->store), 0);
	ks_kafka_server_config_init(&sc);
	sc.node_id = i + 1;
	ck_assert_int_eq(ks_kafka_server_new(m->store, &sc, &m->srv), 0);
	ck_assert_int_eq(ks_kafka_server_listen(m->srv, ic->certs ?
	    "tls+tcp://127.0.0.1:0" : "tcp://127.0.0.1:0",
	    ic->certs ? &ic->stls : NULL), 0);
	ck_assert_int_eq(ks_kafka_server_url(m->srv, 0, m->url,
	    sizeof m->url), 0);
	ks_cluster_config_init(&cc);
	cc.node_id = i + 1;
	cc.voters = ic->voters;
	cc.session_timeout_ms = 1500;
	cc.heartbeat_interval_ms = 250;
	cc.election_timeout_ms = 500;
	cc.replica_lag_time_max_ms = 3000;
	cc.min_insync_replicas = ic->min_isr;
	cc.tls = ic->certs ? &ic->ctls : NULL;
	ck_assert_int_eq(ks_cluster_new(m->srv, &cc, &m->cl), 0);
}

static void member_stop(struct icluster *ic, int i)
{
	struct member *m = &ic->m[i];

	ks_cluster_free(m->cl);
	ks_kafka_server_free(m->srv);
	ck_assert_int_eq(ks_store_close(m->store), 0);
	m->cl = NULL;
	m->srv = NULL;
	m->store = NULL;
}

/* The members' certificates, made by test/gen_certs.sh under ic->base. */
static void make_certs(struct icluster *ic)
{
	const char *src = getenv("KS_SRCDIR") ? getenv("KS_SRCDIR") :
	    "../../..";
	char cmd[1024];

	ic->certs = kt_path(ic->base, "certs");
	snprintf(cmd, sizeof cmd, "sh %s/test/gen_certs.sh %s >/dev/null 2>&1",
	    src, ic->certs);
	ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
	ks_tls_config_init(&ic->stls, 1);
	ic->stls.cert_file = kt_path(ic->certs, "server.pem");
	ic->stls.key_file = kt_path(ic->certs, "server.key");
	ks_tls_config_init(&ic->ctls, 0);
	ic->ctls.ca_file = kt_path(ic->certs, "ca.pem");
}

static void icluster_start(struct icluster *ic, int min_isr, int tls)
{
	size_t len = 0;
	int i;

	memset(ic, 0, sizeof *ic);
	ic->min_isr = min_isr;
	ic->base = kt_tmpdir("replica");
	if (tls)
		make_certs(ic);
	for (i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof name, "m%d", i + 1);
		ic->m[i].dir = kt_path(ic->base, name);
		len += (size_t)snprintf(ic->voters + len,
		    sizeof ic->voters - len, "%s%d@127.0.0.1:%d",
		    i ? "," : "", i + 1, kt_free_port());
	}
	for (i = 0; i < N; i++)
		member_start(ic, i);
	for (i = 0; i < N; i++)
		ck_assert_msg(ks_cluster_wait(ic->m[i].cl, 15000) == 0,
		    "member %d did not join", i + 1);
}

static void icluster_stop(struct icluster *ic)
{
	int i;

	for (i = 0; i < N; i++) {
		if (ic->m[i].cl)
			member_stop(ic, i);
		free(ic->m[i].dir);
	}
	if (ic->certs) {
		free((char *)ic->stls.cert_file);
		free((char *)ic->stls.key_file);
		free((char *)ic->ctls.ca_file);
		free(ic->certs);
	}
	kt_rmrf_free(&ic->base);
}

/* What a remote client of ic needs: TLS when the members use it. */
static void remote(struct icluster *ic, ks_remote_config_t *rc)
{
	ks_remote_config_init(rc);
	rc->tls = ic->certs ? &ic->ctls : NULL;
}

/* Every running member's bootstrap URLs. */
static void bootstrap(struct icluster *ic, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < N; i++)
		if (ic->m[i].cl)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n ? "," : "", ic->m[i].url);
}

/* Until pred holds for member i's view of topic-0, or ms pass. */
static int wait_part(struct icluster *ic, int i, const char *topic,
    int (*pred)(const ks_cluster_partition_t *, void *), void *arg,
    int ms, ks_cluster_partition_t *out)
{
	int64_t end = kt_now_ns() + (int64_t)ms * 1000000;

	while (kt_now_ns() < end) {
		if (ks_cluster_partition(ic->m[i].cl, topic, 0, out) == 0 &&
		    pred(out, arg))
			return 1;
		usleep(20000);
	}
	return 0;
}

static int isr_is(const ks_cluster_partition_t *p, void *arg)
{
	return p->leader >= 0 && p->nisr == *(int *)arg;
}

static int hw_at(const ks_cluster_partition_t *p, void *arg)
{
	return p->high_watermark >= *(int64_t *)arg &&
	    p->log_end_offset >= *(int64_t *)arg;
}

static int leader_not(const ks_cluster_partition_t *p, void *arg)
{
	return p->leader >= 0 && p->leader != *(int32_t *)arg;
}

/* n records "k<i>"/"v<i>" from first on, acks=-1, each acknowledged. */
static void produce(struct icluster *ic, const char *topic, int first, int n,
    int64_t *offsets)
{
	ks_producer_config_t pc;
	ks_remote_config_t rc;
	ks_produce_result_t res;
	ks_producer_t *prod;
	char boot[512];
	int i, err;

	bootstrap(ic, boot, sizeof boot);
	ks_producer_config_init(&pc);
	pc.acks = -1;
	remote(ic, &rc);
	ck_assert_int_eq(ks_producer_connect(boot, &pc, &rc, &prod), 0);
	for (i = first; i < first + n; i++) {
		char k[32], v[32];
		ks_record_t r;
		memset(&r, 0, sizeof r);
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "v%d", i);
		r.key = k;
		r.key_len = strlen(k);
		r.value = v;
		r.value_len = strlen(v);
		r.timestamp = -1;
		err = ks_produce(prod, topic, 0, &r, 1, 0, &res);
		ck_assert_msg(err == 0, "record %d not acknowledged: %s (%s)",
		    i, ks_strerror(err),
		    ks_kafka_error_name(ks_kafka_last_error()));
		offsets[i] = res.offset;
	}
	ks_producer_free(prod);
}

/* Member i's replica log holds records [first, first + n) at offsets[],
 * exactly, and nothing else before them. */
static void replica_has_from(struct icluster *ic, int i, const char *topic,
    int first, int n, const int64_t *offsets)
{
	char name[300], *dir;
	ks_log_config_t lc;
	ks_log_iter_t *it;
	ks_record_t rec;
	ks_log_t *log;
	int k;

	snprintf(name, sizeof name, "%s-0", topic);
	dir = kt_path(ic->m[i].dir, name);
	ks_log_config_init(&lc);
	lc.flags = KS_LOG_RDONLY;
	ck_assert_int_eq(ks_log_open(dir, &lc, &log), 0);
	ck_assert_int_eq(ks_log_iter_new(log, 0, &it), 0);
	for (k = first; k < first + n; k++) {
		char v[32];
		snprintf(v, sizeof v, "v%d", k);
		ck_assert_msg(ks_log_iter_next(it, &rec) == 1,
		    "member %d lacks record %d", i + 1, k);
		ck_assert_int_eq(rec.offset, offsets[k]);
		ck_assert_msg(kt_same_bytes(rec.value, rec.value_len, v,
		    strlen(v)), "member %d: offset %lld is not %s", i + 1,
		    (long long)rec.offset, v);
	}
	ks_log_iter_free(it);
	ks_log_close(log);
	free(dir);
}

static void replica_has(struct icluster *ic, int i, const char *topic,
    int n, const int64_t *offsets)
{
	replica_has_from(ic, i, topic, 0, n, offsets);
}

START_TEST(replicates_and_fails_over)
{
	struct icluster ic;
	ks_cluster_partition_t p;
	int64_t offsets[3000], want;
	int32_t old, epoch;
	int three = 3, two = 2, i, li = -1;

	icluster_start(&ic, 1, 0);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[1].cl, "r", 1, 3, NULL,
	    10000), 0);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[0].cl, "r", 1, 3, NULL,
	    10000), KS_EEXIST);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[0].cl, "big", 1, 4,
	    NULL, 10000), KS_EINVAL);
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "r", isr_is, &three, 10000, &p));
	ck_assert_int_eq(p.nreplicas, 3);

	produce(&ic, "r", 0, 1000, offsets);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(offsets[i], i);
	/* every in-sync replica has what was acknowledged, and the high
	 * watermark reaches it everywhere */
	want = 1000;
	for (i = 0; i < N; i++) {
		ck_assert(wait_part(&ic, i, "r", hw_at, &want, 10000, &p));
		replica_has(&ic, i, "r", 1000, offsets);
	}

	/* the leader goes: another takes over with a new epoch */
	old = p.leader;
	epoch = p.leader_epoch;
	for (i = 0; i < N; i++)
		if (i + 1 == old)
			li = i;
	ck_assert_int_ge(li, 0);
	member_stop(&ic, li);
	for (i = 0; i < N; i++) {
		int32_t e = epoch;
		if (i == li)
			continue;
		ck_assert_msg(wait_part(&ic, i, "r", leader_not, &old, 10000,
		    &p), "no new leader seen by member %d", i + 1);
		ck_assert_int_gt(p.leader_epoch, e);
		ck_assert(wait_part(&ic, i, "r", isr_is, &two, 10000, &p));
	}
	produce(&ic, "r", 1000, 1000, offsets);
	for (i = 1000; i < 2000; i++)
		ck_assert_int_eq(offsets[i], i);

	/* it comes back: catches up, rejoins the ISR */
	member_start(&ic, li);
	ck_assert_int_eq(ks_cluster_wait(ic.m[li].cl, 15000), 0);
	want = 2000;
	ck_assert(wait_part(&ic, li, "r", hw_at, &want, 15000, &p));
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "r", isr_is, &three, 15000, &p));
	for (i = 0; i < N; i++)
		replica_has(&ic, i, "r", 2000, offsets);
	icluster_stop(&ic);
}
END_TEST

/* One acks=-1 record to m-0; 0 or the error, with the broker's code. */
static int produce_one(struct icluster *ic, int acks, int *kafka_code)
{
	ks_producer_config_t pc;
	ks_remote_config_t rc;
	ks_produce_result_t res;
	ks_producer_t *prod;
	ks_record_t r;
	char boot[512];
	int err;

	bootstrap(ic, boot, sizeof boot);
	ks_producer_config_init(&pc);
	pc.acks = acks;
	remote(ic, &rc);
	rc.retries = 0;
	ck_assert_int_eq(ks_producer_connect(boot, &pc, &rc, &prod), 0);
	memset(&r, 0, sizeof r);
	r.value = "x";
	r.value_len = 1;
	r.timestamp = -1;
	err = ks_produce(prod, "m", 0, &r, 1, 0, &res);
	*kafka_code = err ? ks_kafka_last_error() : 0;
	ks_producer_free(prod);
	return err;
}

START_TEST(min_insync_refuses)
{
	struct icluster ic;
	ks_cluster_partition_t p;
	int64_t offsets[10];
	int three = 3, two = 2, i, code, lead = -1, gone = -1;

	/* min.insync.replicas 3 of 3: losing one replica stops acks=-1 (a
	 * member, not two: the metadata quorum needs a majority to shrink
	 * the ISR at all) */
	icluster_start(&ic, 3, 0);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[0].cl, "m", 1, 3, NULL,
	    10000), 0);
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "m", isr_is, &three, 10000, &p));
	produce(&ic, "m", 0, 10, offsets);
	lead = p.leader - 1;
	gone = (lead + 1) % N;
	member_stop(&ic, gone);
	ck_assert(wait_part(&ic, lead, "m", isr_is, &two, 15000, &p));
	/* acks=-1 is refused, acks=1 taken */
	ck_assert_int_ne(produce_one(&ic, -1, &code), 0);
	ck_assert_int_eq(code, 19); /* NOT_ENOUGH_REPLICAS */
	ck_assert_int_eq(produce_one(&ic, 1, &code), 0);
	/* it returns, catches up, rejoins: acks=-1 works again */
	member_start(&ic, gone);
	ck_assert_int_eq(ks_cluster_wait(ic.m[gone].cl, 15000), 0);
	ck_assert(wait_part(&ic, lead, "m", isr_is, &three, 15000, &p));
	ck_assert_int_eq(produce_one(&ic, -1, &code), 0);
	icluster_stop(&ic);
}
END_TEST

/* Until member i knows a leader for topic-0 (its view). */
static int has_leader(const ks_cluster_partition_t *p, void *arg)
{
	(void)arg;
	return p->leader >= 0 && p->nisr == p->nreplicas;
}

START_TEST(groups_survive_the_coordinator)
{
	struct icluster ic;
	ks_cluster_partition_t p;
	ks_topic_partition_t tp[2];
	ks_committed_t *got = NULL;
	ks_admin_t *a;
	char boot[512];
	int64_t offsets[20];
	size_t n = 0;
	int i, ci = -1;

	icluster_start(&ic, 1, 0);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[0].cl, "g", 1, 3, NULL,
	    10000), 0);
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "g", has_leader, NULL, 10000, &p));
	produce(&ic, "g", 0, 20, offsets);
	/* the cluster made its offsets topic, replicated three times */
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "__consumer_offsets", has_leader,
		    NULL, 15000, &p));
	ck_assert_int_eq(p.nreplicas, 3);
	bootstrap(&ic, boot, sizeof boot);
	ck_assert_int_eq(ks_admin_connect(boot, NULL, &a), 0);
	tp[0].topic = "g";
	tp[0].partition = 0;
	tp[0].offset = 17;
	ck_assert_int_eq(ks_admin_commit_offsets(a, "grp", tp, 1), 0);
	ks_admin_free(a);

	/* its coordinator goes: the next one has the commit */
	ci = p.leader - 1;
	member_stop(&ic, ci);
	bootstrap(&ic, boot, sizeof boot);
	ck_assert_int_eq(ks_admin_connect(boot, NULL, &a), 0);
	for (i = 0; i < 200; i++) {
		if (ks_admin_group_offsets(a, "grp", &got, &n) == 0 && n == 1)
			break;
		ks_committed_free(got);
		got = NULL;
		usleep(50000);
	}
	ck_assert_msg(got && n == 1, "no committed offset after failover");
	ck_assert_str_eq(got[0].topic, "g");
	ck_assert_int_eq(got[0].offset, 17);
	ks_committed_free(got);
	/* and takes new ones */
	tp[0].offset = 19;
	ck_assert_int_eq(ks_admin_commit_offsets(a, "grp", tp, 1), 0);
	ck_assert_int_eq(ks_admin_group_offsets(a, "grp", &got, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(got[0].offset, 19);
	ks_committed_free(got);
	ks_admin_free(a);
	icluster_stop(&ic);
}
END_TEST

static int unknown_everywhere(struct icluster *ic, const char *topic)
{
	ks_cluster_partition_t p;
	int i;

	for (i = 0; i < N; i++)
		if (ks_cluster_partition(ic->m[i].cl, topic, 0, &p) !=
		    KS_ETOPIC)
			return 0;
	return 1;
}

static int replica_here(const ks_cluster_partition_t *p, void *arg)
{
	return isr_is(p, arg) && p->log_end_offset >= 0;
}

START_TEST(deleted_topic_comes_back_empty)
{
	struct icluster ic;
	ks_cluster_partition_t p;
	ks_admin_t *a;
	int64_t offsets[110];
	char url[200];
	int i, three = 3, ctl;

	icluster_start(&ic, 1, 0);
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[0].cl, "d", 1, 3, NULL,
	    10000), 0);
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "d", isr_is, &three, 10000, &p));
	produce(&ic, "d", 0, 10, offsets);
	/* DeleteTopics goes to the active controller */
	ctl = ks_cluster_controller(ic.m[0].cl);
	ck_assert_int_ge(ctl, 1);
	snprintf(url, sizeof url, "%s", ic.m[ctl - 1].url);
	ck_assert_int_eq(ks_admin_connect(url, NULL, &a), 0);
	ck_assert_int_eq(ks_admin_delete_topic(a, "d"), 0);
	ks_admin_free(a);
	for (i = 0; i < 200 && !unknown_everywhere(&ic, "d"); i++)
		usleep(50000);
	ck_assert(unknown_everywhere(&ic, "d"));
	/* made again: empty on every member, the old records gone */
	for (i = 0; i < 100; i++) {
		int rc = ks_cluster_topic_create(ic.m[1].cl, "d", 1, 3, NULL,
		    10000);
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, KS_EEXIST); /* not yet gone here */
		usleep(50000);
	}
	/* each member makes its replica once the deleted one's last handle
	 * is gone (a second or so: the server releases its own then) */
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "d", replica_here, &three, 15000,
		    &p));
	produce(&ic, "d", 100, 3, offsets);
	for (i = 100; i < 103; i++)
		ck_assert_int_eq(offsets[i], i - 100);
	for (i = 0; i < N; i++) {
		int64_t want = 3;
		ck_assert(wait_part(&ic, i, "d", hw_at, &want, 10000, &p));
		ck_assert_int_eq(p.log_end_offset, 3);
		replica_has_from(&ic, i, "d", 100, 3, offsets);
	}
	icluster_stop(&ic);
}
END_TEST

START_TEST(members_over_tls)
{
	struct icluster ic;
	ks_topic_config_t tc;
	ks_cluster_partition_t p;
	int64_t offsets[200], want = 200;
	int i, three = 3;

	icluster_start(&ic, 2, 1);
	ck_assert_int_eq(strncmp(ic.m[0].url, "tls+tcp://", 10), 0);
	/* every append fsynced: the server's durable path (its workers),
	 * which waits for the replicas as the loop's does */
	ks_topic_config_init(&tc);
	tc.log.flush_messages = 1;
	ck_assert_int_eq(ks_cluster_topic_create(ic.m[2].cl, "t", 1, 3, &tc,
	    10000), 0);
	for (i = 0; i < N; i++)
		ck_assert(wait_part(&ic, i, "t", isr_is, &three, 10000, &p));
	produce(&ic, "t", 0, 200, offsets);
	for (i = 0; i < N; i++) {
		ks_topic_config_t got;
		ks_topic_t *th;
		ck_assert(wait_part(&ic, i, "t", hw_at, &want, 10000, &p));
		replica_has(&ic, i, "t", 200, offsets);
		/* every replica has the topic's configuration */
		ck_assert_int_eq(ks_topic_open(ic.m[i].store, "t", &th), 0);
		ck_assert_int_eq(ks_topic_config(th, &got), 0);
		ck_assert_int_eq(got.log.flush_messages, 1);
		ks_topic_release(th);
	}
	icluster_stop(&ic);
}
END_TEST

/* One acks=1 record to topic-0 at url, no retries: 0 or the error. */
static int produce_to(const char *url, const char *topic)
{
	ks_producer_config_t pc;
	ks_remote_config_t rc;
	ks_produce_result_t res;
	ks_producer_t *prod;
	ks_record_t r;
	int err;

	ks_producer_config_init(&pc);
	pc.acks = 1;
	ks_remote_config_init(&rc);
	rc.retries = 0;
	rc.request_timeout_ms = 3000;
	ck_assert_int_eq(ks_producer_connect(url, &pc, &rc, &prod), 0);
	memset(&r, 0, sizeof r);
	r.value = "x";
	r.value_len = 1;
	r.timestamp = -1;
	err = ks_produce(prod, topic, 0, &r, 1, 0, &res);
	ks_producer_free(prod);
	return err;
}

START_TEST(config_and_bad_arguments)
{
	ks_cluster_config_t cc, before;
	ks_kafka_server_config_t sc;
	ks_kafka_server_t *srv;
	ks_store_config_t st;
	ks_store_t *store;
	ks_cluster_t *cl = (ks_cluster_t *)&cc;
	char *base = kt_tmpdir("replica-cfg"), *sdir = kt_path(base, "s");
	char *sock = kt_path(base, "sock"), url[300];
	char *raft2 = kt_path(base, "raft2");
	char voters[64], voters2[96];
	int i;

	ks_cluster_config_init(&cc);
	ck_assert_int_eq(cc.session_timeout_ms, 9000);
	ck_assert_int_eq(cc.heartbeat_interval_ms, 2000);
	ck_assert_int_eq(cc.replica_lag_time_max_ms, 30000);
	ck_assert_int_eq(cc.min_insync_replicas, 1);
	ck_assert_int_eq(cc.default_replication_factor, -1);
	ck_assert_int_eq(ks_cluster_config_set(&cc, "node.id", "7"), 0);
	ck_assert_int_eq(cc.node_id, 7);
	ck_assert_int_eq(ks_cluster_config_set(&cc, "min.insync.replicas",
	    "2"), 0);
	ck_assert_int_eq(cc.min_insync_replicas, 2);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "broker.session.timeout.ms", "1500"), 0);
	ck_assert_int_eq(cc.session_timeout_ms, 1500);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "unclean.leader.election.enable", "true"), 0);
	ck_assert_int_eq(cc.unclean_leader_election, 1);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "controller.quorum.voters", "1@127.0.0.1:1"), 0);
	ck_assert_str_eq(cc.voters, "1@127.0.0.1:1");
	/* refused, and nothing changed */
	before = cc;
	ck_assert_int_eq(ks_cluster_config_set(&cc, "min.insync.replicas",
	    "0"), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(&cc, "node.id", "-1"),
	    KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "broker.session.timeout.ms", "12x"), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "unclean.leader.election.enable", "maybe"), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(&cc,
	    "controller.quorum.voters", ""), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(&cc, "no.such.property",
	    "1"), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_config_set(NULL, "node.id", "1"),
	    KS_EINVAL);
	ck_assert(memcmp(&before, &cc, sizeof cc) == 0);

	/* ks_cluster_new refuses what cannot form a member */
	kt_store_config(&st, KS_STORE_CREATE, quiet);
	ck_assert_int_eq(ks_store_open(sdir, &st, &store), 0);
	ks_kafka_server_config_init(&sc);
	sc.node_id = 1;
	ck_assert_int_eq(ks_kafka_server_new(store, &sc, &srv), 0);
	snprintf(url, sizeof url, "unix://%s", sock);
	ck_assert_int_eq(ks_kafka_server_listen(srv, url, NULL), 0);
	snprintf(voters, sizeof voters, "1@127.0.0.1:%d", kt_free_port());
	ks_cluster_config_init(&cc);
	cc.node_id = 1;
	cc.voters = voters;
	ck_assert_int_eq(ks_cluster_new(NULL, &cc, &cl), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_new(srv, NULL, &cl), KS_EINVAL);
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), KS_EINVAL);
	ck_assert_ptr_null(cl); /* no TCP listener to be reached at */
	ck_assert_int_eq(ks_kafka_server_listen(srv, "tcp://127.0.0.1:0",
	    NULL), 0);
	cc.node_id = 2; /* the server is node 1 */
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), KS_EINVAL);
	cc.node_id = 1;
	cc.voters = NULL;
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), KS_EINVAL);
	cc.voters = "2@127.0.0.1:1"; /* this node is not a voter */
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), KS_EINVAL);
	cc.voters = "1@nowhere";
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), KS_EINVAL);
	/* two voters, the other never started: no quorum, no controller,
	 * never ready (a Raft directory of its own) */
	snprintf(voters2, sizeof voters2, "1@127.0.0.1:%d,2@127.0.0.1:%d",
	    kt_free_port(), kt_free_port());
	cc.voters = voters2;
	cc.raft_dir = raft2;
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), 0);
	ck_assert_int_eq(ks_cluster_wait(cl, 500), KS_ETIMEDOUT);
	ck_assert_int_eq(ks_cluster_controller(cl), -1);
	ks_cluster_free(cl);
	ck_assert_int_eq(ks_cluster_controller(NULL), -1);
	ck_assert_int_eq(ks_cluster_wait(NULL, 0), KS_EINVAL);
	/* a lone voter forms a cluster of one */
	cc.voters = voters;
	cc.raft_dir = NULL;
	ck_assert_int_eq(ks_cluster_new(srv, &cc, &cl), 0);
	ck_assert_int_eq(ks_cluster_wait(cl, 15000), 0);
	ck_assert_int_eq(ks_cluster_controller(cl), 1);
	ck_assert_int_eq(ks_cluster_topic_create(cl, "one", 2, 1, NULL,
	    10000), 0);
	ck_assert_int_eq(ks_cluster_topic_create(cl, "bad name!", 1, 1, NULL,
	    10000), KS_ENAME);
	ck_assert_int_eq(ks_cluster_partition(cl, "none", 0, NULL),
	    KS_EINVAL);
	ck_assert_int_eq(ks_kafka_server_url(srv, 1, url, sizeof url), 0);
	for (i = 0; i < 200; i++) { /* its replica made here */
		ks_cluster_partition_t p;
		if (ks_cluster_partition(cl, "one", 0, &p) == 0 &&
		    p.leader == 1 && p.log_end_offset >= 0)
			break;
		usleep(20000);
	}
	ck_assert_int_eq(produce_to(url, "one"), 0);
	/* a member that left acknowledges nothing any more */
	ks_cluster_free(cl);
	ck_assert_int_ne(produce_to(url, "one"), 0);
	ks_cluster_free(NULL);
	ks_kafka_server_free(srv);
	ck_assert_int_eq(ks_store_close(store), 0);
	free(sdir);
	free(sock);
	free(raft2);
	kt_rmrf_free(&base);
}
END_TEST

Suite *replica_suite(void)
{
	Suite *s = suite_create("replica");
	TCase *tc = tcase_create("replica");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, replicates_and_fails_over);
	tcase_add_test(tc, min_insync_refuses);
	tcase_add_test(tc, groups_survive_the_coordinator);
	tcase_add_test(tc, deleted_topic_comes_back_empty);
	tcase_add_test(tc, members_over_tls);
	tcase_add_test(tc, config_and_bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}
