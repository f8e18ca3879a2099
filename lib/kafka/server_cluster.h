/*
 * server_cluster.h: how a cluster member's replication (lib/replication)
 * plugs into the Kafka server without the server knowing it. A server
 * with no cluster set answers as the only broker of its own cluster, as
 * before; with one, it asks these hooks before touching a partition.
 *
 * Every hook is called on the server's loop thread, fast (no blocking),
 * except where noted. Kafka error codes are returned as int16_t (0: go on).
 */
#ifndef KS_KAFKA_SERVER_CLUSTER_H
#define KS_KAFKA_SERVER_CLUSTER_H

#include "kafka/msg.h"

#include <kstream/kafka.h>

/* Called at most once, on any thread, by await_hw. */
typedef void ks__khw_done_fn(void *arg, int16_t code);

struct ks__kcluster_ops {
	/*
	 * Metadata: fills m's brokers (the live members' endpoints of
	 * scheme, the scheme of the listener the client came through),
	 * controller_id and topics (req's, or all for n_topics -1: unknown
	 * ones UNKNOWN_TOPIC_OR_PARTITION, or, when auto-creation is allowed
	 * and configured, asked of the controller and answered
	 * LEADER_NOT_AVAILABLE). From arena. 0 or KS_ENOMEM.
	 */
	int (*metadata)(void *c, const char *scheme, int auto_create,
	    const kp_metadata_req_t *req, kp_metadata_resp_t *m,
	    kp_arena_t *arena);
	/*
	 * Produce, before appending to topic-p: NOT_LEADER_OR_FOLLOWER when
	 * this member does not lead it, UNKNOWN_TOPIC_OR_PARTITION,
	 * NOT_ENOUGH_REPLICAS for acks -1 with fewer in-sync replicas than
	 * min.insync.replicas. 0: append (the log's leader epoch is set).
	 */
	int16_t (*produce_check)(void *c, const char *topic, int32_t p,
	    int16_t acks);
	/*
	 * acks=-1, after the append of offsets up to last_offset: 1 if the
	 * high watermark is already past last_offset; a Kafka code if it
	 * cannot be (done not called); else 0, and done(arg, code) is called
	 * exactly once, from any thread: 0 when the high watermark passes
	 * last_offset, NOT_LEADER_OR_FOLLOWER when leadership is lost first,
	 * REQUEST_TIMED_OUT after timeout_ms.
	 */
	int (*await_hw)(void *c, const char *topic, int32_t p,
	    int64_t last_offset, int32_t timeout_ms, ks__khw_done_fn *done,
	    void *arg);
	/*
	 * Fetch and ListOffsets, per partition. replica_id >= 0 is a
	 * follower's fetch at fetch_offset (its log end: the leader records
	 * it, which may move the high watermark). current_leader_epoch -1:
	 * not checked; else FENCED_LEADER_EPOCH (older) or
	 * UNKNOWN_LEADER_EPOCH (newer). *hw: the high watermark to report;
	 * *limit: the offset reads stop before (the high watermark for
	 * consumers, the log end for followers).
	 */
	int16_t (*fetch_check)(void *c, const char *topic, int32_t p,
	    int32_t replica_id, int32_t current_leader_epoch,
	    int64_t fetch_offset, int64_t *hw, int64_t *limit);
	/*
	 * OffsetForLeaderEpoch: for leader_epoch, the largest epoch <= it
	 * that this leader's log holds (*epoch_out, -1 none) and the offset
	 * where it ends (*end_offset: the start of the next epoch, or the
	 * log end for the current one; -1 none).
	 */
	int16_t (*epoch_end)(void *c, const char *topic, int32_t p,
	    int32_t current_leader_epoch, int32_t leader_epoch,
	    int32_t *epoch_out, int64_t *end_offset);
	/*
	 * CreateTopics, DeleteTopics, CreatePartitions through the
	 * controller: 0 (submitted), NOT_CONTROLLER (this member does not
	 * lead the quorum: clients ask Metadata's controller_id),
	 * TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION,
	 * INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS, INVALID_CONFIG;
	 * *msg a static explanation or NULL. validate_only: check only.
	 * configs: "k=v\n" pairs or NULL.
	 */
	int16_t (*create_topic)(void *c, const char *name, int32_t partitions,
	    int32_t rf, const char *configs, int validate_only,
	    const char **msg);
	int16_t (*delete_topic)(void *c, const char *name);
	int16_t (*create_partitions)(void *c, const char *name, int32_t count,
	    int validate_only, const char **msg);
	/*
	 * FindCoordinator: the member that coordinates groups (all of them,
	 * in this version): its id, and its endpoint of scheme. 0 or
	 * COORDINATOR_NOT_AVAILABLE.
	 */
	int16_t (*coordinator)(void *c, const char *scheme, int32_t *node,
	    char *host, size_t hostlen, int32_t *port);
	/*
	 * The controller's APIs (BrokerRegistration, BrokerHeartbeat,
	 * AlterPartition): the request body in in (at its version), the
	 * response body written to out. 0 or a negative error (the
	 * connection closes).
	 */
	int (*controller_request)(void *c, int16_t api, kp_io_t *in,
	    kp_io_t *out);
	/*
	 * Whether this member coordinates groups now (it leads the
	 * replicated __consumer_offsets); group requests elsewhere are
	 * answered NOT_COORDINATOR.
	 */
	int (*is_coordinator)(void *c);
};

/*
 * Sets (or with ops NULL clears) srv's cluster. Before the server takes
 * clients as a member, and cleared before c goes away; the server's loop
 * is synchronised with (the change is seen by the next request).
 */
void ks__kafka_server_set_cluster(ks_kafka_server_t *srv,
    const struct ks__kcluster_ops *ops, void *c);

/* Any thread: a high watermark moved; long polls re-check their
 * partitions. */
void ks__kafka_server_wake(ks_kafka_server_t *srv);

/* The server's store, node id, listeners' count and i-th listener's URL,
 * and its log callback (for lib/replication). */
ks_store_t *ks__kafka_server_store(ks_kafka_server_t *srv);
int32_t ks__kafka_server_node(ks_kafka_server_t *srv);
/* num.partitions: topics created without a count. */
int32_t ks__kafka_server_partitions(ks_kafka_server_t *srv);

#endif /* KS_KAFKA_SERVER_CLUSTER_H */
