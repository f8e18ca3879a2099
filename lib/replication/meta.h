/*
 * meta.h: the cluster's metadata, the state machine the controller quorum
 * replicates (meta.c), and the controller that runs it on libraft
 * (controller.c).
 *
 * The image. Members (registered endpoints, fenced or not), topics, and per
 * partition the replicas, the in-sync set, the leader, the leader epoch
 * and the partition epoch (bumped by every change of the partition). An
 * image is immutable once published: the controller thread applies a
 * command to a copy and publishes the copy; readers hold a reference
 * (ks__rimage_ref/unref) and read it without locks.
 *
 * Commands are intents, validated where they are applied (so every voter
 * decides alike): a stale ALTER_ISR (wrong leader or partition epoch) is
 * a no-op. Encoding: a byte of type, then the fields big-endian, strings
 * as a u16 length and bytes, arrays as a u16 count and items.
 *
 * Election, inside apply (deterministic):
 *   FENCE(id): id is fenced. Each partition id led gets as leader the first
 *     replica (in replica order) that is in the ISR and not fenced, id
 *     leaves the ISR, leader_epoch and partition_epoch +1; with no such
 *     replica the leader is -1 (offline), leader_epoch +1, and the ISR is
 *     left as it was (so the last in-sync replica can come back and lead:
 *     a clean election). Each partition where id is an ISR follower: id
 *     leaves the ISR, partition_epoch +1.
 *   UNFENCE(id) / REGISTER(id, ...): id is live. Each offline partition
 *     with id in its ISR gets id as leader (epochs +1). With unclean
 *     election enabled (a field of the image set by the first REGISTER's
 *     flag), an offline partition with no live ISR member gets id as
 *     leader if id is a replica, with ISR {id}.
 *   ALTER_ISR(topic, p, leader, leader_epoch, partition_epoch, isr): taken
 *     only if leader and both epochs match the partition's, isr is a
 *     subset of the replicas holding the leader, and every member added is
 *     live; then isr is set and partition_epoch +1.
 *   CREATE_TOPIC(name, configs, per partition the replicas): the leader is
 *     the first live replica, the ISR every live replica, epochs 0. A
 *     name that exists is a no-op.
 *   DELETE_TOPIC(name), CREATE_PARTITIONS(name, new partitions' replicas)
 *     likewise.
 */
#ifndef KS_REPLICATION_META_H
#define KS_REPLICATION_META_H

#include "core/internal.h"

#include <kstream/cluster.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define KS__R_MAX_ENDPOINTS 4

struct ks__rendpoint {
	char scheme[16];            /* "tcp", "tls+tcp" */
	char host[256];
	int32_t port;
};

struct ks__rbroker {
	int32_t id;
	int registered;             /* REGISTER applied at least once */
	int fenced;                 /* 1 until registered; FENCE sets it */
	int32_t nendpoints;
	struct ks__rendpoint ep[KS__R_MAX_ENDPOINTS];
};

struct ks__rpart {
	int32_t leader;             /* -1: offline */
	int32_t leader_epoch;
	int32_t partition_epoch;
	int32_t nreplicas;
	int32_t replicas[KS_CLUSTER_MAX_REPLICAS];
	int32_t nisr;
	int32_t isr[KS_CLUSTER_MAX_REPLICAS];
};

struct ks__rtopic {
	char *name;
	char *configs;              /* "k=v\n..." as created; "" none */
	int32_t nparts;
	struct ks__rpart *parts;
};

struct ks__rimage {
	atomic_int refs;
	uint64_t applied;           /* Raft index of the last command in it */
	int unclean;                /* unclean.leader.election.enable */
	int32_t nbrokers;
	struct ks__rbroker *brokers; /* sorted by id */
	int32_t ntopics;
	struct ks__rtopic *topics;  /* sorted by name */
};

/* Command types. */
enum {
	KS__RCMD_REGISTER = 1,
	KS__RCMD_FENCE = 2,
	KS__RCMD_UNFENCE = 3,
	KS__RCMD_CREATE_TOPIC = 4,
	KS__RCMD_DELETE_TOPIC = 5,
	KS__RCMD_CREATE_PARTITIONS = 6,
	KS__RCMD_ALTER_ISR = 7,
};

/* An encoded command (malloc'd bytes). */
struct ks__rcmd {
	uint8_t *p;
	size_t len;
};

/* ---- meta.c: image and commands -------------------------------------- */

struct ks__rimage *ks__rimage_new(void);          /* empty, refs 1 */
struct ks__rimage *ks__rimage_dup(const struct ks__rimage *img); /* refs 1 */
void ks__rimage_ref(struct ks__rimage *img);
void ks__rimage_unref(struct ks__rimage *img);   /* NULL: no-op */

/* Lookups: NULL when absent. */
const struct ks__rbroker *ks__rimage_broker(const struct ks__rimage *img,
    int32_t id);
const struct ks__rtopic *ks__rimage_topic(const struct ks__rimage *img,
    const char *name);
const struct ks__rpart *ks__rimage_part(const struct ks__rimage *img,
    const char *topic, int32_t p);
/* The endpoint of broker id for scheme (NULL: its first); NULL if none. */
const struct ks__rendpoint *ks__rimage_endpoint(const struct ks__rimage *img,
    int32_t id, const char *scheme);
int ks__rpart_in_isr(const struct ks__rpart *p, int32_t id);
int ks__rpart_is_replica(const struct ks__rpart *p, int32_t id);

/*
 * Applies one encoded command to img (in place: the controller applies to
 * its private copy). 0, or KS_ECORRUPT for bytes that do not decode (the
 * image unchanged), KS_ENOMEM. A command that decodes but does not apply
 * (stale, unknown topic) returns 0 and changes nothing.
 */
int ks__rimage_apply(struct ks__rimage *img, const void *buf, size_t len);

/* Whole image to bytes (a snapshot) and back. */
int ks__rimage_encode(const struct ks__rimage *img, struct ks__rcmd *out);
int ks__rimage_decode(const void *buf, size_t len, struct ks__rimage **imgp);

/* Command constructors: 0 or KS_ENOMEM / KS_EINVAL (too long a string,
 * too many replicas). out->p is malloc'd: free it. */
int ks__rcmd_register(struct ks__rcmd *out, int32_t id, int unclean,
    const struct ks__rendpoint *eps, int32_t n);
int ks__rcmd_fence(struct ks__rcmd *out, int32_t id);
int ks__rcmd_unfence(struct ks__rcmd *out, int32_t id);
/* replicas: nparts * rf ids, partition by partition. */
int ks__rcmd_create_topic(struct ks__rcmd *out, const char *name,
    const char *configs, int32_t nparts, int32_t rf,
    const int32_t *replicas);
int ks__rcmd_delete_topic(struct ks__rcmd *out, const char *name);
int ks__rcmd_create_partitions(struct ks__rcmd *out, const char *name,
    int32_t nnew, int32_t rf, const int32_t *replicas);
int ks__rcmd_alter_isr(struct ks__rcmd *out, const char *topic, int32_t p,
    int32_t leader, int32_t leader_epoch, int32_t partition_epoch,
    const int32_t *isr, int32_t nisr);

/*
 * Replica assignment for nparts new partitions of rf replicas over the
 * live (unfenced, registered) members of img, Kafka's way: round robin
 * from a start that moves with the partition, so leaders spread. first is
 * the index of the first new partition. KS_EINVAL if rf exceeds the live
 * members or is < 1.
 */
int ks__rassign(const struct ks__rimage *img, int32_t first, int32_t nparts,
    int32_t rf, int32_t *replicas);

/* ---- controller.c: libraft on its own thread ----------------------------- */

struct ks__ctl;

struct ks__ctl_config {
	int32_t node_id;
	const char *voters;         /* "1@host:port,..." */
	const char *dir;            /* Raft's directory (created) */
	int32_t election_timeout_ms;
	int32_t session_timeout_ms; /* the leader fences members silent so
	                               long */
	ks_log_cb *log_cb;
	void *log_opaque;
	/* Called on the controller thread after each published image (a
	 * reference the callee does not keep unless it takes its own). */
	void (*changed)(void *arg, struct ks__rimage *img);
	void *arg;
};

/*
 * Parses cfg->voters, opens (bootstrapping on first start) the Raft log in
 * cfg->dir, starts the thread. Returns once Raft runs (not once there is a
 * leader). KS_EINVAL (bad voters, node not among them), -EIO (libraft
 * failed: logged), KS_ENOMEM.
 */
int ks__ctl_start(const struct ks__ctl_config *cfg, struct ks__ctl **cp);
/* Stops Raft and joins the thread. NULL: no-op. */
void ks__ctl_stop(struct ks__ctl *c);

/* The latest published image, a reference (ks__rimage_unref it). Any
 * thread. Never NULL (an empty image before the first apply). */
struct ks__rimage *ks__ctl_image(struct ks__ctl *c);
/* The Raft leader's node id, -1 if none known. Any thread. */
int32_t ks__ctl_leader(struct ks__ctl *c);
/* Number of voters, and the i-th voter's id. */
int32_t ks__ctl_nvoters(struct ks__ctl *c);
int32_t ks__ctl_voter(struct ks__ctl *c, int32_t i);

/*
 * Submits cmd (copied) to Raft from any thread. Only the leader can:
 * KS_EBUSY when this member does not lead (or leads no more). done, if not
 * NULL, is called once on the controller thread: 0 once the command is
 * committed and applied (the image holding it published), or an error
 * (KS_EBUSY: leadership lost, KS_ECLOSED: stopping).
 */
int ks__ctl_submit(struct ks__ctl *c, const struct ks__rcmd *cmd,
    void (*done)(void *arg, int rc), void *arg);

/*
 * A heartbeat of member id arrived (any thread). The leader fences members
 * (submits FENCE) that it has not heard from for session_timeout_ms
 * (counted from when it became leader, for those it never heard), and
 * unfences a registered, fenced member whose heartbeat arrives.
 */
void ks__ctl_heartbeat(struct ks__ctl *c, int32_t id);

#endif /* KS_REPLICATION_META_H */
