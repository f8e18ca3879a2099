/*
 * check_kcluster_codec.c: the codecs replication speaks between brokers
 * (lib/kafka/msg_cluster.c): OffsetForLeaderEpoch, AlterPartition,
 * BrokerRegistration and BrokerHeartbeat. Every version round-trips with
 * every field set, fields a version lacks come back as Kafka's defaults,
 * every truncation and hostile count fails cleanly, and some messages
 * are compared with bytes written out by hand from Kafka's schemas, so
 * that an encoder and decoder wrong in the same way cannot pass.
 */
#include "kproto_util.h"

#include "kafka/client_impl.h"

#include <kstream/kafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fillers and comparisons ------------------------------------------------
 * A filler sets every field to a value unlike its default, whether or not
 * the version has it; a comparison checks the fields the version has
 * against the original and the others against Kafka's defaults.
 */

static void fill_ofle_req(void *p)
{
	static kp_ofle_req_part_t p0[2], p1[1];
	static kp_ofle_req_topic_t t[2];
	kp_offset_for_leader_epoch_req_t *m = p;

	p0[0] = (kp_ofle_req_part_t){ 0, 12, 11 };
	p0[1] = (kp_ofle_req_part_t){ 7, 0x7fffffff, 0x12345678 };
	p1[0] = (kp_ofle_req_part_t){ 3, 5, 4 };
	t[0] = (kp_ofle_req_topic_t){ S("orders"), 2, p0 };
	t[1] = (kp_ofle_req_topic_t){ S("a.b-c_d"), 1, p1 };
	m->replica_id = 3;
	m->n_topics = 2;
	m->topics = t;
}

static void cmp_ofle_req(int v, const void *pa, const void *pb)
{
	const kp_offset_for_leader_epoch_req_t *a = pa, *b = pb;

	IEQ(b->replica_id, v >= 3 ? a->replica_id : -2);
	IEQ(b->n_topics, a->n_topics);
	for (int32_t i = 0; i < a->n_topics; i++) {
		const kp_ofle_req_topic_t *x = &a->topics[i];
		const kp_ofle_req_topic_t *y = &b->topics[i];
		SEQ(y->topic, x->topic);
		IEQ(y->n_partitions, x->n_partitions);
		for (int32_t j = 0; j < x->n_partitions; j++) {
			const kp_ofle_req_part_t *xp = &x->partitions[j];
			const kp_ofle_req_part_t *yp = &y->partitions[j];
			IEQ(yp->partition, xp->partition);
			IEQ(yp->current_leader_epoch,
			    v >= 2 ? xp->current_leader_epoch : -1);
			IEQ(yp->leader_epoch, xp->leader_epoch);
		}
	}
}

static void fill_ofle_resp(void *p)
{
	static kp_ofle_resp_part_t p0[2];
	static kp_ofle_resp_topic_t t[2];
	kp_offset_for_leader_epoch_resp_t *m = p;

	p0[0] = (kp_ofle_resp_part_t){ 0, 0, 9, 123456789012LL };
	p0[1] = (kp_ofle_resp_part_t){ KP_FENCED_LEADER_EPOCH, 1, 2, 77 };
	t[0] = (kp_ofle_resp_topic_t){ S("orders"), 2, p0 };
	t[1] = (kp_ofle_resp_topic_t){ S("empty"), 0, NULL };
	m->throttle_time_ms = 250;
	m->n_topics = 2;
	m->topics = t;
}

static void cmp_ofle_resp(int v, const void *pa, const void *pb)
{
	const kp_offset_for_leader_epoch_resp_t *a = pa, *b = pb;

	IEQ(b->throttle_time_ms, v >= 2 ? a->throttle_time_ms : 0);
	IEQ(b->n_topics, a->n_topics);
	for (int32_t i = 0; i < a->n_topics; i++) {
		const kp_ofle_resp_topic_t *x = &a->topics[i];
		const kp_ofle_resp_topic_t *y = &b->topics[i];
		SEQ(y->topic, x->topic);
		IEQ(y->n_partitions, x->n_partitions);
		for (int32_t j = 0; j < x->n_partitions; j++) {
			const kp_ofle_resp_part_t *xp = &x->partitions[j];
			const kp_ofle_resp_part_t *yp = &y->partitions[j];
			IEQ(yp->error_code, xp->error_code);
			IEQ(yp->partition, xp->partition);
			IEQ(yp->leader_epoch, v >= 1 ? xp->leader_epoch : -1);
			IEQ(yp->end_offset, xp->end_offset);
		}
	}
}

static void fill_ap_req(void *p)
{
	static int32_t isr0[] = { 1, 2, 3 }, isr1[] = { 7 };
	static kp_alter_partition_req_part_t parts[3];
	static kp_alter_partition_req_topic_t t[1];
	kp_alter_partition_req_t *m = p;

	parts[0] = (kp_alter_partition_req_part_t){ 0, 4, 3, isr0, 1, 9 };
	parts[1] = (kp_alter_partition_req_part_t){ 5, 6, 1, isr1, 1, 2 };
	parts[2] = (kp_alter_partition_req_part_t){ 6, 1, 0, NULL, 1, 3 };
	t[0] = (kp_alter_partition_req_topic_t){ S("events"), 3, parts };
	m->broker_id = 2;
	m->broker_epoch = 0x100000002LL;
	m->n_topics = 1;
	m->topics = t;
}

static void cmp_ap_req(int v, const void *pa, const void *pb)
{
	const kp_alter_partition_req_t *a = pa, *b = pb;

	IEQ(b->broker_id, a->broker_id);
	IEQ(b->broker_epoch, a->broker_epoch);
	IEQ(b->n_topics, a->n_topics);
	for (int32_t i = 0; i < a->n_topics; i++) {
		const kp_alter_partition_req_topic_t *x = &a->topics[i];
		const kp_alter_partition_req_topic_t *y = &b->topics[i];
		SEQ(y->topic_name, x->topic_name);
		IEQ(y->n_partitions, x->n_partitions);
		for (int32_t j = 0; j < x->n_partitions; j++) {
			const kp_alter_partition_req_part_t *xp =
			    &x->partitions[j];
			const kp_alter_partition_req_part_t *yp =
			    &y->partitions[j];
			IEQ(yp->partition_index, xp->partition_index);
			IEQ(yp->leader_epoch, xp->leader_epoch);
			IEQ(yp->n_new_isr, xp->n_new_isr);
			for (int32_t k = 0; k < xp->n_new_isr; k++)
				IEQ(yp->new_isr[k], xp->new_isr[k]);
			IEQ(yp->leader_recovery_state,
			    v >= 1 ? xp->leader_recovery_state : 0);
			IEQ(yp->partition_epoch, xp->partition_epoch);
		}
	}
}

static void fill_ap_resp(void *p)
{
	static int32_t isr0[] = { 3, 1 };
	static kp_alter_partition_resp_part_t parts[2];
	static kp_alter_partition_resp_topic_t t[2];
	kp_alter_partition_resp_t *m = p;

	parts[0] = (kp_alter_partition_resp_part_t){ 0, 0, 3, 8, 2, isr0,
		1, 12 };
	parts[1] = (kp_alter_partition_resp_part_t){ 1, KP_INELIGIBLE_REPLICA,
		-1, 2, 0, NULL, 1, 5 };
	t[0] = (kp_alter_partition_resp_topic_t){ S("events"), 2, parts };
	t[1] = (kp_alter_partition_resp_topic_t){ S("x"), 0, NULL };
	m->throttle_time_ms = 17;
	m->error_code = KP_NOT_CONTROLLER;
	m->n_topics = 2;
	m->topics = t;
}

static void cmp_ap_resp(int v, const void *pa, const void *pb)
{
	const kp_alter_partition_resp_t *a = pa, *b = pb;

	IEQ(b->throttle_time_ms, a->throttle_time_ms);
	IEQ(b->error_code, a->error_code);
	IEQ(b->n_topics, a->n_topics);
	for (int32_t i = 0; i < a->n_topics; i++) {
		const kp_alter_partition_resp_topic_t *x = &a->topics[i];
		const kp_alter_partition_resp_topic_t *y = &b->topics[i];
		SEQ(y->topic_name, x->topic_name);
		IEQ(y->n_partitions, x->n_partitions);
		for (int32_t j = 0; j < x->n_partitions; j++) {
			const kp_alter_partition_resp_part_t *xp =
			    &x->partitions[j];
			const kp_alter_partition_resp_part_t *yp =
			    &y->partitions[j];
			IEQ(yp->partition_index, xp->partition_index);
			IEQ(yp->error_code, xp->error_code);
			IEQ(yp->leader_id, xp->leader_id);
			IEQ(yp->leader_epoch, xp->leader_epoch);
			IEQ(yp->n_isr, xp->n_isr);
			for (int32_t k = 0; k < xp->n_isr; k++)
				IEQ(yp->isr[k], xp->isr[k]);
			IEQ(yp->leader_recovery_state,
			    v >= 1 ? xp->leader_recovery_state : 0);
			IEQ(yp->partition_epoch, xp->partition_epoch);
		}
	}
}

static const uint8_t uuid1[16] = { 0x8e, 0x1b, 0x00, 0x42, 0xff, 0x01,
	0x4c, 0x7d, 0x90, 0x00, 0x13, 0x37, 0xab, 0xcd, 0xef, 0x80 };

static void fill_br_req(void *p)
{
	static kp_broker_listener_t l[2];
	static kp_broker_feature_t f[1];
	kp_broker_registration_req_t *m = p;

	/* 65535: a port that is negative as an int16 */
	l[0] = (kp_broker_listener_t){ S("PLAINTEXT"), S("10.0.0.7"), 65535,
		0 };
	l[1] = (kp_broker_listener_t){ S("SSL"), S("broker-2.example"), 9093,
		1 };
	f[0] = (kp_broker_feature_t){ S("metadata.version"), 1, 7 };
	m->broker_id = 2;
	m->cluster_id = S("Jn6qUZRgTVqH_OzyIwcVzg");
	memcpy(m->incarnation_id, uuid1, 16);
	m->n_listeners = 2;
	m->listeners = l;
	m->n_features = 1;
	m->features = f;
	m->rack = S("rack-b");
	m->is_migrating_zk_broker = true;
}

static void cmp_br_req(int v, const void *pa, const void *pb)
{
	const kp_broker_registration_req_t *a = pa, *b = pb;

	IEQ(b->broker_id, a->broker_id);
	SEQ(b->cluster_id, a->cluster_id);
	ck_assert_msg(memcmp(b->incarnation_id, a->incarnation_id, 16) == 0,
	    "%s: incarnation_id differs", kt_what);
	IEQ(b->n_listeners, a->n_listeners);
	for (int32_t i = 0; i < a->n_listeners; i++) {
		SEQ(b->listeners[i].name, a->listeners[i].name);
		SEQ(b->listeners[i].host, a->listeners[i].host);
		IEQ(b->listeners[i].port, a->listeners[i].port);
		IEQ(b->listeners[i].security_protocol,
		    a->listeners[i].security_protocol);
	}
	IEQ(b->n_features, a->n_features);
	for (int32_t i = 0; i < a->n_features; i++) {
		SEQ(b->features[i].name, a->features[i].name);
		IEQ(b->features[i].min_supported_version,
		    a->features[i].min_supported_version);
		IEQ(b->features[i].max_supported_version,
		    a->features[i].max_supported_version);
	}
	SEQ(b->rack, a->rack);
	IEQ(b->is_migrating_zk_broker,
	    v >= 1 ? a->is_migrating_zk_broker : false);
}

static void fill_br_resp(void *p)
{
	kp_broker_registration_resp_t *m = p;
	m->throttle_time_ms = 3;
	m->error_code = 101; /* DUPLICATE_BROKER_REGISTRATION */
	m->broker_epoch = 0x7000000000000001LL;
}

static void cmp_br_resp(int v, const void *pa, const void *pb)
{
	const kp_broker_registration_resp_t *a = pa, *b = pb;
	IEQ(b->throttle_time_ms, a->throttle_time_ms);
	IEQ(b->error_code, a->error_code);
	IEQ(b->broker_epoch, a->broker_epoch);
}

static void fill_bh_req(void *p)
{
	kp_broker_heartbeat_req_t *m = p;
	m->broker_id = 9;
	m->broker_epoch = 42;
	m->current_metadata_offset = 1LL << 40;
	m->want_fence = true;
	m->want_shut_down = true;
}

static void cmp_bh_req(int v, const void *pa, const void *pb)
{
	const kp_broker_heartbeat_req_t *a = pa, *b = pb;
	IEQ(b->broker_id, a->broker_id);
	IEQ(b->broker_epoch, a->broker_epoch);
	IEQ(b->current_metadata_offset, a->current_metadata_offset);
	IEQ(b->want_fence, a->want_fence);
	IEQ(b->want_shut_down, a->want_shut_down);
}

static void fill_bh_resp(void *p)
{
	kp_broker_heartbeat_resp_t *m = p;
	m->throttle_time_ms = 1;
	m->error_code = 102; /* BROKER_ID_NOT_REGISTERED */
	m->is_caught_up = true;
	m->is_fenced = true;
	m->should_shut_down = true;
}

static void cmp_bh_resp(int v, const void *pa, const void *pb)
{
	const kp_broker_heartbeat_resp_t *a = pa, *b = pb;
	IEQ(b->throttle_time_ms, a->throttle_time_ms);
	IEQ(b->error_code, a->error_code);
	IEQ(b->is_caught_up, a->is_caught_up);
	IEQ(b->is_fenced, a->is_fenced);
	IEQ(b->should_shut_down, a->should_shut_down);
}

/* The versions kstream must speak of each, beside its round trip. */
static const struct {
	struct kt_codec_case c;
	int16_t min, max;
} cases[] = {
	{ { KP_OFFSET_FOR_LEADER_EPOCH, fill_ofle_req, cmp_ofle_req,
	    fill_ofle_resp, cmp_ofle_resp }, 0, 4 },
	{ { KP_ALTER_PARTITION, fill_ap_req, cmp_ap_req, fill_ap_resp,
	    cmp_ap_resp }, 0, 1 },
	{ { KP_BROKER_REGISTRATION, fill_br_req, cmp_br_req, fill_br_resp,
	    cmp_br_resp }, 0, 1 },
	{ { KP_BROKER_HEARTBEAT, fill_bh_req, cmp_bh_req, fill_bh_resp,
	    cmp_bh_resp }, 0, 0 },
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- round trips and truncations ----------------------------------------- */

START_TEST(test_round_trip)
{
	int served = 0;

	for (size_t i = 0; i < N_CASES; i++) {
		const kp_api_t *api = kp_api_find(cases[i].c.key);
		ck_assert_ptr_nonnull(api);
		ck_assert_int_eq(api->min_version, cases[i].min);
		ck_assert_int_eq(api->max_version, cases[i].max);
		served += kt_codec_all_versions(&cases[i].c);
	}
	ck_assert_int_eq(served, 5 + 2 + 2 + 1);
}
END_TEST

/* Empty arrays and strings, a null rack: the smallest messages also
 * round-trip (an empty compact array is one byte, not a null). */
START_TEST(test_empty)
{
	kp_offset_for_leader_epoch_req_t q, dq;
	kp_broker_registration_req_t r, dr;
	kp_arena_t a;
	uint8_t *buf;
	size_t len;

	kp_arena_init(&a);
	for (int16_t v = 0; v <= 4; v++) {
		memset(&q, 0, sizeof q);
		q.replica_id = -1;
		buf = kt_enc(0, KP_OFFSET_FOR_LEADER_EPOCH, v, &q, &len);
		/* replica_id from v3, then the count; v4: + tags */
		ck_assert_uint_eq(len, (v >= 3 ? 4u : 0u) +
		    (v >= 4 ? 2u : 4u));
		ck_assert_int_eq(kt_dec(0, KP_OFFSET_FOR_LEADER_EPOCH, v, buf,
		    len, &a, &dq, sizeof dq), 0);
		ck_assert_int_eq(dq.n_topics, 0);
		ck_assert_int_eq(dq.replica_id, v >= 3 ? -1 : -2);
		free(buf);
	}
	for (int16_t v = 0; v <= 1; v++) {
		memset(&r, 0, sizeof r);
		r.rack = (kp_str_t){ NULL, -1 };
		buf = kt_enc(0, KP_BROKER_REGISTRATION, v, &r, &len);
		/* id, "" , uuid, [], [], null, (v1 bool), tags */
		ck_assert_uint_eq(len, 4 + 1 + 16 + 1 + 1 + 1 + (size_t)v + 1);
		ck_assert_int_eq(kt_dec(0, KP_BROKER_REGISTRATION, v, buf, len,
		    &a, &dr, sizeof dr), 0);
		ck_assert_int_eq(dr.rack.len, -1);
		ck_assert_ptr_null(dr.rack.s);
		ck_assert_int_eq(dr.cluster_id.len, 0);
		ck_assert_int_eq(dr.n_listeners, 0);
		ck_assert_int_eq(dr.n_features, 0);
		free(buf);
	}
	kp_arena_free(&a);
}
END_TEST

/* Encodes m and checks it decodes: the arrays' least element sizes
 * (KP_ARRAY's min_wire) must not refuse an element as small as it gets,
 * last in the body. */
static void decodes(int resp, int16_t key, int16_t v, void *m)
{
	kp_req_any_t dq;
	kp_resp_any_t ds;
	kp_arena_t a;
	uint8_t *buf;
	size_t len;

	buf = kt_enc(resp, key, v, m, &len);
	kp_arena_init(&a);
	ck_assert_msg(kt_dec(resp, key, v, buf, len, &a,
	    resp ? (void *)&ds : (void *)&dq, resp ? sizeof ds : sizeof dq) ==
	    0, "%s v%d %s: smallest elements refused", kp_api_name(key), v,
	    resp ? "response" : "request");
	kp_arena_free(&a);
	free(buf);
}

/* Eight of each, so that a least size one byte too high is refused even
 * with the body's trailing bytes as slack. */
#define NMIN 8

START_TEST(test_smallest_elements)
{
	static kp_ofle_req_part_t oqp[NMIN];
	static kp_ofle_req_topic_t oqt[NMIN];
	static kp_ofle_resp_part_t osp[NMIN];
	static kp_ofle_resp_topic_t ost[NMIN];
	static kp_alter_partition_req_part_t aqp[NMIN];
	static kp_alter_partition_req_topic_t aqt[NMIN];
	static kp_alter_partition_resp_part_t asp[NMIN];
	static kp_alter_partition_resp_topic_t ast[NMIN];
	static kp_broker_listener_t l[NMIN];
	static kp_broker_feature_t f[NMIN];
	kp_offset_for_leader_epoch_req_t oq = { 0, NMIN, oqt };
	kp_offset_for_leader_epoch_resp_t os = { 0, NMIN, ost };
	kp_alter_partition_req_t aq = { 0, 0, NMIN, aqt };
	kp_alter_partition_resp_t as = { 0, 0, NMIN, ast };
	kp_broker_registration_req_t br = { 0, { "", 0 }, { 0 }, 0, l, 0, f,
		{ NULL, -1 }, false };
	const kp_str_t e = { "", 0 };

	for (int i = 0; i < NMIN; i++) {
		l[i] = (kp_broker_listener_t){ e, e, 0, 0 };
		f[i] = (kp_broker_feature_t){ e, 0, 0 };
	}
	/* topics without partitions, then topics of the smallest ones */
	for (int n = 0; n <= NMIN; n += NMIN) {
		for (int i = 0; i < NMIN; i++) {
			oqt[i] = (kp_ofle_req_topic_t){ e, n, oqp };
			ost[i] = (kp_ofle_resp_topic_t){ e, n, osp };
			aqt[i] = (kp_alter_partition_req_topic_t){ e, n, aqp };
			ast[i] = (kp_alter_partition_resp_topic_t){ e, n, asp };
		}
		for (int16_t v = 0; v <= 4; v++) {
			decodes(0, KP_OFFSET_FOR_LEADER_EPOCH, v, &oq);
			decodes(1, KP_OFFSET_FOR_LEADER_EPOCH, v, &os);
		}
		for (int16_t v = 0; v <= 1; v++) {
			decodes(0, KP_ALTER_PARTITION, v, &aq);
			decodes(1, KP_ALTER_PARTITION, v, &as);
		}
	}
	/* listeners, then features, as the last array */
	for (int16_t v = 0; v <= 1; v++) {
		br.n_listeners = NMIN;
		br.n_features = 0;
		decodes(0, KP_BROKER_REGISTRATION, v, &br);
		br.n_listeners = 0;
		br.n_features = NMIN;
		decodes(0, KP_BROKER_REGISTRATION, v, &br);
	}
}
END_TEST

/* ---- bytes written out by hand ------------------------------------------- */

static void same_as(int resp, int16_t key, int16_t v, void *m,
    const kt_hb_t *want)
{
	uint8_t *buf;
	size_t len;

	buf = kt_enc(resp, key, v, m, &len);
	ck_assert_msg(kt_same_bytes(want->b, want->n, buf, len),
	    "%s v%d %s: not the expected bytes", kp_api_name(key), v,
	    resp ? "response" : "request");
	free(buf);
}

START_TEST(test_ofle_v3_bytes)
{
	kp_ofle_req_part_t qp = { 3, 7, 6 };
	kp_ofle_req_topic_t qt = { S("t1"), 1, &qp };
	kp_offset_for_leader_epoch_req_t q = { 5, 1, &qt };
	kp_ofle_resp_part_t sp = { KP_UNKNOWN_LEADER_EPOCH, 3, 6, 1000 };
	kp_ofle_resp_topic_t st = { S("t1"), 1, &sp };
	kp_offset_for_leader_epoch_resp_t s = { 20, 1, &st };
	kp_offset_for_leader_epoch_resp_t ds;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;

	/* ReplicaId, [Topic [Partition CurrentLeaderEpoch LeaderEpoch]] */
	kt_hb_i32(&h, 5);
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "t1");
	kt_hb_i32(&h, 1);
	kt_hb_i32(&h, 3);
	kt_hb_i32(&h, 7);
	kt_hb_i32(&h, 6);
	same_as(0, KP_OFFSET_FOR_LEADER_EPOCH, 3, &q, &h);

	/* ThrottleTimeMs, [Topic [ErrorCode Partition LeaderEpoch
	 * EndOffset]] */
	h.n = 0;
	kt_hb_i32(&h, 20);
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "t1");
	kt_hb_i32(&h, 1);
	kt_hb_i16(&h, 75);
	kt_hb_i32(&h, 3);
	kt_hb_i32(&h, 6);
	kt_hb_i64(&h, 1000);
	same_as(1, KP_OFFSET_FOR_LEADER_EPOCH, 3, &s, &h);

	/* and those bytes read back as what a broker sent */
	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(1, KP_OFFSET_FOR_LEADER_EPOCH, 3, h.b, h.n, &a,
	    &ds, sizeof ds), 0);
	ck_assert_int_eq(ds.throttle_time_ms, 20);
	ck_assert_int_eq(ds.n_topics, 1);
	ck_assert(kp_str_eq_c(ds.topics[0].topic, "t1"));
	ck_assert_int_eq(ds.topics[0].n_partitions, 1);
	ck_assert_int_eq(ds.topics[0].partitions[0].error_code, 75);
	ck_assert_int_eq(ds.topics[0].partitions[0].partition, 3);
	ck_assert_int_eq(ds.topics[0].partitions[0].leader_epoch, 6);
	ck_assert_int_eq(ds.topics[0].partitions[0].end_offset, 1000);
	kp_arena_free(&a);
}
END_TEST

START_TEST(test_ofle_v4_bytes)
{
	kp_ofle_req_part_t qp[2] = { { 3, 7, 6 }, { 0, -1, 2 } };
	kp_ofle_req_topic_t qt = { S("t1"), 2, qp };
	kp_offset_for_leader_epoch_req_t q = { -1, 1, &qt };
	kp_ofle_resp_part_t sp = { 0, 3, 6, 0x0102030405060708LL };
	kp_ofle_resp_topic_t st = { S("t1"), 1, &sp };
	kp_offset_for_leader_epoch_resp_t s = { 0, 1, &st };
	kp_offset_for_leader_epoch_req_t dq;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;

	/* compact lengths are N+1 varints; every struct ends in an empty
	 * tagged-field section (0) */
	kt_hb_i32(&h, -1);
	kt_hb_u8(&h, 2);           /* one topic */
	kt_hb_cstr(&h, "t1");
	kt_hb_u8(&h, 3);           /* two partitions */
	kt_hb_i32(&h, 3);
	kt_hb_i32(&h, 7);
	kt_hb_i32(&h, 6);
	kt_hb_u8(&h, 0);
	kt_hb_i32(&h, 0);
	kt_hb_i32(&h, -1);
	kt_hb_i32(&h, 2);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);           /* topic's tags */
	kt_hb_u8(&h, 0);           /* body's tags */
	same_as(0, KP_OFFSET_FOR_LEADER_EPOCH, 4, &q, &h);

	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(0, KP_OFFSET_FOR_LEADER_EPOCH, 4, h.b, h.n, &a,
	    &dq, sizeof dq), 0);
	ck_assert_int_eq(dq.replica_id, -1);
	ck_assert_int_eq(dq.topics[0].n_partitions, 2);
	ck_assert_int_eq(dq.topics[0].partitions[1].current_leader_epoch,
	    -1);
	ck_assert_int_eq(dq.topics[0].partitions[1].leader_epoch, 2);
	kp_arena_free(&a);

	h.n = 0;
	kt_hb_i32(&h, 0);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "t1");
	kt_hb_u8(&h, 2);
	kt_hb_i16(&h, 0);
	kt_hb_i32(&h, 3);
	kt_hb_i32(&h, 6);
	kt_hb_i64(&h, 0x0102030405060708LL);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	same_as(1, KP_OFFSET_FOR_LEADER_EPOCH, 4, &s, &h);
}
END_TEST

START_TEST(test_broker_heartbeat_v0_bytes)
{
	kp_broker_heartbeat_req_t q = { 4, 0x0000000500000006LL, 123, true,
		false };
	kp_broker_heartbeat_resp_t s = { 0, 0, true, false, true };
	kp_broker_heartbeat_resp_t ds;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;

	kt_hb_i32(&h, 4);
	kt_hb_i64(&h, 0x0000000500000006LL);
	kt_hb_i64(&h, 123);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	same_as(0, KP_BROKER_HEARTBEAT, 0, &q, &h);

	h.n = 0;
	kt_hb_i32(&h, 0);
	kt_hb_i16(&h, 0);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	same_as(1, KP_BROKER_HEARTBEAT, 0, &s, &h);

	/* A controller's answer: any non-zero byte is true. */
	h.b[6] = 0x02;
	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(1, KP_BROKER_HEARTBEAT, 0, h.b, h.n, &a, &ds,
	    sizeof ds), 0);
	ck_assert(ds.is_caught_up);
	ck_assert(!ds.is_fenced);
	ck_assert(ds.should_shut_down);
	kp_arena_free(&a);
}
END_TEST

/* BrokerRegistration v1 and AlterPartition v1 by hand: the uuid's 16
 * raw bytes, a port above 32767 as its two unsigned bytes, the int8
 * recovery state and an int32 array. */
START_TEST(test_registration_alter_bytes)
{
	kp_broker_listener_t l = { S("PLAIN"), S("h"), 40000, 0 };
	kp_broker_feature_t f = { S("mv"), 1, 3 };
	kp_broker_registration_req_t r = { 7, S("c1"), { 0 }, 1, &l, 1, &f,
		{ NULL, -1 }, true };
	int32_t isr[2] = { 7, 8 };
	kp_alter_partition_req_part_t ap = { 2, 5, 2, isr, 1, 11 };
	kp_alter_partition_req_topic_t at = { S("t"), 1, &ap };
	kp_alter_partition_req_t aq = { 7, 3, 1, &at };
	kp_broker_registration_req_t dr;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;

	memcpy(r.incarnation_id, uuid1, 16);
	kt_hb_i32(&h, 7);
	kt_hb_cstr(&h, "c1");
	kt_hb_raw(&h, uuid1, 16);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "PLAIN");
	kt_hb_cstr(&h, "h");
	kt_hb_u8(&h, 40000 >> 8);
	kt_hb_u8(&h, 40000 & 0xff);
	kt_hb_i16(&h, 0);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "mv");
	kt_hb_i16(&h, 1);
	kt_hb_i16(&h, 3);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);           /* null rack: compact length 0 */
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	same_as(0, KP_BROKER_REGISTRATION, 1, &r, &h);
	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(0, KP_BROKER_REGISTRATION, 1, h.b, h.n, &a, &dr,
	    sizeof dr), 0);
	ck_assert_int_eq(dr.listeners[0].port, 40000);
	ck_assert_int_eq(dr.rack.len, -1);
	ck_assert(memcmp(dr.incarnation_id, uuid1, 16) == 0);
	kp_arena_free(&a);

	h.n = 0;
	kt_hb_i32(&h, 7);
	kt_hb_i64(&h, 3);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "t");
	kt_hb_u8(&h, 2);
	kt_hb_i32(&h, 2);
	kt_hb_i32(&h, 5);
	kt_hb_u8(&h, 3);           /* new_isr: two ids */
	kt_hb_i32(&h, 7);
	kt_hb_i32(&h, 8);
	kt_hb_u8(&h, 1);           /* leader_recovery_state (v1) */
	kt_hb_i32(&h, 11);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	same_as(0, KP_ALTER_PARTITION, 1, &aq, &h);
}
END_TEST

/* ---- what a reader must refuse or skip ----------------------------------- */

/* A port outside uint16 is refused when writing, not wrapped. */
START_TEST(test_port_range)
{
	int32_t bad[] = { -1, 65536, INT32_MAX, INT32_MIN };
	kp_broker_listener_t l = { S("L"), S("h"), 0, 0 };
	kp_broker_registration_req_t r = { 1, S("c"), { 0 }, 1, &l, 0, NULL,
		{ NULL, -1 }, false };
	size_t len;
	int rc;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		l.port = bad[i];
		ck_assert_ptr_null(kt_enc_rc(0, KP_BROKER_REGISTRATION, 0, &r,
		    &len, &rc));
		ck_assert_int_eq(rc, KS_EINVAL);
	}
	l.port = 0;
	free(kt_enc(0, KP_BROKER_REGISTRATION, 0, &r, &len));
}
END_TEST

/* Tagged fields we do not know are skipped, at every level, as Kafka's
 * newer brokers may send them (BrokerHeartbeat v1's OfflineLogDirs is
 * tag 0 of the body). */
START_TEST(test_unknown_tags_skipped)
{
	kp_broker_heartbeat_req_t q;
	kp_offset_for_leader_epoch_resp_t s;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;

	kt_hb_i32(&h, 4);
	kt_hb_i64(&h, 5);
	kt_hb_i64(&h, 6);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 1);           /* one tagged field */
	kt_hb_u8(&h, 0);           /* tag 0 */
	kt_hb_u8(&h, 18);          /* 18 bytes: compact array of one uuid */
	kt_hb_u8(&h, 2);
	kt_hb_raw(&h, uuid1, 16);
	kt_hb_u8(&h, 0);           /* pad to 18 bytes of data */
	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(0, KP_BROKER_HEARTBEAT, 0, h.b, h.n, &a, &q,
	    sizeof q), 0);
	ck_assert_int_eq(q.broker_id, 4);
	ck_assert_int_eq(q.broker_epoch, 5);
	ck_assert_int_eq(q.current_metadata_offset, 6);
	ck_assert(!q.want_fence);
	ck_assert(q.want_shut_down);

	/* one in a partition, one in a topic, two at the end */
	h.n = 0;
	kt_hb_i32(&h, 0);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "t");
	kt_hb_u8(&h, 2);
	kt_hb_i16(&h, 0);
	kt_hb_i32(&h, 1);
	kt_hb_i32(&h, 2);
	kt_hb_i64(&h, 3);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 9);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0xaa);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 3);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 2);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 2);
	kt_hb_u8(&h, 0x5a);
	kt_hb_u8(&h, 0x5b);
	kp_arena_free(&a);
	kp_arena_init(&a);
	ck_assert_int_eq(kt_dec(1, KP_OFFSET_FOR_LEADER_EPOCH, 4, h.b, h.n, &a,
	    &s, sizeof s), 0);
	ck_assert_int_eq(s.topics[0].partitions[0].end_offset, 3);
	kp_arena_free(&a);
}
END_TEST

/* Nulls where the schema has none: KS_ECORRUPT when reading, KS_EINVAL
 * when writing. */
START_TEST(test_nulls_refused)
{
	kp_broker_registration_req_t r;
	kp_offset_for_leader_epoch_req_t q;
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;
	size_t len;
	int rc;

	kp_arena_init(&a);
	kt_hb_i32(&h, 1);
	kt_hb_u8(&h, 0);           /* null cluster_id */
	kt_hb_raw(&h, uuid1, 16);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(kt_dec(0, KP_BROKER_REGISTRATION, 0, h.b, h.n, &a, &r,
	    sizeof r), KS_ECORRUPT);

	h.n = 0;
	kt_hb_i32(&h, 1);
	kt_hb_i32(&h, -1);         /* null topics (v3: not nullable) */
	ck_assert_int_eq(kt_dec(0, KP_OFFSET_FOR_LEADER_EPOCH, 3, h.b, h.n, &a,
	    &q, sizeof q), KS_ECORRUPT);
	kp_arena_free(&a);

	memset(&r, 0, sizeof r);
	r.cluster_id = (kp_str_t){ NULL, -1 };
	ck_assert_ptr_null(kt_enc_rc(0, KP_BROKER_REGISTRATION, 0, &r, &len,
	    &rc));
	ck_assert_int_eq(rc, KS_EINVAL);
}
END_TEST

/* A count far past the bytes left fails before anything is allocated
 * for it, in each API's outer and inner arrays. */
START_TEST(test_huge_counts)
{
	kp_req_any_t m;
	kp_resp_any_t s;
	kt_hb_t h;
	kp_arena_t a;

	kp_arena_init(&a);
	/* OffsetForLeaderEpoch v0: topics INT32_MAX */
	h.n = 0;
	kt_hb_i32(&h, 0x7fffffff);
	kt_hb_str(&h, "t");
	ck_assert_int_eq(kt_dec(0, KP_OFFSET_FOR_LEADER_EPOCH, 0, h.b, h.n, &a,
	    &m, sizeof m), KS_ECORRUPT);
	/* v4: the largest compact count a 5-byte varint holds */
	h.n = 0;
	kt_hb_i32(&h, 1);
	kt_hb_raw(&h, "\xff\xff\xff\xff\x0f", 5);
	ck_assert_int_eq(kt_dec(0, KP_OFFSET_FOR_LEADER_EPOCH, 4, h.b, h.n, &a,
	    &m, sizeof m), KS_ECORRUPT);
	/* AlterPartition: one topic, one partition, new_isr of 2^28 */
	h.n = 0;
	kt_hb_i32(&h, 1);
	kt_hb_i64(&h, 1);
	kt_hb_u8(&h, 2);
	kt_hb_cstr(&h, "t");
	kt_hb_u8(&h, 2);
	kt_hb_i32(&h, 0);
	kt_hb_i32(&h, 0);
	kt_hb_raw(&h, "\x81\x80\x80\x80\x01", 5);
	kt_hb_i32(&h, 1);
	ck_assert_int_eq(kt_dec(0, KP_ALTER_PARTITION, 0, h.b, h.n, &a, &m,
	    sizeof m), KS_ECORRUPT);
	/* AlterPartition response: 2^20 topics in a few bytes */
	h.n = 0;
	kt_hb_i32(&h, 0);
	kt_hb_i16(&h, 0);
	kt_hb_raw(&h, "\x81\x80\x40", 3);
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(kt_dec(1, KP_ALTER_PARTITION, 1, h.b, h.n, &a, &s,
	    sizeof s), KS_ECORRUPT);
	/* BrokerRegistration: 1000 listeners, 1000 features */
	h.n = 0;
	kt_hb_i32(&h, 1);
	kt_hb_cstr(&h, "c");
	kt_hb_raw(&h, uuid1, 16);
	kt_hb_raw(&h, "\xe9\x07", 2);
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(kt_dec(0, KP_BROKER_REGISTRATION, 0, h.b, h.n, &a, &m,
	    sizeof m), KS_ECORRUPT);
	h.n -= 3;
	kt_hb_u8(&h, 1);
	kt_hb_raw(&h, "\xe9\x07", 2);
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(kt_dec(0, KP_BROKER_REGISTRATION, 0, h.b, h.n, &a, &m,
	    sizeof m), KS_ECORRUPT);
	/* nothing near the counts' sizes was allocated */
	ck_assert_uint_lt(a.total, 64 * 1024);
	kp_arena_free(&a);
}
END_TEST

/* ---- the tables around the codecs ---------------------------------------- */

START_TEST(test_api_table)
{
	static const struct {
		int16_t key;
		const char *name;
		int16_t min, max, flexible;
	} want[] = {
		{ 23, "OffsetForLeaderEpoch", 0, 4, 4 },
		{ 56, "AlterPartition", 0, 1, 0 },
		{ 62, "BrokerRegistration", 0, 1, 0 },
		{ 63, "BrokerHeartbeat", 0, 0, 0 },
	};

	ck_assert_int_eq(KP_OFFSET_FOR_LEADER_EPOCH, 23);
	ck_assert_int_eq(KP_ALTER_PARTITION, 56);
	ck_assert_int_eq(KP_BROKER_REGISTRATION, 62);
	ck_assert_int_eq(KP_BROKER_HEARTBEAT, 63);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const kp_api_t *a = kp_api_find(want[i].key);
		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(a->name, want[i].name);
		ck_assert_str_eq(kp_api_name(want[i].key), want[i].name);
		ck_assert_int_eq(a->min_version, want[i].min);
		ck_assert_int_eq(a->max_version, want[i].max);
		ck_assert_int_eq(a->flexible, want[i].flexible);
		ck_assert(!kp_api_supported(want[i].key, want[i].max + 1));
		/* header v2 (tags) for flexible requests, v1 otherwise */
		for (int16_t v = 0; v <= want[i].max; v++)
			ck_assert_int_eq(kp_resp_hdr_version(want[i].key, v),
			    v >= want[i].flexible);
	}
	/* still by increasing key, and every key fits the client's table */
	for (size_t i = 0; i < kp_api_count(); i++) {
		if (i)
			ck_assert_int_lt(kp_apis[i - 1].key, kp_apis[i].key);
		ck_assert_int_lt(kp_apis[i].key, KC_NAPI);
		ck_assert_ptr_eq(kp_api_find(kp_apis[i].key), &kp_apis[i]);
	}
	ck_assert_int_eq(KC_NAPI, KP_BROKER_HEARTBEAT + 1);
}
END_TEST

/* A flexible request header (v2) on BrokerHeartbeat, as a broker sends
 * it: the header's tags, then the body at the header's version. */
START_TEST(test_request_header)
{
	kp_req_hdr_t out = { KP_BROKER_HEARTBEAT, 0, 77, { "b1", 2 } }, in;
	kp_broker_heartbeat_req_t q = { 1, 2, 3, false, true }, dq;
	kp_io_t w, r;
	kp_arena_t a;
	uint8_t *buf;
	size_t len;
	kt_hb_t h = { .n = 0 };

	kp_writer_init(&w);
	ck_assert_int_eq(kp_req_hdr(&w, &out), 0);
	ck_assert_int_eq(w.flexible, 1);
	ck_assert_int_eq(kp_broker_heartbeat_req(&w, &q), 0);
	ck_assert_int_eq(kp_w_flatten(&w, &buf, &len), 0);
	kp_writer_free(&w);
	kt_hb_i16(&h, 63);
	kt_hb_i16(&h, 0);
	kt_hb_i32(&h, 77);
	kt_hb_str(&h, "b1");       /* client_id: never compact */
	kt_hb_u8(&h, 0);           /* header v2's tags */
	kt_hb_i32(&h, 1);
	kt_hb_i64(&h, 2);
	kt_hb_i64(&h, 3);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	ck_assert(kt_same_bytes(h.b, h.n, buf, len));

	kp_arena_init(&a);
	kp_reader_init(&r, buf, len, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &in), 0);
	ck_assert_int_eq(in.api_key, KP_BROKER_HEARTBEAT);
	ck_assert_int_eq(in.correlation_id, 77);
	memset(&dq, 0, sizeof dq);
	ck_assert_int_eq(kp_req_body(&r, in.api_key, &dq), 0);
	ck_assert_uint_eq(kp_r_left(&r), 0);
	ck_assert(dq.want_shut_down);
	ck_assert_int_eq(dq.current_metadata_offset, 3);
	kp_arena_free(&a);
	free(buf);
}
END_TEST

/* The client decodes these responses through kc_decode (kc_rpc's path):
 * by key, into a zeroed struct. */
START_TEST(test_client_decode)
{
	kp_offset_for_leader_epoch_resp_t s, ds;
	kp_broker_registration_resp_t br = { 0, 0, 99 }, dbr;
	kp_arena_t a;
	uint8_t *buf;
	size_t len;

	memset(&s, 0, sizeof s);
	fill_ofle_resp(&s);
	buf = kt_enc(1, KP_OFFSET_FOR_LEADER_EPOCH, 1, &s, &len);
	kp_arena_init(&a);
	memset(&ds, 0xa5, sizeof ds);
	ck_assert_int_eq(kc_decode(KP_OFFSET_FOR_LEADER_EPOCH, 1, buf, len,
	    &a, &ds, sizeof ds), 0);
	snprintf(kt_what, sizeof kt_what, "kc_decode OffsetForLeaderEpoch v1");
	cmp_ofle_resp(1, &s, &ds);
	free(buf);

	buf = kt_enc(1, KP_BROKER_REGISTRATION, 0, &br, &len);
	ck_assert_int_eq(kc_decode(KP_BROKER_REGISTRATION, 0, buf, len, &a,
	    &dbr, sizeof dbr), 0);
	ck_assert_int_eq(dbr.broker_epoch, 99);
	ck_assert_int_eq(kc_decode(KP_BROKER_REGISTRATION, 0, buf, len - 1,
	    &a, &dbr, sizeof dbr), KS_ECORRUPT);
	free(buf);
	kp_arena_free(&a);
}
END_TEST

START_TEST(test_error_codes)
{
	static const struct {
		int code;
		const char *name;
	} want[] = {
		{ KP_NOT_LEADER_OR_FOLLOWER, "NOT_LEADER_OR_FOLLOWER" },
		{ KP_NOT_ENOUGH_REPLICAS, "NOT_ENOUGH_REPLICAS" },
		{ KP_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
		  "NOT_ENOUGH_REPLICAS_AFTER_APPEND" },
		{ KP_FENCED_LEADER_EPOCH, "FENCED_LEADER_EPOCH" },
		{ KP_UNKNOWN_LEADER_EPOCH, "UNKNOWN_LEADER_EPOCH" },
		{ KP_OFFSET_NOT_AVAILABLE, "OFFSET_NOT_AVAILABLE" },
		{ KP_INELIGIBLE_REPLICA, "INELIGIBLE_REPLICA" },
		{ KP_NEW_LEADER_ELECTED, "NEW_LEADER_ELECTED" },
		{ 101, "DUPLICATE_BROKER_REGISTRATION" },
		{ 102, "BROKER_ID_NOT_REGISTERED" },
	};

	/* the enum's numbers are Kafka's: its names table agrees */
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_str_eq(ks_kafka_error_name(want[i].code),
		    want[i].name);
	ck_assert_int_eq(KP_NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20);
	ck_assert_int_eq(KP_FENCED_LEADER_EPOCH, 74);
	ck_assert_int_eq(KP_UNKNOWN_LEADER_EPOCH, 75);
	ck_assert_int_eq(KP_OFFSET_NOT_AVAILABLE, 78);
	ck_assert_int_eq(KP_INELIGIBLE_REPLICA, 107);
	ck_assert_int_eq(KP_NEW_LEADER_ELECTED, 108);
	ck_assert_str_eq(ks_kafka_error_name(109), "UNKNOWN_SERVER_ERROR");

	/* no KS_E* code names these: the broker's code is kept for
	 * ks_kafka_last_error() */
	ck_assert_int_eq(ks__kafka_err_to_ks(6), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(19), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(20), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(74), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(75), KS_EBROKER);
	/* and the older mappings stand */
	ck_assert_int_eq(ks__kafka_err_to_ks(3), KS_ETOPIC);
	ck_assert_int_eq(ks__kafka_err_to_ks(1), KS_EOFFSET);
	ck_assert_int_eq(ks__kafka_err_to_ks(0), 0);
}
END_TEST

Suite *kcluster_codec_suite(void)
{
	Suite *s = suite_create("kcluster_codec");
	TCase *tc = tcase_create("kcluster_codec");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_smallest_elements);
	tcase_add_test(tc, test_ofle_v3_bytes);
	tcase_add_test(tc, test_ofle_v4_bytes);
	tcase_add_test(tc, test_broker_heartbeat_v0_bytes);
	tcase_add_test(tc, test_registration_alter_bytes);
	tcase_add_test(tc, test_port_range);
	tcase_add_test(tc, test_unknown_tags_skipped);
	tcase_add_test(tc, test_nulls_refused);
	tcase_add_test(tc, test_huge_counts);
	tcase_add_test(tc, test_api_table);
	tcase_add_test(tc, test_request_header);
	tcase_add_test(tc, test_client_decode);
	tcase_add_test(tc, test_error_codes);
	suite_add_tcase(s, tc);
	return s;
}
