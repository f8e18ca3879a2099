/*
 * kstream/kafka.h: the Kafka wire protocol. A server that serves a store
 * to any Kafka client (ks_kafka_server_new(3)), and kstream's producer and
 * consumer aimed at a broker address instead of a store
 * (ks_producer_connect(3), ks_consumer_connect(3)): once connected, the
 * same ks_produce(), ks_consumer_poll() and the rest of kstream/client.h.
 *
 * APIs and versions served: see ks_kafka_server_new(3); every advertised
 * version is implemented. Protocol errors from a broker are not kstream
 * error codes: a call that fails because the broker said so returns the
 * closest KS_E* code (KS_ETOPIC for UNKNOWN_TOPIC_OR_PARTITION, ...) or
 * KS_EBROKER, and ks_kafka_last_error() tells the broker's own code.
 */
#ifndef KSTREAM_KAFKA_H
#define KSTREAM_KAFKA_H

#include <kstream/common.h>
#include <kstream/store.h>
#include <kstream/client.h>
#include <kstream/transport.h>
#include <kstream/metrics.h>
#include <kstream/admin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- server ------------------------------------------------------------- */

typedef struct ks_kafka_server ks_kafka_server_t;

typedef struct ks_kafka_server_config {
	int32_t node_id;             /* broker.id / node.id (0) */
	const char *cluster_id;      /* Metadata v2+ (NULL: "kstream") */
	const char *advertised_host; /* host given to clients in Metadata and
	                                FindCoordinator (NULL: the host of the
	                                listener the client came through, or
	                                127.0.0.1 for 0.0.0.0 and ::) */
	int advertised_port;         /* 0: the port of the listener the client
	                                came through (a unix listener's
	                                clients: the first TCP listener's) */
	int auto_create_topics;      /* auto.create.topics.enable (1) */
	int32_t num_partitions;      /* num.partitions for created topics (1) */
	ks_net_config_t net;         /* frame size, connection limits,
	                                timeouts (ks_net_config_init's,
	                                but net.log_cb NULL: the server's) */
	int32_t max_wait_ms_cap;     /* longest Fetch long poll honoured
	                                (30000) */
	ks_log_cb *log_cb;           /* NULL: the store's */
	void *log_opaque;
	/* Every stats_interval_ms (0: never) the server's loop thread calls
	 * stats_cb with ks_kafka_server_metrics()'s snapshot. */
	ks_stats_cb *stats_cb;
	void *stats_opaque;
	int64_t stats_interval_ms;
} ks_kafka_server_config_t;

KS_API void ks_kafka_server_config_init(ks_kafka_server_config_t *cfg);

/*
 * ks_kafka_server_new: a Kafka-protocol server for store, with its own
 * event loop thread; it listens nowhere until ks_kafka_server_listen().
 * cfg may be NULL and is copied. Consumer groups are the store's
 * coordinator (ks_store_coordinator(3)), so in-process consumers and
 * remote ones share groups. To release, ks_kafka_server_free(), before
 * ks_store_close(). Errors: KS_EINVAL, KS_ENOMEM, KS_ERDONLY (a read-only
 * store), -errno.
 */
KS_API int ks_kafka_server_new(ks_store_t *store,
    const ks_kafka_server_config_t *cfg, ks_kafka_server_t **srvp);

/*
 * ks_kafka_server_listen: adds a listener ("tcp://0.0.0.0:9092",
 * "tls+tcp://[::]:9093", "unix:///path"); tls for tls+tcp only (copied).
 * Errors as ks_net_listen(3). Thread-safe.
 */
KS_API int ks_kafka_server_listen(ks_kafka_server_t *srv, const char *url,
    const ks_tls_config_t *tls);

/*
 * ks_kafka_server_url: the i-th listener's bound URL (real port when 0
 * was asked). KS_EINVAL if there is no such listener.
 */
KS_API int ks_kafka_server_url(ks_kafka_server_t *srv, int i, char *buf,
    size_t len);

/*
 * ks_kafka_server_free: stops listening, closes every connection (pending
 * long polls and group joins are dropped), joins the thread. NULL is a
 * no-op.
 */
KS_API void ks_kafka_server_free(ks_kafka_server_t *srv);

/*
 * ks_kafka_server_metrics: adds to m the server's samples (connections
 * open and accepted, bytes in and out, requests, their latency and the
 * errors they answered, per API and Kafka error name) and then its
 * store's (ks_store_metrics). Any thread. Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_kafka_server_metrics(ks_kafka_server_t *srv, ks_metrics_t *m);

/*
 * ks_kafka_server_metrics_listen: serves ks_kafka_server_metrics() over
 * HTTP on the server's loop thread, in Prometheus's text format, for a
 * URL such as "http://127.0.0.1:9100/metrics" (port 0: any free port; the
 * path is the only one answered, others get 404; "?format=json" gives
 * JSON). One endpoint per server. ks_kafka_server_metrics_url() gives the
 * bound URL. Errors: KS_EINVAL (not an http:// URL), KS_EBUSY (already
 * serving), -EADDRINUSE and other socket errors.
 */
KS_API int ks_kafka_server_metrics_listen(ks_kafka_server_t *srv,
    const char *url);
KS_API int ks_kafka_server_metrics_url(ks_kafka_server_t *srv, char *buf,
    size_t len);

/* ---- client ------------------------------------------------------------- */

/*
 * What remote producers and consumers need beyond ks_producer_config_t or
 * ks_consumer_config_t. Initialise with ks_remote_config_init().
 */
typedef struct ks_remote_config {
	const ks_tls_config_t *tls;  /* for tls+tcp bootstrap URLs (copied) */
	int32_t request_timeout_ms;  /* request.timeout.ms (30000) */
	int32_t retries;             /* retries of a failed produce (5) */
	int32_t retry_backoff_ms;    /* retry.backoff.ms (100) */
	int32_t metadata_max_age_ms; /* metadata.max.age.ms (300000) */
	int32_t fetch_max_wait_ms;   /* fetch.wait.max.ms (500) */
	int32_t fetch_min_bytes;     /* fetch.min.bytes (1) */
	int32_t fetch_max_bytes;     /* fetch.max.bytes (52428800) */
	int32_t max_partition_fetch_bytes; /* (1048576) */
	/* What the broker explains beyond an error code (the reason a
	 * configuration was refused), and the client's own notes. NULL:
	 * ks_log_stderr. */
	ks_log_cb *log_cb;
	void *log_opaque;
} ks_remote_config_t;

KS_API void ks_remote_config_init(ks_remote_config_t *cfg);

/*
 * ks_producer_connect: a producer on the Kafka-protocol cluster reached
 * through bootstrap ("tcp://host:port", "tls+tcp://host:port", a comma
 * separated list, or plain "host:port" meaning tcp). It learns topics and
 * leaders through Metadata and keeps a connection to each leader it
 * sends to. Records are batched per partition, compressed with
 * cfg->compression, and sent when a batch reaches batch_bytes, after
 * linger_ms, or at once for a call that waits (see ks_produce(3): with a
 * res array or KS_PRODUCE_DURABLE the call waits for acknowledgement;
 * without, it returns once the records are queued and failures go to the
 * delivery callback). cfg and remote may be NULL (defaults). Fails only
 * on bad arguments or if no bootstrap broker answers (KS_ETIMEDOUT,
 * -ECONNREFUSED). Release with ks_producer_free(), which waits for
 * queued records up to request_timeout_ms.
 */
KS_API int ks_producer_connect(const char *bootstrap,
    const ks_producer_config_t *cfg, const ks_remote_config_t *remote,
    ks_producer_t **prodp);

/*
 * ks_consumer_connect: a consumer on a Kafka-protocol cluster; the group
 * (cfg->group_id) is joined through the broker's coordinator with
 * JoinGroup/SyncGroup and this process computes the assignment when it
 * leads, with kstream's assignors. Positions, commits, seeks, pauses and
 * callbacks behave as for a local consumer; records returned by
 * ks_consumer_poll() live in the consumer's fetch buffers, valid until
 * the next poll. Release with ks_consumer_close().
 */
KS_API int ks_consumer_connect(const char *bootstrap,
    const ks_consumer_config_t *cfg, const ks_remote_config_t *remote,
    ks_consumer_t **cp);

/*
 * ks_admin_connect: an admin handle (admin.h) on the Kafka-protocol
 * broker or cluster at bootstrap (as ks_producer_connect). It connects
 * on first use. remote may be NULL. Free with ks_admin_free().
 * Errors: KS_EINVAL (bad URL), KS_ENOMEM.
 */
KS_API int ks_admin_connect(const char *bootstrap,
    const ks_remote_config_t *remote, ks_admin_t **ap);

/*
 * ks_producer_flush: waits until every queued record is acknowledged or
 * failed, up to timeout_ms (< 0: for ever). For a local producer, returns
 * 0 at once. Errors: KS_ETIMEDOUT.
 */
KS_API int ks_producer_flush(ks_producer_t *prod, int timeout_ms);

/*
 * ks_kafka_last_error: the Kafka error code (0 NONE, 3
 * UNKNOWN_TOPIC_OR_PARTITION, ...) behind the last KS_EBROKER or mapped
 * error returned to this thread by a remote call; 0 if none.
 * ks_kafka_error_name: Kafka's name for a code ("NOT_LEADER_OR_FOLLOWER"),
 * static, "UNKNOWN_SERVER_ERROR" for codes it does not know.
 */
KS_API int ks_kafka_last_error(void);
KS_API const char *ks_kafka_error_name(int kafka_code);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_KAFKA_H */
