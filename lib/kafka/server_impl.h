/*
 * server_impl.h: what the Kafka server's files share (server.c: lifecycle,
 * connections, dispatch; server_meta.c, server_produce.c, server_fetch.c,
 * server_group.c, server_admin.c: the APIs).
 *
 * Threads. Everything here runs on the ks_net_t's loop thread except where
 * a comment says otherwise: log watchers (the appending thread) and the
 * coordinator's join and sync callbacks (any thread), the Produce workers
 * (durable appends, server_produce.c). Those never touch a connection;
 * they hand their work to the loop with ks_net_call (ks__khub_post).
 *
 * Answers in order: a connection delivers one request at a time. A handler
 * answers at once, or returns KS__K_HOLD and answers later (a long poll, a
 * group join), after which the connection is resumed.
 */
#ifndef KS_KAFKA_SERVER_IMPL_H
#define KS_KAFKA_SERVER_IMPL_H

#include "core/internal.h"
#include "core/metrics_impl.h"
#include "kafka/msg.h"
#include "kafka/proto.h"
#include "kafka/server_cluster.h"

#include <kstream/group.h>
#include <kstream/kafka.h>
#include <pthread.h>
#include <stdatomic.h>

/* What a handler returns (else a negative code: close the connection). */
#define KS__K_ANSWER 0  /* rq->out holds the response body: send it */
#define KS__K_HOLD 1    /* the answer comes later (ks__ksrv_answer) */
#define KS__K_SILENT 2  /* no answer at all (Produce with acks=0) */

struct ks__kconn;

/*
 * What the server counts (server_metrics.c), per API key and Kafka error
 * code; relaxed atomics, added from the loop and the Produce workers and
 * the coordinator's callbacks, read by any thread. It lives in the hub
 * because those callbacks may answer after the server is gone.
 */
#define KS__KM_APIS 72      /* API keys 0..71 (Kafka's end below) */
#define KS__KM_ERRS 121     /* error codes -1..119 (others: as -1) */

struct ks__kmetrics {
	uint64_t requests[KS__KM_APIS];
	ks__hist_t latency[KS__KM_APIS]; /* receive to answer queued; loop */
	uint64_t errors[KS__KM_APIS][KS__KM_ERRS]; /* [api][code + 1] */
	uint64_t bad_requests;      /* connections closed for bad requests */
};

/*
 * The hub outlives the server for as long as a join or sync it passed to
 * the coordinator is unanswered: the coordinator belongs to the store,
 * which may answer after ks_kafka_server_free(). net is NULL from the
 * moment the server starts going away; answers then are dropped.
 */
struct ks__khub {
	pthread_mutex_t mu;
	ks_net_t *net;             /* under mu */
	atomic_int refs;           /* the server's, one per pending op */
	struct ks__kanswer *head;  /* answers made off the loop, under mu */
	struct ks__kanswer **tail;
	int drain_queued;          /* a ks_net_call to drain them is queued */
	struct ks__kmetrics km;    /* the server's counters */
};

/* A response made off the loop thread, waiting to be sent. */
struct ks__kanswer {
	struct ks__kanswer *next;
	struct ks__kconn *kc;      /* a reference */
	kp_io_t out;               /* the whole frame */
	int resume_only;           /* no frame: just resume kc (acks=0) */
};

/* A Produce to a durable topic, appended by a worker (server_produce.c). */
struct ks__kpjob;

#define KS__KPRODUCE_WORKERS 4

/* A topic handle kept for the server's lifetime (loop thread only). */
struct ks__ktopic {
	char *name;
	ks_topic_t *topic;
};

struct ks__kfetch;

/*
 * A listener and the address its clients are told in Metadata and
 * FindCoordinator (each listener its own, as Kafka's advertised
 * listeners: a TLS client is sent to the TLS port). Under srv->mu.
 */
struct ks__klistener {
	ks_kafka_server_t *srv;
	ks_listener_t *l;
	char host[256];            /* "": the server's */
	int port;                  /* <= 0 (unix): the server's */
};

/* Per connection. Refcounted: answers may outlive the connection. */
struct ks__kconn {
	atomic_int refs;
	ks_conn_t *conn;           /* NULL once closed (loop thread) */
	ks_kafka_server_t *srv;    /* valid while conn is not NULL */
	struct ks__klistener *kl;  /* the listener it came through */
	struct ks__kfetch *fetch;  /* the long poll waiting, if any */
	struct ks__kconn *prev, *next; /* srv->conns */
	/* The request being handled (one at a time), for its latency:
	 * loop thread only; req_t0 0 once observed. */
	int16_t req_api;
	int64_t req_t0;
};

struct ks_kafka_server {
	ks_store_t *store;
	ks_coordinator_t *coord;   /* the store's; NULL if it has none */
	ks_kafka_server_config_t cfg; /* strings point to the copies below */
	char *cluster_id;
	char *adv_host;            /* config's, or from the first listener */
	int adv_port;              /* config's, or the first TCP listener's */
	int adv_host_fixed;        /* the configuration gave the host */
	ks_log_cb *log_cb;
	void *log_opaque;
	ks_net_t *net;
	struct ks__khub *hub;

	pthread_mutex_t mu;        /* listeners and the advertised address */
	struct ks__klistener **listeners;
	int nlisteners;

	/* loop thread only */
	ks_timer_t *tick;
	unsigned ticks;
	struct ks__kconn *conns;
	struct ks__ktopic *topics; /* sorted by name */
	size_t ntopics, captopics;
	struct ks__kfetch *fetches;/* long polls waiting */
	atomic_int wake_queued;    /* a fetch wake-up is queued on the loop */

	/* Produce workers (server_produce.c): durable appends off the loop */
	pthread_mutex_t pmu;
	pthread_cond_t pcv;
	struct ks__kpjob *pjobs, **pjobs_tail; /* queued, under pmu */
	int pstop;                 /* under pmu: workers exit */
	uint64_t pstarted, pdone;  /* under pmu: jobs a worker took, ended */
	int nworkers;
	pthread_t workers[KS__KPRODUCE_WORKERS];

	/* server_metrics.c: the stats timer and the HTTP endpoint (loop
	 * thread; http_url under mu, "" when not serving) */
	ks_timer_t *stats_timer;
	struct evhttp *http;
	char http_path[256];
	char http_url[600];

	/* server_cluster.c: a cluster member's hooks (loop thread; set and
	 * cleared through the loop), NULL when the server stands alone */
	const struct ks__kcluster_ops *cops;
	void *cl;
	pthread_mutex_t cmu;       /* pending: set from other threads */
	const struct ks__kcluster_ops *cops_next;
	void *cl_next;
	atomic_int hw_wake_queued;
};

/* A decoded request being handled. */
typedef struct ks__kreq {
	ks_kafka_server_t *srv;
	struct ks__kconn *kc;
	kp_req_hdr_t hdr;
	kp_io_t *in;               /* the body reader, at hdr's version */
	kp_arena_t *arena;         /* in's allocations; a handler that holds
	                              may take it over (zeroing *arena) */
	kp_io_t out;               /* the response frame, header written */
} ks__kreq_t;

#define KS__KLOG(srv, level, ...) \
	ks__logf((srv)->log_cb, (srv)->log_opaque, (level), __VA_ARGS__)

/* server.c */
void ks__kconn_ref(struct ks__kconn *kc);
void ks__kconn_unref(struct ks__kconn *kc);
/* Begins a response frame for hdr (length prefix reserved, header
 * written) in out, a fresh writer. */
int ks__kresp_begin(kp_io_t *out, const kp_req_hdr_t *hdr);
/*
 * On the loop: sends a finished frame on kc (dropped if it closed),
 * resumes its frames, frees out. For held requests.
 */
void ks__ksrv_answer(struct ks__kconn *kc, kp_io_t *out);
/*
 * From any thread: hands a finished frame to the loop, to be sent on kc
 * and kc resumed (ks__ksrv_answer); dropped when the server is going
 * away. Takes a reference on kc from the caller, and out.
 */
void ks__khub_post(struct ks__khub *hub, struct ks__kconn *kc, kp_io_t *out);
/* The same with no frame (out NULL): kc is only resumed (acks=0). */
void ks__khub_resume(struct ks__khub *hub, struct ks__kconn *kc);
void ks__khub_unref(struct ks__khub *hub);
/*
 * A cached handle on topic name (loop thread): NULL with *err KS_ETOPIC
 * when there is no such topic, KS_ENAME for an invalid name. The handle
 * stays the server's.
 */
ks_topic_t *ks__ksrv_topic(ks_kafka_server_t *srv, const char *name,
    int *err);
/* The partition's log through the cache, coping with deleted topics. */
int ks__ksrv_log(ks_kafka_server_t *srv, const char *topic, int32_t p,
    ks_log_t **logp);
/* Drops the cached handle of a deleted topic. */
void ks__ksrv_topic_forget(ks_kafka_server_t *srv, const char *name);
/* The host (copied into host) and port told to kc's client. */
void ks__ksrv_advertised(const struct ks__kconn *kc, char *host, size_t len,
    int32_t *port);
/* ApiVersions' answer: our ranges (from the arena) and error_code. */
int ks__kapi_versions_fill(kp_api_versions_resp_t *m, kp_arena_t *arena,
    int16_t error_code);
/* A Kafka error code for a kstream error. */
int16_t ks__ksrv_err(int ks_err);

/* The API handlers. */
int ks__kh_api_versions(ks__kreq_t *rq);
int ks__kh_metadata(ks__kreq_t *rq);
int ks__kh_list_offsets(ks__kreq_t *rq);
int ks__kh_create_topics(ks__kreq_t *rq);
int ks__kh_delete_topics(ks__kreq_t *rq);
int ks__kh_produce(ks__kreq_t *rq);
int ks__kh_fetch(ks__kreq_t *rq);
int ks__kh_find_coordinator(ks__kreq_t *rq);
int ks__kh_join_group(ks__kreq_t *rq);
int ks__kh_sync_group(ks__kreq_t *rq);
int ks__kh_heartbeat(ks__kreq_t *rq);
int ks__kh_leave_group(ks__kreq_t *rq);
int ks__kh_offset_commit(ks__kreq_t *rq);
int ks__kh_offset_fetch(ks__kreq_t *rq);
int ks__kh_describe_groups(ks__kreq_t *rq);
int ks__kh_list_groups(ks__kreq_t *rq);
/* server_cluster.c: OffsetForLeaderEpoch, and the controller's APIs
 * handed to the cluster (closed when there is none) */
int ks__kh_offset_for_leader_epoch(ks__kreq_t *rq);
int ks__kh_controller(ks__kreq_t *rq);
/*
 * For a handler whose answer is encoded in rq->out: on a cluster member,
 * holds it until the high watermark of topic-p reaches the partition's
 * log end as it is now (what the handler just appended is replicated),
 * and returns KS__K_HOLD; if that cannot happen (timeout_ms, leadership
 * lost) the answer is dropped and the connection resumed: the client
 * times out and retries. KS__K_ANSWER when there is nothing to wait for.
 */
int ks__ksrv_answer_at_hw(ks__kreq_t *rq, const char *topic, int32_t p,
    int32_t timeout_ms);
/* The scheme of the listener kc came through ("tcp", "tls+tcp"). */
void ks__ksrv_scheme(const struct ks__kconn *kc, char *buf, size_t len);
/* server_admin.c */
int ks__kh_describe_configs(ks__kreq_t *rq);
int ks__kh_alter_configs(ks__kreq_t *rq);
int ks__kh_incremental_alter_configs(ks__kreq_t *rq);
int ks__kh_create_partitions(ks__kreq_t *rq);
int ks__kh_delete_groups(ks__kreq_t *rq);

/* server_produce.c: the worker pool. start: 0 or an error (none
 * running then); stop: drops queued jobs, joins the workers; quiesce:
 * waits until every job a worker had taken has ended (one taken later
 * sees the cluster hooks as they are now). */
int ks__kproduce_start(ks_kafka_server_t *srv);
void ks__kproduce_stop(ks_kafka_server_t *srv);
void ks__kproduce_quiesce(ks_kafka_server_t *srv);

/*
 * server_metrics.c. ks__kmetrics_request: a request of api arrived on kc
 * (loop). ks__kmetrics_answered: kc's request is answered (loop; also
 * for a held one, once). ks__kmetrics_resp: counts every non-zero error
 * code in the response m of api (a kp_<api>_resp_t) before it is
 * encoded; any thread. ks__kmetrics_error: one error code (any thread).
 * ks__kmetrics_bad: a connection closed for a malformed or unsupported
 * request. start/stop: the stats timer and HTTP endpoint, on the loop.
 */
void ks__kmetrics_request(struct ks__kconn *kc, int16_t api);
void ks__kmetrics_answered(struct ks__kconn *kc);
void ks__kmetrics_resp(struct ks__khub *hub, int16_t api, const void *m);
void ks__kmetrics_error(struct ks__khub *hub, int16_t api, int code);
void ks__kmetrics_bad(ks_kafka_server_t *srv);
void ks__kmetrics_start(ks_kafka_server_t *srv);
void ks__kmetrics_stop(ks_kafka_server_t *srv);

/* server_fetch.c: long polls. */
void ks__kfetch_cancel(struct ks__kfetch *f); /* unwatch, free; loop */
void ks__kfetch_wake_all(void *srv);          /* ks_net_call target */
void ks__kfetch_wake_fn(void *fetch);         /* ks_log_watch callback */
struct ks__kfetch *ks__kfetch_next(struct ks__kfetch *f); /* srv->fetches */
void ks__kfetch_flag(struct ks__kfetch *f);   /* look again at next wake */

/*
 * The group coordinator requests are answered with (loop thread): the
 * store's, unless this server is a cluster member that does not
 * coordinate groups now. ks__ksrv_nocoord: the error when there is none
 * here: NOT_COORDINATOR on such a member (clients ask FindCoordinator
 * again), COORDINATOR_NOT_AVAILABLE on a store without one.
 */
static inline ks_coordinator_t *ks__ksrv_coord(ks_kafka_server_t *srv)
{
	if (srv->cops && !srv->cops->is_coordinator(srv->cl))
		return NULL;
	return srv->coord;
}

static inline int16_t ks__ksrv_nocoord(ks_kafka_server_t *srv)
{
	return srv->cops && srv->coord ? KP_NOT_COORDINATOR :
	    KP_COORDINATOR_NOT_AVAILABLE;
}

/* n zeroed elements of size from the request's arena; at least one, so
 * that an empty array is not mistaken for a failed allocation. */
static inline void *ks__kalloc_n(kp_arena_t *arena, size_t n, size_t size)
{
	return kp_arena_alloc(arena, (n ? n : 1) * size);
}

#endif /* KS_KAFKA_SERVER_IMPL_H */
