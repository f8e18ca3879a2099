/*
 * msg_group.c: the consumer-group APIs' bodies (see msg.h):
 * FindCoordinator (10), JoinGroup (11), Heartbeat (12), LeaveGroup (13),
 * SyncGroup (14), OffsetCommit (8), OffsetFetch (9), DescribeGroups (15),
 * ListGroups (16).
 */
#include "kafka/msg.h"

#define RD (!io->writing)

static const kp_str_t null_str = { NULL, -1 };
static const kp_str_t empty_str = { "", 0 };

/* ---- FindCoordinator -------------------------------------------------------- */

int kp_find_coordinator_req(kp_io_t *io, kp_find_coordinator_req_t *m)
{
	kp_str(io, &m->key);
	if (io->version >= 1)
		kp_i8(io, &m->key_type);
	kp_tags(io);
	return io->err;
}

int kp_find_coordinator_resp(kp_io_t *io, kp_find_coordinator_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	if (io->version >= 1)
		kp_nstr(io, &m->error_message);
	else if (RD)
		m->error_message = null_str;
	kp_i32(io, &m->node_id);
	kp_str(io, &m->host);
	kp_i32(io, &m->port);
	kp_tags(io);
	return io->err;
}

/* ---- JoinGroup -------------------------------------------------------------- */

int kp_join_group_req(kp_io_t *io, kp_join_group_req_t *m)
{
	int16_t v = io->version;

	kp_str(io, &m->group_id);
	kp_i32(io, &m->session_timeout_ms);
	if (v >= 1)
		kp_i32(io, &m->rebalance_timeout_ms);
	else if (RD)
		m->rebalance_timeout_ms = m->session_timeout_ms;
	kp_str(io, &m->member_id);
	if (v >= 5)
		kp_nstr(io, &m->group_instance_id);
	else if (RD)
		m->group_instance_id = null_str;
	kp_str(io, &m->protocol_type);
	KP_ARRAY(io, m->protocols, m->n_protocols, 6, 0);
	for (int32_t i = 0; i < m->n_protocols; i++) {
		kp_str(io, &m->protocols[i].name);
		kp_bytes(io, &m->protocols[i].metadata);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_join_group_resp(kp_io_t *io, kp_join_group_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 2)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	kp_i32(io, &m->generation_id);
	kp_str(io, &m->protocol_name);
	kp_str(io, &m->leader);
	kp_str(io, &m->member_id);
	KP_ARRAY(io, m->members, m->n_members, 6, 0);
	for (int32_t i = 0; i < m->n_members; i++) {
		kp_join_group_member_t *mb = &m->members[i];
		kp_str(io, &mb->member_id);
		if (v >= 5)
			kp_nstr(io, &mb->group_instance_id);
		else if (RD)
			mb->group_instance_id = null_str;
		kp_bytes(io, &mb->metadata);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- Heartbeat -------------------------------------------------------------- */

int kp_heartbeat_req(kp_io_t *io, kp_heartbeat_req_t *m)
{
	kp_str(io, &m->group_id);
	kp_i32(io, &m->generation_id);
	kp_str(io, &m->member_id);
	if (io->version >= 3)
		kp_nstr(io, &m->group_instance_id);
	else if (RD)
		m->group_instance_id = null_str;
	kp_tags(io);
	return io->err;
}

int kp_heartbeat_resp(kp_io_t *io, kp_heartbeat_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	kp_tags(io);
	return io->err;
}

/* ---- LeaveGroup ------------------------------------------------------------- */

int kp_leave_group_req(kp_io_t *io, kp_leave_group_req_t *m)
{
	kp_str(io, &m->group_id);
	if (io->version <= 2) {
		kp_str(io, &m->member_id);
	} else {
		if (RD)
			m->member_id = empty_str;
		KP_ARRAY(io, m->members, m->n_members, 4, 0);
		for (int32_t i = 0; i < m->n_members; i++) {
			kp_str(io, &m->members[i].member_id);
			kp_nstr(io, &m->members[i].group_instance_id);
			kp_tags(io);
		}
	}
	kp_tags(io);
	return io->err;
}

int kp_leave_group_resp(kp_io_t *io, kp_leave_group_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	if (io->version >= 3) {
		KP_ARRAY(io, m->members, m->n_members, 6, 0);
		for (int32_t i = 0; i < m->n_members; i++) {
			kp_leave_group_member_resp_t *mb = &m->members[i];
			kp_str(io, &mb->member_id);
			kp_nstr(io, &mb->group_instance_id);
			kp_i16(io, &mb->error_code);
			kp_tags(io);
		}
	}
	kp_tags(io);
	return io->err;
}

/* ---- SyncGroup -------------------------------------------------------------- */

int kp_sync_group_req(kp_io_t *io, kp_sync_group_req_t *m)
{
	kp_str(io, &m->group_id);
	kp_i32(io, &m->generation_id);
	kp_str(io, &m->member_id);
	if (io->version >= 3)
		kp_nstr(io, &m->group_instance_id);
	else if (RD)
		m->group_instance_id = null_str;
	KP_ARRAY(io, m->assignments, m->n_assignments, 6, 0);
	for (int32_t i = 0; i < m->n_assignments; i++) {
		kp_str(io, &m->assignments[i].member_id);
		kp_bytes(io, &m->assignments[i].assignment);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_sync_group_resp(kp_io_t *io, kp_sync_group_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	kp_bytes(io, &m->assignment);
	kp_tags(io);
	return io->err;
}

/* ---- OffsetCommit ----------------------------------------------------------- */

int kp_offset_commit_req(kp_io_t *io, kp_offset_commit_req_t *m)
{
	int16_t v = io->version;

	kp_str(io, &m->group_id);
	if (v >= 1) {
		kp_i32(io, &m->generation_id);
		kp_str(io, &m->member_id);
	} else if (RD) {
		m->generation_id = -1;
		m->member_id = empty_str;
	}
	if (v >= 7)
		kp_nstr(io, &m->group_instance_id);
	else if (RD)
		m->group_instance_id = null_str;
	if (v >= 2 && v <= 4)
		kp_i64(io, &m->retention_time_ms);
	else if (RD)
		m->retention_time_ms = -1;
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_offset_commit_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 14, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_offset_commit_req_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			kp_i64(io, &p->offset);
			if (v >= 6)
				kp_i32(io, &p->leader_epoch);
			else if (RD)
				p->leader_epoch = -1;
			if (v == 1)
				kp_i64(io, &p->commit_timestamp);
			else if (RD)
				p->commit_timestamp = -1;
			kp_nstr(io, &p->metadata);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_offset_commit_resp(kp_io_t *io, kp_offset_commit_resp_t *m)
{
	if (io->version >= 3)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_offset_commit_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 6, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_i32(io, &t->partitions[j].partition);
			kp_i16(io, &t->partitions[j].error_code);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- OffsetFetch ------------------------------------------------------------ */

int kp_offset_fetch_req(kp_io_t *io, kp_offset_fetch_req_t *m)
{
	kp_str(io, &m->group_id);
	/* null (every committed offset) from v2 on */
	KP_ARRAY(io, m->topics, m->n_topics, 6, io->version >= 2);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_offset_fetch_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		kp_i32_array(io, &t->partitions, &t->n_partitions, 0);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_offset_fetch_resp(kp_io_t *io, kp_offset_fetch_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 3)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_offset_fetch_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 16, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_offset_fetch_resp_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			kp_i64(io, &p->offset);
			if (v >= 5)
				kp_i32(io, &p->leader_epoch);
			else if (RD)
				p->leader_epoch = -1;
			kp_nstr(io, &p->metadata);
			kp_i16(io, &p->error_code);
			kp_tags(io);
		}
		kp_tags(io);
	}
	if (v >= 2)
		kp_i16(io, &m->error_code);
	kp_tags(io);
	return io->err;
}

/* ---- DescribeGroups --------------------------------------------------------- */

int kp_describe_groups_req(kp_io_t *io, kp_describe_groups_req_t *m)
{
	kp_str_array(io, &m->groups, &m->n_groups, 0);
	if (io->version >= 3)
		kp_bool(io, &m->include_authorized_operations);
	kp_tags(io);
	return io->err;
}

int kp_describe_groups_resp(kp_io_t *io, kp_describe_groups_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 1)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->groups, m->n_groups, 14, 0);
	for (int32_t i = 0; i < m->n_groups; i++) {
		kp_described_group_t *g = &m->groups[i];
		kp_i16(io, &g->error_code);
		kp_str(io, &g->group_id);
		kp_str(io, &g->state);
		kp_str(io, &g->protocol_type);
		kp_str(io, &g->protocol_data);
		KP_ARRAY(io, g->members, g->n_members, 14, 0);
		for (int32_t j = 0; j < g->n_members; j++) {
			kp_described_member_t *mb = &g->members[j];
			kp_str(io, &mb->member_id);
			if (v >= 4)
				kp_nstr(io, &mb->group_instance_id);
			else if (RD)
				mb->group_instance_id = null_str;
			kp_str(io, &mb->client_id);
			kp_str(io, &mb->client_host);
			kp_bytes(io, &mb->metadata);
			kp_bytes(io, &mb->assignment);
			kp_tags(io);
		}
		if (v >= 3)
			kp_i32(io, &g->authorized_operations);
		else if (RD)
			g->authorized_operations = INT32_MIN;
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- ListGroups ------------------------------------------------------------- */

int kp_list_groups_req(kp_io_t *io, kp_list_groups_req_t *m)
{
	(void)m;
	kp_tags(io);
	return io->err;
}

int kp_list_groups_resp(kp_io_t *io, kp_list_groups_resp_t *m)
{
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	KP_ARRAY(io, m->groups, m->n_groups, 4, 0);
	for (int32_t i = 0; i < m->n_groups; i++) {
		kp_str(io, &m->groups[i].group_id);
		kp_str(io, &m->groups[i].protocol_type);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- by API key ------------------------------------------------------------- */

int kp_req_body(kp_io_t *io, int16_t key, void *m)
{
	switch (key) {
	case KP_PRODUCE: return kp_produce_req(io, m);
	case KP_FETCH: return kp_fetch_req(io, m);
	case KP_LIST_OFFSETS: return kp_list_offsets_req(io, m);
	case KP_METADATA: return kp_metadata_req(io, m);
	case KP_OFFSET_COMMIT: return kp_offset_commit_req(io, m);
	case KP_OFFSET_FETCH: return kp_offset_fetch_req(io, m);
	case KP_FIND_COORDINATOR: return kp_find_coordinator_req(io, m);
	case KP_JOIN_GROUP: return kp_join_group_req(io, m);
	case KP_HEARTBEAT: return kp_heartbeat_req(io, m);
	case KP_LEAVE_GROUP: return kp_leave_group_req(io, m);
	case KP_SYNC_GROUP: return kp_sync_group_req(io, m);
	case KP_DESCRIBE_GROUPS: return kp_describe_groups_req(io, m);
	case KP_LIST_GROUPS: return kp_list_groups_req(io, m);
	case KP_API_VERSIONS: return kp_api_versions_req(io, m);
	case KP_CREATE_TOPICS: return kp_create_topics_req(io, m);
	case KP_DELETE_TOPICS: return kp_delete_topics_req(io, m);
	case KP_DESCRIBE_CONFIGS: return kp_describe_configs_req(io, m);
	case KP_ALTER_CONFIGS: return kp_alter_configs_req(io, m);
	case KP_CREATE_PARTITIONS: return kp_create_partitions_req(io, m);
	case KP_DELETE_GROUPS: return kp_delete_groups_req(io, m);
	case KP_INCREMENTAL_ALTER_CONFIGS: return kp_incremental_alter_configs_req(io, m);
	case KP_OFFSET_FOR_LEADER_EPOCH: return kp_offset_for_leader_epoch_req(io, m);
	case KP_ALTER_PARTITION: return kp_alter_partition_req(io, m);
	case KP_BROKER_REGISTRATION: return kp_broker_registration_req(io, m);
	case KP_BROKER_HEARTBEAT: return kp_broker_heartbeat_req(io, m);
	default: return KS_EINVAL;
	}
}

int kp_resp_body(kp_io_t *io, int16_t key, void *m)
{
	switch (key) {
	case KP_PRODUCE: return kp_produce_resp(io, m);
	case KP_FETCH: return kp_fetch_resp(io, m);
	case KP_LIST_OFFSETS: return kp_list_offsets_resp(io, m);
	case KP_METADATA: return kp_metadata_resp(io, m);
	case KP_OFFSET_COMMIT: return kp_offset_commit_resp(io, m);
	case KP_OFFSET_FETCH: return kp_offset_fetch_resp(io, m);
	case KP_FIND_COORDINATOR: return kp_find_coordinator_resp(io, m);
	case KP_JOIN_GROUP: return kp_join_group_resp(io, m);
	case KP_HEARTBEAT: return kp_heartbeat_resp(io, m);
	case KP_LEAVE_GROUP: return kp_leave_group_resp(io, m);
	case KP_SYNC_GROUP: return kp_sync_group_resp(io, m);
	case KP_DESCRIBE_GROUPS: return kp_describe_groups_resp(io, m);
	case KP_LIST_GROUPS: return kp_list_groups_resp(io, m);
	case KP_API_VERSIONS: return kp_api_versions_resp(io, m);
	case KP_CREATE_TOPICS: return kp_create_topics_resp(io, m);
	case KP_DELETE_TOPICS: return kp_delete_topics_resp(io, m);
	case KP_DESCRIBE_CONFIGS: return kp_describe_configs_resp(io, m);
	case KP_ALTER_CONFIGS: return kp_alter_configs_resp(io, m);
	case KP_CREATE_PARTITIONS: return kp_create_partitions_resp(io, m);
	case KP_DELETE_GROUPS: return kp_delete_groups_resp(io, m);
	case KP_INCREMENTAL_ALTER_CONFIGS: return kp_incremental_alter_configs_resp(io, m);
	case KP_OFFSET_FOR_LEADER_EPOCH: return kp_offset_for_leader_epoch_resp(io, m);
	case KP_ALTER_PARTITION: return kp_alter_partition_resp(io, m);
	case KP_BROKER_REGISTRATION: return kp_broker_registration_resp(io, m);
	case KP_BROKER_HEARTBEAT: return kp_broker_heartbeat_resp(io, m);
	default: return KS_EINVAL;
	}
}
