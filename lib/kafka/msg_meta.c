/*
 * msg_meta.c: ApiVersions (18), Metadata (3), ListOffsets (2),
 * CreateTopics (19) and DeleteTopics (20) bodies (see msg.h).
 */
#include "kafka/msg.h"

#define RD (!io->writing)

static const kp_str_t null_str = { NULL, -1 };
static const kp_str_t empty_str = { "", 0 };

/* ---- ApiVersions ------------------------------------------------------------ */

int kp_api_versions_req(kp_io_t *io, kp_api_versions_req_t *m)
{
	if (io->version >= 3) {
		kp_str(io, &m->client_software_name);
		kp_str(io, &m->client_software_version);
	} else if (RD) {
		m->client_software_name = empty_str;
		m->client_software_version = empty_str;
	}
	kp_tags(io);
	return io->err;
}

int kp_api_versions_resp(kp_io_t *io, kp_api_versions_resp_t *m)
{
	kp_i16(io, &m->error_code);
	KP_ARRAY(io, m->api_keys, m->n_api_keys, 6, 0);
	for (int32_t i = 0; i < m->n_api_keys; i++) {
		kp_api_version_t *a = &m->api_keys[i];
		kp_i16(io, &a->api_key);
		kp_i16(io, &a->min_version);
		kp_i16(io, &a->max_version);
		kp_tags(io);
	}
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_tags(io);
	return io->err;
}

int kp_api_versions_fill(kp_api_versions_resp_t *m, kp_arena_t *arena)
{
	size_t n = kp_api_count();
	m->api_keys = kp_arena_alloc(arena, n * sizeof(*m->api_keys));
	if (!m->api_keys) {
		m->n_api_keys = 0;
		return KS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		m->api_keys[i].api_key = kp_apis[i].key;
		m->api_keys[i].min_version = kp_apis[i].min_version;
		m->api_keys[i].max_version = kp_apis[i].max_version;
	}
	m->n_api_keys = (int32_t)n;
	return 0;
}

/* ---- Metadata --------------------------------------------------------------- */

int kp_metadata_req(kp_io_t *io, kp_metadata_req_t *m)
{
	if (io->version == 0) {
		/* v0 cannot say null: [] means every topic. */
		int32_t n = m->n_topics < 0 ? 0 : m->n_topics;
		KP_ARRAY(io, m->topics, n, 2, 0);
		if (RD)
			m->n_topics = n;
	} else {
		KP_ARRAY(io, m->topics, m->n_topics, 2, 1);
	}
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_str(io, &m->topics[i]);
		kp_tags(io);
	}
	if (io->version == 0 && RD && !io->err && m->n_topics == 0)
		m->n_topics = -1;
	if (io->version >= 4)
		kp_bool(io, &m->allow_auto_topic_creation);
	else if (RD)
		m->allow_auto_topic_creation = true;
	kp_tags(io);
	return io->err;
}

int kp_metadata_resp(kp_io_t *io, kp_metadata_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 3)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->brokers, m->n_brokers, 10, 0);
	for (int32_t i = 0; i < m->n_brokers; i++) {
		kp_metadata_broker_t *b = &m->brokers[i];
		kp_i32(io, &b->node_id);
		kp_str(io, &b->host);
		kp_i32(io, &b->port);
		if (v >= 1)
			kp_nstr(io, &b->rack);
		else if (RD)
			b->rack = null_str;
		kp_tags(io);
	}
	if (v >= 2)
		kp_nstr(io, &m->cluster_id);
	else if (RD)
		m->cluster_id = null_str;
	if (v >= 1)
		kp_i32(io, &m->controller_id);
	else if (RD)
		m->controller_id = -1;
	KP_ARRAY(io, m->topics, m->n_topics, 8, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_metadata_topic_t *t = &m->topics[i];
		kp_i16(io, &t->error_code);
		kp_str(io, &t->name);
		if (v >= 1)
			kp_bool(io, &t->is_internal);
		KP_ARRAY(io, t->partitions, t->n_partitions, 18, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_metadata_part_t *p = &t->partitions[j];
			kp_i16(io, &p->error_code);
			kp_i32(io, &p->partition);
			kp_i32(io, &p->leader_id);
			kp_i32_array(io, &p->replicas, &p->n_replicas, 0);
			kp_i32_array(io, &p->isr, &p->n_isr, 0);
			if (v >= 5)
				kp_i32_array(io, &p->offline, &p->n_offline, 0);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- ListOffsets ------------------------------------------------------------ */

int kp_list_offsets_req(kp_io_t *io, kp_list_offsets_req_t *m)
{
	int16_t v = io->version;

	kp_i32(io, &m->replica_id);
	if (v >= 2)
		kp_i8(io, &m->isolation_level);
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_list_offsets_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 12, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_list_offsets_req_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			kp_i64(io, &p->timestamp);
			if (v == 0)
				kp_i32(io, &p->max_num_offsets);
			else if (RD)
				p->max_num_offsets = 1;
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

static void old_offsets(kp_io_t *io, kp_list_offsets_resp_part_t *p)
{
	if (io->writing && p->n_old_offsets <= 0) {
		/* The v1+ fields stand in for the list: [offset] or []. */
		int32_t n = p->offset >= 0 ? 1 : 0;
		kp_array(io, &(int64_t *){ NULL }, &n, sizeof(int64_t), 8, 0);
		if (n)
			kp_i64(io, &p->offset);
		return;
	}
	KP_ARRAY(io, p->old_offsets, p->n_old_offsets, 8, 0);
	for (int32_t k = 0; k < p->n_old_offsets; k++)
		kp_i64(io, &p->old_offsets[k]);
	if (RD) {
		p->timestamp = -1;
		p->offset = p->n_old_offsets > 0 ? p->old_offsets[0] : -1;
	}
}

int kp_list_offsets_resp(kp_io_t *io, kp_list_offsets_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 2)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_list_offsets_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 10, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_list_offsets_resp_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			kp_i16(io, &p->error_code);
			if (v == 0) {
				old_offsets(io, p);
			} else {
				kp_i64(io, &p->timestamp);
				kp_i64(io, &p->offset);
			}
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- CreateTopics ----------------------------------------------------------- */

int kp_create_topics_req(kp_io_t *io, kp_create_topics_req_t *m)
{
	KP_ARRAY(io, m->topics, m->n_topics, 12, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_creatable_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		kp_i32(io, &t->num_partitions);
		kp_i16(io, &t->replication_factor);
		KP_ARRAY(io, t->assignments, t->n_assignments, 5, 0);
		for (int32_t j = 0; j < t->n_assignments; j++) {
			kp_create_topics_assignment_t *a = &t->assignments[j];
			kp_i32(io, &a->partition);
			kp_i32_array(io, &a->broker_ids, &a->n_broker_ids, 0);
			kp_tags(io);
		}
		KP_ARRAY(io, t->configs, t->n_configs, 2, 0);
		for (int32_t j = 0; j < t->n_configs; j++) {
			kp_str(io, &t->configs[j].name);
			kp_nstr(io, &t->configs[j].value);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_i32(io, &m->timeout_ms);
	if (io->version >= 1)
		kp_bool(io, &m->validate_only);
	kp_tags(io);
	return io->err;
}

int kp_create_topics_resp(kp_io_t *io, kp_create_topics_resp_t *m)
{
	if (io->version >= 2)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_create_topics_result_t *t = &m->topics[i];
		kp_str(io, &t->name);
		kp_i16(io, &t->error_code);
		if (io->version >= 1)
			kp_nstr(io, &t->error_message);
		else if (RD)
			t->error_message = null_str;
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- DeleteTopics ----------------------------------------------------------- */

int kp_delete_topics_req(kp_io_t *io, kp_delete_topics_req_t *m)
{
	kp_str_array(io, &m->topics, &m->n_topics, 0);
	kp_i32(io, &m->timeout_ms);
	kp_tags(io);
	return io->err;
}

int kp_delete_topics_resp(kp_io_t *io, kp_delete_topics_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_str(io, &m->topics[i].name);
		kp_i16(io, &m->topics[i].error_code);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}
