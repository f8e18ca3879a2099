/*
 * server_produce.c: Produce. Each partition's records field (one or more
 * RecordBatch v2, maybe compressed) is appended as sent with
 * ks_log_append_batch, which validates every batch (CRC included) and
 * assigns offsets in the log's copy: no per-record work here.
 *
 * acks: 0 gets no response at all; 1 and -1 are answered after the
 * append. On one broker the in-sync set is this broker, so -1 means the
 * same as 1; durability is the topic's flush policy, as for a local
 * producer (a flush.messages=1 topic's append returns fsynced).
 */
#include "kafka/server_impl.h"

#include <errno.h>
#include <string.h>

static int16_t append_error(int rc)
{
	switch (rc) {
	case KS_ETOPIC:
	case KS_EPARTITION:
	case KS_ENAME:
		return KP_UNKNOWN_TOPIC_OR_PARTITION;
	case KS_EMAGIC:
		/* magic 0 and 1 (Produce v0-2 from old clients): the log
		 * holds RecordBatch v2 only */
		return KP_UNSUPPORTED_FOR_MESSAGE_FORMAT;
	case KS_ECRC:
	case KS_EBATCH:
	case KS_ERECORD:
	case KS_ECORRUPT:
	case KS_ESEQUENCE:
		return KP_CORRUPT_MESSAGE;
	case KS_EMSGSIZE:
		return KP_MESSAGE_TOO_LARGE;
	}
	return ks__ksrv_err(rc);
}

/*
 * Whether records hold a zstd batch: Produce below v7 may not (the client
 * could not know the broker reads zstd), as Kafka answers. A walk over
 * batch headers only; malformed framing is left to the append.
 */
static int has_zstd(const uint8_t *p, size_t len)
{
	size_t pos = 0, blen;

	while (len - pos >= KS_BATCH_HEADER_SIZE) {
		if ((ks__be16(p + pos + 21) & KS_BATCH_COMPRESSION_MASK) ==
		    KS_COMPRESSION_ZSTD)
			return 1;
		blen = ks__be32(p + pos + 8);
		if (blen > len - pos - KS_BATCH_LOG_OVERHEAD)
			break;
		pos += KS_BATCH_LOG_OVERHEAD + blen;
	}
	return 0;
}

static void produce_one(ks__kreq_t *rq, const char *topic, int16_t acks,
    const kp_produce_req_part_t *rp, kp_produce_resp_part_t *p)
{
	ks_append_info_t info;
	ks_log_t *log;
	int rc;

	p->index = rp->index;
	p->base_offset = -1;
	p->log_append_time_ms = -1; /* CreateTime: the producer's stamps */
	p->log_start_offset = -1;
	if (acks != 0 && acks != 1 && acks != -1) {
		p->error_code = KP_INVALID_REQUIRED_ACKS;
		return;
	}
	if (strcmp(topic, "__consumer_offsets") == 0) {
		/* The coordinator's own log: only it writes there, as in
		 * Kafka, or a commit could be forged or the replay broken. */
		p->error_code = KP_INVALID_TOPIC_EXCEPTION;
		return;
	}
	if ((rc = ks__ksrv_log(rq->srv, topic, rp->index, &log)) != 0) {
		p->error_code = append_error(rc);
		return;
	}
	if (rp->records.len <= 0) {
		p->error_code = KP_CORRUPT_MESSAGE;
	} else if (rq->hdr.api_version < 7 && has_zstd(rp->records.p,
	    (size_t)rp->records.len)) {
		p->error_code = KP_UNSUPPORTED_COMPRESSION_TYPE;
	} else if ((rc = ks_log_append_batch(log, rp->records.p,
	    (size_t)rp->records.len, 0, &info)) != 0) {
		p->error_code = append_error(rc);
		/* A -EIO from the flush leaves the records appended but not
		 * durable: say so to the client as a storage error. */
		if (rc == KS_EFATAL || rc == -EIO)
			p->error_code = KP_KAFKA_STORAGE_ERROR;
		if (acks == 0)
			KS__KLOG(rq->srv, KS_LOG_INFO, "kafka server: %s: "
			    "acks=0 produce to %s-%d failed: %s",
			    ks_conn_peer(rq->kc->conn), topic, rp->index,
			    ks_strerror(rc));
	} else {
		p->base_offset = info.base_offset;
	}
	p->log_start_offset = ks_log_start_offset(log);
}

int ks__kh_produce(ks__kreq_t *rq)
{
	kp_produce_req_t req;
	kp_produce_resp_t m;
	int32_t i, j;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_produce_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	m.topics = kp_arena_alloc(rq->arena, (size_t)(req.n_topics ?
	    req.n_topics : 1) * sizeof *m.topics);
	if (!m.topics)
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++) {
		kp_produce_req_topic_t *rt = &req.topics[i];
		kp_produce_resp_topic_t *t = &m.topics[i];
		t->name = rt->name;
		t->n_partitions = rt->n_partitions;
		t->partitions = kp_arena_alloc(rq->arena,
		    (size_t)(rt->n_partitions ? rt->n_partitions : 1) *
		    sizeof *t->partitions);
		if (!t->partitions)
			return KS_ENOMEM;
		for (j = 0; j < rt->n_partitions; j++)
			produce_one(rq, rt->name.s, req.acks,
			    &rt->partitions[j], &t->partitions[j]);
	}
	if (req.acks == 0)
		return KS__K_SILENT;
	return kp_produce_resp(&rq->out, &m);
}
