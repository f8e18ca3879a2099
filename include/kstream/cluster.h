/*
 * kstream/cluster.h: replication. Processes that each hold a store and a
 * Kafka-protocol server (ks_kafka_server_new(3)) join into a cluster: each
 * partition has a leader and followers on other members, acknowledged
 * records survive the loss of a member, and clients follow leaders as they
 * move, through Kafka's own Metadata and NOT_LEADER_OR_FOLLOWER answers.
 *
 * The cluster's metadata (members and their liveness, topics, replica
 * assignment, leaders, leader epochs, in-sync replica sets) is a log
 * replicated by Raft (libraft) among the controller voters; every member
 * is a voter in this version. Data is replicated as Kafka does it:
 * followers Fetch from the leader with their replica id, the leader keeps
 * the in-sync replicas (ISR) and the high watermark, acks=-1 is answered
 * once every in-sync replica has the batch, consumers read below the high
 * watermark, and a new leader's followers cut divergent tails by leader
 * epoch (OffsetForLeaderEpoch) before fetching. See kstream-cluster(7).
 */
#ifndef KSTREAM_CLUSTER_H
#define KSTREAM_CLUSTER_H

#include <kstream/common.h>
#include <kstream/kafka.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_cluster ks_cluster_t;

/* Initialise with ks_cluster_config_init(): Kafka's defaults. */
typedef struct ks_cluster_config {
	int32_t node_id;              /* node.id, >= 0; also the server's */
	/* controller.quorum.voters: "1@127.0.0.1:9192,2@host:port,..." the
	 * Raft address of every member, this one's included. */
	const char *voters;
	/* Where this member keeps its Raft log and snapshots (created if
	 * missing). NULL: "<store dir>/__cluster_metadata". */
	const char *raft_dir;
	int32_t default_replication_factor; /* default.replication.factor:
	                                 topics created without one (-1:
	                                 3, or every member if fewer) */
	int32_t min_insync_replicas;  /* min.insync.replicas for topics that
	                                 do not set it (1) */
	int32_t replica_lag_time_max_ms; /* replica.lag.time.max.ms (30000) */
	int32_t session_timeout_ms;   /* broker.session.timeout.ms: a member
	                                 silent this long is fenced (9000) */
	int32_t heartbeat_interval_ms;/* broker.heartbeat.interval.ms (2000) */
	int32_t election_timeout_ms;  /* Raft's election timeout (1000) */
	int unclean_leader_election;  /* unclean.leader.election.enable (0) */
	/* Replicas fetch from leaders through the leader's listener of the
	 * same scheme as this one's first ("tcp", "tls+tcp"); tls is the
	 * client side of those connections (copied). */
	const ks_tls_config_t *tls;
	ks_log_cb *log_cb;            /* NULL: the server's */
	void *log_opaque;
} ks_cluster_config_t;

KS_API void ks_cluster_config_init(ks_cluster_config_t *cfg);

/*
 * ks_cluster_config_set: one property by Kafka's name ("node.id",
 * "controller.quorum.voters", "default.replication.factor",
 * "min.insync.replicas", "replica.lag.time.max.ms",
 * "broker.session.timeout.ms", "broker.heartbeat.interval.ms",
 * "unclean.leader.election.enable"; "raft.election.timeout.ms" and
 * "metadata.log.dir" are kstream's). value is kept by pointer for the
 * strings. Errors: KS_EINVAL (unknown name, bad value).
 */
KS_API int ks_cluster_config_set(ks_cluster_config_t *cfg, const char *name,
    const char *value);

/*
 * ks_cluster_new: makes srv (already listening: its listeners' URLs are
 * what other members and clients are told) a member of the cluster that
 * cfg->voters describes, and starts this member's controller (a thread of
 * its own), its heartbeats and its replica fetchers. Returns once the
 * controller runs; the member serves partitions once the quorum has a
 * leader and has registered it. From then on srv answers Kafka clients as
 * a cluster member: Metadata lists the live members and the leaders,
 * Produce and Fetch go to leaders only, CreateTopics goes through the
 * controller. Topics are created in the cluster with ks_cluster_topic_create
 * or a client's CreateTopics, not with ks_topic_create on the store.
 * To release, ks_cluster_free() before ks_kafka_server_free().
 * Errors: KS_EINVAL (bad configuration: no voters, node_id not among them,
 * a server without listeners), KS_ENOMEM, -EIO (Raft could not start:
 * the log says why), -errno.
 */
KS_API int ks_cluster_new(ks_kafka_server_t *srv,
    const ks_cluster_config_t *cfg, ks_cluster_t **cp);

/*
 * ks_cluster_free: a controlled shutdown. srv stops serving at once (it
 * answers as a member that leads nothing, and never again alone), the
 * controller is asked to fence this member so that its partitions move
 * now, then fetching, heartbeats and the controller stop. NULL is a no-op.
 */
KS_API void ks_cluster_free(ks_cluster_t *c);

/* What ks_cluster_partition() tells of one partition. */
#define KS_CLUSTER_MAX_REPLICAS 16
typedef struct ks_cluster_partition {
	int32_t leader;               /* node id, -1: none (offline) */
	int32_t leader_epoch;
	int32_t nreplicas, nisr;
	int32_t replicas[KS_CLUSTER_MAX_REPLICAS];
	int32_t isr[KS_CLUSTER_MAX_REPLICAS];
	int64_t high_watermark;       /* this member's view; -1 if it holds
	                                 no replica */
	int64_t log_end_offset;       /* this member's replica; -1: none */
} ks_cluster_partition_t;

/*
 * ks_cluster_partition: the cluster's view of topic's partition p, as this
 * member last learned it. Errors: KS_ETOPIC (no such topic or partition).
 */
KS_API int ks_cluster_partition(ks_cluster_t *c, const char *topic,
    int32_t p, ks_cluster_partition_t *out);

/*
 * ks_cluster_controller: the node id of the quorum's leader (the active
 * controller), -1 while there is none.
 */
KS_API int32_t ks_cluster_controller(ks_cluster_t *c);

/*
 * ks_cluster_topic_create: creates topic through the controller with
 * partitions partitions of replication_factor replicas each (-1: the
 * default) spread over the live members, and waits up to timeout_ms until
 * this member knows it. cfg may be NULL (the store's topic defaults).
 * Errors: KS_EEXIST, KS_EINVAL (more replicas than live members),
 * KS_ECONFIG (a property refused by the controller), KS_ETIMEDOUT,
 * KS_ENAME.
 */
KS_API int ks_cluster_topic_create(ks_cluster_t *c, const char *topic,
    int32_t partitions, int32_t replication_factor,
    const ks_topic_config_t *cfg, int timeout_ms);

/*
 * ks_cluster_wait: waits up to timeout_ms until the cluster has formed as
 * this member sees it: the quorum has a leader, this member is registered,
 * unfenced and caught up with the metadata since (it serves from then on),
 * and every partition it knows has a leader. Errors: KS_ETIMEDOUT.
 */
KS_API int ks_cluster_wait(ks_cluster_t *c, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_CLUSTER_H */
