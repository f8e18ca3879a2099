/*
 * client_conn.c: the client's side of the wire: encoding helpers, broker
 * connections with the ApiVersions handshake, requests matched to their
 * responses by correlation id, request timeouts, and the metadata cache.
 */
#include "kafka/client_impl.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* ---- versions and decoding ------------------------------------------------ */

int16_t kc_version(struct kc_broker *b, int16_t api)
{
	int16_t v = -1;
	if (api >= 0 && api < KC_NAPI) {
		pthread_mutex_lock(&b->cl->mu);
		v = b->ver[api];
		pthread_mutex_unlock(&b->cl->mu);
	}
	return v;
}

int kc_decode(int16_t api, int16_t ver, const uint8_t *body, size_t len,
    kp_arena_t *arena, void *m, size_t size)
{
	kp_io_t io;

	memset(m, 0, size);
	kp_reader_init(&io, body, len, arena);
	kp_io_set_version(&io, api, ver);
	return kp_resp_body(&io, api, m);
}

int kc_retriable(int k)
{
	switch (k) {
	case KP_LEADER_NOT_AVAILABLE:
	case KP_NOT_LEADER_OR_FOLLOWER:
	case KP_REQUEST_TIMED_OUT:
	case KP_NETWORK_EXCEPTION:
	case KP_NOT_ENOUGH_REPLICAS:
	case KP_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case KP_FENCED_LEADER_EPOCH:   /* metadata moved on: refresh */
	case KP_UNKNOWN_LEADER_EPOCH:
	case KP_COORDINATOR_LOAD_IN_PROGRESS:
	case KP_COORDINATOR_NOT_AVAILABLE:
	case KP_NOT_COORDINATOR:
		return 1;
	}
	return 0;
}

/* ---- requests on the loop thread ---------------------------------------- */

void kc_req_free(struct kc_req *req)
{
	if (req) {
		kp_writer_free(&req->w);
		free(req);
	}
}

static void req_finish(struct kc_req *req, int err, const uint8_t *body,
    size_t len)
{
	req->done(req->arg, err, body, len);
	kc_req_free(req);
}

/* Fails every request pending on b (its connection is gone). */
static void fail_pending(struct kc_broker *b, int err)
{
	struct kc_req *req;
	while ((req = b->pend)) {
		b->pend = req->next;
		req_finish(req, err, NULL, 0);
	}
	b->pend_tail = NULL;
}

static int on_frame(void *arg, ks_conn_t *conn, const void *frame,
    size_t len)
{
	struct kc_broker *b = arg;
	struct kc_req *req, *prev = NULL;
	kp_arena_t arena;
	kp_io_t io;
	int32_t corr;

	if (len < 4) {
		ks_conn_close(conn);
		return KS_FRAME_NEXT;
	}
	corr = (int32_t)ks__be32(frame);
	/* Answers come in order; one that matches nothing pending is late
	 * (its request timed out) and is dropped. */
	for (req = b->pend; req && req->corr != corr; req = req->next)
		prev = req;
	if (!req)
		return KS_FRAME_NEXT;
	if (prev)
		prev->next = req->next;
	else
		b->pend = req->next;
	if (b->pend_tail == req)
		b->pend_tail = prev;
	/* the header's version is the request's (tagged fields if flexible) */
	kp_arena_init(&arena);
	kp_reader_init(&io, frame, len, &arena);
	if (kp_resp_hdr(&io, req->api, req->ver, &corr) != 0)
		req_finish(req, KS_ECORRUPT, NULL, 0);
	else
		req_finish(req, 0, io.p, kp_r_left(&io));
	kp_arena_free(&arena);
	return KS_FRAME_NEXT;
}

static void on_event(void *arg, ks_conn_t *conn, int event, int err)
{
	struct kc_broker *b = arg;
	struct kc_cluster *cl = b->cl;

	if (event != KS_CONN_CLOSED)
		return;
	if (b->conn != conn) {
		b->dead = conn; /* closed before loop_set_conn saw it */
		return;
	}
	b->conn = NULL;
	pthread_mutex_lock(&cl->mu);
	b->state = KC_DOWN;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	fail_pending(b, err ? err : KS_ECLOSED);
}

/* An answerless request (acks=0) is done once its bytes left for the
 * socket (or the connection died: no answer tells either way). */
static void noresp_sent(void *arg)
{
	req_finish(arg, 0, NULL, 0);
}

static void loop_send(void *arg)
{
	struct kc_req *req = arg;
	struct kc_broker *b = req->b;
	static int32_t next_corr; /* loop threads only; any value will do */
	int rc;

	if (!b->conn) {
		req_finish(req, -ENOTCONN, NULL, 0);
		return;
	}
	req->corr = __atomic_add_fetch(&next_corr, 1, __ATOMIC_RELAXED) &
	    INT32_MAX;
	/* after the length, key and version (kc_req_new wrote 0) */
	ks__put_be32(req->w.buf + 8, (uint32_t)req->corr);
	if (req->noresp) {
		/* noresp_sent runs exactly once, also on failure */
		(void)ks_conn_send_ref(b->conn, req->w.buf, req->w.len,
		    noresp_sent, req);
		return;
	}
	if ((rc = ks_conn_send(b->conn, req->w.buf, req->w.len)) != 0) {
		req_finish(req, rc, NULL, 0);
		return;
	}
	req->next = NULL;
	if (b->pend_tail)
		b->pend_tail->next = req;
	else
		b->pend = req;
	b->pend_tail = req;
}

/* Every 100 ms: a request past its deadline closes its connection (its
 * answer may still come, and the ones behind it wait for it). */
static void sweep(void *arg)
{
	struct kc_cluster *cl = arg;
	int64_t now = ks__monotonic_ns();
	size_t i, n;

	pthread_mutex_lock(&cl->mu);
	n = cl->nbrokers;
	pthread_mutex_unlock(&cl->mu);
	for (i = 0; i < n; i++) {
		struct kc_broker *b;
		pthread_mutex_lock(&cl->mu);
		b = cl->brokers[i];
		pthread_mutex_unlock(&cl->mu);
		if (b->conn && b->pend && b->pend->deadline_ns < now) {
			ks_conn_t *conn = b->conn;
			b->conn = NULL;
			pthread_mutex_lock(&cl->mu);
			b->state = KC_DOWN;
			pthread_cond_broadcast(&cl->cv);
			pthread_mutex_unlock(&cl->mu);
			fail_pending(b, KS_ETIMEDOUT);
			ks_conn_close(conn);
		}
	}
	ks_timer_arm(cl->sweep, 100);
}

/* A request for api at version ver: header and body encoded in a frame. */
static int req_make(struct kc_broker *b, int16_t api, int16_t ver, void *msg,
    struct kc_req **reqp)
{
	struct kc_req *req;
	kp_req_hdr_t h;
	int rc;

	if (!(req = calloc(1, sizeof *req)))
		return KS_ENOMEM;
	req->b = b;
	req->api = api;
	req->ver = ver;
	h.api_key = api;
	h.api_version = ver;
	h.correlation_id = 0; /* set on the loop (loop_send) */
	h.client_id = kp_cstr(b->cl->client_id);
	kp_writer_init(&req->w);
	kp_w_frame_begin(&req->w);
	kp_req_hdr(&req->w, &h);
	kp_req_body(&req->w, api, msg);
	if ((rc = kp_w_frame_end(&req->w)) != 0) {
		kc_req_free(req);
		return rc;
	}
	*reqp = req;
	return 0;
}

int kc_req_new(struct kc_broker *b, int16_t api, void *msg,
    struct kc_req **reqp)
{
	int16_t ver = kc_version(b, api);

	if (ver < 0)
		return kc_err(KP_UNSUPPORTED_VERSION);
	return req_make(b, api, ver, msg, reqp);
}

int kc_req_send(struct kc_req *req, kc_done_fn *done, void *arg)
{
	struct kc_cluster *cl = req->b->cl;
	int rc;

	req->done = done;
	req->arg = arg;
	if (req->deadline_ns == 0) /* else the caller's */
		req->deadline_ns = ks__monotonic_ns() +
		    (int64_t)cl->rc.request_timeout_ms * 1000000;
	if ((rc = ks_net_call(cl->net, loop_send, req)) != 0)
		kc_req_free(req);
	return rc;
}

/* ---- waiting for an answer ------------------------------------------------ */

struct sync_wait {
	struct kc_cluster *cl;
	int done, err;
	uint8_t *body;
	size_t len;
};

int kc_body_copy(int err, const uint8_t *body, size_t len, uint8_t **copy)
{
	*copy = NULL;
	if (err)
		return err;
	if (!(*copy = malloc(len ? len : 1)))
		return KS_ENOMEM;
	if (len)
		memcpy(*copy, body, len);
	return 0;
}

static void sync_done(void *arg, int err, const uint8_t *body, size_t len)
{
	struct sync_wait *w = arg;
	uint8_t *copy;

	err = kc_body_copy(err, body, len, &copy);
	pthread_mutex_lock(&w->cl->mu);
	w->err = err;
	w->body = copy;
	w->len = len;
	w->done = 1;
	pthread_cond_broadcast(&w->cl->cv);
	pthread_mutex_unlock(&w->cl->mu);
}

int kc_call(struct kc_req *req, uint8_t **body, size_t *len)
{
	struct sync_wait w = { req->b->cl, 0, 0, NULL, 0 };
	struct kc_cluster *cl = req->b->cl;
	int rc;

	*body = NULL;
	*len = 0;
	if ((rc = kc_req_send(req, sync_done, &w)) != 0)
		return rc;
	/* The loop answers every request, at the latest by the sweep's
	 * timeout or at ks_net_free. */
	pthread_mutex_lock(&cl->mu);
	while (!w.done)
		pthread_cond_wait(&cl->cv, &cl->mu);
	pthread_mutex_unlock(&cl->mu);
	*body = w.body;
	*len = w.len;
	return w.err;
}

void kc_resp_free(kc_resp_t *keep)
{
	free(keep->body);
	keep->body = NULL;
	kp_arena_free(&keep->arena);
}

int kc_rpc(struct kc_broker *b, int16_t api, void *req, void *resp,
    size_t size, kc_resp_t *keep)
{
	struct kc_req *r;
	size_t len;
	int16_t ver;
	int rc;

	memset(resp, 0, size);
	if ((rc = kc_req_new(b, api, req, &r)) != 0)
		return rc;
	ver = r->ver; /* r is the loop's once sent */
	if ((rc = kc_call(r, &keep->body, &len)) != 0)
		return rc;
	return kc_decode(api, ver, keep->body, len, &keep->arena, resp, size);
}

static void slot_done(void *arg, int err, const uint8_t *body, size_t len)
{
	struct kc_slot *s = arg;
	uint64_t one = 1;
	uint8_t *copy;

	err = kc_body_copy(err, body, len, &copy);
	pthread_mutex_lock(&s->cl->mu);
	s->err = err;
	s->body = copy;
	s->len = len;
	s->done = 1;
	pthread_mutex_unlock(&s->cl->mu);
	if (s->efd >= 0 && write(s->efd, &one, sizeof one) < 0) {
		/* the counter is full: readable anyway */
	}
}

int kc_slot_send(struct kc_slot *s, struct kc_req *req)
{
	int rc;
	pthread_mutex_lock(&s->cl->mu);
	free(s->body);
	s->body = NULL;
	s->done = s->err = 0;
	s->busy = 1;
	s->ver = req->ver;
	pthread_mutex_unlock(&s->cl->mu);
	if ((rc = kc_req_send(req, slot_done, s)) != 0) {
		pthread_mutex_lock(&s->cl->mu);
		s->busy = 0;
		pthread_mutex_unlock(&s->cl->mu);
	}
	return rc;
}

int kc_slot_take(struct kc_slot *s, int *err, uint8_t **body, size_t *len,
    int16_t *ver)
{
	int done;
	pthread_mutex_lock(&s->cl->mu);
	done = s->busy && s->done;
	if (done) {
		*err = s->err;
		*body = s->body;
		*len = s->len;
		*ver = s->ver;
		s->body = NULL;
		s->busy = s->done = 0;
	}
	pthread_mutex_unlock(&s->cl->mu);
	return done;
}

/* ---- brokers and connections --------------------------------------------- */

static struct kc_broker *broker_add(struct kc_cluster *cl, int32_t id,
    const char *url)
{
	struct kc_broker *b;
	size_t i;

	if (cl->nbrokers == cl->capbrokers) {
		size_t cap = cl->capbrokers ? cl->capbrokers * 2 : 8;
		struct kc_broker **n = realloc(cl->brokers, cap * sizeof *n);
		if (!n)
			return NULL;
		cl->brokers = n;
		cl->capbrokers = cap;
	}
	if (!(b = calloc(1, sizeof *b)) || !(b->url = strdup(url))) {
		free(b);
		return NULL;
	}
	b->cl = cl;
	b->id = id;
	for (i = 0; i < KC_NAPI; i++)
		b->ver[i] = -1;
	cl->brokers[cl->nbrokers++] = b;
	return b;
}

struct kc_broker *kc_broker_get(struct kc_cluster *cl, int32_t id)
{
	struct kc_broker *b = NULL;
	size_t i;

	pthread_mutex_lock(&cl->mu);
	for (i = 0; i < cl->nbrokers; i++)
		if (cl->brokers[i]->id == id) {
			b = cl->brokers[i];
			break;
		}
	pthread_mutex_unlock(&cl->mu);
	return b;
}

/* Under cl->mu: the broker id at host:port, added if new. A broker whose
 * address changed keeps its old entry (and connection) until then. */
static struct kc_broker *learn_locked(struct kc_cluster *cl, int32_t id,
    const char *host, int port)
{
	char url[320];
	size_t i;

	for (i = 0; i < cl->nbrokers; i++)
		if (cl->brokers[i]->id == id)
			return cl->brokers[i];
	snprintf(url, sizeof url, strchr(host, ':') ? "%s://[%s]:%d" :
	    "%s://%s:%d", cl->scheme, host, port);
	return broker_add(cl, id, url);
}

struct kc_broker *kc_broker_learn(struct kc_cluster *cl, int32_t id,
    const char *host, int port)
{
	struct kc_broker *b;
	pthread_mutex_lock(&cl->mu);
	b = learn_locked(cl, id, host, port);
	pthread_mutex_unlock(&cl->mu);
	return b;
}

/*
 * ApiVersions at our highest version; a broker that does not speak it
 * answers UNSUPPORTED_VERSION in a v0 body listing its ranges, and we ask
 * again at the highest version both speak. Then, for each API of
 * kp_apis: min(our max, the broker's max), if not below either's min
 * (b->ver; -1 where none).
 */
static int handshake(struct kc_broker *b)
{
	const kp_api_t *self = kp_api_find(KP_API_VERSIONS);
	struct kc_cluster *cl = b->cl;
	kp_api_versions_req_t q;
	kp_api_versions_resp_t m;
	int16_t ver[KC_NAPI], av = self->max_version;
	struct kc_req *req;
	kc_resp_t keep;
	size_t len;
	int32_t k;
	int rc, tries;

	memset(&q, 0, sizeof q);
	q.client_software_name = kp_cstr("kstream");
	q.client_software_version = kp_cstr(ks_version_string());
	for (tries = 0;; tries++) {
		memset(&keep, 0, sizeof keep);
		if ((rc = req_make(b, KP_API_VERSIONS, av, &q, &req)) != 0 ||
		    (rc = kc_call(req, &keep.body, &len)) != 0)
			return rc;
		/* the error code leads every version's body; the rest we
		 * read as v0 if we can (some brokers write it otherwise),
		 * else we ask at v0 */
		if (av > 0 && tries == 0 && len >= 2 &&
		    (int16_t)ks__be16(keep.body) == KP_UNSUPPORTED_VERSION) {
			rc = kc_decode(KP_API_VERSIONS, 0, keep.body, len,
			    &keep.arena, &m, sizeof m);
			for (k = 0, av = 0; rc == 0 && k < m.n_api_keys; k++)
				if (m.api_keys[k].api_key == KP_API_VERSIONS &&
				    m.api_keys[k].max_version >= 0)
					av = KS__MIN(self->max_version,
					    m.api_keys[k].max_version);
			kc_resp_free(&keep);
			continue;
		}
		break;
	}
	rc = kc_decode(KP_API_VERSIONS, av, keep.body, len, &keep.arena, &m,
	    sizeof m);
	for (k = 0; k < KC_NAPI; k++)
		ver[k] = -1;
	for (k = 0; rc == 0 && k < m.n_api_keys; k++) {
		const kp_api_version_t *a = &m.api_keys[k];
		const kp_api_t *ours = kp_api_find(a->api_key);
		int16_t v, lo;
		if (!ours || a->api_key >= KC_NAPI)
			continue;
		/* the codec reads Produce from v0 (for librdkafka), but
		 * our RecordBatch v2 travels in v3 and later only */
		lo = a->api_key == KP_PRODUCE ? KS__MAX(ours->min_version, 3) :
		    ours->min_version;
		v = KS__MIN(a->max_version, ours->max_version);
		if (v >= lo && v >= a->min_version)
			ver[a->api_key] = v;
	}
	if (rc == 0 && m.error_code)
		rc = kc_err(m.error_code);
	kc_resp_free(&keep);
	if (rc)
		return rc;
	pthread_mutex_lock(&cl->mu);
	memcpy(b->ver, ver, sizeof ver);
	pthread_mutex_unlock(&cl->mu);
	return 0;
}

struct conn_set {
	struct kc_broker *b;
	ks_conn_t *conn;
};

static void loop_set_conn(void *arg)
{
	struct conn_set *s = arg;
	int dead = s->b->dead == s->conn;
	if (!dead)
		s->b->conn = s->conn;
	s->b->dead = NULL;
	pthread_mutex_lock(&s->b->cl->mu);
	/* connected (the handshake follows), unless already gone */
	s->b->state = dead ? KC_DOWN : KC_UP;
	pthread_cond_broadcast(&s->b->cl->cv);
	pthread_mutex_unlock(&s->b->cl->mu);
	free(s);
}

static void loop_close_conn(void *arg)
{
	struct kc_broker *b = arg;
	if (b->conn) {
		ks_conn_t *conn = b->conn;
		b->conn = NULL;
		fail_pending(b, KS_ECLOSED);
		ks_conn_close(conn);
	}
	pthread_mutex_lock(&b->cl->mu);
	b->state = KC_DOWN;
	pthread_cond_broadcast(&b->cl->cv);
	pthread_mutex_unlock(&b->cl->mu);
}

int kc_broker_connect(struct kc_broker *b)
{
	struct kc_cluster *cl = b->cl;
	ks_conn_handler_t h = { on_frame, on_event, b };
	struct conn_set *s;
	ks_conn_t *conn;
	int rc;

	pthread_mutex_lock(&cl->mu);
	for (;;) {
		if (cl->closing) {
			pthread_mutex_unlock(&cl->mu);
			return KS_ECLOSED;
		}
		if (b->state == KC_UP && b->ver[KP_METADATA] >= 0) {
			pthread_mutex_unlock(&cl->mu);
			return 0;
		}
		if (b->state == KC_DOWN)
			break;
		pthread_cond_wait(&cl->cv, &cl->mu); /* another dials */
	}
	if (ks__monotonic_ns() < b->retry_ns) {
		pthread_mutex_unlock(&cl->mu);
		return -ECONNREFUSED; /* failed a moment ago: don't hammer */
	}
	b->state = KC_CONNECTING;
	pthread_mutex_unlock(&cl->mu);

	rc = ks_net_dial(cl->net, b->url, cl->have_tls ? &cl->tls : NULL,
	    cl->rc.request_timeout_ms, &h, &conn);
	if (rc == 0) {
		if (!(s = malloc(sizeof *s))) {
			rc = KS_ENOMEM;
		} else {
			/* the loop owns b->conn; until set there, state
			 * CONNECTING keeps other threads waiting */
			s->b = b;
			s->conn = conn;
			if ((rc = ks_net_call(cl->net, loop_set_conn, s)) != 0)
				free(s);
		}
		if (rc == 0) {
			pthread_mutex_lock(&cl->mu);
			while (b->state == KC_CONNECTING)
				pthread_cond_wait(&cl->cv, &cl->mu);
			rc = b->state == KC_UP ? 0 : KS_ECLOSED;
			pthread_mutex_unlock(&cl->mu);
		}
		if (rc == 0 && (rc = handshake(b)) == 0 &&
		    b->ver[KP_METADATA] < 0)
			rc = KS_EBROKER; /* not a broker we can use */
		if (rc)
			(void)ks_net_call(cl->net, loop_close_conn, b);
	}
	pthread_mutex_lock(&cl->mu);
	if (rc) {
		if (b->state == KC_CONNECTING)
			b->state = KC_DOWN;
		b->retry_ns = ks__monotonic_ns() +
		    (int64_t)cl->rc.retry_backoff_ms * 1000000;
		ks__logf(ks_log_stderr, NULL, KS_LOG_INFO,
		    "kafka client: %s: %s", b->url, ks_strerror(rc));
	}
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

int kc_any_broker(struct kc_cluster *cl, struct kc_broker **bp)
{
	size_t i, n;
	int rc = KS_ECLOSED;

	/* one already up first, then each in turn */
	pthread_mutex_lock(&cl->mu);
	n = cl->nbrokers;
	for (i = 0; i < n; i++)
		if (cl->brokers[i]->state == KC_UP &&
		    cl->brokers[i]->ver[KP_METADATA] >= 0) {
			*bp = cl->brokers[i];
			pthread_mutex_unlock(&cl->mu);
			return 0;
		}
	pthread_mutex_unlock(&cl->mu);
	for (i = 0; i < n; i++) {
		struct kc_broker *b;
		pthread_mutex_lock(&cl->mu);
		b = cl->brokers[i];
		pthread_mutex_unlock(&cl->mu);
		if ((rc = kc_broker_connect(b)) == 0) {
			*bp = b;
			return 0;
		}
	}
	return rc;
}

/* ---- metadata ------------------------------------------------------------ */

static void mtopic_free(struct kc_mtopic *t)
{
	free(t->name);
	free(t->parts);
}

struct kc_mtopic *kc_topic_find(struct kc_cluster *cl, const char *name)
{
	size_t i;
	for (i = 0; i < cl->ntopics; i++)
		if (strcmp(cl->topics[i].name, name) == 0)
			return &cl->topics[i];
	return NULL;
}

/* Replaces or adds t (taken) in the cache, under cl->mu. */
static int topic_put(struct kc_cluster *cl, struct kc_mtopic *t)
{
	struct kc_mtopic *old = kc_topic_find(cl, t->name), *n;
	if (old) {
		mtopic_free(old);
		*old = *t;
		return 0;
	}
	if (!(n = realloc(cl->topics, (cl->ntopics + 1) * sizeof *n))) {
		mtopic_free(t);
		return KS_ENOMEM;
	}
	cl->topics = n;
	cl->topics[cl->ntopics++] = *t;
	return 0;
}

/* Learns m's brokers and caches its topics. */
static int metadata_apply(struct kc_cluster *cl, const kp_metadata_resp_t *m)
{
	int32_t i, j;
	int rc = 0;

	pthread_mutex_lock(&cl->mu);
	for (i = 0; i < m->n_brokers && rc == 0; i++) {
		const kp_metadata_broker_t *br = &m->brokers[i];
		if (br->port > 0 && br->port < 65536 && br->host.len > 0 &&
		    !learn_locked(cl, br->node_id, br->host.s, br->port))
			rc = KS_ENOMEM;
	}
	for (i = 0; i < m->n_topics && rc == 0; i++) {
		const kp_metadata_topic_t *mt = &m->topics[i];
		int32_t np = mt->n_partitions;
		struct kc_mtopic t;

		memset(&t, 0, sizeof t);
		t.err = mt->error_code;
		t.nparts = np;
		if (!(t.name = strdup(mt->name.s)) ||
		    (np > 0 && !(t.parts = calloc((size_t)np, sizeof *t.parts)))) {
			mtopic_free(&t);
			rc = KS_ENOMEM;
			break;
		}
		for (j = 0; j < np; j++) {
			const kp_metadata_part_t *p = &mt->partitions[j];
			if (p->partition < 0 || p->partition >= np) {
				rc = KS_ECORRUPT;
				break;
			}
			t.parts[p->partition].err = p->error_code;
			t.parts[p->partition].leader = p->leader_id;
		}
		if (rc)
			mtopic_free(&t);
		else
			rc = topic_put(cl, &t);
	}
	if (rc == 0)
		cl->md_ns = ks__monotonic_ns();
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

int kc_metadata(struct kc_cluster *cl, const char *const *topics, size_t n,
    int auto_create)
{
	kp_metadata_req_t q;
	kp_metadata_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t i;
	int rc;

	if ((rc = kc_any_broker(cl, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	memset(&keep, 0, sizeof keep);
	q.n_topics = n ? (int32_t)n : -1; /* -1: all topics */
	q.allow_auto_topic_creation = auto_create != 0;
	if (n && !(q.topics = calloc(n, sizeof *q.topics)))
		return KS_ENOMEM;
	for (i = 0; i < n; i++)
		q.topics[i] = kp_cstr(topics[i]);
	rc = KC_RPC(b, KP_METADATA, &q, &m, &keep);
	free(q.topics);
	if (rc == 0)
		rc = metadata_apply(cl, &m);
	kc_resp_free(&keep);
	return rc;
}

int kc_topic_lookup(struct kc_cluster *cl, const char *name, int auto_create,
    int32_t *nparts)
{
	int64_t deadline = ks__monotonic_ns() +
	    (int64_t)cl->rc.request_timeout_ms * 1000000;
	int64_t max_age = (int64_t)cl->rc.metadata_max_age_ms * 1000000;
	int refreshed = 0, rc;

	for (;;) {
		struct kc_mtopic *t;
		int16_t err = -1;
		int32_t np = 0;

		pthread_mutex_lock(&cl->mu);
		if ((t = kc_topic_find(cl, name)) &&
		    ks__monotonic_ns() - cl->md_ns < max_age) {
			err = t->err;
			np = t->nparts;
		}
		pthread_mutex_unlock(&cl->mu);
		if (err == 0 && np > 0) {
			*nparts = np;
			return 0;
		}
		/* unknown: ask once; being created: ask until it is there */
		if (refreshed && err == KP_UNKNOWN_TOPIC_OR_PARTITION)
			return kc_err(err);
		if (refreshed && err != KP_LEADER_NOT_AVAILABLE && err != 0 &&
		    !kc_retriable(err) && err != -1)
			return kc_err(err);
		if (refreshed && ks__monotonic_ns() > deadline)
			return err > 0 ? kc_err(err) : KS_ETIMEDOUT;
		if (refreshed)
			usleep((useconds_t)cl->rc.retry_backoff_ms * 1000);
		if ((rc = kc_metadata(cl, &name, 1, auto_create)) != 0 &&
		    ks__monotonic_ns() > deadline)
			return rc;
		refreshed = 1;
	}
}

int32_t kc_leader(struct kc_cluster *cl, const char *topic, int32_t part)
{
	struct kc_mtopic *t;
	int32_t leader = -1;

	pthread_mutex_lock(&cl->mu);
	if ((t = kc_topic_find(cl, topic)) && part >= 0 && part < t->nparts &&
	    t->parts[part].err != KP_LEADER_NOT_AVAILABLE)
		leader = t->parts[part].leader;
	pthread_mutex_unlock(&cl->mu);
	return leader;
}

/* ---- the cluster ------------------------------------------------------- */

static void loop_start(void *arg)
{
	struct kc_cluster *cl = arg;
	if (ks_timer_new(cl->net, sweep, cl, &cl->sweep) == 0)
		ks_timer_arm(cl->sweep, 100);
	pthread_mutex_lock(&cl->mu);
	cl->started = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static char *dup_opt(const char *s, int *fail)
{
	char *d = NULL;
	if (s && !(d = strdup(s)))
		*fail = 1;
	return d;
}

/* Adds one bootstrap entry: "tcp://h:p", "tls+tcp://h:p" or "h:p". */
static int boot_add(struct kc_cluster *cl, const char *s, size_t len)
{
	char buf[320], url[340];
	ks_url_t u;

	if (len == 0 || len >= sizeof buf)
		return KS_EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	snprintf(url, sizeof url, strstr(buf, "://") ? "%s" : "tcp://%s",
	    buf);
	if (ks_url_parse(url, &u) != 0 || u.port <= 0 ||
	    (strcmp(u.scheme, "tcp") && strcmp(u.scheme, "tls+tcp")))
		return KS_EINVAL;
	if (!cl->scheme[0])
		snprintf(cl->scheme, sizeof cl->scheme, "%s", u.scheme);
	if (!broker_add(cl, -1 - (int32_t)cl->nbrokers, url))
		return KS_ENOMEM;
	cl->nboot++;
	return 0;
}

int kc_cluster_new(const char *bootstrap, const ks_remote_config_t *rc,
    const char *client_id, struct kc_cluster **clp)
{
	struct kc_cluster *cl;
	struct kc_broker *b;
	const char *p, *e;
	int fail = 0, r;

	*clp = NULL;
	if (!bootstrap)
		return KS_EINVAL;
	if (!(cl = calloc(1, sizeof *cl)))
		return KS_ENOMEM;
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	if (rc)
		cl->rc = *rc;
	else
		ks_remote_config_init(&cl->rc);
	if (cl->rc.request_timeout_ms <= 0)
		cl->rc.request_timeout_ms = 30000;
	if (cl->rc.retry_backoff_ms < 0)
		cl->rc.retry_backoff_ms = 100;
	if (cl->rc.metadata_max_age_ms <= 0)
		cl->rc.metadata_max_age_ms = 300000;
	if (cl->rc.tls) {
		fail |= kc_tls_copy(&cl->tls, cl->tls_strs, cl->rc.tls) != 0;
		cl->have_tls = 1;
	}
	cl->rc.tls = NULL;
	cl->client_id = dup_opt(client_id ? client_id : "kstream", &fail);
	r = fail ? KS_ENOMEM : 0;
	for (p = bootstrap; r == 0 && *p; p = *e ? e + 1 : e) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, ",");
		r = boot_add(cl, p, (size_t)(e - p));
	}
	if (r == 0 && cl->nboot == 0)
		r = KS_EINVAL;
	if (r == 0) {
		/* a refused handshake is said through the client's log */
		ks_net_config_t nc;
		ks_net_config_init(&nc);
		if (cl->rc.log_cb) {
			nc.log_cb = cl->rc.log_cb;
			nc.log_opaque = cl->rc.log_opaque;
		}
		r = ks_net_new(&nc, &cl->net);
	}
	if (r == 0 &&
	    (r = ks_net_call(cl->net, loop_start, cl)) == 0) {
		pthread_mutex_lock(&cl->mu);
		while (!cl->started)
			pthread_cond_wait(&cl->cv, &cl->mu);
		pthread_mutex_unlock(&cl->mu);
	}
	if (r == 0)
		r = kc_any_broker(cl, &b); /* a bootstrap broker answers */
	if (r) {
		kc_cluster_free(cl);
		return r;
	}
	*clp = cl;
	return 0;
}

void kc_cluster_free(struct kc_cluster *cl)
{
	size_t i;

	if (!cl)
		return;
	pthread_mutex_lock(&cl->mu);
	cl->closing = 1;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
	/* every connection closes (pending requests fail), the sweep
	 * timer goes with the loop */
	if (cl->net)
		ks_net_free(cl->net);
	for (i = 0; i < cl->nbrokers; i++) {
		free(cl->brokers[i]->url);
		free(cl->brokers[i]);
	}
	free(cl->brokers);
	for (i = 0; i < cl->ntopics; i++)
		mtopic_free(&cl->topics[i]);
	free(cl->topics);
	for (i = 0; i < 4; i++)
		free(cl->tls_strs[i]);
	free(cl->client_id);
	pthread_cond_destroy(&cl->cv);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

void ks_remote_config_init(ks_remote_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->request_timeout_ms = 30000;
	cfg->retries = 5;
	cfg->retry_backoff_ms = 100;
	cfg->metadata_max_age_ms = 300000;
	cfg->fetch_max_wait_ms = 500;
	cfg->fetch_min_bytes = 1;
	cfg->fetch_max_bytes = 52428800;
	cfg->max_partition_fetch_bytes = 1048576;
	cfg->log_cb = ks_log_stderr;
	cfg->log_opaque = NULL;
}
