/*
 * coordinator_impl.h: the group coordinator's state, shared by
 * coordinator.c (membership, generations, rebalances, timers) and
 * offsets.c (committed offsets, their log records and replay).
 *
 * Locking: c->mu guards every group and member and every offset table.
 * c->commit_mu orders offset-log appends with the table updates that follow
 * them (so that memory and a replay of the log agree); it is taken before
 * c->mu, never while c->mu is held. Callbacks are collected in an outbox
 * while c->mu is held and called after it is released.
 */
#ifndef KS_GROUP_COORDINATOR_IMPL_H
#define KS_GROUP_COORDINATOR_IMPL_H

#include "core/internal.h"

#include <kstream/group.h>
#include <pthread.h>

/* A pending JoinGroup or SyncGroup, and later its answer on the way out. */
enum { KS__CALL_JOIN, KS__CALL_SYNC };

struct ks__call {
	struct ks__call *next;      /* in an outbox */
	int kind;
	ks_join_cb *jcb;
	ks_sync_cb *scb;
	void *opaque;
	int err;
	void *payload;              /* what the result points into */
	union {
		ks_join_result_t join;
		ks_sync_result_t sync;
	} r;
};

/* Answers collected under c->mu, called after it is released. */
struct ks__outbox {
	struct ks__call *head, **tail;
};

struct ks__proto {
	char *name;
	void *meta;
	size_t len;
};

struct ks__member {
	struct ks__member *next;    /* in join order: the next leader is the
	                               oldest member */
	char *id, *instance_id, *client_id, *client_host, *protocol_type;
	int32_t session_timeout_ms, rebalance_timeout_ms;
	struct ks__proto *protos;
	size_t nprotos;
	void *assignment;
	size_t assignment_len;
	struct ks__call *join;      /* awaiting the join's completion */
	struct ks__call *sync;      /* awaiting the leader's assignment */
	int join_flags;             /* of the latest join */
	int64_t session_deadline;   /* when not awaiting an answer */
	int pending_sync;           /* owes a SyncGroup for this generation */
};

/* A dynamic member that was given an id (KS_JOIN_REQUIRE_MEMBER_ID) and
 * has not joined with it yet. */
struct ks__pending {
	struct ks__pending *next;
	char *id;
	int64_t deadline;
};

/* A committed offset, in a group's table. */
struct ks__offset {
	struct ks__offset *next;    /* hash chain */
	uint64_t hash;
	char *topic;
	int32_t partition;
	int32_t leader_epoch;
	int64_t offset;
	int64_t commit_ts;
	char *metadata;
};

struct ks__group {
	struct ks__group *next;     /* hash chain */
	uint64_t hash;
	char *id;
	int state;                  /* KS_GROUP_* */
	int32_t generation;
	char *protocol_type;        /* NULL: none yet */
	char *protocol_name;        /* NULL outside a generation */
	struct ks__member *members;
	size_t nmembers;
	struct ks__member *leader;
	size_t awaiting_join;       /* members with a pending join */
	struct ks__pending *pending;
	size_t npending;
	int64_t join_deadline;      /* PreparingRebalance: complete by then */
	int64_t initial_cap;        /* >= 0: an initial delayed join, which
	                               ends by then at the latest */
	int new_member_added;       /* during the initial delay */
	int64_t sync_deadline;      /* members owing a sync go then */
	int pins;                   /* commits in flight: keep the group */
	struct ks__offset **otab;
	size_t ocap, ocount;
	uint64_t rebalances;        /* times it entered PreparingRebalance */
};

struct ks_coordinator {
	ks_coordinator_config_t cfg;
	ks_log_t *log;
	pthread_mutex_t mu;
	pthread_mutex_t commit_mu;
	struct ks__group **gtab;
	size_t gcap, gcount;
	/* the timer thread */
	pthread_t thread;
	int has_thread;
	int stop;                   /* under tmu */
	pthread_mutex_t tmu;
	pthread_cond_t tcv;
	/* A cluster member that does not coordinate now (replication): its
	 * log is a follower's, filled by the leader; commits are refused.
	 * Under commit_mu. */
	int inactive;
};

/*
 * ks__coordinator_activate: a cluster member starts (active 1) or stops
 * (0) coordinating groups. Either way every group held in memory is
 * forgotten and its pending joins and syncs answered KS_ECLOSED (their
 * members look for the coordinator again); starting, the committed
 * offsets are read back from the log, which replication filled. While
 * inactive, commits fail with KS_ECLOSED and write nothing.
 */
int ks__coordinator_activate(ks_coordinator_t *c, int active);

/* ---- coordinator.c */
int64_t ks__coord_now(ks_coordinator_t *c);
uint64_t ks__hash_str(const char *s);
/* The group, or NULL. Under c->mu. */
struct ks__group *ks__group_find(ks_coordinator_t *c, const char *id);
/* The group, created Empty if missing; NULL only when out of memory. */
struct ks__group *ks__group_get(ks_coordinator_t *c, const char *id);
/* Frees g if it holds nothing worth keeping (no members, no offsets, no
 * commit in flight). Under c->mu. */
void ks__group_maybe_drop(ks_coordinator_t *c, struct ks__group *g);
/*
 * The membership part of an OffsetCommit: 0 (and the group, created for a
 * simple commit if missing, is pinned in *gp) or the error for every
 * offset. Counts as a heartbeat. Under c->mu.
 */
int ks__group_check_commit(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id,
    int64_t now, struct ks__group **gp);

/* ---- offsets.c */
/* Rebuilds the tables from c->log. */
int ks__offsets_replay(ks_coordinator_t *c);
void ks__offsets_free(struct ks__group *g);

/*
 * Packing a result into one allocation: run the same fill function twice,
 * first with base NULL to measure (off counts the bytes), then with base
 * pointing to that many bytes. Pointers returned while measuring are NULL.
 */
struct ks__pack {
	char *base;
	size_t off;
};

static inline void *ks__pack_mem(struct ks__pack *pk, const void *src,
    size_t len, size_t align)
{
	void *d;
	pk->off = (pk->off + align - 1) & ~(align - 1);
	d = pk->base ? pk->base + pk->off : NULL;
	if (d && src && len)
		memcpy(d, src, len);
	else if (d && len)
		memset(d, 0, len);
	pk->off += len;
	return d;
}

/* A copy of s; NULL stays NULL. */
static inline const char *ks__pack_str(struct ks__pack *pk, const char *s)
{
	if (!s)
		return NULL;
	return ks__pack_mem(pk, s, strlen(s) + 1, 1);
}

/* Bytes, never NULL once filled (an empty buffer points somewhere). */
static inline const void *ks__pack_bytes(struct ks__pack *pk,
    const void *src, size_t len)
{
	return ks__pack_mem(pk, len ? src : NULL, len ? len : 1, 1);
}

/* ---- group_metrics.c */
/*
 * Adds each group's samples to m (kstream_group_*): state, members,
 * rebalances, committed offsets, and the lag behind end_offset(arg, topic,
 * partition) (a negative answer: no lag sample for that partition).
 * end_offset is called without c->mu. 0 or KS_ENOMEM.
 */
struct ks_metrics;
int ks__coordinator_metrics(ks_coordinator_t *c, struct ks_metrics *m,
    int64_t (*end_offset)(void *arg, const char *topic, int32_t partition),
    void *arg);

#endif /* KS_GROUP_COORDINATOR_IMPL_H */
