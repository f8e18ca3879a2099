/*
 * check_kproto.c: the Kafka wire protocol codec (lib/kafka/proto.h,
 * msg.h): requests as real clients send them, built byte by byte from
 * Kafka's schemas; a round trip of every request and response at every
 * version we serve; every truncation and hostile length failing cleanly;
 * the writer's references and frames; Kafka error codes.
 */
#include "kproto_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const kp_str_t NUL = { NULL, -1 };

static uint8_t blob1[] = { 0, 1, 2, 3, 0xff, 0x80, 7 };
static uint8_t blob2[] = { 'a', 's', 's', 'i', 'g', 'n' };
#define B1 ((kp_bytes_t){ blob1, sizeof blob1 })
#define B2 ((kp_bytes_t){ blob2, sizeof blob2 })
#define BNULL ((kp_bytes_t){ NULL, -1 })

/* ---- fillers and comparisons, per message --------------------------------------
 * A filler sets every field, whether or not it exists at the version; the
 * comparison checks each field that exists at v against the original and
 * each that does not against Kafka's default. Versions as in Kafka's
 * message schemas.
 */

static void fill_produce_req(void *p)
{
	static kp_produce_req_part_t parts[2];
	static kp_produce_req_topic_t topics[1];
	kp_produce_req_t *m = p;
	parts[0] = (kp_produce_req_part_t){ .index = 0, .records = B1 };
	parts[1] = (kp_produce_req_part_t){ .index = 7, .records = BNULL };
	topics[0] = (kp_produce_req_topic_t){ S("orders"), 2, parts };
	*m = (kp_produce_req_t){ S("txn-1"), -1, 1500, 1, topics };
}
static void cmp_produce_req(int v, const void *a, const void *b)
{
	const kp_produce_req_t *o = a, *d = b;
	if (v >= 3)
		SEQ(d->transactional_id, o->transactional_id);
	else
		SEQ(d->transactional_id, NUL);
	IEQ(d->acks, o->acks);
	IEQ(d->timeout_ms, o->timeout_ms);
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		SEQ(d->topics[i].name, o->topics[i].name);
		IEQ(d->topics[i].n_partitions, o->topics[i].n_partitions);
		for (int j = 0; j < o->topics[i].n_partitions; j++) {
			IEQ(d->topics[i].partitions[j].index,
			    o->topics[i].partitions[j].index);
			BEQ(d->topics[i].partitions[j].records,
			    o->topics[i].partitions[j].records);
		}
	}
}

static void fill_produce_resp(void *p)
{
	static kp_produce_resp_part_t parts[2];
	static kp_produce_resp_topic_t topics[2];
	kp_produce_resp_t *m = p;
	parts[0] = (kp_produce_resp_part_t){ 0, 0, 42, 1700000000000, 3 };
	parts[1] = (kp_produce_resp_part_t){ 1, 6, -1, 17, 4 };
	topics[0] = (kp_produce_resp_topic_t){ S("a"), 2, parts };
	topics[1] = (kp_produce_resp_topic_t){ S("b"), 0, NULL };
	*m = (kp_produce_resp_t){ 2, topics, 250 };
}
static void cmp_produce_resp(int v, const void *a, const void *b)
{
	const kp_produce_resp_t *o = a, *d = b;
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		SEQ(d->topics[i].name, o->topics[i].name);
		IEQ(d->topics[i].n_partitions, o->topics[i].n_partitions);
		for (int j = 0; j < o->topics[i].n_partitions; j++) {
			const kp_produce_resp_part_t *x = &o->topics[i].partitions[j];
			const kp_produce_resp_part_t *y = &d->topics[i].partitions[j];
			IEQ(y->index, x->index);
			IEQ(y->error_code, x->error_code);
			IEQ(y->base_offset, x->base_offset);
			IEQ(y->log_append_time_ms, v >= 2 ? x->log_append_time_ms : -1);
			IEQ(y->log_start_offset, v >= 5 ? x->log_start_offset : -1);
		}
	}
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
}

static void fill_fetch_req(void *p)
{
	static kp_fetch_req_part_t parts[2];
	static kp_fetch_req_topic_t topics[1];
	static int32_t fparts[3] = { 4, 5, 6 };
	static kp_fetch_forgotten_t forgotten[1];
	kp_fetch_req_t *m = p;
	parts[0] = (kp_fetch_req_part_t){ 0, 9, 100, 5, 1048576 };
	parts[1] = (kp_fetch_req_part_t){ 3, 2, 0, 0, 65536 };
	topics[0] = (kp_fetch_req_topic_t){ S("t"), 2, parts };
	forgotten[0] = (kp_fetch_forgotten_t){ S("old"), 3, fparts };
	*m = (kp_fetch_req_t){ -1, 500, 1, 52428800, 1, 77, 3, 1, topics,
		1, forgotten, S("rack-a") };
}
static void cmp_fetch_req(int v, const void *a, const void *b)
{
	const kp_fetch_req_t *o = a, *d = b;
	IEQ(d->replica_id, o->replica_id);
	IEQ(d->max_wait_ms, o->max_wait_ms);
	IEQ(d->min_bytes, o->min_bytes);
	IEQ(d->max_bytes, v >= 3 ? o->max_bytes : 0x7fffffff);
	IEQ(d->isolation_level, v >= 4 ? o->isolation_level : 0);
	IEQ(d->session_id, v >= 7 ? o->session_id : 0);
	IEQ(d->session_epoch, v >= 7 ? o->session_epoch : -1);
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		SEQ(d->topics[i].topic, o->topics[i].topic);
		IEQ(d->topics[i].n_partitions, o->topics[i].n_partitions);
		for (int j = 0; j < o->topics[i].n_partitions; j++) {
			const kp_fetch_req_part_t *x = &o->topics[i].partitions[j];
			const kp_fetch_req_part_t *y = &d->topics[i].partitions[j];
			IEQ(y->partition, x->partition);
			IEQ(y->current_leader_epoch,
			    v >= 9 ? x->current_leader_epoch : -1);
			IEQ(y->fetch_offset, x->fetch_offset);
			IEQ(y->log_start_offset, v >= 5 ? x->log_start_offset : -1);
			IEQ(y->partition_max_bytes, x->partition_max_bytes);
		}
	}
	IEQ(d->n_forgotten, v >= 7 ? o->n_forgotten : 0);
	for (int i = 0; i < d->n_forgotten; i++) {
		SEQ(d->forgotten[i].topic, o->forgotten[i].topic);
		IEQ(d->forgotten[i].n_partitions, o->forgotten[i].n_partitions);
		for (int j = 0; j < o->forgotten[i].n_partitions; j++)
			IEQ(d->forgotten[i].partitions[j],
			    o->forgotten[i].partitions[j]);
	}
	SEQ(d->rack_id, v >= 11 ? o->rack_id : S(""));
}

static void fill_fetch_resp(void *p)
{
	static kp_aborted_txn_t ab[2] = { { 1000, 5 }, { 1001, 9 } };
	static kp_fetch_resp_part_t parts[2];
	static kp_fetch_resp_topic_t topics[1];
	kp_fetch_resp_t *m = p;
	parts[0] = (kp_fetch_resp_part_t){ .partition = 0, .error_code = 0,
		.high_watermark = 120, .last_stable_offset = 110,
		.log_start_offset = 7, .n_aborted = 2, .aborted = ab,
		.preferred_read_replica = 2, .records = B1 };
	parts[1] = (kp_fetch_resp_part_t){ .partition = 1, .error_code = 1,
		.high_watermark = -1, .last_stable_offset = -1,
		.log_start_offset = -1, .n_aborted = -1,
		.preferred_read_replica = -1, .records = BNULL };
	topics[0] = (kp_fetch_resp_topic_t){ S("t"), 2, parts };
	*m = (kp_fetch_resp_t){ 10, 0, 123, 1, topics };
}
static void cmp_fetch_resp(int v, const void *a, const void *b)
{
	const kp_fetch_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, v >= 7 ? o->error_code : 0);
	IEQ(d->session_id, v >= 7 ? o->session_id : 0);
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		SEQ(d->topics[i].topic, o->topics[i].topic);
		IEQ(d->topics[i].n_partitions, o->topics[i].n_partitions);
		for (int j = 0; j < o->topics[i].n_partitions; j++) {
			const kp_fetch_resp_part_t *x = &o->topics[i].partitions[j];
			const kp_fetch_resp_part_t *y = &d->topics[i].partitions[j];
			IEQ(y->partition, x->partition);
			IEQ(y->error_code, x->error_code);
			IEQ(y->high_watermark, x->high_watermark);
			IEQ(y->last_stable_offset, v >= 4 ? x->last_stable_offset : -1);
			IEQ(y->log_start_offset, v >= 5 ? x->log_start_offset : -1);
			IEQ(y->n_aborted, v >= 4 ? x->n_aborted : 0);
			for (int k = 0; k < y->n_aborted; k++) {
				IEQ(y->aborted[k].producer_id, x->aborted[k].producer_id);
				IEQ(y->aborted[k].first_offset, x->aborted[k].first_offset);
			}
			IEQ(y->preferred_read_replica,
			    v >= 11 ? x->preferred_read_replica : -1);
			BEQ(y->records, x->records);
		}
	}
}

static void fill_list_offsets_req(void *p)
{
	static kp_list_offsets_req_part_t parts[2] = { { 0, -1, 1 },
		{ 4, 1700000000000, 3 } };
	static kp_list_offsets_req_topic_t topics[1];
	kp_list_offsets_req_t *m = p;
	topics[0] = (kp_list_offsets_req_topic_t){ S("t"), 2, parts };
	*m = (kp_list_offsets_req_t){ -1, 1, 1, topics };
}
static void cmp_list_offsets_req(int v, const void *a, const void *b)
{
	const kp_list_offsets_req_t *o = a, *d = b;
	IEQ(d->replica_id, o->replica_id);
	IEQ(d->isolation_level, v >= 2 ? o->isolation_level : 0);
	IEQ(d->n_topics, o->n_topics);
	SEQ(d->topics[0].name, o->topics[0].name);
	IEQ(d->topics[0].n_partitions, 2);
	for (int j = 0; j < 2; j++) {
		const kp_list_offsets_req_part_t *x = &o->topics[0].partitions[j];
		const kp_list_offsets_req_part_t *y = &d->topics[0].partitions[j];
		IEQ(y->partition, x->partition);
		IEQ(y->timestamp, x->timestamp);
		IEQ(y->max_num_offsets, v == 0 ? x->max_num_offsets : 1);
	}
}

static void fill_list_offsets_resp(void *p)
{
	static kp_list_offsets_resp_part_t parts[2];
	static kp_list_offsets_resp_topic_t topics[1];
	kp_list_offsets_resp_t *m = p;
	parts[0] = (kp_list_offsets_resp_part_t){ .partition = 0,
		.timestamp = 1700000000001, .offset = 55 };
	parts[1] = (kp_list_offsets_resp_part_t){ .partition = 1,
		.error_code = 3, .timestamp = -1, .offset = -1 };
	topics[0] = (kp_list_offsets_resp_topic_t){ S("t"), 2, parts };
	*m = (kp_list_offsets_resp_t){ 5, 1, topics };
}
static void cmp_list_offsets_resp(int v, const void *a, const void *b)
{
	const kp_list_offsets_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 2 ? o->throttle_time_ms : 0);
	IEQ(d->n_topics, 1);
	SEQ(d->topics[0].name, o->topics[0].name);
	IEQ(d->topics[0].n_partitions, 2);
	for (int j = 0; j < 2; j++) {
		const kp_list_offsets_resp_part_t *x = &o->topics[0].partitions[j];
		const kp_list_offsets_resp_part_t *y = &d->topics[0].partitions[j];
		IEQ(y->partition, x->partition);
		IEQ(y->error_code, x->error_code);
		IEQ(y->offset, x->offset);
		IEQ(y->timestamp, v >= 1 ? x->timestamp : -1);
		/* v0: [offset] for a found one, [] for none */
		IEQ(y->n_old_offsets, v == 0 && x->offset >= 0 ? 1 : 0);
	}
}

static void fill_metadata_req(void *p)
{
	static kp_str_t names[2];
	kp_metadata_req_t *m = p;
	names[0] = S("alpha");
	names[1] = S("beta");
	*m = (kp_metadata_req_t){ 2, names, false };
}
static void cmp_metadata_req(int v, const void *a, const void *b)
{
	const kp_metadata_req_t *o = a, *d = b;
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++)
		SEQ(d->topics[i], o->topics[i]);
	IEQ(d->allow_auto_topic_creation,
	    v >= 4 ? o->allow_auto_topic_creation : true);
}

static void fill_metadata_resp(void *p)
{
	static kp_metadata_broker_t br[2];
	static int32_t reps[3] = { 0, 1, 2 }, isr[2] = { 0, 2 }, off[1] = { 1 };
	static kp_metadata_part_t parts[2];
	static kp_metadata_topic_t topics[2];
	kp_metadata_resp_t *m = p;
	br[0] = (kp_metadata_broker_t){ 0, S("127.0.0.1"), 9092, S("r1") };
	br[1] = (kp_metadata_broker_t){ 1, S("::1"), 9093, NUL };
	parts[0] = (kp_metadata_part_t){ 0, 0, 0, 3, reps, 2, isr, 1, off };
	parts[1] = (kp_metadata_part_t){ 5, 1, -1, 0, NULL, 0, NULL, 0, NULL };
	topics[0] = (kp_metadata_topic_t){ 0, S("t"), true, 2, parts };
	topics[1] = (kp_metadata_topic_t){ 3, S("missing"), false, 0, NULL };
	*m = (kp_metadata_resp_t){ 9, 2, br, S("kstream"), 0, 2, topics };
}
static void cmp_metadata_resp(int v, const void *a, const void *b)
{
	const kp_metadata_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 3 ? o->throttle_time_ms : 0);
	IEQ(d->n_brokers, o->n_brokers);
	for (int i = 0; i < o->n_brokers; i++) {
		IEQ(d->brokers[i].node_id, o->brokers[i].node_id);
		SEQ(d->brokers[i].host, o->brokers[i].host);
		IEQ(d->brokers[i].port, o->brokers[i].port);
		SEQ(d->brokers[i].rack, v >= 1 ? o->brokers[i].rack : NUL);
	}
	SEQ(d->cluster_id, v >= 2 ? o->cluster_id : NUL);
	IEQ(d->controller_id, v >= 1 ? o->controller_id : -1);
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		const kp_metadata_topic_t *x = &o->topics[i], *y = &d->topics[i];
		IEQ(y->error_code, x->error_code);
		SEQ(y->name, x->name);
		IEQ(y->is_internal, v >= 1 ? x->is_internal : false);
		IEQ(y->n_partitions, x->n_partitions);
		for (int j = 0; j < x->n_partitions; j++) {
			const kp_metadata_part_t *xp = &x->partitions[j];
			const kp_metadata_part_t *yp = &y->partitions[j];
			IEQ(yp->error_code, xp->error_code);
			IEQ(yp->partition, xp->partition);
			IEQ(yp->leader_id, xp->leader_id);
			IEQ(yp->n_replicas, xp->n_replicas);
			for (int k = 0; k < xp->n_replicas; k++)
				IEQ(yp->replicas[k], xp->replicas[k]);
			IEQ(yp->n_isr, xp->n_isr);
			for (int k = 0; k < xp->n_isr; k++)
				IEQ(yp->isr[k], xp->isr[k]);
			IEQ(yp->n_offline, v >= 5 ? xp->n_offline : 0);
			for (int k = 0; k < yp->n_offline; k++)
				IEQ(yp->offline[k], xp->offline[k]);
		}
	}
}

static void fill_offset_commit_req(void *p)
{
	static kp_offset_commit_req_part_t parts[2];
	static kp_offset_commit_req_topic_t topics[1];
	kp_offset_commit_req_t *m = p;
	parts[0] = (kp_offset_commit_req_part_t){ 0, 100, 4, 1700000000000,
		S("meta") };
	parts[1] = (kp_offset_commit_req_part_t){ 2, 7, 1, 5, NUL };
	topics[0] = (kp_offset_commit_req_topic_t){ S("t"), 2, parts };
	*m = (kp_offset_commit_req_t){ S("g"), 3, S("member-1"),
		S("inst-1"), 86400000, 1, topics };
}
static void cmp_offset_commit_req(int v, const void *a, const void *b)
{
	const kp_offset_commit_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	IEQ(d->generation_id, v >= 1 ? o->generation_id : -1);
	SEQ(d->member_id, v >= 1 ? o->member_id : S(""));
	SEQ(d->group_instance_id, v >= 7 ? o->group_instance_id : NUL);
	IEQ(d->retention_time_ms,
	    v >= 2 && v <= 4 ? o->retention_time_ms : -1);
	IEQ(d->n_topics, 1);
	SEQ(d->topics[0].name, o->topics[0].name);
	IEQ(d->topics[0].n_partitions, 2);
	for (int j = 0; j < 2; j++) {
		const kp_offset_commit_req_part_t *x = &o->topics[0].partitions[j];
		const kp_offset_commit_req_part_t *y = &d->topics[0].partitions[j];
		IEQ(y->partition, x->partition);
		IEQ(y->offset, x->offset);
		IEQ(y->leader_epoch, v >= 6 ? x->leader_epoch : -1);
		IEQ(y->commit_timestamp, v == 1 ? x->commit_timestamp : -1);
		SEQ(y->metadata, x->metadata);
	}
}

static void fill_offset_commit_resp(void *p)
{
	static kp_offset_commit_resp_part_t parts[2] = { { 0, 0 }, { 1, 25 } };
	static kp_offset_commit_resp_topic_t topics[1];
	kp_offset_commit_resp_t *m = p;
	topics[0] = (kp_offset_commit_resp_topic_t){ S("t"), 2, parts };
	*m = (kp_offset_commit_resp_t){ 8, 1, topics };
}
static void cmp_offset_commit_resp(int v, const void *a, const void *b)
{
	const kp_offset_commit_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 3 ? o->throttle_time_ms : 0);
	IEQ(d->n_topics, 1);
	SEQ(d->topics[0].name, o->topics[0].name);
	IEQ(d->topics[0].n_partitions, 2);
	for (int j = 0; j < 2; j++) {
		IEQ(d->topics[0].partitions[j].partition,
		    o->topics[0].partitions[j].partition);
		IEQ(d->topics[0].partitions[j].error_code,
		    o->topics[0].partitions[j].error_code);
	}
}

static void fill_offset_fetch_req(void *p)
{
	static int32_t ps[2] = { 0, 3 };
	static kp_offset_fetch_req_topic_t topics[2];
	kp_offset_fetch_req_t *m = p;
	topics[0] = (kp_offset_fetch_req_topic_t){ S("t"), 2, ps };
	topics[1] = (kp_offset_fetch_req_topic_t){ S("u"), 0, NULL };
	*m = (kp_offset_fetch_req_t){ S("g"), 2, topics };
}
static void cmp_offset_fetch_req(int v, const void *a, const void *b)
{
	const kp_offset_fetch_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	IEQ(d->n_topics, o->n_topics);
	for (int i = 0; i < o->n_topics; i++) {
		SEQ(d->topics[i].name, o->topics[i].name);
		IEQ(d->topics[i].n_partitions, o->topics[i].n_partitions);
		for (int j = 0; j < o->topics[i].n_partitions; j++)
			IEQ(d->topics[i].partitions[j], o->topics[i].partitions[j]);
	}
}

static void fill_offset_fetch_resp(void *p)
{
	static kp_offset_fetch_resp_part_t parts[2];
	static kp_offset_fetch_resp_topic_t topics[1];
	kp_offset_fetch_resp_t *m = p;
	parts[0] = (kp_offset_fetch_resp_part_t){ 0, 100, 3, S("m"), 0 };
	parts[1] = (kp_offset_fetch_resp_part_t){ 1, -1, 2, NUL, 0 };
	topics[0] = (kp_offset_fetch_resp_topic_t){ S("t"), 2, parts };
	*m = (kp_offset_fetch_resp_t){ 4, 1, topics, 16 };
}
static void cmp_offset_fetch_resp(int v, const void *a, const void *b)
{
	const kp_offset_fetch_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 3 ? o->throttle_time_ms : 0);
	IEQ(d->n_topics, 1);
	SEQ(d->topics[0].name, o->topics[0].name);
	IEQ(d->topics[0].n_partitions, 2);
	for (int j = 0; j < 2; j++) {
		const kp_offset_fetch_resp_part_t *x = &o->topics[0].partitions[j];
		const kp_offset_fetch_resp_part_t *y = &d->topics[0].partitions[j];
		IEQ(y->partition, x->partition);
		IEQ(y->offset, x->offset);
		IEQ(y->leader_epoch, v >= 5 ? x->leader_epoch : -1);
		SEQ(y->metadata, x->metadata);
		IEQ(y->error_code, x->error_code);
	}
	IEQ(d->error_code, v >= 2 ? o->error_code : 0);
}

static void fill_find_coordinator_req(void *p)
{
	*(kp_find_coordinator_req_t *)p = (kp_find_coordinator_req_t){
		S("group-a"), 1 };
}
static void cmp_find_coordinator_req(int v, const void *a, const void *b)
{
	const kp_find_coordinator_req_t *o = a, *d = b;
	SEQ(d->key, o->key);
	IEQ(d->key_type, v >= 1 ? o->key_type : 0);
}

static void fill_find_coordinator_resp(void *p)
{
	*(kp_find_coordinator_resp_t *)p = (kp_find_coordinator_resp_t){
		3, 15, S("not yet"), 0, S("localhost"), 9092 };
}
static void cmp_find_coordinator_resp(int v, const void *a, const void *b)
{
	const kp_find_coordinator_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
	SEQ(d->error_message, v >= 1 ? o->error_message : NUL);
	IEQ(d->node_id, o->node_id);
	SEQ(d->host, o->host);
	IEQ(d->port, o->port);
}

static void fill_join_group_req(void *p)
{
	static kp_join_group_protocol_t prots[2];
	kp_join_group_req_t *m = p;
	prots[0] = (kp_join_group_protocol_t){ S("range"), B1 };
	prots[1] = (kp_join_group_protocol_t){ S("roundrobin"), B2 };
	*m = (kp_join_group_req_t){ S("g"), 10000, 60000, S(""), S("i-1"),
		S("consumer"), 2, prots };
}
static void cmp_join_group_req(int v, const void *a, const void *b)
{
	const kp_join_group_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	IEQ(d->session_timeout_ms, o->session_timeout_ms);
	IEQ(d->rebalance_timeout_ms,
	    v >= 1 ? o->rebalance_timeout_ms : o->session_timeout_ms);
	SEQ(d->member_id, o->member_id);
	SEQ(d->group_instance_id, v >= 5 ? o->group_instance_id : NUL);
	SEQ(d->protocol_type, o->protocol_type);
	IEQ(d->n_protocols, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->protocols[i].name, o->protocols[i].name);
		BEQ(d->protocols[i].metadata, o->protocols[i].metadata);
	}
}

static void fill_join_group_resp(void *p)
{
	static kp_join_group_member_t mem[2];
	kp_join_group_resp_t *m = p;
	mem[0] = (kp_join_group_member_t){ S("m-1"), S("i-1"), B1 };
	mem[1] = (kp_join_group_member_t){ S("m-2"), NUL, B2 };
	*m = (kp_join_group_resp_t){ 2, 0, 5, S("range"), S("m-1"), S("m-1"),
		2, mem };
}
static void cmp_join_group_resp(int v, const void *a, const void *b)
{
	const kp_join_group_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 2 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
	IEQ(d->generation_id, o->generation_id);
	SEQ(d->protocol_name, o->protocol_name);
	SEQ(d->leader, o->leader);
	SEQ(d->member_id, o->member_id);
	IEQ(d->n_members, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->members[i].member_id, o->members[i].member_id);
		SEQ(d->members[i].group_instance_id,
		    v >= 5 ? o->members[i].group_instance_id : NUL);
		BEQ(d->members[i].metadata, o->members[i].metadata);
	}
}

static void fill_heartbeat_req(void *p)
{
	*(kp_heartbeat_req_t *)p = (kp_heartbeat_req_t){ S("g"), 4, S("m-1"),
		S("i-1") };
}
static void cmp_heartbeat_req(int v, const void *a, const void *b)
{
	const kp_heartbeat_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	IEQ(d->generation_id, o->generation_id);
	SEQ(d->member_id, o->member_id);
	SEQ(d->group_instance_id, v >= 3 ? o->group_instance_id : NUL);
}

static void fill_heartbeat_resp(void *p)
{
	*(kp_heartbeat_resp_t *)p = (kp_heartbeat_resp_t){ 7, 27 };
}
static void cmp_heartbeat_resp(int v, const void *a, const void *b)
{
	const kp_heartbeat_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
}

static void fill_leave_group_req(void *p)
{
	static kp_leave_group_member_t mem[2];
	kp_leave_group_req_t *m = p;
	mem[0] = (kp_leave_group_member_t){ S("m-1"), NUL };
	mem[1] = (kp_leave_group_member_t){ S("m-2"), S("i-2") };
	*m = (kp_leave_group_req_t){ S("g"), S("m-1"), 2, mem };
}
static void cmp_leave_group_req(int v, const void *a, const void *b)
{
	const kp_leave_group_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	SEQ(d->member_id, v <= 2 ? o->member_id : S(""));
	IEQ(d->n_members, v >= 3 ? o->n_members : 0);
	for (int i = 0; i < d->n_members; i++) {
		SEQ(d->members[i].member_id, o->members[i].member_id);
		SEQ(d->members[i].group_instance_id,
		    o->members[i].group_instance_id);
	}
}

static void fill_leave_group_resp(void *p)
{
	static kp_leave_group_member_resp_t mem[1];
	kp_leave_group_resp_t *m = p;
	mem[0] = (kp_leave_group_member_resp_t){ S("m-2"), S("i-2"), 25 };
	*m = (kp_leave_group_resp_t){ 1, 0, 1, mem };
}
static void cmp_leave_group_resp(int v, const void *a, const void *b)
{
	const kp_leave_group_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
	IEQ(d->n_members, v >= 3 ? o->n_members : 0);
	for (int i = 0; i < d->n_members; i++) {
		SEQ(d->members[i].member_id, o->members[i].member_id);
		SEQ(d->members[i].group_instance_id,
		    o->members[i].group_instance_id);
		IEQ(d->members[i].error_code, o->members[i].error_code);
	}
}

static void fill_sync_group_req(void *p)
{
	static kp_sync_group_assignment_t as[2];
	kp_sync_group_req_t *m = p;
	as[0] = (kp_sync_group_assignment_t){ S("m-1"), B1 };
	as[1] = (kp_sync_group_assignment_t){ S("m-2"), B2 };
	*m = (kp_sync_group_req_t){ S("g"), 5, S("m-1"), S("i-1"), 2, as };
}
static void cmp_sync_group_req(int v, const void *a, const void *b)
{
	const kp_sync_group_req_t *o = a, *d = b;
	SEQ(d->group_id, o->group_id);
	IEQ(d->generation_id, o->generation_id);
	SEQ(d->member_id, o->member_id);
	SEQ(d->group_instance_id, v >= 3 ? o->group_instance_id : NUL);
	IEQ(d->n_assignments, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->assignments[i].member_id, o->assignments[i].member_id);
		BEQ(d->assignments[i].assignment, o->assignments[i].assignment);
	}
}

static void fill_sync_group_resp(void *p)
{
	*(kp_sync_group_resp_t *)p = (kp_sync_group_resp_t){ 6, 0, B2 };
}
static void cmp_sync_group_resp(int v, const void *a, const void *b)
{
	const kp_sync_group_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
	BEQ(d->assignment, o->assignment);
}

static void fill_describe_groups_req(void *p)
{
	static kp_str_t gs[2];
	kp_describe_groups_req_t *m = p;
	gs[0] = S("g1");
	gs[1] = S("g2");
	*m = (kp_describe_groups_req_t){ 2, gs, true };
}
static void cmp_describe_groups_req(int v, const void *a, const void *b)
{
	const kp_describe_groups_req_t *o = a, *d = b;
	IEQ(d->n_groups, 2);
	SEQ(d->groups[0], o->groups[0]);
	SEQ(d->groups[1], o->groups[1]);
	IEQ(d->include_authorized_operations,
	    v >= 3 ? o->include_authorized_operations : false);
}

static void fill_describe_groups_resp(void *p)
{
	static kp_described_member_t mem[1];
	static kp_described_group_t gs[2];
	kp_describe_groups_resp_t *m = p;
	mem[0] = (kp_described_member_t){ S("m-1"), S("i-1"), S("rdkafka"),
		S("/127.0.0.1"), B1, B2 };
	gs[0] = (kp_described_group_t){ 0, S("g1"), S("Stable"), S("consumer"),
		S("range"), 1, mem, 0x1234 };
	gs[1] = (kp_described_group_t){ 69, S("g2"), S("Dead"), S(""), S(""),
		0, NULL, 0 };
	*m = (kp_describe_groups_resp_t){ 3, 2, gs };
}
static void cmp_describe_groups_resp(int v, const void *a, const void *b)
{
	const kp_describe_groups_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->n_groups, 2);
	for (int i = 0; i < 2; i++) {
		const kp_described_group_t *x = &o->groups[i], *y = &d->groups[i];
		IEQ(y->error_code, x->error_code);
		SEQ(y->group_id, x->group_id);
		SEQ(y->state, x->state);
		SEQ(y->protocol_type, x->protocol_type);
		SEQ(y->protocol_data, x->protocol_data);
		IEQ(y->n_members, x->n_members);
		for (int j = 0; j < x->n_members; j++) {
			const kp_described_member_t *xm = &x->members[j];
			const kp_described_member_t *ym = &y->members[j];
			SEQ(ym->member_id, xm->member_id);
			SEQ(ym->group_instance_id,
			    v >= 4 ? xm->group_instance_id : NUL);
			SEQ(ym->client_id, xm->client_id);
			SEQ(ym->client_host, xm->client_host);
			BEQ(ym->metadata, xm->metadata);
			BEQ(ym->assignment, xm->assignment);
		}
		IEQ(y->authorized_operations,
		    v >= 3 ? x->authorized_operations : INT32_MIN);
	}
}

static void fill_list_groups_req(void *p)
{
	memset(p, 0, sizeof(kp_list_groups_req_t));
}
static void cmp_list_groups_req(int v, const void *a, const void *b)
{
	(void)v;
	(void)a;
	(void)b;
}

static void fill_list_groups_resp(void *p)
{
	static kp_listed_group_t gs[2];
	kp_list_groups_resp_t *m = p;
	gs[0] = (kp_listed_group_t){ S("g1"), S("consumer") };
	gs[1] = (kp_listed_group_t){ S("g2"), S("") };
	*m = (kp_list_groups_resp_t){ 2, 0, 2, gs };
}
static void cmp_list_groups_resp(int v, const void *a, const void *b)
{
	const kp_list_groups_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->error_code, o->error_code);
	IEQ(d->n_groups, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->groups[i].group_id, o->groups[i].group_id);
		SEQ(d->groups[i].protocol_type, o->groups[i].protocol_type);
	}
}

static void fill_api_versions_req(void *p)
{
	*(kp_api_versions_req_t *)p = (kp_api_versions_req_t){
		S("librdkafka"), S("2.0.2") };
}
static void cmp_api_versions_req(int v, const void *a, const void *b)
{
	const kp_api_versions_req_t *o = a, *d = b;
	SEQ(d->client_software_name, v >= 3 ? o->client_software_name : S(""));
	SEQ(d->client_software_version,
	    v >= 3 ? o->client_software_version : S(""));
}

static void fill_api_versions_resp(void *p)
{
	static kp_api_version_t keys[2] = { { 0, 3, 7 }, { 18, 0, 3 } };
	*(kp_api_versions_resp_t *)p = (kp_api_versions_resp_t){ 0, 2, keys,
		11 };
}
static void cmp_api_versions_resp(int v, const void *a, const void *b)
{
	const kp_api_versions_resp_t *o = a, *d = b;
	IEQ(d->error_code, o->error_code);
	IEQ(d->n_api_keys, 2);
	for (int i = 0; i < 2; i++) {
		IEQ(d->api_keys[i].api_key, o->api_keys[i].api_key);
		IEQ(d->api_keys[i].min_version, o->api_keys[i].min_version);
		IEQ(d->api_keys[i].max_version, o->api_keys[i].max_version);
	}
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
}

static void fill_create_topics_req(void *p)
{
	static int32_t brokers[2] = { 0, 1 };
	static kp_create_topics_assignment_t as[1];
	static kp_create_topics_config_t cf[2];
	static kp_creatable_topic_t ts[2];
	kp_create_topics_req_t *m = p;
	as[0] = (kp_create_topics_assignment_t){ 0, 2, brokers };
	cf[0] = (kp_create_topics_config_t){ S("cleanup.policy"), S("compact") };
	cf[1] = (kp_create_topics_config_t){ S("retention.ms"), NUL };
	ts[0] = (kp_creatable_topic_t){ S("t1"), 3, 1, 1, as, 2, cf };
	ts[1] = (kp_creatable_topic_t){ S("t2"), -1, -1, 0, NULL, 0, NULL };
	*m = (kp_create_topics_req_t){ 2, ts, 30000, true };
}
static void cmp_create_topics_req(int v, const void *a, const void *b)
{
	const kp_create_topics_req_t *o = a, *d = b;
	IEQ(d->n_topics, 2);
	for (int i = 0; i < 2; i++) {
		const kp_creatable_topic_t *x = &o->topics[i], *y = &d->topics[i];
		SEQ(y->name, x->name);
		IEQ(y->num_partitions, x->num_partitions);
		IEQ(y->replication_factor, x->replication_factor);
		IEQ(y->n_assignments, x->n_assignments);
		for (int j = 0; j < x->n_assignments; j++) {
			IEQ(y->assignments[j].partition, x->assignments[j].partition);
			IEQ(y->assignments[j].n_broker_ids,
			    x->assignments[j].n_broker_ids);
			for (int k = 0; k < x->assignments[j].n_broker_ids; k++)
				IEQ(y->assignments[j].broker_ids[k],
				    x->assignments[j].broker_ids[k]);
		}
		IEQ(y->n_configs, x->n_configs);
		for (int j = 0; j < x->n_configs; j++) {
			SEQ(y->configs[j].name, x->configs[j].name);
			SEQ(y->configs[j].value, x->configs[j].value);
		}
	}
	IEQ(d->timeout_ms, o->timeout_ms);
	IEQ(d->validate_only, v >= 1 ? o->validate_only : false);
}

static void fill_create_topics_resp(void *p)
{
	static kp_create_topics_result_t rs[2];
	kp_create_topics_resp_t *m = p;
	rs[0] = (kp_create_topics_result_t){ S("t1"), 0, NUL };
	rs[1] = (kp_create_topics_result_t){ S("t2"), 36, S("exists") };
	*m = (kp_create_topics_resp_t){ 12, 2, rs };
}
static void cmp_create_topics_resp(int v, const void *a, const void *b)
{
	const kp_create_topics_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 2 ? o->throttle_time_ms : 0);
	IEQ(d->n_topics, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->topics[i].name, o->topics[i].name);
		IEQ(d->topics[i].error_code, o->topics[i].error_code);
		SEQ(d->topics[i].error_message,
		    v >= 1 ? o->topics[i].error_message : NUL);
	}
}

static void fill_delete_topics_req(void *p)
{
	static kp_str_t ts[2];
	kp_delete_topics_req_t *m = p;
	ts[0] = S("t1");
	ts[1] = S("t2");
	*m = (kp_delete_topics_req_t){ 2, ts, 15000 };
}
static void cmp_delete_topics_req(int v, const void *a, const void *b)
{
	const kp_delete_topics_req_t *o = a, *d = b;
	(void)v;
	IEQ(d->n_topics, 2);
	SEQ(d->topics[0], o->topics[0]);
	SEQ(d->topics[1], o->topics[1]);
	IEQ(d->timeout_ms, o->timeout_ms);
}

static void fill_delete_topics_resp(void *p)
{
	static kp_delete_topics_result_t rs[2];
	kp_delete_topics_resp_t *m = p;
	rs[0] = (kp_delete_topics_result_t){ S("t1"), 0 };
	rs[1] = (kp_delete_topics_result_t){ S("t2"), 3 };
	*m = (kp_delete_topics_resp_t){ 13, 2, rs };
}
static void cmp_delete_topics_resp(int v, const void *a, const void *b)
{
	const kp_delete_topics_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, v >= 1 ? o->throttle_time_ms : 0);
	IEQ(d->n_topics, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->topics[i].name, o->topics[i].name);
		IEQ(d->topics[i].error_code, o->topics[i].error_code);
	}
}

static void fill_describe_configs_req(void *p)
{
	static kp_str_t keys[2];
	static kp_describe_configs_resource_t rs[2];
	kp_describe_configs_req_t *m = p;
	keys[0] = S("retention.ms");
	keys[1] = S("cleanup.policy");
	rs[0] = (kp_describe_configs_resource_t){ KP_RESOURCE_TOPIC, S("t1"),
	    2, keys };
	rs[1] = (kp_describe_configs_resource_t){ KP_RESOURCE_BROKER, S("0"),
	    -1, NULL };
	*m = (kp_describe_configs_req_t){ 2, rs, true, true };
}
static void cmp_describe_configs_req(int v, const void *a, const void *b)
{
	const kp_describe_configs_req_t *o = a, *d = b;
	IEQ(d->n_resources, 2);
	for (int i = 0; i < 2; i++) {
		const kp_describe_configs_resource_t *x = &o->resources[i];
		const kp_describe_configs_resource_t *y = &d->resources[i];
		IEQ(y->resource_type, x->resource_type);
		SEQ(y->resource_name, x->resource_name);
		IEQ(y->n_configuration_keys, x->n_configuration_keys);
		for (int j = 0; j < x->n_configuration_keys; j++)
			SEQ(y->configuration_keys[j], x->configuration_keys[j]);
	}
	IEQ(d->include_synonyms, v >= 1 ? o->include_synonyms : false);
	IEQ(d->include_documentation,
	    v >= 3 ? o->include_documentation : false);
}

static void fill_describe_configs_resp(void *p)
{
	static kp_describe_configs_synonym_t syn[1];
	static kp_describe_configs_entry_t es[2];
	static kp_describe_configs_result_t rs[2];
	kp_describe_configs_resp_t *m = p;
	syn[0] = (kp_describe_configs_synonym_t){ S("log.retention.ms"), NUL,
	    KP_CONFIG_SOURCE_DEFAULT };
	es[0] = (kp_describe_configs_entry_t){ S("retention.ms"), S("1000"),
	    false, false, KP_CONFIG_SOURCE_TOPIC, false, 1, syn,
	    KP_CONFIG_TYPE_LONG, S("how long") };
	es[1] = (kp_describe_configs_entry_t){ S("cleanup.policy"),
	    S("delete"), true, true, KP_CONFIG_SOURCE_DEFAULT, true, 0, NULL,
	    KP_CONFIG_TYPE_LIST, NUL };
	rs[0] = (kp_describe_configs_result_t){ 0, NUL, KP_RESOURCE_TOPIC,
	    S("t1"), 2, es };
	rs[1] = (kp_describe_configs_result_t){ 3, S("no such topic"),
	    KP_RESOURCE_TOPIC, S("t2"), 0, NULL };
	*m = (kp_describe_configs_resp_t){ 14, 2, rs };
}
static void cmp_describe_configs_resp(int v, const void *a, const void *b)
{
	const kp_describe_configs_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, o->throttle_time_ms);
	IEQ(d->n_results, 2);
	for (int i = 0; i < 2; i++) {
		const kp_describe_configs_result_t *x = &o->results[i];
		const kp_describe_configs_result_t *y = &d->results[i];
		IEQ(y->error_code, x->error_code);
		SEQ(y->error_message, x->error_message);
		IEQ(y->resource_type, x->resource_type);
		SEQ(y->resource_name, x->resource_name);
		IEQ(y->n_configs, x->n_configs);
		for (int j = 0; j < x->n_configs; j++) {
			const kp_describe_configs_entry_t *e = &x->configs[j];
			const kp_describe_configs_entry_t *f = &y->configs[j];
			SEQ(f->name, e->name);
			SEQ(f->value, e->value);
			IEQ(f->read_only, e->read_only);
			IEQ(f->is_sensitive, e->is_sensitive);
			if (v == 0) {
				IEQ(f->is_default, e->is_default);
				IEQ(f->config_source, -1);
			} else {
				IEQ(f->config_source, e->config_source);
				IEQ(f->is_default, e->config_source ==
				    KP_CONFIG_SOURCE_DEFAULT);
			}
			IEQ(f->n_synonyms, v >= 1 ? e->n_synonyms : 0);
			for (int k = 0; v >= 1 && k < e->n_synonyms; k++) {
				SEQ(f->synonyms[k].name, e->synonyms[k].name);
				SEQ(f->synonyms[k].value, e->synonyms[k].value);
				IEQ(f->synonyms[k].source,
				    e->synonyms[k].source);
			}
			IEQ(f->config_type, v >= 3 ? e->config_type : 0);
			SEQ(f->documentation, v >= 3 ? e->documentation : NUL);
		}
	}
}

/* AlterConfigs and IncrementalAlterConfigs share their structs. */
static void fill_alter_configs_any(void *p, int incremental)
{
	static kp_alter_configs_entry_t es[2];
	static kp_alter_configs_resource_t rs[2];
	kp_alter_configs_req_t *m = p;
	es[0] = (kp_alter_configs_entry_t){ S("retention.ms"),
	    incremental ? KP_CONFIG_OP_SET : 0, S("5000") };
	es[1] = (kp_alter_configs_entry_t){ S("cleanup.policy"),
	    incremental ? KP_CONFIG_OP_DELETE : 0, NUL };
	rs[0] = (kp_alter_configs_resource_t){ KP_RESOURCE_TOPIC, S("t1"), 2,
	    es };
	rs[1] = (kp_alter_configs_resource_t){ KP_RESOURCE_TOPIC, S("t2"), 0,
	    NULL };
	*m = (kp_alter_configs_req_t){ 2, rs, true };
}
static void cmp_alter_configs_any(const void *a, const void *b)
{
	const kp_alter_configs_req_t *o = a, *d = b;
	IEQ(d->n_resources, 2);
	for (int i = 0; i < 2; i++) {
		const kp_alter_configs_resource_t *x = &o->resources[i];
		const kp_alter_configs_resource_t *y = &d->resources[i];
		IEQ(y->resource_type, x->resource_type);
		SEQ(y->resource_name, x->resource_name);
		IEQ(y->n_configs, x->n_configs);
		for (int j = 0; j < x->n_configs; j++) {
			SEQ(y->configs[j].name, x->configs[j].name);
			IEQ(y->configs[j].op, x->configs[j].op);
			SEQ(y->configs[j].value, x->configs[j].value);
		}
	}
	IEQ(d->validate_only, o->validate_only);
}
static void fill_alter_configs_resp_any(void *p)
{
	static kp_alter_configs_result_t rs[2];
	kp_alter_configs_resp_t *m = p;
	rs[0] = (kp_alter_configs_result_t){ 0, NUL, KP_RESOURCE_TOPIC,
	    S("t1") };
	rs[1] = (kp_alter_configs_result_t){ 40, S("bad value"),
	    KP_RESOURCE_TOPIC, S("t2") };
	*m = (kp_alter_configs_resp_t){ 15, 2, rs };
}
static void cmp_alter_configs_resp_any(const void *a, const void *b)
{
	const kp_alter_configs_resp_t *o = a, *d = b;
	IEQ(d->throttle_time_ms, o->throttle_time_ms);
	IEQ(d->n_results, 2);
	for (int i = 0; i < 2; i++) {
		IEQ(d->results[i].error_code, o->results[i].error_code);
		SEQ(d->results[i].error_message, o->results[i].error_message);
		IEQ(d->results[i].resource_type, o->results[i].resource_type);
		SEQ(d->results[i].resource_name, o->results[i].resource_name);
	}
}
static void fill_alter_configs_req(void *p)
{
	fill_alter_configs_any(p, 0);
}
static void cmp_alter_configs_req(int v, const void *a, const void *b)
{
	(void)v;
	cmp_alter_configs_any(a, b);
}
static void fill_alter_configs_resp(void *p)
{
	fill_alter_configs_resp_any(p);
}
static void cmp_alter_configs_resp(int v, const void *a, const void *b)
{
	(void)v;
	cmp_alter_configs_resp_any(a, b);
}
static void fill_incremental_alter_configs_req(void *p)
{
	fill_alter_configs_any(p, 1);
}
static void cmp_incremental_alter_configs_req(int v, const void *a,
    const void *b)
{
	(void)v;
	cmp_alter_configs_any(a, b);
}
static void fill_incremental_alter_configs_resp(void *p)
{
	fill_alter_configs_resp_any(p);
}
static void cmp_incremental_alter_configs_resp(int v, const void *a,
    const void *b)
{
	(void)v;
	cmp_alter_configs_resp_any(a, b);
}

static void fill_create_partitions_req(void *p)
{
	static int32_t brokers[1] = { 0 };
	static kp_create_partitions_assignment_t as[2];
	static kp_create_partitions_topic_t ts[2];
	kp_create_partitions_req_t *m = p;
	as[0] = (kp_create_partitions_assignment_t){ 1, brokers };
	as[1] = (kp_create_partitions_assignment_t){ 1, brokers };
	ts[0] = (kp_create_partitions_topic_t){ S("t1"), 3, 2, as };
	ts[1] = (kp_create_partitions_topic_t){ S("t2"), 5, -1, NULL };
	*m = (kp_create_partitions_req_t){ 2, ts, 30000, true };
}
static void cmp_create_partitions_req(int v, const void *a, const void *b)
{
	const kp_create_partitions_req_t *o = a, *d = b;
	(void)v;
	IEQ(d->n_topics, 2);
	for (int i = 0; i < 2; i++) {
		const kp_create_partitions_topic_t *x = &o->topics[i];
		const kp_create_partitions_topic_t *y = &d->topics[i];
		SEQ(y->name, x->name);
		IEQ(y->count, x->count);
		IEQ(y->n_assignments, x->n_assignments);
		for (int j = 0; j < x->n_assignments; j++) {
			IEQ(y->assignments[j].n_broker_ids,
			    x->assignments[j].n_broker_ids);
			for (int k = 0; k < x->assignments[j].n_broker_ids; k++)
				IEQ(y->assignments[j].broker_ids[k],
				    x->assignments[j].broker_ids[k]);
		}
	}
	IEQ(d->timeout_ms, o->timeout_ms);
	IEQ(d->validate_only, o->validate_only);
}

static void fill_create_partitions_resp(void *p)
{
	static kp_create_partitions_result_t rs[2];
	kp_create_partitions_resp_t *m = p;
	rs[0] = (kp_create_partitions_result_t){ S("t1"), 0, NUL };
	rs[1] = (kp_create_partitions_result_t){ S("t2"), 37, S("fewer") };
	*m = (kp_create_partitions_resp_t){ 16, 2, rs };
}
static void cmp_create_partitions_resp(int v, const void *a, const void *b)
{
	const kp_create_partitions_resp_t *o = a, *d = b;
	(void)v;
	IEQ(d->throttle_time_ms, o->throttle_time_ms);
	IEQ(d->n_results, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->results[i].name, o->results[i].name);
		IEQ(d->results[i].error_code, o->results[i].error_code);
		SEQ(d->results[i].error_message, o->results[i].error_message);
	}
}

static void fill_delete_groups_req(void *p)
{
	static kp_str_t gs[2];
	kp_delete_groups_req_t *m = p;
	gs[0] = S("g1");
	gs[1] = S("g2");
	*m = (kp_delete_groups_req_t){ 2, gs };
}
static void cmp_delete_groups_req(int v, const void *a, const void *b)
{
	const kp_delete_groups_req_t *o = a, *d = b;
	(void)v;
	IEQ(d->n_groups, 2);
	SEQ(d->groups[0], o->groups[0]);
	SEQ(d->groups[1], o->groups[1]);
}

static void fill_delete_groups_resp(void *p)
{
	static kp_delete_groups_result_t rs[2];
	kp_delete_groups_resp_t *m = p;
	rs[0] = (kp_delete_groups_result_t){ S("g1"), 0 };
	rs[1] = (kp_delete_groups_result_t){ S("g2"), 69 };
	*m = (kp_delete_groups_resp_t){ 17, 2, rs };
}
static void cmp_delete_groups_resp(int v, const void *a, const void *b)
{
	const kp_delete_groups_resp_t *o = a, *d = b;
	(void)v;
	IEQ(d->throttle_time_ms, o->throttle_time_ms);
	IEQ(d->n_results, 2);
	for (int i = 0; i < 2; i++) {
		SEQ(d->results[i].group_id, o->results[i].group_id);
		IEQ(d->results[i].error_code, o->results[i].error_code);
	}
}

static const struct kt_codec_case cases[] = {
#define C(key, name) \
	{ key, fill_##name##_req, cmp_##name##_req, fill_##name##_resp, \
	  cmp_##name##_resp }
	C(KP_PRODUCE, produce),
	C(KP_FETCH, fetch),
	C(KP_LIST_OFFSETS, list_offsets),
	C(KP_METADATA, metadata),
	C(KP_OFFSET_COMMIT, offset_commit),
	C(KP_OFFSET_FETCH, offset_fetch),
	C(KP_FIND_COORDINATOR, find_coordinator),
	C(KP_JOIN_GROUP, join_group),
	C(KP_HEARTBEAT, heartbeat),
	C(KP_LEAVE_GROUP, leave_group),
	C(KP_SYNC_GROUP, sync_group),
	C(KP_DESCRIBE_GROUPS, describe_groups),
	C(KP_LIST_GROUPS, list_groups),
	C(KP_API_VERSIONS, api_versions),
	C(KP_CREATE_TOPICS, create_topics),
	C(KP_DELETE_TOPICS, delete_topics),
	C(KP_DESCRIBE_CONFIGS, describe_configs),
	C(KP_ALTER_CONFIGS, alter_configs),
	C(KP_CREATE_PARTITIONS, create_partitions),
	C(KP_DELETE_GROUPS, delete_groups),
	C(KP_INCREMENTAL_ALTER_CONFIGS, incremental_alter_configs),
#undef C
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- round trips and truncation at every served version ---------------------- */

START_TEST(test_round_trip_all)
{
	int served = 0;
	/* + the 4 replication APIs, round-tripped in check_kcluster_codec.c */
	ck_assert_uint_eq(N_CASES + 4, kp_api_count());
	for (size_t i = 0; i < N_CASES; i++)
		served += kt_codec_all_versions(&cases[i]);
	/* every advertised version: 8+8+4+7+8+5+3+6+4+4+4+5+3+4+5+4,
	 * + the admin APIs 5+3+4+3+2 */
	ck_assert_int_eq(served, 99);
}
END_TEST

/* ---- byte-exact requests, as clients send them --------------------------------- */

START_TEST(test_api_versions_v3_request)
{
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;
	kp_io_t r;
	kp_req_hdr_t hdr;
	kp_api_versions_req_t m;

	/* header v2: key 18, version 3, correlation 1, client_id as INT16
	 * string "rdkafka", no tags; body: compact strings, no tags */
	kt_hb_i16(&h, 18);
	kt_hb_i16(&h, 3);
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "rdkafka");
	kt_hb_u8(&h, 0);
	kt_hb_cstr(&h, "librdkafka");
	kt_hb_cstr(&h, "2.0.2");
	kt_hb_u8(&h, 0);

	kp_arena_init(&a);
	kp_reader_init(&r, h.b, h.n, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &hdr), 0);
	ck_assert_int_eq(hdr.api_key, 18);
	ck_assert_int_eq(hdr.api_version, 3);
	ck_assert_int_eq(hdr.correlation_id, 1);
	ck_assert_str_eq(hdr.client_id.s, "rdkafka");
	ck_assert_int_eq(hdr.client_id.len, 7);
	ck_assert_int_eq(r.version, 3);
	ck_assert_int_eq(r.flexible, 1);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_api_versions_req(&r, &m), 0);
	ck_assert_str_eq(m.client_software_name.s, "librdkafka");
	ck_assert_str_eq(m.client_software_version.s, "2.0.2");
	ck_assert_uint_eq(kp_r_left(&r), 0);
	kp_arena_free(&a);

	/* A tagged field in the header is skipped: tag 5, 2 bytes. */
	h.n = 0;
	kt_hb_i16(&h, 18);
	kt_hb_i16(&h, 3);
	kt_hb_i32(&h, 9);
	kt_hb_i16(&h, -1); /* null client id */
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 5);
	kt_hb_u8(&h, 2);
	kt_hb_u8(&h, 0xaa);
	kt_hb_u8(&h, 0xbb);
	kt_hb_cstr(&h, "x");
	kt_hb_cstr(&h, "1");
	kt_hb_u8(&h, 0);
	kp_arena_init(&a);
	kp_reader_init(&r, h.b, h.n, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &hdr), 0);
	ck_assert_int_eq(hdr.client_id.len, -1);
	ck_assert_ptr_null(hdr.client_id.s);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_api_versions_req(&r, &m), 0);
	ck_assert_str_eq(m.client_software_name.s, "x");
	kp_arena_free(&a);
}
END_TEST

START_TEST(test_api_versions_response_bytes)
{
	kt_hb_t h = { .n = 0 };
	kp_io_t w;
	int32_t corr = 77;
	kp_api_version_t keys[1] = { { 18, 0, 3 } };
	kp_api_versions_resp_t m = { 0, 1, keys, 0 };
	uint8_t *out;
	size_t len;

	/* v3: header v0 (no tags, even though the body is flexible); body:
	 * error, compact array (count + 1), each entry with empty tags,
	 * throttle, empty tags */
	kt_hb_i32(&h, 0); /* frame length, patched below */
	kt_hb_i32(&h, 77);
	kt_hb_i16(&h, 0);
	kt_hb_u8(&h, 2);
	kt_hb_i16(&h, 18);
	kt_hb_i16(&h, 0);
	kt_hb_i16(&h, 3);
	kt_hb_u8(&h, 0);
	kt_hb_i32(&h, 0);
	kt_hb_u8(&h, 0);
	h.b[3] = (uint8_t)(h.n - 4);

	kp_writer_init(&w);
	kp_w_frame_begin(&w);
	ck_assert_int_eq(kp_resp_hdr(&w, KP_API_VERSIONS, 3, &corr), 0);
	ck_assert_int_eq(w.flexible, 1);
	ck_assert_int_eq(kp_api_versions_resp(&w, &m), 0);
	ck_assert_int_eq(kp_w_frame_end(&w), 0);
	ck_assert_int_eq(kp_w_flatten(&w, &out, &len), 0);
	ck_assert(kt_same_bytes(out, len, h.b, h.n));
	free(out);
	kp_writer_free(&w);

	/* The fallback answer to an unsupported version: a v0 body with
	 * error 35 and our ranges. */
	kp_arena_t a;
	kp_arena_init(&a);
	m.error_code = KP_UNSUPPORTED_VERSION;
	ck_assert_int_eq(kp_api_versions_fill(&m, &a), 0);
	ck_assert_int_eq(m.n_api_keys, (int)kp_api_count());
	kp_writer_init(&w);
	ck_assert_int_eq(kp_resp_hdr(&w, KP_API_VERSIONS, 0, &corr), 0);
	ck_assert_int_eq(kp_api_versions_resp(&w, &m), 0);
	ck_assert_uint_eq(kp_w_len(&w), 4 + 2 + 4 + 6 * kp_api_count());
	ck_assert_int_eq(w.buf[6], 35 >> 8);
	ck_assert_int_eq(w.buf[5], 35);
	kp_writer_free(&w);
	kp_arena_free(&a);
}
END_TEST

START_TEST(test_metadata_v1_request)
{
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;
	kp_io_t r;
	kp_req_hdr_t hdr;
	kp_metadata_req_t m;

	kt_hb_i16(&h, 3);
	kt_hb_i16(&h, 1);
	kt_hb_i32(&h, 0x01020304);
	kt_hb_str(&h, "kcat");
	kt_hb_i32(&h, 2);
	kt_hb_str(&h, "orders");
	kt_hb_str(&h, "payments");

	kp_arena_init(&a);
	kp_reader_init(&r, h.b, h.n, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &hdr), 0);
	ck_assert_int_eq(hdr.api_key, KP_METADATA);
	ck_assert_int_eq(hdr.correlation_id, 0x01020304);
	ck_assert_str_eq(hdr.client_id.s, "kcat");
	ck_assert_int_eq(r.flexible, 0);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_metadata_req(&r, &m), 0);
	ck_assert_int_eq(m.n_topics, 2);
	ck_assert_str_eq(m.topics[0].s, "orders");
	ck_assert_str_eq(m.topics[1].s, "payments");
	ck_assert(m.allow_auto_topic_creation); /* the default before v4 */
	kp_arena_free(&a);

	/* v1 null array: all topics; v0 empty array: all topics too. */
	h.n = 0;
	kt_hb_i32(&h, -1);
	kp_arena_init(&a);
	kp_reader_init(&r, h.b, h.n, &a);
	kp_io_set_version(&r, KP_METADATA, 1);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_metadata_req(&r, &m), 0);
	ck_assert_int_eq(m.n_topics, -1);
	h.n = 0;
	kt_hb_i32(&h, 0);
	kp_reader_init(&r, h.b, h.n, &a);
	kp_io_set_version(&r, KP_METADATA, 0);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_metadata_req(&r, &m), 0);
	ck_assert_int_eq(m.n_topics, -1);
	/* ... but null is not allowed in v0 */
	h.n = 0;
	kt_hb_i32(&h, -1);
	kp_reader_init(&r, h.b, h.n, &a);
	kp_io_set_version(&r, KP_METADATA, 0);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_metadata_req(&r, &m), KS_ECORRUPT);
	kp_arena_free(&a);
}
END_TEST

START_TEST(test_produce_v3_zero_copy)
{
	uint8_t batch[512];
	size_t blen = 0;
	ks_record_t recs[2];
	kt_hb_t h = { .n = 0 };
	kp_arena_t a;
	kp_io_t r;
	kp_req_hdr_t hdr;
	kp_produce_req_t m;
	ks_batch_info_t info;
	size_t at;

	memset(recs, 0, sizeof recs);
	recs[0].key = "k1";
	recs[0].key_len = 2;
	recs[0].value = "hello";
	recs[0].value_len = 5;
	recs[0].timestamp = 1700000000000;
	recs[1].value = "world";
	recs[1].value_len = 5;
	recs[1].timestamp = 1700000000001;
	KT_OK(ks_batch_encode(batch, sizeof batch, recs, 2, 0, 0, &blen));

	kt_hb_i16(&h, 0);
	kt_hb_i16(&h, 3);
	kt_hb_i32(&h, 42);
	kt_hb_str(&h, "producer-1");
	kt_hb_i16(&h, -1); /* transactional_id null */
	kt_hb_i16(&h, -1); /* acks all */
	kt_hb_i32(&h, 30000);
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "events");
	kt_hb_i32(&h, 1);
	kt_hb_i32(&h, 2); /* partition */
	kt_hb_i32(&h, (int64_t)blen);
	at = h.n;
	kt_hb_raw(&h, batch, blen);

	kp_arena_init(&a);
	kp_reader_init(&r, h.b, h.n, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &hdr), 0);
	ck_assert_int_eq(hdr.api_key, KP_PRODUCE);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_produce_req(&r, &m), 0);
	ck_assert_int_eq(m.transactional_id.len, -1);
	ck_assert_int_eq(m.acks, -1);
	ck_assert_int_eq(m.timeout_ms, 30000);
	ck_assert_int_eq(m.n_topics, 1);
	ck_assert_str_eq(m.topics[0].name.s, "events");
	ck_assert_int_eq(m.topics[0].n_partitions, 1);
	ck_assert_int_eq(m.topics[0].partitions[0].index, 2);
	/* zero copy: the records are the frame's own bytes */
	ck_assert_ptr_eq(m.topics[0].partitions[0].records.p, h.b + at);
	ck_assert_int_eq(m.topics[0].partitions[0].records.len, (int)blen);
	KT_OK(ks_batch_validate(m.topics[0].partitions[0].records.p,
	    (size_t)m.topics[0].partitions[0].records.len, &info));
	ck_assert_int_eq(info.record_count, 2);
	kp_arena_free(&a);
}
END_TEST

/* Elements as small as the protocol allows, with nothing after them: the
 * decoder's count check must not ask more of them (found by the fuzzer). */
START_TEST(test_minimal_elements)
{
	kp_described_member_t mem = { S(""), NUL, S(""), S(""), { NULL, 0 },
		{ NULL, 0 } };
	kp_described_group_t g = { 0, S(""), S(""), S(""), S(""), 1, &mem, 0 };
	kp_describe_groups_resp_t m = { 0, 1, &g }, d;
	kp_arena_t a;
	uint8_t *buf;
	size_t len;

	for (int16_t v = 0; v <= 4; v++) {
		buf = kt_enc(1, KP_DESCRIBE_GROUPS, v, &m, &len);
		kp_arena_init(&a);
		ck_assert_int_eq(kt_dec(1, KP_DESCRIBE_GROUPS, v, buf, len, &a,
		    &d, sizeof d), 0);
		ck_assert_int_eq(d.groups[0].n_members, 1);
		kp_arena_free(&a);
		free(buf);
	}
}
END_TEST

/* ---- hostile input ----------------------------------------------------------------- */

START_TEST(test_huge_count)
{
	uint8_t f[20];
	kp_arena_t a;
	kp_io_t r;
	kp_metadata_req_t m;
	kp_fetch_req_t fm;

	memset(f, 0, sizeof f);
	f[0] = 0x7f;
	f[1] = f[2] = f[3] = 0xff;
	kp_arena_init(&a);
	kp_reader_init(&r, f, sizeof f, &a);
	kp_io_set_version(&r, KP_METADATA, 1);
	memset(&m, 0, sizeof m);
	ck_assert_int_eq(kp_metadata_req(&r, &m), KS_ECORRUPT);
	ck_assert_uint_lt(a.total, 65536);

	/* deep in a message: Fetch v4's topics count at byte 13 */
	memset(f, 0, sizeof f);
	f[13] = 0x7f;
	f[14] = f[15] = f[16] = 0xff;
	kp_reader_init(&r, f, sizeof f, &a);
	kp_io_set_version(&r, KP_FETCH, 4);
	memset(&fm, 0, sizeof fm);
	ck_assert_int_eq(kp_fetch_req(&r, &fm), KS_ECORRUPT);
	ck_assert_uint_lt(a.total, 65536);

	/* a compact count that cannot fit either (ApiVersions v3 response) */
	uint8_t g[] = { 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0, 0 };
	kp_api_versions_resp_t av;
	kp_reader_init(&r, g, sizeof g, &a);
	kp_io_set_version(&r, KP_API_VERSIONS, 3);
	memset(&av, 0, sizeof av);
	ck_assert_int_eq(kp_api_versions_resp(&r, &av), KS_ECORRUPT);
	ck_assert_uint_lt(a.total, 65536);
	kp_arena_free(&a);
}
END_TEST

/* Decodes bytes h as (key, v) request body; returns the error. */
static int dec_req_bytes(int16_t key, int16_t v, const kt_hb_t *h)
{
	kp_arena_t a;
	kp_req_any_t m;
	int rc;
	kp_arena_init(&a);
	rc = kt_dec(0, key, v, h->b, h->n, &a, &m, sizeof m);
	kp_arena_free(&a);
	return rc;
}

START_TEST(test_negative_lengths)
{
	kt_hb_t h;

	/* FindCoordinator key: string length -1 (not nullable) and -2 */
	h.n = 0;
	kt_hb_i16(&h, -1);
	ck_assert_int_eq(dec_req_bytes(KP_FIND_COORDINATOR, 0, &h), KS_ECORRUPT);
	h.n = 0;
	kt_hb_i16(&h, -2);
	ck_assert_int_eq(dec_req_bytes(KP_FIND_COORDINATOR, 0, &h), KS_ECORRUPT);
	/* Heartbeat v3 group_instance_id: nullable, but not -3 */
	h.n = 0;
	kt_hb_str(&h, "g");
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "m");
	kt_hb_i16(&h, -1);
	ck_assert_int_eq(dec_req_bytes(KP_HEARTBEAT, 3, &h), 0);
	h.b[h.n - 1] = 0xfd;
	ck_assert_int_eq(dec_req_bytes(KP_HEARTBEAT, 3, &h), KS_ECORRUPT);
	/* SyncGroup assignment bytes: -1 is not allowed (not nullable) */
	h.n = 0;
	kt_hb_str(&h, "g");
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "m");
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "m");
	kt_hb_i32(&h, -1);
	ck_assert_int_eq(dec_req_bytes(KP_SYNC_GROUP, 0, &h), KS_ECORRUPT);
	h.n -= 4;
	kt_hb_i32(&h, INT32_MIN);
	ck_assert_int_eq(dec_req_bytes(KP_SYNC_GROUP, 0, &h), KS_ECORRUPT);
	/* Produce records: nullable, -1 fine, -2 not; a length past the end */
	h.n = 0;
	kt_hb_i16(&h, -1);
	kt_hb_i16(&h, 1);
	kt_hb_i32(&h, 1000);
	kt_hb_i32(&h, 1);
	kt_hb_str(&h, "t");
	kt_hb_i32(&h, 1);
	kt_hb_i32(&h, 0);
	kt_hb_i32(&h, -1);
	ck_assert_int_eq(dec_req_bytes(KP_PRODUCE, 3, &h), 0);
	h.n -= 4;
	kt_hb_i32(&h, -2);
	ck_assert_int_eq(dec_req_bytes(KP_PRODUCE, 3, &h), KS_ECORRUPT);
	h.n -= 4;
	kt_hb_i32(&h, 3);
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 2);
	ck_assert_int_eq(dec_req_bytes(KP_PRODUCE, 3, &h), KS_ECORRUPT);
	/* array count -1 where not nullable (DeleteTopics names) */
	h.n = 0;
	kt_hb_i32(&h, -1);
	kt_hb_i32(&h, 1000);
	ck_assert_int_eq(dec_req_bytes(KP_DELETE_TOPICS, 0, &h), KS_ECORRUPT);
	/* OffsetFetch topics: null from v2 only */
	h.n = 0;
	kt_hb_str(&h, "g");
	kt_hb_i32(&h, -1);
	ck_assert_int_eq(dec_req_bytes(KP_OFFSET_FETCH, 1, &h), KS_ECORRUPT);
	ck_assert_int_eq(dec_req_bytes(KP_OFFSET_FETCH, 2, &h), 0);
}
END_TEST

START_TEST(test_varints)
{
	kt_hb_t h;
	kp_arena_t a;
	kp_io_t r;
	kp_api_versions_req_t m;

	/* a compact string whose length varint runs over 5 bytes */
	h.n = 0;
	for (int i = 0; i < 6; i++)
		kt_hb_u8(&h, 0x80);
	kt_hb_u8(&h, 0x01);
	ck_assert_int_eq(dec_req_bytes(KP_API_VERSIONS, 3, &h), KS_ECORRUPT);
	/* compact length 0 is null: not allowed for a non-nullable string */
	h.n = 0;
	kt_hb_u8(&h, 0);
	kt_hb_cstr(&h, "v");
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(dec_req_bytes(KP_API_VERSIONS, 3, &h), KS_ECORRUPT);
	/* tagged fields: a size past the end; then a well-formed one */
	h.n = 0;
	kt_hb_cstr(&h, "n");
	kt_hb_cstr(&h, "v");
	kt_hb_u8(&h, 1);
	kt_hb_u8(&h, 0);
	kt_hb_u8(&h, 9);
	kt_hb_u8(&h, 0);
	ck_assert_int_eq(dec_req_bytes(KP_API_VERSIONS, 3, &h), KS_ECORRUPT);
	h.b[h.n - 2] = 1;
	ck_assert_int_eq(dec_req_bytes(KP_API_VERSIONS, 3, &h), 0);

	/* the varint primitives both ways, over their whole range */
	int32_t vals[] = { 0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		kp_io_t w;
		int32_t x = vals[i], y = 0;
		uint32_t ux = (uint32_t)vals[i], uy = 0;
		kp_writer_init(&w);
		kp_varint(&w, &x);
		kp_uvarint(&w, &ux);
		kp_arena_init(&a);
		kp_reader_init(&r, w.buf, w.len, &a);
		kp_varint(&r, &y);
		kp_uvarint(&r, &uy);
		ck_assert_int_eq(r.err, 0);
		ck_assert_int_eq(y, x);
		ck_assert_uint_eq(uy, ux);
		ck_assert_uint_eq(kp_r_left(&r), 0);
		kp_writer_free(&w);
		kp_arena_free(&a);
	}
	(void)m;
}
END_TEST

START_TEST(test_writer_errors)
{
	kp_io_t w;
	kp_find_coordinator_req_t fc = { NUL, 0 };
	kp_sync_group_resp_t sg = { 0, 0, BNULL };
	kp_delete_topics_req_t dt = { -1, NULL, 0 };

	/* null where the protocol has no null: KS_EINVAL, sticky */
	kp_writer_init(&w);
	kp_io_set_version(&w, KP_FIND_COORDINATOR, 0);
	ck_assert_int_eq(kp_find_coordinator_req(&w, &fc), KS_EINVAL);
	kp_writer_free(&w);
	kp_writer_init(&w);
	kp_io_set_version(&w, KP_SYNC_GROUP, 0);
	ck_assert_int_eq(kp_sync_group_resp(&w, &sg), KS_EINVAL);
	kp_writer_free(&w);
	kp_writer_init(&w);
	kp_io_set_version(&w, KP_DELETE_TOPICS, 0);
	ck_assert_int_eq(kp_delete_topics_req(&w, &dt), KS_EINVAL);
	uint8_t *out;
	size_t len;
	ck_assert_int_eq(kp_w_flatten(&w, &out, &len), KS_EINVAL);
	kp_writer_free(&w);

	/* a non-compact string longer than int16 */
	char *big = malloc(40000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 39999);
	big[39999] = 0;
	fc.key = kp_cstr(big);
	kp_writer_init(&w);
	kp_io_set_version(&w, KP_FIND_COORDINATOR, 0);
	ck_assert_int_eq(kp_find_coordinator_req(&w, &fc), KS_EINVAL);
	kp_writer_free(&w);
	free(big);
}
END_TEST

/* ---- the writer's references and frames ------------------------------------------ */

static int released[4];
static void release_cb(void *arg)
{
	released[(intptr_t)arg]++;
}

START_TEST(test_fetch_refs)
{
	static uint8_t seg1[100], seg2[37];
	kp_fetch_resp_part_t parts[3];
	kp_fetch_resp_topic_t topic;
	kp_fetch_resp_t m;
	kp_io_t w, r;
	kp_arena_t a;
	kp_fetch_resp_t d;
	int32_t corr = 5, corr2 = 0;
	uint8_t *out;
	size_t len;

	for (size_t i = 0; i < sizeof seg1; i++)
		seg1[i] = (uint8_t)i;
	memset(seg2, 0x5a, sizeof seg2);
	memset(released, 0, sizeof released);
	memset(parts, 0, sizeof parts);
	parts[0] = (kp_fetch_resp_part_t){ .partition = 0,
		.high_watermark = 10, .records = { seg1, sizeof seg1 },
		.records_release = release_cb, .records_arg = (void *)1 };
	parts[1] = (kp_fetch_resp_part_t){ .partition = 1, .error_code = 1,
		.records = { NULL, 0 }, .records_release = release_cb,
		.records_arg = (void *)2 };
	parts[2] = (kp_fetch_resp_part_t){ .partition = 2,
		.high_watermark = 3, .records = { seg2, sizeof seg2 },
		.records_release = release_cb, .records_arg = (void *)3 };
	topic = (kp_fetch_resp_topic_t){ S("t"), 3, parts };
	m = (kp_fetch_resp_t){ 0, 0, 0, 1, &topic };

	kp_writer_init(&w);
	kp_w_frame_begin(&w);
	ck_assert_int_eq(kp_resp_hdr(&w, KP_FETCH, 11, &corr), 0);
	ck_assert_int_eq(kp_fetch_resp(&w, &m), 0);
	ck_assert_int_eq(kp_w_frame_end(&w), 0);
	/* an empty view is released at once; the others are not copied */
	ck_assert_int_eq(released[2], 1);
	ck_assert_int_eq(released[1] + released[3], 0);
	ck_assert_uint_eq(w.n_refs, 2);
	ck_assert_uint_eq(kp_w_len(&w), w.len + sizeof seg1 + sizeof seg2);
	ck_assert_int_eq(kp_w_flatten(&w, &out, &len), 0);
	ck_assert_uint_eq(len, kp_w_len(&w));
	/* the prefix counts the referenced bytes */
	ck_assert_uint_eq(((uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 |
	    (uint32_t)out[2] << 8 | out[3]), len - 4);
	kp_writer_free(&w);
	ck_assert_int_eq(released[1], 1);
	ck_assert_int_eq(released[2], 1);
	ck_assert_int_eq(released[3], 1);

	kp_arena_init(&a);
	kp_reader_init(&r, out + 4, len - 4, &a);
	ck_assert_int_eq(kp_resp_hdr(&r, KP_FETCH, 11, &corr2), 0);
	ck_assert_int_eq(corr2, 5);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(kp_fetch_resp(&r, &d), 0);
	ck_assert_int_eq(d.topics[0].n_partitions, 3);
	ck_assert(kt_same_bytes(d.topics[0].partitions[0].records.p,
	    (size_t)d.topics[0].partitions[0].records.len, seg1, sizeof seg1));
	ck_assert_int_eq(d.topics[0].partitions[1].records.len, 0);
	ck_assert(kt_same_bytes(d.topics[0].partitions[2].records.p,
	    (size_t)d.topics[0].partitions[2].records.len, seg2, sizeof seg2));
	kp_arena_free(&a);
	free(out);

	/* An encoding that fails still releases every view, exactly once. */
	memset(released, 0, sizeof released);
	topic.topic = NUL; /* not nullable: KS_EINVAL before the partitions */
	kp_writer_init(&w);
	kp_io_set_version(&w, KP_FETCH, 4);
	ck_assert_int_eq(kp_fetch_resp(&w, &m), KS_EINVAL);
	kp_writer_free(&w);
	ck_assert_int_eq(released[1], 1);
	ck_assert_int_eq(released[2], 1);
	ck_assert_int_eq(released[3], 1);
}
END_TEST

START_TEST(test_headers)
{
	kp_io_t w, r;
	kp_arena_t a;
	kp_req_hdr_t h = { KP_FETCH, 11, 1234, S("cli") }, d;
	uint8_t *out;
	size_t len;
	int32_t c = 99;

	/* request header v1 for a non-flexible version: no tag byte */
	kp_writer_init(&w);
	ck_assert_int_eq(kp_req_hdr(&w, &h), 0);
	ck_assert_uint_eq(kp_w_len(&w), 2 + 2 + 4 + 2 + 3);
	ck_assert_int_eq(w.flexible, 0);
	ck_assert_int_eq(kp_w_flatten(&w, &out, &len), 0);
	kp_writer_free(&w);
	kp_arena_init(&a);
	kp_reader_init(&r, out, len, &a);
	memset(&d, 0, sizeof d);
	ck_assert_int_eq(kp_req_hdr(&r, &d), 0);
	ck_assert_int_eq(d.api_key, KP_FETCH);
	ck_assert_int_eq(d.api_version, 11);
	ck_assert_int_eq(d.correlation_id, 1234);
	ck_assert(kp_str_eq_c(d.client_id, "cli"));
	ck_assert_int_eq(r.version, 11);
	free(out);

	/* flexible: header v2, the client id still an INT16 string */
	h = (kp_req_hdr_t){ KP_API_VERSIONS, 3, 1, NUL };
	kp_writer_init(&w);
	ck_assert_int_eq(kp_req_hdr(&w, &h), 0);
	ck_assert_uint_eq(kp_w_len(&w), 2 + 2 + 4 + 2 + 1);
	ck_assert_int_eq(w.buf[8], 0xff);
	ck_assert_int_eq(w.buf[9], 0xff);
	ck_assert_int_eq(w.flexible, 1);
	kp_writer_free(&w);

	/* an unknown API key is read as a v1 header */
	uint8_t unk[] = { 0, 99, 0, 0, 0, 0, 0, 1, 0, 0 };
	kp_reader_init(&r, unk, sizeof unk, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &d), 0);
	ck_assert_int_eq(d.api_key, 99);
	ck_assert_uint_eq(kp_r_left(&r), 0);
	/* a truncated header */
	kp_reader_init(&r, unk, 7, &a);
	ck_assert_int_eq(kp_req_hdr(&r, &d), KS_ECORRUPT);
	kp_arena_free(&a);

	/* response headers: v0 but for flexible versions, ApiVersions v0 */
	ck_assert_int_eq(kp_resp_hdr_version(KP_FETCH, 11), 0);
	ck_assert_int_eq(kp_resp_hdr_version(KP_FETCH, 12), 1);
	ck_assert_int_eq(kp_resp_hdr_version(KP_API_VERSIONS, 3), 0);
	ck_assert_int_eq(kp_resp_hdr_version(KP_METADATA, 9), 1);
	kp_writer_init(&w);
	ck_assert_int_eq(kp_resp_hdr(&w, KP_METADATA, 9, &c), 0);
	ck_assert_uint_eq(kp_w_len(&w), 5);
	kp_writer_free(&w);

	/* the API table */
	ck_assert(kp_api_supported(KP_PRODUCE, 0));
	ck_assert(kp_api_supported(KP_PRODUCE, 7));
	ck_assert(!kp_api_supported(KP_PRODUCE, 8));
	ck_assert(kp_api_supported(KP_FETCH, 11));
	ck_assert(!kp_api_supported(KP_FETCH, 12));
	ck_assert(kp_api_supported(KP_FIND_COORDINATOR, 0));
	ck_assert(!kp_api_supported(KP_OFFSET_FETCH, 0));
	ck_assert(!kp_api_supported(22, 0));
	ck_assert_str_eq(kp_api_name(KP_SYNC_GROUP), "SyncGroup");
	ck_assert_str_eq(kp_api_name(99), "Unknown");
	for (size_t i = 1; i < kp_api_count(); i++)
		ck_assert_int_lt(kp_apis[i - 1].key, kp_apis[i].key);
}
END_TEST

START_TEST(test_arena)
{
	kp_arena_t a;
	kp_arena_init(&a);
	char *small = kp_arena_alloc(&a, 10);
	ck_assert_ptr_nonnull(small);
	ck_assert_uint_eq((uintptr_t)small % _Alignof(max_align_t), 0);
	uint8_t *big = kp_arena_alloc(&a, 100000);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < 100000; i++)
		ck_assert_uint_eq(big[i], 0);
	/* the current chunk is still used after a big allocation */
	char *next = kp_arena_alloc(&a, 10);
	ck_assert_ptr_eq(next, small + _Alignof(max_align_t) *
	    ((10 + _Alignof(max_align_t) - 1) / _Alignof(max_align_t)));
	ck_assert_ptr_null(kp_arena_alloc(&a, SIZE_MAX - 8));
	kp_arena_free(&a);
	ck_assert_ptr_null(a.head);
	ck_assert_uint_eq(a.total, 0);
}
END_TEST

/* ---- kp_w_send over a real connection --------------------------------------------- */

static pthread_mutex_t snd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t snd_cv = PTHREAD_COND_INITIALIZER;
static struct {
	uint8_t got[4096];
	size_t got_len;
	int frames;
	int released;
	int send_rc;
	ks_conn_t *conn;
} snd;

static int snd_frame(void *arg, ks_conn_t *conn, const void *frame,
    size_t len)
{
	(void)arg;
	(void)conn;
	pthread_mutex_lock(&snd_mu);
	if (len <= sizeof snd.got) {
		memcpy(snd.got, frame, len);
		snd.got_len = len;
	}
	snd.frames++;
	pthread_cond_broadcast(&snd_cv);
	pthread_mutex_unlock(&snd_mu);
	return KS_FRAME_NEXT;
}

static void snd_release(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&snd_mu);
	snd.released++;
	pthread_cond_broadcast(&snd_cv);
	pthread_mutex_unlock(&snd_mu);
}

static uint8_t snd_seg[1000];

/* On the loop thread: a frame of owned bytes, a reference, owned bytes. */
static void snd_run(void *arg)
{
	kp_io_t w;
	int32_t corr = 31;
	kp_bytes_t rec = { snd_seg, sizeof snd_seg };
	(void)arg;

	kp_writer_init(&w);
	kp_w_frame_begin(&w);
	kp_resp_hdr(&w, KP_FETCH, 4, &corr);
	kp_nbytes_ref(&w, &rec, snd_release, NULL);
	kp_w_raw(&w, "tail", 4);
	kp_w_frame_end(&w);
	int rc = kp_w_send(&w, snd.conn);
	kp_writer_free(&w);
	pthread_mutex_lock(&snd_mu);
	snd.send_rc = rc;
	pthread_mutex_unlock(&snd_mu);
}

/* Waits up to 30 s for *counter to reach n. */
static int snd_wait(int *counter, int n)
{
	int64_t end = kt_now_ns() + 30000000000LL;
	int ok;
	pthread_mutex_lock(&snd_mu);
	while (*counter < n && kt_now_ns() < end) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&snd_cv, &snd_mu, &ts);
	}
	ok = *counter >= n;
	pthread_mutex_unlock(&snd_mu);
	return ok;
}

START_TEST(test_send)
{
	ks_net_t *net;
	ks_listener_t *l;
	ks_conn_handler_t srv = { snd_frame, NULL, NULL };
	ks_conn_handler_t cli = { snd_frame, NULL, NULL };
	char url[128];

	for (size_t i = 0; i < sizeof snd_seg; i++)
		snd_seg[i] = (uint8_t)(i * 7);
	KT_OK(ks_net_new(NULL, &net));
	KT_OK(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &srv, &l));
	KT_OK(ks_listener_url(l, url, sizeof url));
	KT_OK(ks_net_dial(net, url, NULL, 30000, &cli, &snd.conn));
	KT_OK(ks_net_call(net, snd_run, NULL));
	ck_assert(snd_wait(&snd.frames, 1));
	ck_assert(snd_wait(&snd.released, 1));
	pthread_mutex_lock(&snd_mu);
	ck_assert_int_eq(snd.send_rc, 0);
	/* correlation id, records length, the referenced bytes, the tail */
	ck_assert_uint_eq(snd.got_len, 4 + 4 + sizeof snd_seg + 4);
	ck_assert_uint_eq(snd.got[3], 31);
	ck_assert_uint_eq(((size_t)snd.got[6] << 8) | snd.got[7],
	    sizeof snd_seg);
	ck_assert(kt_same_bytes(snd.got + 8, sizeof snd_seg, snd_seg,
	    sizeof snd_seg));
	ck_assert(!memcmp(snd.got + 8 + sizeof snd_seg, "tail", 4));
	ck_assert_int_eq(snd.released, 1);
	pthread_mutex_unlock(&snd_mu);
	ks_net_free(net);
}
END_TEST

/* ---- error codes ------------------------------------------------------------------- */

START_TEST(test_errors)
{
	static const struct {
		int ks;
		int kafka;
	} both[] = {
		{ 0, 0 },
		{ KS_ETOPIC, 3 },
		{ KS_EMSGSIZE, 10 },
		{ KS_ECORRUPT, 2 },
		{ KS_EOFFSET, 1 },
		{ KS_EGENERATION, 22 },
		{ KS_EMEMBER, 25 },
		{ KS_EREBALANCE, 27 },
		{ KS_EPROTOCOL, 23 },
		{ KS_EEXIST, 36 },
		{ KS_ENAME, 17 },
		{ KS_ECOMPRESSION, 76 },
		{ KS_ETIMEDOUT, 7 },
		{ KS_EINVAL, 42 },
	};
	for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
		ck_assert_int_eq(ks__kafka_err_from_ks(both[i].ks), both[i].kafka);
		ck_assert_int_eq(ks__kafka_err_to_ks((int16_t)both[i].kafka),
		    both[i].ks);
	}
	/* one way only */
	ck_assert_int_eq(ks__kafka_err_from_ks(KS_EPARTITION), 3);
	ck_assert_int_eq(ks__kafka_err_from_ks(KS_ECRC), 2);
	ck_assert_int_eq(ks__kafka_err_from_ks(KS_EBATCH), 2);
	ck_assert_int_eq(ks__kafka_err_from_ks(KS_ERECORD), 2);
	ck_assert_int_eq(ks__kafka_err_from_ks(-ENOSPC), 56);
	ck_assert_int_eq(ks__kafka_err_from_ks(-EIO), 56);
	ck_assert_int_eq(ks__kafka_err_from_ks(KS_ENOMEM), -1);
	ck_assert_int_eq(ks__kafka_err_from_ks(-EPERM), -1);
	ck_assert_int_eq(ks__kafka_err_to_ks(6), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(35), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(-1), KS_EBROKER);
	ck_assert_int_eq(ks__kafka_err_to_ks(18), KS_EMSGSIZE);
	ck_assert_int_eq(ks__kafka_err_to_ks(1000), KS_EBROKER);

	ck_assert_str_eq(ks_kafka_error_name(0), "NONE");
	ck_assert_str_eq(ks_kafka_error_name(-1), "UNKNOWN_SERVER_ERROR");
	ck_assert_str_eq(ks_kafka_error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
	ck_assert_str_eq(ks_kafka_error_name(6), "NOT_LEADER_OR_FOLLOWER");
	ck_assert_str_eq(ks_kafka_error_name(35), "UNSUPPORTED_VERSION");
	ck_assert_str_eq(ks_kafka_error_name(56), "KAFKA_STORAGE_ERROR");
	ck_assert_str_eq(ks_kafka_error_name(68), "NON_EMPTY_GROUP");
	ck_assert_str_eq(ks_kafka_error_name(69), "GROUP_ID_NOT_FOUND");
	ck_assert_str_eq(ks_kafka_error_name(76), "UNSUPPORTED_COMPRESSION_TYPE");
	ck_assert_str_eq(ks_kafka_error_name(79), "MEMBER_ID_REQUIRED");
	ck_assert_str_eq(ks_kafka_error_name(82), "FENCED_INSTANCE_ID");
	ck_assert_str_eq(ks_kafka_error_name(100), "UNKNOWN_TOPIC_ID");
	ck_assert_str_eq(ks_kafka_error_name(5000), "UNKNOWN_SERVER_ERROR");
	ck_assert_str_eq(ks_kafka_error_name(-7), "UNKNOWN_SERVER_ERROR");
	ck_assert_str_eq(ks_kafka_error_name(INT32_MIN), "UNKNOWN_SERVER_ERROR");

	ck_assert_int_eq(ks_kafka_last_error(), 0);
	ks__kafka_set_last_error(25);
	ck_assert_int_eq(ks_kafka_last_error(), 25);
	ks__kafka_set_last_error(0);
	ck_assert_int_eq(ks_kafka_last_error(), 0);
}
END_TEST

Suite *kproto_suite(void)
{
	Suite *s = suite_create("kproto");
	TCase *tc = tcase_create("kproto");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip_all);
	tcase_add_test(tc, test_api_versions_v3_request);
	tcase_add_test(tc, test_api_versions_response_bytes);
	tcase_add_test(tc, test_metadata_v1_request);
	tcase_add_test(tc, test_produce_v3_zero_copy);
	tcase_add_test(tc, test_minimal_elements);
	tcase_add_test(tc, test_huge_count);
	tcase_add_test(tc, test_negative_lengths);
	tcase_add_test(tc, test_varints);
	tcase_add_test(tc, test_writer_errors);
	tcase_add_test(tc, test_fetch_refs);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_arena);
	tcase_add_test(tc, test_send);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}
