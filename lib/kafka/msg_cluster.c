/*
 * msg_cluster.c: the bodies replication speaks between brokers (see
 * msg.h): OffsetForLeaderEpoch (23) from followers to leaders,
 * AlterPartition (56), BrokerRegistration (62) and BrokerHeartbeat (63)
 * from brokers to the controller.
 */
#include "kafka/msg.h"

#define RD (!io->writing)

/* ---- OffsetForLeaderEpoch ------------------------------------------------ */

int kp_offset_for_leader_epoch_req(kp_io_t *io,
    kp_offset_for_leader_epoch_req_t *m)
{
	int16_t v = io->version;

	if (v >= 3)
		kp_i32(io, &m->replica_id);
	else if (RD)
		m->replica_id = -2;
	/* The fewest bytes a topic takes: v4's empty compact string, empty
	 * array and tags; a partition: v0's two int32. */
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_ofle_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic);
		KP_ARRAY(io, t->partitions, t->n_partitions, 8, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_ofle_req_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			if (v >= 2)
				kp_i32(io, &p->current_leader_epoch);
			else if (RD)
				p->current_leader_epoch = -1;
			kp_i32(io, &p->leader_epoch);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_offset_for_leader_epoch_resp(kp_io_t *io,
    kp_offset_for_leader_epoch_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 2)
		kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_ofle_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic);
		KP_ARRAY(io, t->partitions, t->n_partitions, 14, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_ofle_resp_part_t *p = &t->partitions[j];
			kp_i16(io, &p->error_code);
			kp_i32(io, &p->partition);
			if (v >= 1)
				kp_i32(io, &p->leader_epoch);
			else if (RD)
				p->leader_epoch = -1;
			kp_i64(io, &p->end_offset);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- AlterPartition ------------------------------------------------------ */

int kp_alter_partition_req(kp_io_t *io, kp_alter_partition_req_t *m)
{
	int16_t v = io->version;

	kp_i32(io, &m->broker_id);
	kp_i64(io, &m->broker_epoch);
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_alter_partition_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic_name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 14, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_alter_partition_req_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition_index);
			kp_i32(io, &p->leader_epoch);
			kp_i32_array(io, &p->new_isr, &p->n_new_isr, 0);
			if (v >= 1)
				kp_i8(io, &p->leader_recovery_state);
			else if (RD)
				p->leader_recovery_state = 0;
			kp_i32(io, &p->partition_epoch);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_alter_partition_resp(kp_io_t *io, kp_alter_partition_resp_t *m)
{
	int16_t v = io->version;

	kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	KP_ARRAY(io, m->topics, m->n_topics, 3, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_alter_partition_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic_name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 20, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_alter_partition_resp_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition_index);
			kp_i16(io, &p->error_code);
			kp_i32(io, &p->leader_id);
			kp_i32(io, &p->leader_epoch);
			kp_i32_array(io, &p->isr, &p->n_isr, 0);
			if (v >= 1)
				kp_i8(io, &p->leader_recovery_state);
			else if (RD)
				p->leader_recovery_state = 0;
			kp_i32(io, &p->partition_epoch);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- BrokerRegistration -------------------------------------------------- */

/*
 * A uint16 (a listener's port) held in an int32_t: read as 0-65535;
 * writing a value outside that range is KS_EINVAL rather than a port the
 * receiver would read as another.
 */
static void port_u16(kp_io_t *io, int32_t *port)
{
	int16_t w;

	if (io->writing) {
		if (*port < 0 || *port > UINT16_MAX) {
			kp_fail(io, KS_EINVAL);
			return;
		}
		w = (int16_t)(uint16_t)*port;
		kp_i16(io, &w);
		return;
	}
	w = 0;
	kp_i16(io, &w);
	*port = (uint16_t)w;
}

int kp_broker_registration_req(kp_io_t *io, kp_broker_registration_req_t *m)
{
	kp_i32(io, &m->broker_id);
	kp_str(io, &m->cluster_id);
	kp_uuid(io, m->incarnation_id);
	KP_ARRAY(io, m->listeners, m->n_listeners, 7, 0);
	for (int32_t i = 0; i < m->n_listeners; i++) {
		kp_broker_listener_t *l = &m->listeners[i];
		kp_str(io, &l->name);
		kp_str(io, &l->host);
		port_u16(io, &l->port);
		kp_i16(io, &l->security_protocol);
		kp_tags(io);
	}
	KP_ARRAY(io, m->features, m->n_features, 6, 0);
	for (int32_t i = 0; i < m->n_features; i++) {
		kp_broker_feature_t *f = &m->features[i];
		kp_str(io, &f->name);
		kp_i16(io, &f->min_supported_version);
		kp_i16(io, &f->max_supported_version);
		kp_tags(io);
	}
	kp_nstr(io, &m->rack);
	if (io->version >= 1)
		kp_bool(io, &m->is_migrating_zk_broker);
	else if (RD)
		m->is_migrating_zk_broker = false;
	kp_tags(io);
	return io->err;
}

int kp_broker_registration_resp(kp_io_t *io,
    kp_broker_registration_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	kp_i64(io, &m->broker_epoch);
	kp_tags(io);
	return io->err;
}

/* ---- BrokerHeartbeat ----------------------------------------------------- */

int kp_broker_heartbeat_req(kp_io_t *io, kp_broker_heartbeat_req_t *m)
{
	kp_i32(io, &m->broker_id);
	kp_i64(io, &m->broker_epoch);
	kp_i64(io, &m->current_metadata_offset);
	kp_bool(io, &m->want_fence);
	kp_bool(io, &m->want_shut_down);
	kp_tags(io);
	return io->err;
}

int kp_broker_heartbeat_resp(kp_io_t *io, kp_broker_heartbeat_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	kp_i16(io, &m->error_code);
	kp_bool(io, &m->is_caught_up);
	kp_bool(io, &m->is_fenced);
	kp_bool(io, &m->should_shut_down);
	kp_tags(io);
	return io->err;
}
