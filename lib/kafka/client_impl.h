/*
 * client_impl.h: kstream's Kafka client, shared by client_conn.c (broker
 * connections, requests, metadata), client_producer.c, client_consumer.c
 * and client_group.c; and the hooks lib/client calls for a producer or a
 * consumer made by ks_producer_connect / ks_consumer_connect.
 *
 * Threads. Each producer or consumer owns one cluster (struct kc_cluster)
 * and its ks_net_t loop thread. Connections are dialed from user threads
 * (or the producer's sender thread), never from the loop; every request
 * is handed to the loop with ks_net_call, which numbers it (correlation
 * id), writes it and keeps it pending until its response or the
 * connection's end. A request's done callback runs on the loop thread,
 * exactly once.
 */
#ifndef KS_KAFKA_CLIENT_IMPL_H
#define KS_KAFKA_CLIENT_IMPL_H

#include "core/internal.h"
#include "kafka/msg.h"

#include <kstream/client.h>
#include <kstream/kafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- hooks for lib/client ------------------------------------------------ */

/*
 * lib/client calls into this layer only when built with KS_WITH_NET (the
 * Makefile's WITH_NET=1, which also builds lib/kafka): the constructors
 * refuse to make a remote client that the public calls would not reach.
 */
#ifdef KS_WITH_NET
#define KC_DISPATCH 1
#else
#define KC_DISPATCH 0
#endif

struct ks__rproducer;
struct ks__rconsumer;

/* producer.c: a ks_producer_t whose every call goes to r. */
int ks__producer_wrap(struct ks__rproducer *r, ks_producer_t **prodp);

int ks__remote_produce(struct ks__rproducer *r, const char *topic,
    int32_t partition, const ks_record_t *recs, size_t n, int flags,
    ks_produce_result_t *res);
int ks__remote_flush(struct ks__rproducer *r, int timeout_ms);
void ks__remote_producer_free(struct ks__rproducer *r);

/* The consumer's functions, entered by consumer.c and consumer_group.c
 * when c->remote is set (with c's one-thread rule not yet applied). */
void ks__remote_consumer_free(struct ks__rconsumer *r);
int ks__rc_close(ks_consumer_t *c);
int ks__rc_assign(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n);
int ks__rc_subscribe(ks_consumer_t *c, const char *const *topics, size_t n);
int ks__rc_unsubscribe(ks_consumer_t *c);
int ks__rc_poll(ks_consumer_t *c, int timeout_ms, const ks_message_t **msgs);
void ks__rc_release(ks_consumer_t *c);
int ks__rc_seek(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t offset);
int ks__rc_seek_time(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t ts);
int ks__rc_pause(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int paused);
int ks__rc_position(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t *offset, int lag);
int ks__rc_assignment(ks_consumer_t *c, const ks_topic_partition_t **parts,
    size_t *n);
int ks__rc_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int flags);
int ks__rc_committed(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t *offset);

/* ---- API keys, error codes, versions ------------------------------------ */

/*
 * Requests and responses are encoded and decoded by the codec the server
 * uses too (proto.h, msg.h), at the version negotiated per broker: the
 * API keys are proto.h's KP_*, Kafka's error codes its KP_* codes.
 * b->ver is indexed by API key, up to the highest key in kp_apis.
 */
#define KC_NAPI (KP_BROKER_HEARTBEAT + 1)

/* A KS_E* code for Kafka code k (ks__kafka_err_to_ks, proto.h), recorded
 * as the thread's last error for ks_kafka_last_error(). */
static inline int kc_err(int k)
{
	ks__kafka_set_last_error((int16_t)k);
	return k ? ks__kafka_err_to_ks((int16_t)k) : 0;
}

/*
 * kc_decode: decodes a response body of api at version ver into m (the
 * kp_<api>_resp_t of msg.h, size bytes, zeroed here). Strings and arrays
 * are allocated from arena, bytes point into body: both must outlive m.
 * 0, KS_ECORRUPT (malformed) or KS_ENOMEM.
 */
int kc_decode(int16_t api, int16_t ver, const uint8_t *body, size_t len,
    kp_arena_t *arena, void *m, size_t size);

/* ---- the cluster: brokers, connections, requests, metadata --------------- */

struct kc_broker;

/* done: err 0 and the response body (after the correlation id), or err < 0
 * and body NULL (connection gone, timed out). On the loop thread. */
typedef void kc_done_fn(void *arg, int err, const uint8_t *body, size_t len);

struct kc_req {
	struct kc_broker *b;
	int16_t api, ver;
	int32_t corr;
	int noresp;                 /* acks=0: no response comes */
	int64_t deadline_ns;        /* 0: request_timeout_ms from the send */
	kp_io_t w;                  /* the frame: length, header, body; owned
	                               bytes only (no references) */
	kc_done_fn *done;
	void *arg;
	struct kc_req *next;
};

struct kc_broker {
	struct kc_cluster *cl;
	int32_t id;                 /* node id; < 0 for bootstrap entries */
	char *url;
	/* under cl->mu: */
	int state;                  /* KC_DOWN, KC_CONNECTING, KC_UP */
	int64_t retry_ns;           /* no dial before this after a failure */
	int16_t ver[KC_NAPI];       /* chosen version, -1 unsupported */
	/* on the loop thread only: */
	ks_conn_t *conn;
	ks_conn_t *dead;            /* closed before it was set as conn */
	struct kc_req *pend, *pend_tail;
};

enum { KC_DOWN, KC_CONNECTING, KC_UP };

struct kc_mpart {
	int32_t leader;             /* -1: none known */
	int16_t err;
};

struct kc_mtopic {
	char *name;
	int16_t err;                /* Kafka's code for the topic */
	int32_t nparts;
	struct kc_mpart *parts;
};

/* The strings of a ks_tls_config_t (cert, key, CA file, server name). */
#define KC_TLS_STRS 4

struct kc_cluster {
	ks_net_t *net;
	ks_remote_config_t rc;
	ks_tls_config_t tls;        /* copies of rc.tls's strings below */
	int have_tls;
	char *tls_strs[KC_TLS_STRS];
	char scheme[32];            /* the bootstrap's, for learned brokers */
	char *client_id;
	ks_timer_t *sweep;          /* request timeouts (loop thread) */

	pthread_mutex_t mu;
	pthread_cond_t cv;          /* broker states, sync calls */
	struct kc_broker **brokers;
	size_t nbrokers, capbrokers, nboot;
	struct kc_mtopic *topics;
	size_t ntopics;
	int64_t md_ns;              /* when metadata was last refreshed */
	int closing;
	int started;                /* the loop ran loop_start */
};

/*
 * *dst = *src, with copies of src's strings in strs[KC_TLS_STRS] (NULL
 * for a NULL one), for a TLS configuration kept past the caller's call.
 * KS_ENOMEM when a copy failed: strs holds those made (free each).
 */
static inline int kc_tls_copy(ks_tls_config_t *dst,
    char *strs[KC_TLS_STRS], const ks_tls_config_t *src)
{
	const char **f[KC_TLS_STRS] = { &dst->cert_file, &dst->key_file,
		&dst->ca_file, &dst->server_name };
	int i, rc = 0;

	*dst = *src;
	for (i = 0; i < KC_TLS_STRS; i++) {
		strs[i] = NULL;
		if (*f[i] && !(strs[i] = strdup(*f[i])))
			rc = KS_ENOMEM;
		*f[i] = strs[i];
	}
	return rc;
}

/*
 * kc_cluster_new: parses bootstrap, starts the loop and dials the
 * bootstrap brokers in order until one answers ApiVersions. Errors:
 * KS_EINVAL, KS_ENOMEM, and the last dial's (-ECONNREFUSED, KS_ETIMEDOUT).
 */
int kc_cluster_new(const char *bootstrap, const ks_remote_config_t *rc,
    const char *client_id, struct kc_cluster **clp);
/* Closes every connection (pending requests fail) and frees. */
void kc_cluster_free(struct kc_cluster *cl);

/* The broker with this node id (NULL if metadata never named it). */
struct kc_broker *kc_broker_get(struct kc_cluster *cl, int32_t id);
/* Adds or updates a broker learned from FindCoordinator. */
struct kc_broker *kc_broker_learn(struct kc_cluster *cl, int32_t id,
    const char *host, int port);
/* Connects b if it is not (not on the loop thread). 0 or an error. */
int kc_broker_connect(struct kc_broker *b);
/* Any connected broker, connecting one if need be. */
int kc_any_broker(struct kc_cluster *cl, struct kc_broker **bp);

/* The version of api negotiated with b: min(our max in kp_apis, b's max)
 * when the ranges meet, else -1. */
int16_t kc_version(struct kc_broker *b, int16_t api);

/*
 * Requests. kc_req_new encodes one whole frame: the header and msg (the
 * kp_<api>_req_t of msg.h) at b's negotiated version (req->ver), or fails
 * (KS_EBROKER and UNSUPPORTED_VERSION as last error if b does not speak
 * api; the codec's KS_EINVAL or KS_ENOMEM). kc_req_send hands it to the
 * loop (it owns it then; done is called once); an error means done is
 * never called and req is freed.
 */
int kc_req_new(struct kc_broker *b, int16_t api, void *msg,
    struct kc_req **reqp);
int kc_req_send(struct kc_req *req, kc_done_fn *done, void *arg);
void kc_req_free(struct kc_req *req);

/* A request sent and waited for: *body is malloc'd (free it). */
int kc_call(struct kc_req *req, uint8_t **body, size_t *len);

/* For a done callback handing an answer to another thread: err, or a
 * malloc'd copy of body in *copy (NULL after an error) and 0 or
 * KS_ENOMEM. */
int kc_body_copy(int err, const uint8_t *body, size_t len, uint8_t **copy);

/* A decoded answer's storage: the body its bytes point into and the arena
 * of its strings and arrays. Zero it before use; kc_resp_free. */
typedef struct kc_resp {
	uint8_t *body;
	kp_arena_t arena;
} kc_resp_t;
void kc_resp_free(kc_resp_t *keep);

/*
 * kc_rpc: kc_req_new(b, api, req), sent and waited for, its answer
 * decoded into resp (a kp_<api>_resp_t of size bytes) with its storage in
 * keep (free it with kc_resp_free, also after an error). Errors: those of
 * kc_req_new and kc_call, KS_ECORRUPT for an answer we cannot read.
 */
int kc_rpc(struct kc_broker *b, int16_t api, void *req, void *resp,
    size_t size, kc_resp_t *keep);
#define KC_RPC(b, api, req, resp, keep) \
	kc_rpc((b), (api), (req), (resp), sizeof *(resp), (keep))

/*
 * An answer kept for a thread that polls for it (the consumer's group
 * requests): kc_slot_done stores it and writes efd. Under cl->mu.
 */
struct kc_slot {
	struct kc_cluster *cl;
	int efd;
	int busy, done, err;
	int16_t ver;
	uint8_t *body;
	size_t len;
};
int kc_slot_send(struct kc_slot *s, struct kc_req *req);
/* 1 and the answer moved to the caller if done, else 0. */
int kc_slot_take(struct kc_slot *s, int *err, uint8_t **body, size_t *len,
    int16_t *ver);

/*
 * kc_metadata: refreshes the cache for topics[0..n) (n 0: all topics),
 * asking the broker to create missing ones when auto_create.
 */
int kc_metadata(struct kc_cluster *cl, const char *const *topics, size_t n,
    int auto_create);
/*
 * kc_topic_info: under cl->mu, the cached topic (NULL if unknown).
 */
struct kc_mtopic *kc_topic_find(struct kc_cluster *cl, const char *name);
/*
 * kc_topic_lookup: the topic's partition count, refreshing metadata when
 * it is unknown or stale; waits out LEADER_NOT_AVAILABLE of a topic being
 * created. KS_ETOPIC if the broker does not know it.
 */
int kc_topic_lookup(struct kc_cluster *cl, const char *name, int auto_create,
    int32_t *nparts);
/* The leader's node id of a partition, -1 if unknown. */
int32_t kc_leader(struct kc_cluster *cl, const char *topic, int32_t part);

/* Whether a Kafka error means "refresh metadata and retry". */
int kc_retriable(int kafka_code);

/* ---- the consumer (client_consumer.c, client_group.c) -------------------- */

/* Bytes a poll's records may point into: a Fetch response body, or a
 * batch decompressed from one. Freed when the last holder lets go. */
struct kc_fbuf {
	int refs;
	uint8_t *data;
	size_t len;
};

/* An assigned partition. */
struct kc_cpart {
	char *topic;
	int32_t part;
	int64_t pos;               /* the next offset a poll returns */
	int64_t hw;                /* high watermark of the last fetch; -1 */
	int paused;
	int inflight;              /* in the Fetch in flight to its leader */
	int32_t fetch_node;
	struct kc_fbuf *buf;       /* fetched batches not yet walked */
	const uint8_t *bp;         /* from the one being walked on */
	size_t blen;
	size_t cur;                /* the size of the one being walked */
	struct kc_fbuf *itbuf;     /* the batch being walked, and where */
	ks_batch_iter_t it;
	int64_t it_next;           /* the offset after the batch */
	int bad;                   /* KS_ECORRUPT: bp is at a damaged batch,
	                              kept (and not fetched again) until a
	                              seek drops it, as a local log's would */
};

/* A Fetch response, handed from the loop to the polling thread. */
struct kc_fresp {
	struct kc_fresp *next;
	int32_t node;
	int16_t ver;               /* the Fetch version asked */
	int err;
	struct kc_fbuf *body;
	size_t nparts;             /* what was asked */
	struct { char *topic; int32_t part; int64_t off; } *asked;
};

struct kc_group; /* client_group.c */

struct ks__rconsumer {
	struct kc_cluster *cl;
	struct kc_cpart *parts;
	size_t nparts, rr;
	struct kc_fbuf **held;     /* what the last poll's records point to */
	size_t nheld, capheld;
	int32_t *busy_nodes;       /* a Fetch in flight to each of these */
	size_t nbusy;
	pthread_mutex_t mu;        /* the response queue */
	struct kc_fresp *q, *qtail;
	int64_t md_retry_ns;
	int md_stale;
	struct kc_broker *coord;   /* the group's coordinator, once found */
	struct kc_group *g;
	int subscribed;
	int64_t next_commit_ns;
};

void kc_fbuf_unref(struct kc_fbuf *f);
struct kc_cpart *kc_cpart_find(struct ks__rconsumer *r, const char *topic,
    int32_t part);
int kc_cpart_add(ks_consumer_t *c, const char *topic, int32_t part,
    int64_t offset);
void kc_cpart_remove(struct ks__rconsumer *r, struct kc_cpart *p);
void kc_cpart_clear(struct ks__rconsumer *r);
/* The coordinator of c's group, found with FindCoordinator if need be. */
int kc_coordinator(ks_consumer_t *c, struct kc_broker **bp);
/* Commits parts (NULL: every position) with generation and member. */
int kc_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int32_t generation, const char *member);
/* client_group.c: the group's step inside poll, its close, and when it
 * needs the thread next (ns from now, INT64_MAX never). */
int kc_group_step(ks_consumer_t *c, int64_t now);
int64_t kc_group_due(ks_consumer_t *c, int64_t now);
void kc_group_close(ks_consumer_t *c);
void kc_group_free(struct kc_group *g);
int kc_group_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n);

#endif /* KS_KAFKA_CLIENT_IMPL_H */
