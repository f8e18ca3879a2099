/*
 * server.c: the Kafka server's lifecycle, connections and dispatch.
 *
 * A server is a ks_net_t (its own loop thread) whose listeners all use the
 * handlers below. Each connection gets a refcounted ks__kconn; a request
 * is decoded on the loop, handed to its API's handler (server_*.c) and
 * answered at once, or held and answered later. The topic handles the
 * handlers use are cached here for the server's life.
 */
#include "kafka/server_impl.h"
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100 /* how often the coordinator's timeouts are applied */
#define SWEEP_TICKS 10 /* and deleted topics' handles released (1 s) */

void ks_kafka_server_config_init(ks_kafka_server_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->node_id = 0;
	cfg->auto_create_topics = 1;
	cfg->num_partitions = 1;
	ks_net_config_init(&cfg->net);
	cfg->net.log_cb = NULL; /* the server's own (see below) */
	cfg->max_wait_ms_cap = 30000;
}

/* ---- connections ------------------------------------------------------- */

void ks__kconn_ref(struct ks__kconn *kc)
{
	atomic_fetch_add(&kc->refs, 1);
}

/* Any thread: by the last release the connection is closed (conn NULL). */
void ks__kconn_unref(struct ks__kconn *kc)
{
	if (kc && atomic_fetch_sub(&kc->refs, 1) == 1)
		free(kc);
}

int ks__kresp_begin(kp_io_t *out, const kp_req_hdr_t *hdr)
{
	int32_t corr = hdr->correlation_id;

	kp_writer_init(out);
	kp_w_frame_begin(out);
	return kp_resp_hdr(out, hdr->api_key, hdr->api_version, &corr);
}

/* Finishes and sends a response frame on kc (if it is still open). */
static void send_frame(struct ks__kconn *kc, kp_io_t *out)
{
	int rc;

	if (!kc->conn)
		return;
	rc = kp_w_frame_end(out);
	if (rc == 0)
		rc = kp_w_send(out, kc->conn);
	if (rc) {
		KS__KLOG(kc->srv, KS_LOG_WARNING, "kafka server: %s: cannot "
		    "answer: %s", ks_conn_peer(kc->conn), ks_strerror(rc));
		ks_conn_close(kc->conn);
	}
}

void ks__ksrv_answer(struct ks__kconn *kc, kp_io_t *out)
{
	send_frame(kc, out);
	kp_writer_free(out);
	if (kc->conn) {
		ks__kmetrics_answered(kc);
		ks_conn_resume(kc->conn);
	}
}

/* ---- the hub: answers made on other threads ------------------------------ */

static struct ks__khub *hub_new(ks_net_t *net)
{
	struct ks__khub *hub = calloc(1, sizeof *hub);

	if (!hub)
		return NULL;
	pthread_mutex_init(&hub->mu, NULL);
	hub->net = net;
	atomic_init(&hub->refs, 1);
	hub->tail = &hub->head;
	return hub;
}

static void answers_free(struct ks__kanswer *a)
{
	struct ks__kanswer *next;

	for (; a; a = next) {
		next = a->next;
		kp_writer_free(&a->out);
		ks__kconn_unref(a->kc);
		free(a);
	}
}

void ks__khub_unref(struct ks__khub *hub)
{
	if (!hub || atomic_fetch_sub(&hub->refs, 1) != 1)
		return;
	answers_free(hub->head);
	pthread_mutex_destroy(&hub->mu);
	free(hub);
}

/* Loop: sends what other threads answered. The hub is alive: the server
 * holds it until ks_net_free has returned, and this runs before. */
static void hub_drain(void *arg)
{
	struct ks__khub *hub = arg;
	struct ks__kanswer *a, *next;

	pthread_mutex_lock(&hub->mu);
	a = hub->head;
	hub->head = NULL;
	hub->tail = &hub->head;
	hub->drain_queued = 0;
	pthread_mutex_unlock(&hub->mu);
	for (; a; a = next) {
		next = a->next;
		if (a->resume_only) {
			if (a->kc->conn) {
				ks__kmetrics_answered(a->kc);
				ks_conn_resume(a->kc->conn);
			}
		} else {
			ks__ksrv_answer(a->kc, &a->out);
		}
		ks__kconn_unref(a->kc);
		free(a);
	}
}

void ks__khub_post(struct ks__khub *hub, struct ks__kconn *kc, kp_io_t *out)
{
	struct ks__kanswer *a = malloc(sizeof *a);

	pthread_mutex_lock(&hub->mu);
	if (!a || !hub->net) {
		/* Gone (or no memory: the connection stays held until the
		 * client's request timeout closes it). */
		pthread_mutex_unlock(&hub->mu);
		if (out)
			kp_writer_free(out);
		ks__kconn_unref(kc);
		free(a);
		return;
	}
	a->next = NULL;
	a->kc = kc;
	a->resume_only = out == NULL;
	if (out)
		a->out = *out;
	else
		kp_writer_init(&a->out);
	*hub->tail = a;
	hub->tail = &a->next;
	if (!hub->drain_queued &&
	    ks_net_call(hub->net, hub_drain, hub) == 0)
		hub->drain_queued = 1;
	pthread_mutex_unlock(&hub->mu);
}

void ks__khub_resume(struct ks__khub *hub, struct ks__kconn *kc)
{
	ks__khub_post(hub, kc, NULL);
}

/* ---- topic handles -------------------------------------------------------- */

static int topic_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ks__ktopic *)elem)->name);
}

static size_t topic_pos(ks_kafka_server_t *srv, const char *name, int *found)
{
	size_t lo = 0, hi = srv->ntopics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = topic_cmp(name, &srv->topics[mid]);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = 0;
	return lo;
}

ks_topic_t *ks__ksrv_topic(ks_kafka_server_t *srv, const char *name, int *err)
{
	struct ks__ktopic *t;
	ks_topic_t *topic;
	size_t pos;
	int found, rc;

	pos = topic_pos(srv, name, &found);
	if (found)
		return srv->topics[pos].topic;
	if ((rc = ks_topic_open(srv->store, name, &topic)) != 0) {
		*err = rc;
		return NULL;
	}
	if (srv->ntopics == srv->captopics) {
		size_t cap = srv->captopics ? srv->captopics * 2 : 16;
		t = realloc(srv->topics, cap * sizeof *t);
		if (!t)
			goto nomem;
		srv->topics = t;
		srv->captopics = cap;
	}
	t = &srv->topics[pos];
	memmove(t + 1, t, (srv->ntopics - pos) * sizeof *t);
	if (!(t->name = strdup(name))) {
		memmove(t, t + 1, (srv->ntopics - pos) * sizeof *t);
		goto nomem;
	}
	t->topic = topic;
	srv->ntopics++;
	return topic;
nomem:
	ks_topic_release(topic);
	*err = KS_ENOMEM;
	return NULL;
}

void ks__ksrv_topic_forget(ks_kafka_server_t *srv, const char *name)
{
	size_t pos;
	int found;

	pos = topic_pos(srv, name, &found);
	if (!found)
		return;
	ks_topic_release(srv->topics[pos].topic);
	free(srv->topics[pos].name);
	srv->ntopics--;
	memmove(&srv->topics[pos], &srv->topics[pos + 1],
	    (srv->ntopics - pos) * sizeof *srv->topics);
}

int ks__ksrv_log(ks_kafka_server_t *srv, const char *topic, int32_t p,
    ks_log_t **logp)
{
	ks_topic_t *t;
	int rc = 0, tries;

	/* A cached handle of a topic deleted (by anyone) since says
	 * KS_ETOPIC: forget it and look again, as a topic of that name may
	 * have been created anew. */
	for (tries = 0; tries < 2; tries++) {
		if (!(t = ks__ksrv_topic(srv, topic, &rc)))
			return rc;
		rc = ks_topic_partition(t, p, logp);
		if (rc != KS_ETOPIC)
			return rc;
		ks__ksrv_topic_forget(srv, topic);
	}
	return rc;
}

static void topics_release(ks_kafka_server_t *srv)
{
	size_t i;

	for (i = 0; i < srv->ntopics; i++) {
		ks_topic_release(srv->topics[i].topic);
		free(srv->topics[i].name);
	}
	free(srv->topics);
	srv->topics = NULL;
	srv->ntopics = srv->captopics = 0;
}

int16_t ks__ksrv_err(int ks_err)
{
	return ks__kafka_err_from_ks(ks_err);
}

/* ---- dispatch ------------------------------------------------------------- */

typedef int handler_fn(ks__kreq_t *rq);

static handler_fn *handler_for(int16_t key)
{
	switch (key) {
	case KP_PRODUCE: return ks__kh_produce;
	case KP_FETCH: return ks__kh_fetch;
	case KP_LIST_OFFSETS: return ks__kh_list_offsets;
	case KP_METADATA: return ks__kh_metadata;
	case KP_OFFSET_COMMIT: return ks__kh_offset_commit;
	case KP_OFFSET_FETCH: return ks__kh_offset_fetch;
	case KP_FIND_COORDINATOR: return ks__kh_find_coordinator;
	case KP_JOIN_GROUP: return ks__kh_join_group;
	case KP_HEARTBEAT: return ks__kh_heartbeat;
	case KP_LEAVE_GROUP: return ks__kh_leave_group;
	case KP_SYNC_GROUP: return ks__kh_sync_group;
	case KP_DESCRIBE_GROUPS: return ks__kh_describe_groups;
	case KP_LIST_GROUPS: return ks__kh_list_groups;
	case KP_API_VERSIONS: return ks__kh_api_versions;
	case KP_CREATE_TOPICS: return ks__kh_create_topics;
	case KP_DELETE_TOPICS: return ks__kh_delete_topics;
	case KP_DESCRIBE_CONFIGS: return ks__kh_describe_configs;
	case KP_ALTER_CONFIGS: return ks__kh_alter_configs;
	case KP_CREATE_PARTITIONS: return ks__kh_create_partitions;
	case KP_DELETE_GROUPS: return ks__kh_delete_groups;
	case KP_INCREMENTAL_ALTER_CONFIGS:
		return ks__kh_incremental_alter_configs;
	case KP_OFFSET_FOR_LEADER_EPOCH:
		return ks__kh_offset_for_leader_epoch;
	case KP_ALTER_PARTITION:
	case KP_BROKER_REGISTRATION:
	case KP_BROKER_HEARTBEAT:
		return ks__kh_controller;
	}
	return NULL;
}

/*
 * The answer to ApiVersions at a version we do not speak: error 35 in a
 * v0-shaped body that still lists our ranges, so the client retries
 * lower (librdkafka sends v3 first; see NOTES).
 */
static int api_versions_unsupported(ks__kreq_t *rq)
{
	kp_api_versions_resp_t m;
	kp_req_hdr_t h = rq->hdr;

	h.api_version = 0;
	kp_writer_free(&rq->out);
	ks__kresp_begin(&rq->out, &h);
	if (ks__kapi_versions_fill(&m, rq->arena, KP_UNSUPPORTED_VERSION))
		return KS_ENOMEM;
	ks__kmetrics_resp(rq->srv->hub, KP_API_VERSIONS, &m);
	return kp_api_versions_resp(&rq->out, &m);
}

static void close_conn(struct ks__kconn *kc, int level, const char *why,
    const kp_req_hdr_t *h)
{
	if (h)
		KS__KLOG(kc->srv, level, "kafka server: %s: closing: %s "
		    "(%s v%d, key %d)", ks_conn_peer(kc->conn), why,
		    kp_api_name(h->api_key), h->api_version, h->api_key);
	else
		KS__KLOG(kc->srv, level, "kafka server: %s: closing: %s",
		    ks_conn_peer(kc->conn), why);
	ks_conn_close(kc->conn);
}

static int on_frame(void *arg, ks_conn_t *conn, const void *frame,
    size_t len)
{
	ks_kafka_server_t *srv = ((struct ks__klistener *)arg)->srv;
	struct ks__kconn *kc = ks_conn_data(conn);
	ks__kreq_t rq;
	kp_arena_t arena;
	kp_io_t in;
	handler_fn *fn;
	int rc;

	if (!kc)
		return KS_FRAME_HOLD; /* being closed */
	kp_arena_init(&arena);
	kp_reader_init(&in, frame, len, &arena);
	memset(&rq, 0, sizeof rq);
	rq.srv = srv;
	rq.kc = kc;
	rq.in = &in;
	rq.arena = &arena;
	if (kp_req_hdr(&in, &rq.hdr) != 0) {
		ks__kmetrics_bad(srv);
		close_conn(kc, KS_LOG_NOTICE, "malformed request header",
		    NULL);
		kp_arena_free(&arena);
		return KS_FRAME_HOLD;
	}
	if (!(fn = handler_for(rq.hdr.api_key))) {
		ks__kmetrics_bad(srv);
		close_conn(kc, KS_LOG_NOTICE, "unknown API", &rq.hdr);
		kp_arena_free(&arena);
		return KS_FRAME_HOLD;
	}
	ks__kmetrics_request(kc, rq.hdr.api_key);
	if ((rc = ks__kresp_begin(&rq.out, &rq.hdr)) != 0)
		goto fail;
	if (!kp_api_supported(rq.hdr.api_key, rq.hdr.api_version)) {
		if (rq.hdr.api_key != KP_API_VERSIONS) {
			ks__kmetrics_bad(srv);
			kp_writer_free(&rq.out);
			close_conn(kc, KS_LOG_NOTICE, "unsupported version",
			    &rq.hdr);
			kp_arena_free(&arena);
			return KS_FRAME_HOLD;
		}
		rc = api_versions_unsupported(&rq);
	} else {
		rc = fn(&rq);
	}
	switch (rc) {
	case KS__K_ANSWER:
		ks__kmetrics_answered(kc);
		send_frame(kc, &rq.out);
		kp_writer_free(&rq.out);
		kp_arena_free(&arena);
		return KS_FRAME_NEXT;
	case KS__K_SILENT:
		ks__kmetrics_answered(kc);
		kp_writer_free(&rq.out);
		kp_arena_free(&arena);
		return KS_FRAME_NEXT;
	case KS__K_HOLD:
		/* The handler moved the answer (rq.out is empty) and maybe
		 * the arena elsewhere. */
		kp_writer_free(&rq.out);
		kp_arena_free(&arena);
		return KS_FRAME_HOLD;
	}
fail:
	if (rc == KS_ECORRUPT)
		ks__kmetrics_bad(srv);
	kp_writer_free(&rq.out);
	close_conn(kc, KS_LOG_NOTICE, rc == KS_ECORRUPT ?
	    "malformed request" : ks_strerror(rc), &rq.hdr);
	kp_arena_free(&arena);
	return KS_FRAME_HOLD;
}

static void on_event(void *arg, ks_conn_t *conn, int event, int err)
{
	struct ks__klistener *kl = arg;
	ks_kafka_server_t *srv = kl->srv;
	struct ks__kconn *kc;

	if (event == KS_CONN_OPEN) {
		if (!(kc = calloc(1, sizeof *kc))) {
			KS__KLOG(srv, KS_LOG_WARNING, "kafka server: %s: out "
			    "of memory", ks_conn_peer(conn));
			ks_conn_close(conn);
			return;
		}
		atomic_init(&kc->refs, 1);
		kc->conn = conn;
		kc->srv = srv;
		kc->kl = kl;
		kc->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = kc;
		srv->conns = kc;
		ks_conn_set_data(conn, kc);
		return;
	}
	if (event != KS_CONN_CLOSED || !(kc = ks_conn_data(conn)))
		return;
	if (err == KS_EMSGSIZE) /* the transport refused a frame's length */
		ks__kmetrics_bad(srv);
	if (err && err != -ECONNRESET)
		KS__KLOG(srv, KS_LOG_INFO, "kafka server: %s: closed: %s",
		    ks_conn_peer(conn), ks_strerror(err));
	ks_conn_set_data(conn, NULL);
	if (kc->fetch)
		ks__kfetch_cancel(kc->fetch);
	kc->conn = NULL;
	if (kc->prev)
		kc->prev->next = kc->next;
	else
		srv->conns = kc->next;
	if (kc->next)
		kc->next->prev = kc->prev;
	kc->prev = kc->next = NULL;
	ks__kconn_unref(kc);
}

/* ---- running things on the loop and waiting ------------------------------- */

struct sync_call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	void (*fn)(ks_kafka_server_t *srv);
	ks_kafka_server_t *srv;
};

static void sync_trampoline(void *arg)
{
	struct sync_call *sc = arg;

	sc->fn(sc->srv);
	pthread_mutex_lock(&sc->mu);
	sc->done = 1;
	pthread_cond_signal(&sc->cv);
	pthread_mutex_unlock(&sc->mu);
}

static int on_loop(ks_kafka_server_t *srv, void (*fn)(ks_kafka_server_t *))
{
	struct sync_call sc = {
		.mu = PTHREAD_MUTEX_INITIALIZER,
		.cv = PTHREAD_COND_INITIALIZER,
		.fn = fn,
		.srv = srv,
	};
	int rc = ks_net_call(srv->net, sync_trampoline, &sc);

	if (rc == 0) {
		pthread_mutex_lock(&sc.mu);
		while (!sc.done)
			pthread_cond_wait(&sc.cv, &sc.mu);
		pthread_mutex_unlock(&sc.mu);
	}
	pthread_cond_destroy(&sc.cv);
	pthread_mutex_destroy(&sc.mu);
	return rc;
}

static void cluster_on_loop(ks_kafka_server_t *srv)
{
	pthread_mutex_lock(&srv->cmu);
	srv->cops = srv->cops_next;
	srv->cl = srv->cl_next;
	pthread_mutex_unlock(&srv->cmu);
}

/* Set on the loop and waited for: once this returns, no request is in
 * the old hooks, and every later one sees the new. */
void ks__kafka_server_set_cluster(ks_kafka_server_t *srv,
    const struct ks__kcluster_ops *ops, void *c)
{
	pthread_mutex_lock(&srv->cmu);
	srv->cops_next = ops;
	srv->cl_next = ops ? c : NULL;
	pthread_mutex_unlock(&srv->cmu);
	if (on_loop(srv, cluster_on_loop) != 0)
		cluster_on_loop(srv); /* no loop running: nothing races */
	/* a durable Produce a worker runs took the old hooks: it ends first */
	ks__kproduce_quiesce(srv);
}

/*
 * Releases cached handles of topics deleted by someone else (the store's
 * owner in process): a handle held keeps the name busy (KS_EBUSY for a
 * new ks_topic_create) and the files on disk.
 */
static void topics_sweep(ks_kafka_server_t *srv)
{
	ks_log_t *log;
	size_t i = 0;

	while (i < srv->ntopics) {
		if (ks_topic_partition(srv->topics[i].topic, 0, &log) ==
		    KS_ETOPIC)
			ks__ksrv_topic_forget(srv, srv->topics[i].name);
		else
			i++;
	}
}

static void on_tick(void *arg)
{
	ks_kafka_server_t *srv = arg;

	if (srv->coord)
		ks_coordinator_tick(srv->coord, -1);
	if (++srv->ticks % SWEEP_TICKS == 0)
		topics_sweep(srv);
	ks_timer_arm(srv->tick, TICK_MS);
}

static void setup_on_loop(ks_kafka_server_t *srv)
{
	if (ks_timer_new(srv->net, on_tick, srv, &srv->tick) == 0)
		ks_timer_arm(srv->tick, TICK_MS);
	ks__kmetrics_start(srv);
}

/* Drops every pending long poll and cached handle; frames still coming
 * before ks_net_free closes the connections find no topics held. */
static void teardown_on_loop(ks_kafka_server_t *srv)
{
	struct ks__kconn *kc;

	ks_timer_free(srv->tick);
	srv->tick = NULL;
	ks__kmetrics_stop(srv);
	for (kc = srv->conns; kc; kc = kc->next)
		if (kc->fetch)
			ks__kfetch_cancel(kc->fetch);
}

/* ---- the public API -------------------------------------------------------- */

int ks_kafka_server_new(ks_store_t *store, const ks_kafka_server_config_t *cfg,
    ks_kafka_server_t **srvp)
{
	ks_kafka_server_config_t dflt;
	ks_kafka_server_t *srv;
	int rc;

	if (!srvp)
		return KS_EINVAL;
	*srvp = NULL;
	if (!cfg) {
		ks_kafka_server_config_init(&dflt);
		cfg = &dflt;
	}
	if (!store || cfg->node_id < 0 || cfg->num_partitions < 1 ||
	    cfg->max_wait_ms_cap < 0 || cfg->advertised_port < 0 ||
	    cfg->stats_interval_ms < 0 ||
	    cfg->advertised_port > 65535)
		return KS_EINVAL;
	if (store->rdonly)
		return KS_ERDONLY;
	if (!(srv = calloc(1, sizeof *srv)))
		return KS_ENOMEM;
	srv->store = store;
	srv->cfg = *cfg;
	srv->log_cb = cfg->log_cb ? cfg->log_cb : store->cfg.log_cb;
	srv->log_opaque = cfg->log_cb ? cfg->log_opaque : store->cfg.log_opaque;
	srv->cluster_id = strdup(cfg->cluster_id ? cfg->cluster_id :
	    "kstream");
	srv->adv_host = cfg->advertised_host ? strdup(cfg->advertised_host) :
	    NULL;
	srv->adv_port = cfg->advertised_port;
	srv->adv_host_fixed = cfg->advertised_host != NULL;
	srv->cfg.cluster_id = srv->cluster_id;
	srv->cfg.advertised_host = NULL; /* srv->adv_host, under mu */
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->cmu, NULL);
	pthread_mutex_init(&srv->pmu, NULL);
	pthread_cond_init(&srv->pcv, NULL);
	srv->pjobs_tail = &srv->pjobs;
	atomic_init(&srv->wake_queued, 0);
	if (!srv->cluster_id || (cfg->advertised_host && !srv->adv_host)) {
		rc = KS_ENOMEM;
		goto fail;
	}
	srv->coord = ks_store_coordinator(store);
	if (!srv->coord)
		KS__KLOG(srv, KS_LOG_WARNING, "kafka server: the store has no "
		    "group coordinator: group requests will fail");
	{
		/* The transport logs where the server does, unless told. */
		ks_net_config_t nc = cfg->net;

		if (!nc.log_cb) {
			nc.log_cb = srv->log_cb;
			nc.log_opaque = srv->log_opaque;
		}
		if ((rc = ks_net_new(&nc, &srv->net)) != 0)
			goto fail;
	}
	if (!(srv->hub = hub_new(srv->net))) {
		rc = KS_ENOMEM;
		goto fail;
	}
	if ((rc = ks__kproduce_start(srv)) != 0)
		goto fail;
	if ((rc = on_loop(srv, setup_on_loop)) != 0)
		goto fail;
	*srvp = srv;
	return 0;
fail:
	ks__kproduce_stop(srv);
	ks_net_free(srv->net);
	ks__khub_unref(srv->hub);
	pthread_cond_destroy(&srv->pcv);
	pthread_mutex_destroy(&srv->pmu);
	pthread_mutex_destroy(&srv->mu);
	pthread_mutex_destroy(&srv->cmu);
	free(srv->cluster_id);
	free(srv->adv_host);
	free(srv);
	return rc;
}

int ks_kafka_server_listen(ks_kafka_server_t *srv, const char *url,
    const ks_tls_config_t *tls)
{
	ks_conn_handler_t h = { .frame = on_frame, .event = on_event };
	struct ks__klistener *kl, **ls;
	ks_url_t u;
	int rc;

	if (!srv || !url)
		return KS_EINVAL;
	if (ks_url_parse(url, &u) != 0)
		return KS_EINVAL;
	if (!(kl = calloc(1, sizeof *kl)))
		return KS_ENOMEM;
	pthread_mutex_lock(&srv->mu);
	ls = realloc(srv->listeners, (size_t)(srv->nlisteners + 1) *
	    sizeof *ls);
	if (ls)
		srv->listeners = ls;
	pthread_mutex_unlock(&srv->mu);
	if (!ls) {
		free(kl);
		return KS_ENOMEM;
	}
	kl->srv = srv;
	h.arg = kl;
	if ((rc = ks_net_listen(srv->net, url, tls, &h, &kl->l)) != 0) {
		free(kl);
		return rc;
	}
	/* What this listener's clients are told: its own host and port,
	 * a wildcard address as loopback. A unix listener has no port:
	 * its clients hear of the first TCP listener. */
	pthread_mutex_lock(&srv->mu);
	if (!strcmp(u.scheme, "unix")) {
		kl->host[0] = '\0';
	} else {
		const char *host = u.host;
		if (!*host || !strcmp(host, "0.0.0.0"))
			host = "127.0.0.1";
		else if (!strcmp(host, "::"))
			host = "::1";
		snprintf(kl->host, sizeof kl->host, "%s", host);
		kl->port = ks_listener_port(kl->l);
		if (!srv->adv_host)
			srv->adv_host = strdup(kl->host);
		if (!srv->adv_port && kl->port > 0)
			srv->adv_port = kl->port;
	}
	srv->listeners[srv->nlisteners++] = kl;
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

int ks_kafka_server_url(ks_kafka_server_t *srv, int i, char *buf, size_t len)
{
	int rc;

	if (!srv || !buf)
		return KS_EINVAL;
	pthread_mutex_lock(&srv->mu);
	rc = i >= 0 && i < srv->nlisteners ?
	    ks_listener_url(srv->listeners[i]->l, buf, len) : KS_EINVAL;
	pthread_mutex_unlock(&srv->mu);
	return rc;
}

void ks__ksrv_advertised(const struct ks__kconn *kc, char *host, size_t len,
    int32_t *port)
{
	ks_kafka_server_t *srv = kc->srv;
	const struct ks__klistener *kl = kc->kl;
	const char *h = srv->adv_host;

	pthread_mutex_lock(&srv->mu);
	if (!srv->adv_host_fixed && kl->host[0])
		h = kl->host;
	snprintf(host, len, "%s", h ? h : "127.0.0.1");
	*port = srv->cfg.advertised_port ? srv->cfg.advertised_port :
	    kl->port > 0 ? kl->port : srv->adv_port;
	pthread_mutex_unlock(&srv->mu);
}

void ks_kafka_server_free(ks_kafka_server_t *srv)
{
	int i;

	if (!srv)
		return;
	on_loop(srv, teardown_on_loop);
	/* From here answers made elsewhere are dropped, not queued. */
	pthread_mutex_lock(&srv->hub->mu);
	srv->hub->net = NULL;
	pthread_mutex_unlock(&srv->hub->mu);
	/* Queued durable appends are dropped unanswered; one running
	 * finishes (its answer dropped) before this returns. */
	ks__kproduce_stop(srv);
	ks_net_free(srv->net); /* closes listeners and connections */
	topics_release(srv);   /* the loop thread is gone */
	ks__khub_unref(srv->hub);
	for (i = 0; i < srv->nlisteners; i++)
		free(srv->listeners[i]);
	free(srv->listeners);
	pthread_cond_destroy(&srv->pcv);
	pthread_mutex_destroy(&srv->pmu);
	pthread_mutex_destroy(&srv->mu);
	pthread_mutex_destroy(&srv->cmu);
	free(srv->cluster_id);
	free(srv->adv_host);
	free(srv);
}
