/*
 * client_producer.c: kstream's producer on a Kafka cluster. Records are
 * copied into per-partition queues; a sender thread turns each queue into
 * one RecordBatch at a time (batch_bytes, linger_ms, or at once for a
 * waiting call), groups the batches by leader into Produce requests and
 * hands them to the loop. A partition has at most one batch in flight, so
 * a retried batch never overtakes the one after it: per-partition order
 * holds, while a connection carries many requests at once.
 */
#include "kafka/client_impl.h"
#include "log/compress.h"

#include <errno.h>
#include <stdio.h>
#include <xxhash.h>

/* A waiting ks_produce call. */
struct pwait {
	size_t left;               /* records not yet acknowledged or failed */
	int kerr;                  /* the first failure's Kafka code */
	int err;                   /* or its kstream code, if not Kafka's */
	ks_produce_result_t *res;
};

/* A queued record: a copy of the caller's, in one allocation. */
struct prec {
	struct prec *next;
	ks_record_t r;
	struct pwait *w;           /* NULL: report to delivery_cb */
	size_t idx;                /* its index in w->res */
	size_t size;               /* about its encoded size */
};

enum { PP_IDLE, PP_SENT, PP_RESEND };

/* A partition's queue and its batch in flight. */
struct ppart {
	char *topic;
	int32_t part;
	struct prec *head, *tail;  /* queued */
	size_t qbytes;
	int64_t first_ns;          /* when the oldest queued record came */
	size_t nwait;              /* queued records a waiting call wants
	                              delivered: send without lingering */
	struct prec *fl;           /* the batch in flight (or to resend) */
	size_t nfl;
	uint8_t *batch;
	size_t blen;
	int state;
	int tries;
	int64_t resend_ns;
	int sel;                   /* picked by this sender round */
};

struct ks__rproducer {
	struct kc_cluster *cl;
	ks_producer_config_t cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* the sender's wake-up */
	pthread_cond_t done_cv;    /* records completed */
	struct ppart **parts;
	size_t nparts;
	size_t pending;            /* records queued or in flight */
	int reporting;             /* delivery callbacks being called */
	int flushing, stop, md_stale, have_thread;
	pthread_t thr;
	uint64_t sticky, sticky_bytes;
};

/* ---- records --------------------------------------------------------- */

static struct prec *rec_copy(const ks_record_t *in, int64_t now_ms)
{
	size_t need = sizeof(struct prec) + in->key_len + in->value_len, i;
	struct prec *p;
	uint8_t *d;

	if (in->headers)
		for (i = 0; i < in->header_count; i++)
			need += sizeof(ks_header_t) + in->headers[i].key_len +
			    in->headers[i].value_len;
	else
		need += in->_hdr_raw_len;
	if (!(p = malloc(need + 8)))
		return NULL;
	memset(p, 0, sizeof *p);
	d = (uint8_t *)(p + 1);
	p->r.timestamp = in->timestamp >= 0 ? in->timestamp : now_ms;
	if (in->headers && in->header_count) {
		ks_header_t *h = (ks_header_t *)d;
		d += in->header_count * sizeof *h;
		for (i = 0; i < in->header_count; i++) {
			h[i] = in->headers[i];
			if (h[i].key_len)
				h[i].key = memcpy(d, in->headers[i].key,
				    h[i].key_len);
			d += h[i].key_len;
			if (in->headers[i].value) {
				h[i].value = d;
				memcpy(d, in->headers[i].value, h[i].value_len);
				d += h[i].value_len;
			}
		}
		p->r.headers = h;
		p->r.header_count = in->header_count;
	} else if (in->_hdr_raw_len) {
		/* a consumed record produced again: its headers as encoded */
		p->r._hdr_raw = memcpy(d, in->_hdr_raw, in->_hdr_raw_len);
		p->r._hdr_raw_len = in->_hdr_raw_len;
		p->r.header_count = in->header_count;
		d += in->_hdr_raw_len;
	}
	if (in->key) {
		p->r.key = d;
		p->r.key_len = in->key_len;
		memcpy(d, in->key, in->key_len);
		d += in->key_len;
	}
	if (in->value) {
		p->r.value = d;
		p->r.value_len = in->value_len;
		memcpy(d, in->value, in->value_len);
	}
	p->size = need - sizeof *p + 24;
	return p;
}

/* ---- the partitioner, as the local producer's ------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int32_t choose(struct ks__rproducer *p, const char *topic,
    const ks_record_t *r, int32_t nparts)
{
	uint64_t s, sent;

	if (p->cfg.partitioner) {
		int32_t c = p->cfg.partitioner(p->cfg.partitioner_opaque, topic,
		    r->key, r->key_len, nparts);
		if (c >= 0)
			return c < nparts ? c : KS_EPARTITION;
	}
	if (r->key)
		return (int32_t)(XXH64(r->key, r->key_len, 0) % (uint64_t)nparts);
	s = __atomic_load_n(&p->sticky, __ATOMIC_RELAXED);
	sent = __atomic_add_fetch(&p->sticky_bytes, r->value_len + 1,
	    __ATOMIC_RELAXED);
	if (sent >= p->cfg.batch_bytes) {
		uint64_t np = (uint64_t)nparts, rnd = mix64(s + 1);
		uint64_t next = np > 1 ? (s % np + 1 + rnd % (np - 1)) % np : 0;
		uint64_t n = rnd / np * np + next;
		if (__atomic_compare_exchange_n(&p->sticky, &s, n, 0,
		        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			__atomic_store_n(&p->sticky_bytes, 0, __ATOMIC_RELAXED);
	}
	return (int32_t)(s % (uint64_t)nparts);
}

/* ---- completion -------------------------------------------------------- */

struct dreport {
	const char *topic;
	int32_t part;
	int64_t base;
	size_t count;
	int err;
};

/*
 * Completes pp's batch in flight (r->mu held): base_offset and kerr 0, or
 * a failure (kerr a Kafka code, or err a kstream code). Reports for the
 * delivery callback are appended to *rep (called after the unlock).
 */
static void batch_complete(struct ks__rproducer *r, struct ppart *pp,
    int64_t base, int kerr, int err, struct dreport **rep, size_t *nrep)
{
	struct prec *p = pp->fl, *nx;
	int64_t i = 0;
	int fail = kerr || err;
	int ksc = err ? err : kerr ? ks__kafka_err_to_ks((int16_t)kerr) : 0;

	for (; p; p = nx, i++) {
		nx = p->next;
		if (p->w) {
			ks_produce_result_t *o = p->w->res ?
			    &p->w->res[p->idx] : NULL;
			if (o && !fail) {
				o->partition = pp->part;
				o->offset = base >= 0 ? base + i : -1;
				o->durable = r->cfg.acks == -1;
			}
			if (fail && !p->w->kerr && !p->w->err) {
				p->w->kerr = kerr;
				p->w->err = err;
			}
			p->w->left--;
		} else if (r->cfg.delivery_cb) {
			/* runs of records that no call waits for */
			struct dreport *d = *nrep ? &(*rep)[*nrep - 1] : NULL;
			if (d && d->topic == pp->topic && d->part == pp->part &&
			    d->err == ksc && (fail || base < 0 ||
			        d->base + (int64_t)d->count == base + i)) {
				d->count++;
			} else {
				struct dreport *n = realloc(*rep,
				    (*nrep + 1) * sizeof *n);
				if (n) {
					*rep = n;
					n[*nrep].topic = pp->topic;
					n[*nrep].part = pp->part;
					n[*nrep].base = fail || base < 0 ? -1 :
					    base + i;
					n[*nrep].count = 1;
					n[*nrep].err = ksc;
					(*nrep)++;
				}
			}
		} else if (fail) {
			ks__logf(ks_log_stderr, NULL, KS_LOG_WARNING,
			    "kafka producer: %s [%d]: record lost: %s",
			    pp->topic, (int)pp->part, ks_strerror(ksc));
		}
		free(p);
	}
	r->pending -= pp->nfl;
	pp->fl = NULL;
	pp->nfl = 0;
	free(pp->batch);
	pp->batch = NULL;
	pp->blen = 0;
	pp->state = PP_IDLE;
	pp->tries = 0;
	pthread_cond_broadcast(&r->done_cv);
	pthread_cond_signal(&r->cv);
}

/* Calls the delivery callback for reports collected under r->mu, where
 * the caller counted itself in r->reporting: a flush returns only once
 * every report of the records it waited for was made. */
static void reports_deliver(struct ks__rproducer *r, struct dreport *rep,
    size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		r->cfg.delivery_cb(r->cfg.delivery_opaque, rep[i].topic,
		    rep[i].part, rep[i].base, rep[i].count, rep[i].err);
	free(rep);
	pthread_mutex_lock(&r->mu);
	r->reporting--;
	pthread_cond_broadcast(&r->done_cv);
	pthread_mutex_unlock(&r->mu);
}

/* A failed attempt (r->mu held): again after the backoff, or failed for
 * good once retries are spent or the error is not retriable. */
static void batch_failed(struct ks__rproducer *r, struct ppart *pp, int kerr,
    int err, struct dreport **rep, size_t *nrep)
{
	int retriable = !err && kc_retriable(kerr);
	if (retriable && !r->stop && pp->tries < r->cl->rc.retries) {
		pp->tries++;
		pp->state = PP_RESEND;
		pp->resend_ns = ks__monotonic_ns() +
		    (int64_t)r->cl->rc.retry_backoff_ms * 1000000;
		r->md_stale = 1;
		pthread_cond_signal(&r->cv);
		return;
	}
	batch_complete(r, pp, -1, err ? 0 : kerr, err, rep, nrep);
}

/* The partitions of one Produce request. */
struct pctx {
	struct ks__rproducer *r;
	int16_t ver;
	size_t n;
	struct ppart *pp[];
};

static void produce_done(void *arg, int err, const uint8_t *body, size_t len)
{
	struct pctx *x = arg;
	struct ks__rproducer *r = x->r;
	struct dreport *rep = NULL;
	size_t nrep = 0, i;
	int16_t *kerr = NULL;
	int64_t *base = NULL;
	kp_produce_resp_t m;
	kp_arena_t arena;
	int32_t t, k;

	kp_arena_init(&arena);
	if (!err && body) {
		kerr = malloc(x->n * sizeof *kerr);
		base = malloc(x->n * sizeof *base);
		if (!kerr || !base)
			err = KS_ENOMEM;
		for (i = 0; kerr && base && i < x->n; i++) {
			kerr[i] = -1; /* not in the answer */
			base[i] = -1;
		}
		if (!err)
			err = kc_decode(KP_PRODUCE, x->ver, body, len, &arena,
			    &m, sizeof m);
		for (t = 0; !err && t < m.n_topics; t++) {
			const kp_produce_resp_topic_t *mt = &m.topics[t];
			for (k = 0; k < mt->n_partitions; k++) {
				const kp_produce_resp_part_t *mp =
				    &mt->partitions[k];
				for (i = 0; i < x->n; i++)
					if (x->pp[i]->part == mp->index &&
					    kp_str_eq_c(mt->name, x->pp[i]->topic)) {
						kerr[i] = mp->error_code;
						base[i] = mp->base_offset;
					}
			}
		}
	}
	kp_arena_free(&arena);
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < x->n; i++) {
		struct ppart *pp = x->pp[i];
		if (err) /* no answer, or one we cannot read: again */
			batch_failed(r, pp, err == KS_ETIMEDOUT ?
			    KP_REQUEST_TIMED_OUT : KP_NETWORK_EXCEPTION, 0,
			    &rep, &nrep);
		else if (!body) /* acks=0: no answer, no offsets */
			batch_complete(r, pp, -1, 0, 0, &rep, &nrep);
		else if (kerr[i] == 0)
			batch_complete(r, pp, base[i], 0, 0, &rep, &nrep);
		else
			batch_failed(r, pp, kerr[i] < 0 ?
			    KP_NETWORK_EXCEPTION : kerr[i], 0, &rep, &nrep);
	}
	if (nrep)
		r->reporting++;
	pthread_mutex_unlock(&r->mu);
	free(kerr);
	free(base);
	free(x);
	if (nrep)
		reports_deliver(r, rep, nrep);
	else
		free(rep);
}

/* ---- the sender ---------------------------------------------------------- */

/* Encodes (and compresses) the first records of pp's queue, up to
 * batch_bytes but at least one, as pp's batch in flight (r->mu held). */
static int batch_make(struct ks__rproducer *r, struct ppart *pp)
{
	ks_record_t *v;
	struct prec *p, *last = NULL;
	size_t n = 0, bytes = 0, len = 0, cap, i;
	uint8_t *buf;
	int rc;

	size_t nw = 0;

	for (p = pp->head; p && (n == 0 || bytes + p->size <= r->cfg.batch_bytes);
	     p = p->next) {
		bytes += p->size;
		nw += p->w != NULL;
		last = p;
		n++;
	}
	if (!(v = malloc(n * sizeof *v)))
		return KS_ENOMEM;
	for (i = 0, p = pp->head; i < n; i++, p = p->next)
		v[i] = p->r;
	if ((rc = ks_batch_size(v, n, &cap)) == 0) {
		if (!(buf = malloc(cap)))
			rc = KS_ENOMEM;
		else if ((rc = ks_batch_encode(buf, cap, v, n, 0,
		              ks__wallclock_ms(), &len)) != 0)
			free(buf);
	}
	free(v);
	if (rc)
		return rc;
	if (r->cfg.compression != KS_COMPRESSION_NONE) {
		void *z;
		size_t zlen;
		rc = ks__batch_compress(r->cfg.compression, buf, len, &z, &zlen);
		free(buf);
		if (rc)
			return rc;
		buf = z;
		len = zlen;
	}
	pp->batch = buf;
	pp->blen = len;
	pp->fl = pp->head;
	pp->nfl = n;
	pp->head = last->next;
	last->next = NULL;
	if (!pp->head)
		pp->tail = NULL;
	pp->qbytes -= KS__MIN(pp->qbytes, bytes);
	pp->first_ns = ks__monotonic_ns();
	pp->nwait -= nw;
	pp->tries = 0;
	return 0;
}

static int cmp_pp(const void *a, const void *b)
{
	const struct ppart *x = *(struct ppart *const *)a;
	const struct ppart *y = *(struct ppart *const *)b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->part > y->part) - (x->part < y->part);
}

/* x's batches as one Produce request to b: a topic entry per run of
 * partitions of one topic (x sorted), the batches copied into the frame
 * (their owner may free them before the bytes leave: a failed attempt). */
static int produce_req(struct ks__rproducer *r, struct kc_broker *b,
    struct pctx *x, struct kc_req **reqp)
{
	kp_produce_req_t q;
	kp_produce_req_topic_t *t = NULL;
	kp_produce_req_part_t *parts;
	size_t i;
	int rc;

	qsort(x->pp, x->n, sizeof *x->pp, cmp_pp);
	memset(&q, 0, sizeof q);
	q.transactional_id = kp_cstr(NULL);
	q.acks = (int16_t)r->cfg.acks;
	q.timeout_ms = r->cl->rc.request_timeout_ms;
	q.topics = calloc(x->n, sizeof *q.topics);
	parts = calloc(x->n, sizeof *parts);
	if (!q.topics || !parts) {
		free(q.topics);
		free(parts);
		return KS_ENOMEM;
	}
	for (i = 0; i < x->n; i++) {
		if (i == 0 || strcmp(x->pp[i]->topic, x->pp[i - 1]->topic)) {
			t = &q.topics[q.n_topics++];
			t->name = kp_cstr(x->pp[i]->topic);
			t->partitions = &parts[i];
		}
		t->n_partitions++;
		parts[i].index = x->pp[i]->part;
		parts[i].records.p = x->pp[i]->batch;
		parts[i].records.len = (int32_t)x->pp[i]->blen;
	}
	rc = kc_req_new(b, KP_PRODUCE, &q, reqp);
	free(q.topics);
	free(parts);
	return rc;
}

/* Sends the batches of x (partitions led by node) as one Produce request;
 * on failure they go back for a retry. Without r->mu. */
static void send_to(struct ks__rproducer *r, int32_t node, struct pctx *x)
{
	struct kc_broker *b = kc_broker_get(r->cl, node);
	struct kc_req *req = NULL;
	size_t i;
	int rc = b ? kc_broker_connect(b) : KS_EBROKER;

	if (rc == 0)
		rc = produce_req(r, b, x, &req);
	if (rc == 0) {
		x->ver = req->ver;
		req->noresp = r->cfg.acks == 0;
		if ((rc = kc_req_send(req, produce_done, x)) == 0)
			return;
	}
	/* not sent: each batch again after the backoff (or failed) */
	{
		struct dreport *rep = NULL;
		size_t nrep = 0;
		pthread_mutex_lock(&r->mu);
		r->md_stale = 1;
		for (i = 0; i < x->n; i++)
			batch_failed(r, x->pp[i], KP_NETWORK_EXCEPTION, 0, &rep,
			    &nrep);
		if (nrep)
			r->reporting++;
		pthread_mutex_unlock(&r->mu);
		free(x);
		if (nrep)
			reports_deliver(r, rep, nrep);
		else
			free(rep);
	}
}

/* Whether pp's queue should go now (r->mu held); else *wake is when. */
static int due(struct ks__rproducer *r, struct ppart *pp, int64_t now,
    int64_t *wake)
{
	int64_t at;
	if (pp->state == PP_SENT)
		return 0;
	if (pp->state == PP_RESEND) {
		if (now >= pp->resend_ns)
			return 1;
		*wake = KS__MIN(*wake, pp->resend_ns);
		return 0;
	}
	if (!pp->head)
		return 0;
	if (pp->nwait || r->flushing || r->stop ||
	    pp->qbytes >= r->cfg.batch_bytes)
		return 1;
	at = pp->first_ns + (int64_t)r->cfg.linger_ms * 1000000;
	if (now >= at)
		return 1;
	*wake = KS__MIN(*wake, at);
	return 0;
}

static void *sender(void *arg)
{
	struct ks__rproducer *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		int64_t now = ks__monotonic_ns(), wake = now + 1000000000LL;
		struct pctx **ctx = NULL;
		int32_t *nodes = NULL;
		size_t nctx = 0, i, k;
		struct dreport *rep = NULL;
		size_t nrep = 0;

		if (r->md_stale) {
			/* leaders moved or a broker failed: ask again */
			char **names = calloc(r->nparts + 1, sizeof *names);
			size_t nn = 0;
			for (i = 0; names && i < r->nparts; i++) {
				for (k = 0; k < nn; k++)
					if (!strcmp(names[k], r->parts[i]->topic))
						break;
				if (k == nn)
					names[nn++] = r->parts[i]->topic;
			}
			r->md_stale = 0;
			pthread_mutex_unlock(&r->mu);
			if (names && nn)
				(void)kc_metadata(r->cl,
				    (const char *const *)names, nn, 0);
			free(names);
			pthread_mutex_lock(&r->mu);
			continue;
		}
		for (i = 0; i < r->nparts; i++) {
			struct ppart *pp = r->parts[i];
			int32_t leader;
			int rc;

			if (!due(r, pp, now, &wake))
				continue;
			if (pp->state == PP_IDLE &&
			    (rc = batch_make(r, pp)) != 0) {
				/* cannot be encoded (too big, out of memory):
				 * the first record fails alone, the others
				 * try again */
				struct prec *bad = pp->head;
				pp->nwait -= bad->w != NULL;
				pp->head = bad->next;
				if (!pp->head)
					pp->tail = NULL;
				bad->next = NULL;
				pp->qbytes -= KS__MIN(pp->qbytes, bad->size);
				pp->fl = bad;
				pp->nfl = 1;
				batch_complete(r, pp, -1, 0, rc, &rep, &nrep);
				continue;
			}
			leader = kc_leader(r->cl, pp->topic, pp->part);
			if (leader < 0) {
				batch_failed(r, pp, KP_LEADER_NOT_AVAILABLE, 0,
				    &rep, &nrep);
				continue;
			}
			for (k = 0; k < nctx && nodes[k] != leader; k++)
				;
			if (k == nctx) {
				struct pctx **c2 = realloc(ctx,
				    (nctx + 1) * sizeof *c2);
				int32_t *n2 = realloc(nodes,
				    (nctx + 1) * sizeof *n2);
				if (c2)
					ctx = c2;
				if (n2)
					nodes = n2;
				if (!c2 || !n2 ||
				    !(ctx[nctx] = calloc(1, sizeof(struct pctx) +
				          r->nparts * sizeof(struct ppart *)))) {
					pp->state = PP_RESEND;
					pp->resend_ns = now + 1000000;
					continue;
				}
				ctx[nctx]->r = r;
				nodes[nctx++] = leader;
			}
			ctx[k]->pp[ctx[k]->n++] = pp;
			pp->state = PP_SENT;
		}
		if (nrep)
			r->reporting++;
		pthread_mutex_unlock(&r->mu);
		if (nrep)
			reports_deliver(r, rep, nrep);
		else
			free(rep);
		for (k = 0; k < nctx; k++)
			send_to(r, nodes[k], ctx[k]);
		free(ctx);
		free(nodes);
		pthread_mutex_lock(&r->mu);
		if (nctx == 0 && !r->stop && !r->md_stale) {
			struct timespec ts;
			int64_t ns = ks__monotonic_ns();
			if (wake > ns) {
				/* cv uses CLOCK_MONOTONIC (see new) */
				clock_gettime(CLOCK_MONOTONIC, &ts);
				ns = (int64_t)ts.tv_sec * 1000000000LL +
				    ts.tv_nsec + (wake - ns);
				ts.tv_sec = ns / 1000000000LL;
				ts.tv_nsec = ns % 1000000000LL;
				pthread_cond_timedwait(&r->cv, &r->mu, &ts);
			}
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- the API ------------------------------------------------------------- */

static struct ppart *pp_get(struct ks__rproducer *r, const char *topic,
    int32_t part)
{
	struct ppart *pp, **n;
	size_t i;

	for (i = 0; i < r->nparts; i++)
		if (r->parts[i]->part == part &&
		    !strcmp(r->parts[i]->topic, topic))
			return r->parts[i];
	if (!(n = realloc(r->parts, (r->nparts + 1) * sizeof *n)))
		return NULL;
	r->parts = n;
	if (!(pp = calloc(1, sizeof *pp)) || !(pp->topic = strdup(topic))) {
		free(pp);
		return NULL;
	}
	pp->part = part;
	r->parts[r->nparts++] = pp;
	return pp;
}

int ks__remote_produce(struct ks__rproducer *r, const char *topic,
    int32_t partition, const ks_record_t *recs, size_t n, int flags,
    ks_produce_result_t *res)
{
	struct pwait w = { n, 0, 0, res };
	int waiting = res || (flags & KS_PRODUCE_DURABLE);
	int64_t now_ms = ks__wallclock_ms(), now = ks__monotonic_ns();
	int32_t nparts, *parts;
	struct prec **copies;
	size_t i;
	int rc = 0;

	if (!topic || !recs || n == 0)
		return KS_EINVAL;
	for (i = 0; res && i < n; i++) {
		res[i].partition = -1;
		res[i].offset = -1;
		res[i].durable = 0;
	}
	if ((rc = kc_topic_lookup(r->cl, topic, 1, &nparts)) != 0)
		return rc;
	if (partition != KS_PARTITION_ANY &&
	    (partition < 0 || partition >= nparts))
		return KS_EPARTITION;
	parts = malloc(n * sizeof *parts);
	copies = calloc(n, sizeof *copies);
	if (!parts || !copies)
		rc = KS_ENOMEM;
	for (i = 0; rc == 0 && i < n; i++) {
		parts[i] = partition != KS_PARTITION_ANY ? partition :
		    choose(r, topic, &recs[i], nparts);
		if (parts[i] < 0)
			rc = parts[i];
		else if (!(copies[i] = rec_copy(&recs[i], now_ms)))
			rc = KS_ENOMEM;
	}
	if (rc) {
		for (i = 0; copies && i < n; i++)
			free(copies[i]);
		free(copies);
		free(parts);
		return rc;
	}
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < n; i++) {
		struct ppart *pp = pp_get(r, topic, parts[i]);
		struct prec *p = copies[i];
		if (!pp) {
			/* out of memory midway: the rest fail */
			for (; i < n; i++) {
				free(copies[i]);
				w.left--;
			}
			rc = KS_ENOMEM;
			break;
		}
		if (waiting) {
			p->w = &w;
			p->idx = i;
			pp->nwait++;
		}
		if (!pp->head)
			pp->first_ns = now;
		if (pp->tail)
			pp->tail->next = p;
		else
			pp->head = p;
		pp->tail = p;
		pp->qbytes += p->size;
		r->pending++;
	}
	pthread_cond_signal(&r->cv);
	while (waiting && w.left > 0)
		pthread_cond_wait(&r->done_cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	free(copies);
	free(parts);
	if (rc == 0 && w.kerr)
		rc = kc_err(w.kerr);
	else if (rc == 0 && w.err)
		rc = w.err;
	return rc;
}

int ks__remote_flush(struct ks__rproducer *r, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&r->mu);
	r->flushing++;
	pthread_cond_signal(&r->cv);
	while ((r->pending > 0 || r->reporting > 0) && rc == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&r->done_cv, &r->mu);
		else if (pthread_cond_timedwait(&r->done_cv, &r->mu, &ts) ==
		         ETIMEDOUT && (r->pending > 0 || r->reporting > 0))
			rc = KS_ETIMEDOUT;
	}
	r->flushing--;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void ks__remote_producer_free(struct ks__rproducer *r)
{
	struct dreport *rep = NULL;
	size_t nrep = 0, i;

	if (!r)
		return;
	if (r->have_thread) {
		(void)ks__remote_flush(r, r->cl->rc.request_timeout_ms);
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thr, NULL);
	}
	/* answers still pending fail now (r->stop: no retry) */
	kc_cluster_free(r->cl);
	for (i = 0; i < r->nparts; i++) {
		struct ppart *pp = r->parts[i];
		pthread_mutex_lock(&r->mu);
		if (pp->fl)
			batch_complete(r, pp, -1, 0, KS_ETIMEDOUT, &rep, &nrep);
		if (pp->head) {
			pp->fl = pp->head;
			for (pp->nfl = 0; pp->head; pp->head = pp->head->next)
				pp->nfl++;
			pp->nwait = 0;
			batch_complete(r, pp, -1, 0, KS_ETIMEDOUT, &rep, &nrep);
		}
		pthread_mutex_unlock(&r->mu);
	}
	if (nrep) {
		r->reporting++;
		reports_deliver(r, rep, nrep);
	} else {
		free(rep);
	}
	for (i = 0; i < r->nparts; i++) {
		free(r->parts[i]->topic);
		free(r->parts[i]);
	}
	free(r->parts);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->done_cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int ks_producer_connect(const char *bootstrap, const ks_producer_config_t *cfg,
    const ks_remote_config_t *remote, ks_producer_t **prodp)
{
	struct ks__rproducer *r;
	pthread_condattr_t ca;
	int rc;

	if (!prodp)
		return KS_EINVAL;
	*prodp = NULL;
	if (!bootstrap || !KC_DISPATCH)
		return KS_EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return KS_ENOMEM;
	if (cfg)
		r->cfg = *cfg;
	else
		ks_producer_config_init(&r->cfg);
	if (r->cfg.batch_bytes == 0)
		r->cfg.batch_bytes = 16384;
	if (r->cfg.linger_ms < 0)
		r->cfg.linger_ms = 0;
	r->sticky = (uint64_t)ks__monotonic_ns() * 0x9e3779b97f4a7c15ULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_cond_init(&r->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (r->cfg.acks != 0 && r->cfg.acks != 1 && r->cfg.acks != -1)
		rc = KS_EINVAL;
	else if (r->cfg.compression < KS_COMPRESSION_NONE ||
	         r->cfg.compression > KS_COMPRESSION_ZSTD ||
	         (r->cfg.compression != KS_COMPRESSION_NONE &&
	             !ks__codec_available(r->cfg.compression)))
		rc = r->cfg.compression > KS_COMPRESSION_ZSTD ||
		        r->cfg.compression < 0 ? KS_EINVAL : KS_ECOMPRESSION;
	else
		rc = kc_cluster_new(bootstrap, remote, "kstream", &r->cl);
	if (rc == 0) {
		if ((rc = -pthread_create(&r->thr, NULL, sender, r)) == 0)
			r->have_thread = 1;
	}
	if (rc == 0 && (rc = ks__producer_wrap(r, prodp)) != 0)
		*prodp = NULL;
	if (rc)
		ks__remote_producer_free(r);
	return rc;
}
