/*
 * repl_impl.h: what the files of lib/replication share. meta.c and
 * controller.c: the metadata quorum (meta.h). replica.c: each partition
 * replica this member holds (leader or follower state, high watermark,
 * in-sync tracking, acks=-1 waiters, leader epochs). fetcher.c: follower
 * fetch threads, one per leader member. cluster.c: the member itself
 * (lifecycle, the reconciler that turns metadata into replica roles,
 * heartbeats and the requests to the controller, the server's hooks).
 *
 * Threads and locks. The server's loop calls the hooks; the controller
 * thread publishes images and calls cluster.c's changed(); the reconciler
 * thread applies them; fetcher threads append to follower logs; the
 * heartbeat thread talks to the controller. Locks, in nesting order:
 * c->mu (the replica table, fetchers, the image the reconciler applied)
 * then rp->mu (one replica's state). Nothing is called out (waiters'
 * callbacks, log appends, network) while holding either, except
 * ks_log_end_offset and ks__log_set_leader_epoch under rp->mu.
 */
#ifndef KS_REPLICATION_IMPL_H
#define KS_REPLICATION_IMPL_H

#include "core/internal.h"
#include "group/coordinator_impl.h"
#include "kafka/client_impl.h"
#include "kafka/server_cluster.h"
#include "replication/meta.h"

#include <kstream/cluster.h>
#include <kstream/kafka.h>
#include <pthread.h>
#include <stdatomic.h>

/* The replicated topic of committed offsets: one partition, replicated
 * like any other, led by the member that coordinates every group. */
#define KS__R_OFFSETS "__consumer_offsets"

/* lib/log/append.c */
int ks__log_set_leader_epoch(ks_log_t *log, int32_t epoch);

enum { KS__R_NONE, KS__R_LEADER, KS__R_FOLLOWER };

/* A follower as its leader sees it. */
struct ks__rfollower {
	int32_t id;
	int64_t leo;               /* its log end, from its fetches; -1 */
	int64_t caught_up_ms;      /* last time it had all we had */
	int64_t last_fetch_leo;    /* our log end at its previous fetch */
	int64_t last_fetch_ms;
};

/* An acks=-1 produce waiting for the high watermark. */
struct ks__rwaiter {
	struct ks__rwaiter *next;
	int64_t last;              /* done once hw > last */
	int64_t deadline_ms;
	ks__khw_done_fn *done;
	void *arg;
};

/* Where each leader epoch begins in a replica's log (Kafka's
 * leader-epoch-checkpoint, rebuilt from the batches at open). */
struct ks__repoch {
	int32_t epoch;
	int64_t start;
};

struct ks__rreplica {
	/* The replica table's reference, and one per user outside c->mu
	 * (hooks, fetchers, ticks): the last put frees it (ks__rreplica_put),
	 * so a replica taken out of the table (its topic deleted) goes once
	 * nobody uses it. */
	atomic_int refs;
	char *topic;
	int32_t p;
	ks_topic_t *th;            /* keeps log alive */
	ks_log_t *log;
	int min_isr;               /* the topic's min.insync.replicas */

	pthread_mutex_t mu;
	int role;                  /* KS__R_* */
	int32_t leader, leader_epoch, partition_epoch;
	int32_t nreplicas, nisr;
	int32_t replicas[KS_CLUSTER_MAX_REPLICAS];
	int32_t isr[KS_CLUSTER_MAX_REPLICAS];
	int64_t hw;
	/* leader */
	int32_t nfol;
	struct ks__rfollower fol[KS_CLUSTER_MAX_REPLICAS];
	int64_t isr_sent_ms;       /* an ALTER_ISR in flight since; 0 none */
	int32_t npend;             /* the ISR it proposes, while in flight */
	int32_t pend[KS_CLUSTER_MAX_REPLICAS];
	struct ks__rwaiter *waiters;
	/* follower */
	int truncated;             /* OffsetForLeaderEpoch done this epoch */
	/* both */
	struct ks__repoch *epochs;
	size_t nepochs, capepochs;
};

/* A thread fetching, as follower, every partition led by one member. */
struct ks__rfetcher {
	struct ks_cluster *c;
	int32_t leader;
	pthread_t thread;
	int stop;                  /* under c->mu */
	struct kc_cluster *conn;   /* to the leader (fetcher thread only) */
	char url[600];
	struct ks__rfetcher *next;
};

struct ks_cluster {
	ks_kafka_server_t *srv;
	ks_store_t *store;
	int32_t node;
	ks_cluster_config_t cfg;   /* strings point to the copies below */
	char *voters, *raft_dir;
	ks_tls_config_t tls;
	int have_tls;
	char *tls_strs[KC_TLS_STRS];
	ks_log_cb *log_cb;
	void *log_opaque;
	char scheme[16];           /* the listener replicas fetch through */
	int32_t neps;
	struct ks__rendpoint eps[KS__R_MAX_ENDPOINTS];
	struct ks__ctl *ctl;

	pthread_mutex_t mu;
	pthread_cond_t cv;         /* reconciler and heartbeat wake-ups */
	int stop;
	int changed;               /* a new image came */
	struct ks__rimage *img;    /* the one the reconciler applied */
	struct ks__rreplica **reps;/* sorted by topic, p */
	size_t nreps, capreps;
	struct ks__rfetcher *fetchers;
	int reapply;               /* apply the image again (a local topic
	                              could not be made yet) */
	/* The Raft index by which this process's registration was applied
	 * (0: not yet). The reconciler acts on no image older than it: a
	 * member replaying its own Raft log after a restart must not take
	 * the roles it had before it stopped. Under mu. */
	uint64_t reg_index;
	pthread_t reconciler, heartbeater;
	int threads;               /* how many of the two started */

	/* Groups: this member coordinates while it leads the replicated
	 * __consumer_offsets (coordinating, read by the server's loop);
	 * coord_epoch the leader epoch it activated in, -2 never decided.
	 * Reconciler thread. */
	atomic_int coordinating;
	int32_t coord_epoch;
	int64_t offsets_asked_ms;  /* the controller asked to create it */

	/* the heartbeat thread's connection to the active controller */
	pthread_mutex_t ctl_mu;
	struct kc_cluster *ctl_conn;
	int32_t ctl_conn_id;
};

#define KS__RLOG(c, level, ...) \
	ks__logf((c)->log_cb, (c)->log_opaque, (level), __VA_ARGS__)

/* ---- replica.c ---------------------------------------------------------- */

/* A replica of topic-p on this member, its log open (topic created
 * locally first if need be). NULL with *err. */
struct ks__rreplica *ks__rreplica_new(struct ks_cluster *c,
    const char *topic, int32_t p, int *err);
/* Drops a reference; the last fails its waiters (NOT_LEADER_OR_FOLLOWER)
 * and frees it. NULL: no-op. */
void ks__rreplica_put(struct ks__rreplica *rp);
static inline void ks__rreplica_get(struct ks__rreplica *rp)
{
	atomic_fetch_add(&rp->refs, 1);
}
/*
 * Applies the partition's metadata: role changes (becoming leader sets
 * the log's epoch and starts a new epoch; becoming follower fails the
 * waiters and asks for truncation), ISR changes. Reconciler thread.
 */
void ks__rreplica_update(struct ks_cluster *c, struct ks__rreplica *rp,
    const struct ks__rpart *mp);
/* An ISR change a leader proposes (AlterPartition). */
struct ks__ralter {
	const char *topic;         /* the replica's */
	int32_t p, leader_epoch, partition_epoch, nisr;
	int32_t isr[KS_CLUSTER_MAX_REPLICAS];
};
/* Leader duties on the reconciler's tick: an ISR shrink or expansion to
 * propose (into *a, 1 returned, else 0), waiters past their deadline. */
int ks__rreplica_tick(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t now_ms, struct ks__ralter *a);
/* The hooks (server loop), on one replica under its lock. */
int16_t ks__rreplica_fetch_check(struct ks_cluster *c,
    struct ks__rreplica *rp, int32_t replica_id, int32_t cur_epoch,
    int64_t fetch_offset, int64_t *hw, int64_t *limit);
int16_t ks__rreplica_produce_check(struct ks__rreplica *rp, int16_t acks);
int ks__rreplica_await(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t last, int32_t timeout_ms, ks__khw_done_fn *done, void *arg);
int16_t ks__rreplica_epoch_end(struct ks__rreplica *rp, int32_t cur_epoch,
    int32_t epoch, int32_t *epoch_out, int64_t *end);
/* Follower side, fetcher thread: the last epoch this log holds (-1:
 * none); the end of epoch e in this log (where the next begins, or
 * the log end); cuts the log at offset; appends fetched batches and
 * takes the leader's high watermark. */
int32_t ks__rreplica_last_epoch(struct ks__rreplica *rp);
int64_t ks__rreplica_epoch_end_local(struct ks__rreplica *rp, int32_t e);
int ks__rreplica_truncate(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t offset);
int ks__rreplica_append(struct ks_cluster *c, struct ks__rreplica *rp,
    const uint8_t *buf, size_t len, int64_t leader_hw);

/* ---- fetcher.c ----------------------------------------------------------- */

/* Starts a fetcher for leader (under c->mu). */
int ks__rfetcher_start(struct ks_cluster *c, int32_t leader);
/* Stops and joins every fetcher (not under c->mu). */
void ks__rfetchers_stop(struct ks_cluster *c);

/* ---- cluster.c ----------------------------------------------------------- */

/* The replica of topic-p with a reference (ks__rreplica_put it), NULL
 * if this member holds none. Takes and drops c->mu. */
struct ks__rreplica *ks__rcluster_replica(struct ks_cluster *c,
    const char *topic, int32_t p);
/* The endpoint URL ("tcp://host:port") of member id for this member's
 * replication scheme, from the current image. 0 or KS_EINVAL. */
int ks__rcluster_url(struct ks_cluster *c, int32_t id, char *buf,
    size_t len);
/* A connection (kc_cluster_free) from this member to url, another
 * member's listener, with the cluster's TLS and log, client id
 * "kstream-<role>-<node>". kc_cluster_new's result. */
int ks__rcluster_connect(struct ks_cluster *c, const char *url,
    const char *role, int timeout_ms, struct kc_cluster **out);
/* Current time for replication decisions, milliseconds (monotonic). */
int64_t ks__rnow_ms(void);
/* Under c->mu: waits up to ms for c->cv (a new image, a stop). */
void ks__rcluster_wait(struct ks_cluster *c, int ms);

#endif /* KS_REPLICATION_IMPL_H */
