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
 *
 * Where the append runs. A request touching only topics without
 * flush.messages is appended on the loop thread, answered at once: the
 * append is a memory copy, a hop to another thread would cost more. A
 * request touching any topic with flush.messages > 0 (its appends may
 * fsync before returning) goes whole to a small pool of workers, so one
 * connection's fsync does not stall the broker's other connections, and
 * durable producers on different connections append concurrently and
 * share fdatasyncs (the log's group commit). The connection is held
 * meanwhile (the next request waits: answers stay in order), its records
 * copied (a frame lives only during its callback) and its ks__kconn
 * referenced; the worker encodes the answer and hands it to the loop
 * (ks__khub_post), which sends it and resumes the connection, or only
 * resumes it for acks=0 (still no answer, but the next request is read
 * after the append, so order holds). An answer for a closed connection
 * is dropped. At ks_kafka_server_free queued jobs are dropped (nothing
 * appended, no answer: the connection closes) and running ones finish
 * before the workers are joined; their answers are dropped.
 */
#include "kafka/server_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Produce appended by a worker: everything it needs, owned. */
struct ks__kpjob {
	struct ks__kpjob *next;
	ks_kafka_server_t *srv;
	struct ks__kconn *kc;      /* a reference */
	kp_arena_t arena;          /* the request's (records copied in) */
	kp_produce_req_t req;
	kp_io_t out;               /* the response frame, header written */
	int16_t version;
	char peer[128];            /* for logs (kc->conn is the loop's) */
};

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

/*
 * One partition. On the loop (own NULL) the log comes from the server's
 * cache; on a worker from own, the job's handle on the topic (own_err:
 * why there is none).
 */
/* The cluster hooks a Produce runs with: the loop's, or a worker's
 * snapshot of them. */
struct kcl {
	const struct ks__kcluster_ops *ops;
	void *c;
};

static void produce_one(ks_kafka_server_t *srv, const struct kcl *k,
    int16_t version, const char *peer, const char *topic, ks_topic_t *own,
    int own_err, int16_t acks, const kp_produce_req_part_t *rp,
    kp_produce_resp_part_t *p, int64_t *last)
{
	const struct ks__kcluster_ops *cops = k->ops;
	ks_append_info_t info;
	ks_log_t *log;
	int rc;

	*last = -1;
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
	/* A member asks the cluster first: a partition this member does
	 * not lead (or not yet) is NOT_LEADER_OR_FOLLOWER, whether or not
	 * its store has it. */
	if (cops && (p->error_code = cops->produce_check(k->c, topic,
	    rp->index, acks)) != 0)
		return;
	if (own)
		rc = ks_topic_partition(own, rp->index, &log);
	else if (own_err)
		rc = own_err;
	else
		rc = ks__ksrv_log(srv, topic, rp->index, &log);
	if (rc != 0) {
		p->error_code = append_error(rc);
		return;
	}
	if (rp->records.len <= 0) {
		p->error_code = KP_CORRUPT_MESSAGE;
	} else if (version < 7 && has_zstd(rp->records.p,
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
			KS__KLOG(srv, KS_LOG_INFO, "kafka server: %s: "
			    "acks=0 produce to %s-%d failed: %s",
			    peer, topic, rp->index, ks_strerror(rc));
	} else {
		p->base_offset = info.base_offset;
		*last = info.last_offset;
	}
	p->log_start_offset = ks_log_start_offset(log);
}

/* ---- acks=-1 on a cluster member ------------------------------------------ */

/*
 * A Produce whose answer waits for the in-sync replicas: it owns the
 * request's arena (the response's strings), the response and the frame
 * begun for it. Each waiting partition holds a ref; the last one encodes
 * the answer and hands it to the loop.
 */
struct kpwait {
	pthread_mutex_t mu;
	int pending;
	struct ks__khub *hub;
	ks_kafka_server_t *srv;    /* for metrics' hub and logs only */
	struct ks__kconn *kc;      /* a reference */
	kp_arena_t arena;
	kp_produce_resp_t m;
	kp_io_t out;
};

struct kpwait_part {
	struct kpwait *w;
	kp_produce_resp_part_t *p;
};

static void kpwait_put(struct kpwait *w)
{
	int last;

	pthread_mutex_lock(&w->mu);
	last = --w->pending == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	ks__kmetrics_resp(w->hub, KP_PRODUCE, &w->m);
	if (kp_produce_resp(&w->out, &w->m) == 0) {
		ks__khub_post(w->hub, w->kc, &w->out);
		kp_writer_init(&w->out); /* moved */
	} else {
		ks__kconn_unref(w->kc); /* unanswered: the client times out */
	}
	kp_writer_free(&w->out);
	kp_arena_free(&w->arena);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void kpwait_done(void *arg, int16_t code)
{
	struct kpwait_part *wp = arg;
	struct kpwait *w = wp->w;

	if (code) {
		wp->p->error_code = code;
		wp->p->base_offset = -1;
	}
	free(wp);
	kpwait_put(w);
}

/*
 * After the appends of an acks=-1 request on a cluster member: each
 * appended partition waits for its high watermark. Returns 0 when none
 * has to (m is complete: answer it as usual), KS__K_HOLD when the answer
 * went to a kpwait (arena, out and a reference on kc taken over), or an
 * error. lasts[] are the partitions' last offsets (-1: not appended), in
 * m's order.
 */
static int await_replicas(ks_kafka_server_t *srv, const struct kcl *kl,
    struct ks__kconn *kc, const kp_produce_req_t *req, kp_produce_resp_t *m,
    const int64_t *lasts, kp_arena_t *arena, kp_io_t *out)
{
	const struct ks__kcluster_ops *cops = kl->ops;
	struct kpwait *w;
	int32_t i, j, k = 0;
	int any = 0;

	if (!cops || req->acks != -1)
		return 0;
	for (i = 0; i < m->n_topics; i++)
		for (j = 0; j < m->topics[i].n_partitions; j++)
			any |= lasts[k++] >= 0;
	if (!any)
		return 0;
	if (!(w = calloc(1, sizeof *w)))
		return KS_ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	w->pending = 1; /* ours, until every partition is registered */
	w->hub = srv->hub;
	w->srv = srv;
	w->kc = kc;
	ks__kconn_ref(kc);
	w->m = *m;
	w->arena = *arena;
	kp_arena_init(arena);      /* taken over */
	w->out = *out;
	kp_writer_init(out);       /* moved */
	k = 0;
	for (i = 0; i < w->m.n_topics; i++) {
		kp_produce_resp_topic_t *t = &w->m.topics[i];
		for (j = 0; j < t->n_partitions; j++) {
			kp_produce_resp_part_t *p = &t->partitions[j];
			struct kpwait_part *wp;
			int64_t last = lasts[k++];
			int r;

			if (last < 0)
				continue;
			if (!(wp = malloc(sizeof *wp))) {
				p->error_code = KP_UNKNOWN_SERVER_ERROR;
				p->base_offset = -1;
				continue;
			}
			wp->w = w;
			wp->p = p;
			pthread_mutex_lock(&w->mu);
			w->pending++;
			pthread_mutex_unlock(&w->mu);
			r = cops->await_hw(kl->c, t->name.s, p->index, last,
			    req->timeout_ms, kpwait_done, wp);
			if (r == 0)
				continue;  /* kpwait_done comes */
			if (r != 1) {
				p->error_code = (int16_t)r;
				p->base_offset = -1;
			}
			free(wp);
			pthread_mutex_lock(&w->mu);
			w->pending--;
			pthread_mutex_unlock(&w->mu);
		}
	}
	kpwait_put(w);
	return KS__K_HOLD;
}

/* The last offsets' array for req's partitions, from arena. */
static int64_t *lasts_alloc(const kp_produce_req_t *req, kp_arena_t *arena)
{
	size_t n = 0;
	int32_t i;

	for (i = 0; i < req->n_topics; i++)
		n += (size_t)KS__MAX(req->topics[i].n_partitions, 0);
	return ks__kalloc_n(arena, n, sizeof(int64_t));
}

/* The response skeleton for req, from arena. */
static int resp_alloc(const kp_produce_req_t *req, kp_arena_t *arena,
    kp_produce_resp_t *m)
{
	int32_t i;

	memset(m, 0, sizeof *m);
	m->n_topics = req->n_topics;
	m->topics = ks__kalloc_n(arena, (size_t)req->n_topics, sizeof *m->topics);
	if (!m->topics)
		return KS_ENOMEM;
	for (i = 0; i < req->n_topics; i++) {
		const kp_produce_req_topic_t *rt = &req->topics[i];
		kp_produce_resp_topic_t *t = &m->topics[i];
		t->name = rt->name;
		t->n_partitions = rt->n_partitions;
		t->partitions = ks__kalloc_n(arena, (size_t)rt->n_partitions, sizeof *t->partitions);
		if (!t->partitions)
			return KS_ENOMEM;
	}
	return 0;
}

/*
 * Whether an append to topic may fsync before returning (flush.messages
 * set: every append, or the one reaching the count). Unknown topics are
 * not: they fail at once on the loop.
 */
static int topic_syncs(ks_kafka_server_t *srv, const char *name)
{
	ks_topic_config_t cfg;
	ks_topic_t *t;
	int err = 0;

	if (!(t = ks__ksrv_topic(srv, name, &err)) ||
	    ks_topic_config(t, &cfg) != 0)
		return 0;
	return cfg.log.flush_messages > 0;
}

/* Worker: appends a job's request (topic handles of its own: the loop's
 * cache is the loop's) and encodes the answer in job->out. */
static int job_run(struct ks__kpjob *job)
{
	ks_kafka_server_t *srv = job->srv;
	kp_produce_req_t *req = &job->req;
	kp_produce_resp_t m;
	struct kcl kc;
	int64_t *lasts;
	int32_t i, j, k = 0;
	int rc;

	pthread_mutex_lock(&srv->cmu); /* the loop sets them under it */
	kc.ops = srv->cops;
	kc.c = srv->cl;
	pthread_mutex_unlock(&srv->cmu);

	if ((rc = resp_alloc(req, &job->arena, &m)) != 0)
		return rc;
	if (!(lasts = lasts_alloc(req, &job->arena)))
		return KS_ENOMEM;
	for (i = 0; i < req->n_topics; i++) {
		kp_produce_req_topic_t *rt = &req->topics[i];
		ks_topic_t *t = NULL;
		int err = 0;
		/* A null name fails the lookup as a bad name. */
		if (!rt->name.s)
			err = KS_ENAME;
		else
			err = ks_topic_open(job->srv->store, rt->name.s, &t);
		for (j = 0; j < rt->n_partitions; j++)
			produce_one(job->srv, &kc, job->version, job->peer,
			    rt->name.s ? rt->name.s : "", t, err,
			    req->acks, &rt->partitions[j],
			    &m.topics[i].partitions[j], &lasts[k++]);
		ks_topic_release(t);
	}
	if (req->acks == 0)
		return 0;
	if ((rc = await_replicas(job->srv, &kc, job->kc, req, &m, lasts,
	    &job->arena, &job->out)) != 0)
		return rc;
	ks__kmetrics_resp(job->srv->hub, KP_PRODUCE, &m);
	return kp_produce_resp(&job->out, &m);
}

static void job_free(struct ks__kpjob *job)
{
	kp_writer_free(&job->out);
	kp_arena_free(&job->arena);
	ks__kconn_unref(job->kc);
	free(job);
}

/* Runs a job and hands its outcome to the loop (kc's reference goes with
 * it). A job that cannot be answered leaves the connection held: the
 * client's request timeout closes it, as for any lost answer. */
static void job_finish(struct ks__kpjob *job)
{
	struct ks__khub *hub = job->srv->hub;
	int rc = job_run(job);

	if (rc == KS__K_HOLD) {
		/* the answer waits for the replicas: it took kc's place */
		job_free(job);
		return;
	}
	if (rc != 0) {
		KS__KLOG(job->srv, KS_LOG_WARNING, "kafka server: %s: cannot "
		    "answer a produce: %s", job->peer, ks_strerror(rc));
		job_free(job);
		return;
	}
	if (job->req.acks == 0) {
		ks__khub_resume(hub, job->kc); /* out unused: freed below */
	} else {
		ks__khub_post(hub, job->kc, &job->out);
		kp_writer_init(&job->out); /* moved */
	}
	job->kc = NULL; /* the reference went with the post */
	job_free(job);
}

static void *worker_main(void *arg)
{
	ks_kafka_server_t *srv = arg;
	struct ks__kpjob *job;

	pthread_mutex_lock(&srv->pmu);
	for (;;) {
		while (!srv->pstop && !srv->pjobs)
			pthread_cond_wait(&srv->pcv, &srv->pmu);
		if (srv->pstop)
			break;
		job = srv->pjobs;
		if (!(srv->pjobs = job->next))
			srv->pjobs_tail = &srv->pjobs;
		srv->pstarted++;
		pthread_mutex_unlock(&srv->pmu);
		job_finish(job);
		pthread_mutex_lock(&srv->pmu);
		srv->pdone++;
		pthread_cond_broadcast(&srv->pcv); /* ks__kproduce_quiesce */
	}
	pthread_mutex_unlock(&srv->pmu);
	return NULL;
}

void ks__kproduce_quiesce(ks_kafka_server_t *srv)
{
	uint64_t taken;

	pthread_mutex_lock(&srv->pmu);
	taken = srv->pstarted;
	while (srv->pdone < taken && !srv->pstop)
		pthread_cond_wait(&srv->pcv, &srv->pmu);
	pthread_mutex_unlock(&srv->pmu);
}

int ks__kproduce_start(ks_kafka_server_t *srv)
{
	int i, rc;

	for (i = 0; i < KS__KPRODUCE_WORKERS; i++) {
		if ((rc = pthread_create(&srv->workers[i], NULL, worker_main,
		    srv)) != 0) {
			ks__kproduce_stop(srv);
			return rc == EAGAIN ? KS_ENOMEM : -rc;
		}
		srv->nworkers++;
	}
	return 0;
}

void ks__kproduce_stop(ks_kafka_server_t *srv)
{
	struct ks__kpjob *job, *next;
	int i;

	pthread_mutex_lock(&srv->pmu);
	srv->pstop = 1;
	job = srv->pjobs;
	srv->pjobs = NULL;
	srv->pjobs_tail = &srv->pjobs;
	pthread_cond_broadcast(&srv->pcv);
	pthread_mutex_unlock(&srv->pmu);
	for (; job; job = next) {
		next = job->next;
		job_free(job);
	}
	for (i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	srv->nworkers = 0;
}

/*
 * Loop: hands the request to the workers (KS__K_HOLD), or returns
 * STOPPING when the pool has stopped (the server is going away: the
 * caller appends on the loop instead). The records are copied into the
 * arena taken over: they point into the frame, valid during its callback
 * only.
 */
#define STOPPING 3 /* not a KS__K_* */

static int job_queue(ks__kreq_t *rq, const kp_produce_req_t *req)
{
	ks_kafka_server_t *srv = rq->srv;
	struct ks__kpjob *job = calloc(1, sizeof *job);
	int32_t i, j;

	if (!job)
		return KS_ENOMEM;
	for (i = 0; i < req->n_topics; i++) {
		for (j = 0; j < req->topics[i].n_partitions; j++) {
			kp_bytes_t *b = &req->topics[i].partitions[j].records;
			uint8_t *copy;
			if (b->len <= 0)
				continue;
			copy = kp_arena_alloc(rq->arena, (size_t)b->len);
			if (!copy) {
				free(job);
				return KS_ENOMEM;
			}
			memcpy(copy, b->p, (size_t)b->len);
			b->p = copy;
		}
	}
	pthread_mutex_lock(&srv->pmu);
	if (srv->pstop) {
		pthread_mutex_unlock(&srv->pmu);
		free(job);
		return STOPPING;
	}
	job->srv = srv;
	job->kc = rq->kc;
	ks__kconn_ref(rq->kc);
	job->req = *req;
	job->version = rq->hdr.api_version;
	snprintf(job->peer, sizeof job->peer, "%s",
	    ks_conn_peer(rq->kc->conn));
	job->arena = *rq->arena;
	kp_arena_init(rq->arena);  /* taken over */
	job->out = rq->out;
	kp_writer_init(&rq->out);  /* moved */
	*srv->pjobs_tail = job;
	srv->pjobs_tail = &job->next;
	pthread_cond_signal(&srv->pcv);
	pthread_mutex_unlock(&srv->pmu);
	return KS__K_HOLD;
}

int ks__kh_produce(ks__kreq_t *rq)
{
	struct kcl kl = { rq->srv->cops, rq->srv->cl }; /* the loop's */
	kp_produce_req_t req;
	kp_produce_resp_t m;
	int64_t *lasts;
	int32_t i, j, k = 0;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_produce_req(rq->in, &req)) != 0)
		return rc;
	if (req.acks == 0 || req.acks == 1 || req.acks == -1) {
		for (i = 0; i < req.n_topics; i++) {
			if (!req.topics[i].name.s ||
			    !topic_syncs(rq->srv, req.topics[i].name.s))
				continue;
			if ((rc = job_queue(rq, &req)) != STOPPING)
				return rc;
			break; /* stopping: append here */
		}
	}
	if ((rc = resp_alloc(&req, rq->arena, &m)) != 0)
		return rc;
	if (!(lasts = lasts_alloc(&req, rq->arena)))
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++) {
		kp_produce_req_topic_t *rt = &req.topics[i];
		for (j = 0; j < rt->n_partitions; j++)
			produce_one(rq->srv, &kl, rq->hdr.api_version,
			    ks_conn_peer(rq->kc->conn), rt->name.s, NULL, 0,
			    req.acks, &rt->partitions[j],
			    &m.topics[i].partitions[j], &lasts[k++]);
	}
	if (req.acks == 0)
		return KS__K_SILENT;
	if ((rc = await_replicas(rq->srv, &kl, rq->kc, &req, &m, lasts,
	    rq->arena, &rq->out)) != 0)
		return rc;
	ks__kmetrics_resp(rq->srv->hub, KP_PRODUCE, &m);
	return kp_produce_resp(&rq->out, &m);
}
