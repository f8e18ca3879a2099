/*
 * server_fetch.c: Fetch, with long polling.
 *
 * Records go out as they lie in the mapped segments: each partition's
 * ks_log_read view is placed in the response by reference and released
 * once sent (or dropped), never re-encoded.
 *
 * Long poll: when fewer than min_bytes are ready and max_wait_ms > 0,
 * the request is held. It watches the logs of its partitions
 * (ks_log_watch: the callback runs in the appending thread and only
 * flags the poll and queues one wake-up on the loop) and arms a timer for
 * max_wait_ms (capped by the server's max_wait_ms_cap). A wake-up looks
 * again; the timer answers with whatever there is.
 *
 * No fetch sessions: session id 0 in every answer, which is a full one;
 * clients that asked for a session accept that.
 */
#include "kafka/server_impl.h"

#include <stdlib.h>
#include <string.h>

struct fwatch {
	ks_topic_t *topic;           /* our own handle: keeps log alive */
	ks_log_t *log;
};

struct ks__kfetch {
	ks_kafka_server_t *srv;
	struct ks__kconn *kc;        /* a reference */
	kp_arena_t arena;            /* the request's */
	kp_fetch_req_t *req;
	kp_io_t out;                 /* header written */
	ks_timer_t *timer;
	struct fwatch *watches;
	size_t nwatches;
	atomic_int woken;
	struct ks__kfetch *prev, *next; /* srv->fetches */
};

/*
 * The length of v's batches that lie below limit (a cluster's high
 * watermark, which falls between batches: replicas take whole batches).
 */
static size_t below(const ks_log_view_t *v, int64_t limit)
{
	const uint8_t *p = v->data;
	size_t pos = 0;

	while (pos + 12 <= v->len) {
		int64_t base = (int64_t)ks__be64(p + pos);
		size_t blen = 12 + (size_t)ks__be32(p + pos + 8);
		if (base >= limit || pos + blen > v->len)
			break;
		pos += blen;
	}
	return pos;
}

/* A view kept alive until the connection has sent its bytes. */
static void view_release(void *arg)
{
	ks_log_view_t *v = arg;

	ks_log_view_release(v);
	free(v);
}

/* Releases the views of a response that will not be sent. */
static void resp_release(kp_fetch_resp_t *m)
{
	int32_t i, j;

	for (i = 0; i < m->n_topics; i++)
		for (j = 0; j < m->topics[i].n_partitions; j++) {
			kp_fetch_resp_part_t *p = &m->topics[i].partitions[j];
			if (p->records_release)
				p->records_release(p->records_arg);
			p->records_release = NULL;
		}
}

/*
 * Reads what each partition has from its fetch offset, bounded by
 * partition_max_bytes and the request's max_bytes (the first batch of the
 * response is whole even when larger, as in Kafka). *bytes: the record
 * bytes found; *errors: partitions answered with an error.
 */
static int collect(ks_kafka_server_t *srv, const kp_fetch_req_t *req,
    kp_arena_t *arena, kp_fetch_resp_t *m, size_t *bytes, int *errors)
{
	size_t total = 0, max = req->max_bytes > 0 ?
	    (size_t)req->max_bytes : 0;
	int32_t i, j;
	int rc, nerr = 0;

	memset(m, 0, sizeof *m);
	m->n_topics = req->n_topics;
	m->topics = ks__kalloc_n(arena, (size_t)req->n_topics, sizeof *m->topics);
	if (!m->topics)
		return KS_ENOMEM;
	for (i = 0; i < req->n_topics; i++) {
		const kp_fetch_req_topic_t *rt = &req->topics[i];
		kp_fetch_resp_topic_t *t = &m->topics[i];
		t->topic = rt->topic;
		t->n_partitions = rt->n_partitions;
		t->partitions = ks__kalloc_n(arena, (size_t)rt->n_partitions, sizeof *t->partitions);
		if (!t->partitions) {
			m->n_topics = i;
			resp_release(m);
			return KS_ENOMEM;
		}
		for (j = 0; j < rt->n_partitions; j++) {
			const kp_fetch_req_part_t *rp = &rt->partitions[j];
			kp_fetch_resp_part_t *p = &t->partitions[j];
			ks_log_view_t *v;
			ks_log_t *log;
			size_t room, pmax;
			int64_t hw, limit;

			p->partition = rp->partition;
			p->high_watermark = p->last_stable_offset =
			    p->log_start_offset = -1;
			p->preferred_read_replica = -1;
			p->records.len = 0;
			limit = INT64_MAX;
			hw = -1;
			/* a member asks the cluster first (as Produce) */
			if (srv->cops &&
			    (p->error_code = srv->cops->fetch_check(srv->cl,
			    rt->topic.s, rp->partition, req->replica_id,
			    rp->current_leader_epoch, rp->fetch_offset, &hw,
			    &limit)) != 0) {
				nerr++;
				continue;
			}
			rc = ks__ksrv_log(srv, rt->topic.s, rp->partition,
			    &log);
			if (rc) {
				p->error_code = rc == KS_ETOPIC ||
				    rc == KS_EPARTITION || rc == KS_ENAME ?
				    KP_UNKNOWN_TOPIC_OR_PARTITION :
				    ks__ksrv_err(rc);
				nerr++;
				continue;
			}
			room = max > total ? max - total : 0;
			pmax = rp->partition_max_bytes > 0 ?
			    (size_t)rp->partition_max_bytes : 0;
			if (pmax < room)
				room = pmax;
			v = NULL;
			if ((room > 0 || total == 0) &&
			    !(v = malloc(sizeof *v))) {
				m->n_topics = i + 1;
				t->n_partitions = j;
				resp_release(m);
				return KS_ENOMEM;
			}
			rc = v ? ks_log_read(log, rp->fetch_offset,
			    room ? room : 1, v) : 0;
			if (rc == 0 && v && v->len > 0 && limit != INT64_MAX)
				v->len = below(v, limit);
			/* The end after the read: never below what it saw. */
			p->high_watermark = p->last_stable_offset = hw >= 0 ?
			    hw : ks_log_end_offset(log);
			p->log_start_offset = ks_log_start_offset(log);
			if (rc == 0 && v && v->len > 0 &&
			    (total == 0 || v->len <= room)) {
				p->records.p = v->data;
				p->records.len = (int32_t)v->len;
				p->records_release = view_release;
				p->records_arg = v;
				total += v->len;
				continue;
			}
			if (v) {
				ks_log_view_release(v);
				free(v);
			}
			if (rc) {
				p->error_code = rc == KS_EOFFSET ?
				    KP_OFFSET_OUT_OF_RANGE : ks__ksrv_err(rc);
				nerr++;
			}
		}
	}
	*bytes = total;
	*errors = nerr;
	return 0;
}

/* Encodes the answer into out; the views go to the writer. */
static int encode(ks_kafka_server_t *srv, kp_io_t *out, kp_fetch_resp_t *m)
{
	ks__kmetrics_resp(srv->hub, KP_FETCH, m);
	return kp_fetch_resp(out, m);
}

/* ---- long polls ------------------------------------------------------------ */

static void fetch_free(struct ks__kfetch *f)
{
	ks_kafka_server_t *srv = f->srv;
	size_t i;

	for (i = 0; i < f->nwatches; i++) {
		ks_log_unwatch(f->watches[i].log, ks__kfetch_wake_fn, f);
		ks_topic_release(f->watches[i].topic);
	}
	free(f->watches);
	ks_timer_free(f->timer);
	if (f->prev)
		f->prev->next = f->next;
	else if (srv->fetches == f)
		srv->fetches = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (f->kc->fetch == f)
		f->kc->fetch = NULL;
	kp_writer_free(&f->out);
	kp_arena_free(&f->arena);
	ks__kconn_unref(f->kc);
	free(f);
}

void ks__kfetch_cancel(struct ks__kfetch *f)
{
	fetch_free(f);
}

/* Answers a held poll with what there is now (may be nothing). */
static void fetch_answer(struct ks__kfetch *f, kp_fetch_resp_t *m, int have)
{
	struct ks__kconn *kc = f->kc;
	kp_fetch_resp_t empty;
	size_t bytes;
	int errors, rc = 0;

	if (!have) {
		rc = collect(f->srv, f->req, &f->arena, &empty, &bytes,
		    &errors);
		m = &empty;
	}
	if (rc == 0)
		rc = encode(f->srv, &f->out, m);
	ks__kconn_ref(kc);
	if (rc) {
		KS__KLOG(f->srv, KS_LOG_WARNING, "kafka server: fetch: %s",
		    ks_strerror(rc));
		if (kc->conn)
			ks_conn_close(kc->conn);
		fetch_free(f);
	} else {
		kp_io_t out = f->out;
		kp_writer_init(&f->out); /* moved */
		fetch_free(f);
		ks__ksrv_answer(kc, &out);
	}
	ks__kconn_unref(kc);
}

static void on_timer(void *arg)
{
	fetch_answer(arg, NULL, 0);
}

/* Loop: looks again at every poll an append flagged. */
void ks__kfetch_wake_all(void *arg)
{
	ks_kafka_server_t *srv = arg;
	struct ks__kfetch *f, *next;
	kp_arena_t scratch;
	kp_fetch_resp_t m;
	size_t bytes;
	int errors;

	atomic_store(&srv->wake_queued, 0);
	for (f = srv->fetches; f; f = next) {
		next = f->next;
		if (!atomic_exchange(&f->woken, 0))
			continue;
		/* A scratch arena: a poll woken often must not grow its own. */
		kp_arena_init(&scratch);
		if (collect(srv, f->req, &scratch, &m, &bytes, &errors) == 0) {
			if (bytes >= (size_t)KS__MAX(f->req->min_bytes, 0) ||
			    errors)
				fetch_answer(f, &m, 1); /* encoded here */
			else
				resp_release(&m);
		}
		kp_arena_free(&scratch);
	}
}

struct ks__kfetch *ks__kfetch_next(struct ks__kfetch *f)
{
	return f->next;
}

void ks__kfetch_flag(struct ks__kfetch *f)
{
	atomic_store(&f->woken, 1);
}

/* The appending thread: flag the poll, queue one wake-up on the loop. */
void ks__kfetch_wake_fn(void *arg)
{
	struct ks__kfetch *f = arg;
	ks_kafka_server_t *srv = f->srv;

	atomic_store(&f->woken, 1);
	if (!atomic_exchange(&srv->wake_queued, 1) &&
	    ks_net_call(srv->net, ks__kfetch_wake_all, srv) != 0)
		atomic_store(&srv->wake_queued, 0);
}

/* Holds rq: watches its partitions and arms the timer. */
static int fetch_hold(ks__kreq_t *rq, kp_fetch_req_t *req, int32_t wait_ms)
{
	ks_kafka_server_t *srv = rq->srv;
	struct ks__kfetch *f;
	int32_t i, j, n = 0;
	ks_log_t *log;
	ks_topic_t *t;

	if (!(f = calloc(1, sizeof *f)))
		return KS_ENOMEM;
	f->srv = srv;
	f->kc = rq->kc;
	f->req = req;
	atomic_init(&f->woken, 0);
	for (i = 0; i < req->n_topics; i++)
		n += req->topics[i].n_partitions;
	if (n && !(f->watches = calloc((size_t)n, sizeof *f->watches))) {
		free(f);
		return KS_ENOMEM;
	}
	if (ks_timer_new(srv->net, on_timer, f, &f->timer) != 0) {
		free(f->watches);
		free(f);
		return KS_ENOMEM;
	}
	/* From here f is complete enough for fetch_free. */
	ks__kconn_ref(rq->kc);
	f->arena = *rq->arena;
	kp_arena_init(rq->arena);  /* taken over */
	f->out = rq->out;
	kp_writer_init(&rq->out);  /* moved */
	f->next = srv->fetches;
	if (srv->fetches)
		srv->fetches->prev = f;
	srv->fetches = f;
	rq->kc->fetch = f;
	for (i = 0; i < req->n_topics; i++) {
		const kp_fetch_req_topic_t *rt = &req->topics[i];
		for (j = 0; j < rt->n_partitions; j++) {
			/* A handle of our own: DeleteTopics may drop the
			 * cached one while we wait. */
			if (ks_topic_open(srv->store, rt->topic.s, &t) != 0)
				continue;
			if (ks_topic_partition(t, rt->partitions[j].partition,
			    &log) != 0 ||
			    ks_log_watch(log, ks__kfetch_wake_fn, f) != 0) {
				ks_topic_release(t);
				continue;
			}
			f->watches[f->nwatches].topic = t;
			f->watches[f->nwatches++].log = log;
		}
	}
	ks_timer_arm(f->timer, wait_ms);
	/* An append between the first look and the watch went unseen. */
	atomic_store(&f->woken, 1);
	if (!atomic_exchange(&srv->wake_queued, 1) &&
	    ks_net_call(srv->net, ks__kfetch_wake_all, srv) != 0)
		atomic_store(&srv->wake_queued, 0);
	return KS__K_HOLD;
}

int ks__kh_fetch(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_fetch_req_t *req;
	kp_fetch_resp_t m;
	size_t bytes;
	int32_t wait_ms;
	int errors, rc;

	if (!(req = kp_arena_alloc(rq->arena, sizeof *req)))
		return KS_ENOMEM;
	if ((rc = kp_fetch_req(rq->in, req)) != 0)
		return rc;
	if ((rc = collect(srv, req, rq->arena, &m, &bytes, &errors)) != 0)
		return rc;
	wait_ms = KS__MIN(req->max_wait_ms, srv->cfg.max_wait_ms_cap);
	if (bytes >= (size_t)KS__MAX(req->min_bytes, 0) || errors ||
	    wait_ms <= 0 || req->n_topics == 0 || !rq->kc->conn)
		return encode(rq->srv, &rq->out, &m);
	resp_release(&m);
	if ((rc = fetch_hold(rq, req, wait_ms)) < 0)
		return rc;
	return KS__K_HOLD;
}
