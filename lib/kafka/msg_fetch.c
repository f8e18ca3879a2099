/* msg_fetch.c: Fetch (1) request and response bodies (see msg.h). */
#include "kafka/msg.h"

#define RD (!io->writing)

int kp_fetch_req(kp_io_t *io, kp_fetch_req_t *m)
{
	int16_t v = io->version;

	kp_i32(io, &m->replica_id);
	kp_i32(io, &m->max_wait_ms);
	kp_i32(io, &m->min_bytes);
	if (v >= 3)
		kp_i32(io, &m->max_bytes);
	else if (RD)
		m->max_bytes = 0x7fffffff;
	if (v >= 4)
		kp_i8(io, &m->isolation_level);
	if (v >= 7) {
		kp_i32(io, &m->session_id);
		kp_i32(io, &m->session_epoch);
	} else if (RD) {
		m->session_epoch = -1;
	}
	KP_ARRAY(io, m->topics, m->n_topics, 2, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_fetch_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic);
		KP_ARRAY(io, t->partitions, t->n_partitions, 16, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_fetch_req_part_t *p = &t->partitions[j];
			kp_i32(io, &p->partition);
			if (v >= 9)
				kp_i32(io, &p->current_leader_epoch);
			else if (RD)
				p->current_leader_epoch = -1;
			kp_i64(io, &p->fetch_offset);
			if (v >= 5)
				kp_i64(io, &p->log_start_offset);
			else if (RD)
				p->log_start_offset = -1;
			kp_i32(io, &p->partition_max_bytes);
			kp_tags(io);
		}
		kp_tags(io);
	}
	if (v >= 7) {
		KP_ARRAY(io, m->forgotten, m->n_forgotten, 2, 0);
		for (int32_t i = 0; i < m->n_forgotten; i++) {
			kp_fetch_forgotten_t *f = &m->forgotten[i];
			kp_str(io, &f->topic);
			kp_i32_array(io, &f->partitions, &f->n_partitions, 0);
			kp_tags(io);
		}
	}
	if (v >= 11)
		kp_str(io, &m->rack_id);
	else if (RD)
		m->rack_id = (kp_str_t){ "", 0 };
	kp_tags(io);
	return io->err;
}

static void resp_part(kp_io_t *io, kp_fetch_resp_part_t *p)
{
	int16_t v = io->version;

	kp_i32(io, &p->partition);
	kp_i16(io, &p->error_code);
	kp_i64(io, &p->high_watermark);
	if (v >= 4)
		kp_i64(io, &p->last_stable_offset);
	else if (RD)
		p->last_stable_offset = -1;
	if (v >= 5)
		kp_i64(io, &p->log_start_offset);
	else if (RD)
		p->log_start_offset = -1;
	if (v >= 4) {
		KP_ARRAY(io, p->aborted, p->n_aborted, 16, 1);
		for (int32_t k = 0; k < p->n_aborted; k++) {
			kp_i64(io, &p->aborted[k].producer_id);
			kp_i64(io, &p->aborted[k].first_offset);
			kp_tags(io);
		}
	}
	if (v >= 11)
		kp_i32(io, &p->preferred_read_replica);
	else if (RD)
		p->preferred_read_replica = -1;
	/* By reference when the caller gave a release (a log view), so the
	 * segment's bytes go to the socket uncopied; released exactly once
	 * even if the io is in error. */
	if (io->writing && p->records_release)
		kp_nbytes_ref(io, &p->records, p->records_release,
		    p->records_arg);
	else
		kp_nbytes(io, &p->records);
	kp_tags(io);
}

int kp_fetch_resp(kp_io_t *io, kp_fetch_resp_t *m)
{
	int16_t v = io->version;

	if (v >= 1)
		kp_i32(io, &m->throttle_time_ms);
	if (v >= 7) {
		kp_i16(io, &m->error_code);
		kp_i32(io, &m->session_id);
	}
	KP_ARRAY(io, m->topics, m->n_topics, 2, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_fetch_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->topic);
		KP_ARRAY(io, t->partitions, t->n_partitions, 18, 0);
		for (int32_t j = 0; j < t->n_partitions; j++)
			resp_part(io, &t->partitions[j]);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}
