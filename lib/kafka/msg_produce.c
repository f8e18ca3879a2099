/* msg_produce.c: Produce (0) request and response bodies (see msg.h). */
#include "kafka/msg.h"

#define RD (!io->writing)

static const kp_str_t null_str = { NULL, -1 };

static void req_part(kp_io_t *io, kp_produce_req_part_t *p)
{
	kp_i32(io, &p->index);
	if (io->writing && p->records_release)
		kp_nbytes_ref(io, &p->records, p->records_release,
		    p->records_arg);
	else
		kp_nbytes(io, &p->records);
	kp_tags(io);
}

int kp_produce_req(kp_io_t *io, kp_produce_req_t *m)
{
	if (io->version >= 3)
		kp_nstr(io, &m->transactional_id);
	else if (RD)
		m->transactional_id = null_str;
	kp_i16(io, &m->acks);
	kp_i32(io, &m->timeout_ms);
	KP_ARRAY(io, m->topics, m->n_topics, 2, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_produce_req_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 5, 0);
		for (int32_t j = 0; j < t->n_partitions; j++)
			req_part(io, &t->partitions[j]);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_produce_resp(kp_io_t *io, kp_produce_resp_t *m)
{
	KP_ARRAY(io, m->topics, m->n_topics, 2, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_produce_resp_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		KP_ARRAY(io, t->partitions, t->n_partitions, 14, 0);
		for (int32_t j = 0; j < t->n_partitions; j++) {
			kp_produce_resp_part_t *p = &t->partitions[j];
			kp_i32(io, &p->index);
			kp_i16(io, &p->error_code);
			kp_i64(io, &p->base_offset);
			if (io->version >= 2)
				kp_i64(io, &p->log_append_time_ms);
			else if (RD)
				p->log_append_time_ms = -1;
			if (io->version >= 5)
				kp_i64(io, &p->log_start_offset);
			else if (RD)
				p->log_start_offset = -1;
			kp_tags(io);
		}
		kp_tags(io);
	}
	if (io->version >= 1)
		kp_i32(io, &m->throttle_time_ms);
	kp_tags(io);
	return io->err;
}
