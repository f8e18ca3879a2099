/*
 * kstream/group.h: the group coordinator, Kafka's consumer-group protocol
 * as a library component: membership, generations, rebalances, session
 * timeouts, and committed offsets. See ks_coordinator_new(3).
 *
 * Its operations mirror Kafka's requests (JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups,
 * ListGroups) and assume nothing about who calls: in-process consumers and
 * a Kafka protocol server call the same functions. The coordinator never
 * decodes protocol metadata or assignments; they are bytes the members
 * exchange through it.
 *
 * Threads: a ks_coordinator_t may be shared by any number of threads. One
 * mutex guards the group state; callbacks are called without it held, so
 * a callback may call the coordinator again (but not ks_coordinator_free).
 * A JoinGroup or SyncGroup callback is called by whichever thread completes
 * the request: the caller itself, before ks_group_join or ks_group_sync
 * returns; the thread of another member's join, sync, heartbeat, leave or
 * commit; the thread of ks_coordinator_tick() (or the coordinator's own
 * timer thread); or the thread of ks_coordinator_free().
 *
 * Errors: the asynchronous calls (ks_group_join, ks_group_sync) return 0
 * when they accepted the request, which then gets exactly one callback, or
 * a negative code (KS_EINVAL, KS_ENOMEM) when they did not, and then never
 * call the callback. Group errors (KS_EMEMBER, KS_EGENERATION,
 * KS_EREBALANCE, KS_EPROTOCOL) go to the callback.
 */
#ifndef KSTREAM_GROUP_H
#define KSTREAM_GROUP_H

#include <kstream/common.h>
#include <kstream/log.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_coordinator ks_coordinator_t;

/*
 * Coordinator configuration, with Kafka's broker property names. Always
 * initialise with ks_coordinator_config_init() (Kafka's defaults, except
 * as noted), then change fields or call ks_coordinator_config_set().
 */
typedef struct ks_coordinator_config {
	int32_t min_session_timeout_ms;   /* group.min.session.timeout.ms
	                                     (6000) */
	int32_t max_session_timeout_ms;   /* group.max.session.timeout.ms
	                                     (1800000) */
	int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms
	                                     (Kafka 3000; here 0) */
	int32_t max_group_size;           /* group.max.size (0: unlimited) */
	int32_t offset_metadata_max_bytes;/* offset.metadata.max.bytes (4096) */
	/*
	 * > 0: a thread owned by the coordinator calls ks_coordinator_tick
	 * this often (100). 0: no thread; the owner calls it.
	 */
	int32_t tick_interval_ms;
	/*
	 * The clock of every timeout, in milliseconds (NULL:
	 * CLOCK_MONOTONIC). Tests give a fake clock here and drive time with
	 * ks_coordinator_tick().
	 */
	int64_t (*clock_ms)(void *opaque);
	void *clock_opaque;
	ks_log_cb *log_cb;                /* replay damage, evictions
	                                     (ks_log_stderr) */
	void *log_opaque;
} ks_coordinator_config_t;

KS_API void ks_coordinator_config_init(ks_coordinator_config_t *cfg);

/*
 * ks_coordinator_config_set: sets a field by Kafka's property name
 * ("group.min.session.timeout.ms", "group.max.session.timeout.ms",
 * "group.initial.rebalance.delay.ms", "group.max.size",
 * "offset.metadata.max.bytes") from its decimal string. KS_ECONFIG for an
 * unknown name or a value out of range; cfg is unchanged then.
 */
KS_API int ks_coordinator_config_set(ks_coordinator_config_t *cfg,
    const char *name, const char *value);

/*
 * ks_coordinator_new: a coordinator. cfg may be NULL for the defaults; it
 * is copied. offsets_log, if not NULL, holds the committed offsets (a
 * partition of __consumer_offsets, in Kafka's record format): it is
 * replayed now to rebuild them, and commits are appended to it. It is
 * borrowed: the caller closes it after ks_coordinator_free(). NULL keeps
 * offsets in memory only. On failure *cp is NULL. Errors: KS_ECONFIG,
 * KS_ENOMEM, the log's read errors. To release, ks_coordinator_free().
 */
KS_API int ks_coordinator_new(const ks_coordinator_config_t *cfg,
    ks_log_t *offsets_log, ks_coordinator_t **cp);

/*
 * ks_coordinator_free: stops the timer thread, answers every pending join
 * and sync with KS_ECLOSED (in this thread), and frees the coordinator.
 * No other call may be in progress or follow. NULL is a no-op.
 */
KS_API void ks_coordinator_free(ks_coordinator_t *c);

/*
 * ks_coordinator_tick: applies every timeout due at now_ms (< 0: read the
 * configured clock): expired sessions, rebalance timeouts, members that
 * never sent SyncGroup. Callbacks it completes are called in this thread.
 */
KS_API int ks_coordinator_tick(ks_coordinator_t *c, int64_t now_ms);

/* ---- JoinGroup ----------------------------------------------------------- */

/* A protocol a member supports, most preferred first. */
typedef struct ks_group_protocol {
	const char *name;        /* "range", "roundrobin", ... */
	const void *metadata;    /* opaque to the coordinator */
	size_t metadata_len;
} ks_group_protocol_t;

/* ks_join_request_t.flags */
#define KS_JOIN_REQUIRE_MEMBER_ID 0x1 /* JoinGroup v4+: a new dynamic member
                                         gets its id in a KS_EMEMBER answer
                                         and must join again with it */
#define KS_JOIN_SKIP_ASSIGNMENT 0x2   /* JoinGroup v9+: the caller
                                         understands skip_assignment */

/*
 * A JoinGroup request. Initialise with ks_join_request_init(). Every
 * pointer is read during the call only.
 */
typedef struct ks_join_request {
	const char *group_id;
	const char *member_id;      /* "" or NULL: a new member */
	const char *instance_id;    /* group.instance.id; NULL: dynamic */
	const char *client_id;      /* prefix of new member ids; NULL: "" */
	const char *client_host;    /* for DescribeGroups; NULL: "" */
	int32_t session_timeout_ms; /* within the configured bounds */
	int32_t rebalance_timeout_ms; /* < 0: session_timeout_ms (v0) */
	const char *protocol_type;  /* "consumer", "connect", ... */
	const ks_group_protocol_t *protocols;
	size_t protocol_count;
	int flags;                  /* KS_JOIN_* */
} ks_join_request_t;

KS_API void ks_join_request_init(ks_join_request_t *req);

/* A member as the leader sees it in a join result. */
typedef struct ks_join_member {
	const char *member_id;
	const char *instance_id;    /* NULL: dynamic */
	const void *metadata;       /* for the chosen protocol */
	size_t metadata_len;
} ks_join_member_t;

/*
 * What a join got. Everything is valid only during the callback. On error
 * only member_id is meaningful: the request's member id, or, with
 * KS_EMEMBER and member_id_required set, the id the coordinator assigned
 * (KS_JOIN_REQUIRE_MEMBER_ID), to join again with. After any other
 * KS_EMEMBER the member joins again as new (member_id "").
 */
typedef struct ks_join_result {
	int32_t generation;         /* -1 on error */
	const char *protocol_type;
	const char *protocol_name;  /* the protocol every member supports */
	const char *leader_id;
	const char *member_id;      /* this member's id */
	int member_id_required;
	int skip_assignment;        /* the leader must not assign (static
	                               leader rejoined, KIP-814) */
	const ks_join_member_t *members; /* the leader's result only */
	size_t member_count;
} ks_join_result_t;

typedef void ks_join_cb(void *opaque, int err, const ks_join_result_t *r);

/*
 * ks_group_join: JoinGroup. The answer comes through cb once every known
 * member has joined or the rebalance timeout passed. r is never NULL.
 * Errors to cb: KS_EMEMBER (unknown member id, a static member fenced by a
 * newer instance, or member_id_required), KS_EPROTOCOL (no protocol every
 * member supports, or another protocol type), KS_EBUSY (the group has
 * group.max.size members, or a later join of the same member replaced
 * this one), KS_ECLOSED. Returned (no callback): KS_EINVAL (NULL or empty
 * group_id, NULL protocols, session timeout out of bounds), KS_ENOMEM.
 */
KS_API int ks_group_join(ks_coordinator_t *c, const ks_join_request_t *req,
    ks_join_cb *cb, void *opaque);

/* ---- SyncGroup ----------------------------------------------------------- */

typedef struct ks_group_assignment {
	const char *member_id;
	const void *assignment;     /* opaque to the coordinator */
	size_t assignment_len;
} ks_group_assignment_t;

/* A SyncGroup request. Initialise with ks_sync_request_init(). */
typedef struct ks_sync_request {
	const char *group_id;
	int32_t generation;
	const char *member_id;
	const char *instance_id;    /* NULL: dynamic */
	const char *protocol_type;  /* NULL: not checked (v5+ checks) */
	const char *protocol_name;  /* NULL: not checked */
	const ks_group_assignment_t *assignments; /* the leader's, else none */
	size_t assignment_count;
} ks_sync_request_t;

KS_API void ks_sync_request_init(ks_sync_request_t *req);

/* What a sync got; valid only during the callback. */
typedef struct ks_sync_result {
	const char *protocol_type;
	const char *protocol_name;
	const void *assignment;     /* this member's bytes, as the leader
	                               sent them (empty if none) */
	size_t assignment_len;
} ks_sync_result_t;

typedef void ks_sync_cb(void *opaque, int err, const ks_sync_result_t *r);

/*
 * ks_group_sync: SyncGroup. A follower's answer waits for the leader's
 * sync; the leader's assignments are handed out undecoded. r is never
 * NULL (zeroed on error). Errors to cb: KS_EMEMBER, KS_EGENERATION,
 * KS_EREBALANCE (a rebalance started), KS_EPROTOCOL (type or name
 * mismatch), KS_EBUSY (replaced by a later sync of the same member),
 * KS_ECLOSED. Returned: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_group_sync(ks_coordinator_t *c, const ks_sync_request_t *req,
    ks_sync_cb *cb, void *opaque);

/* ---- Heartbeat, LeaveGroup -------------------------------------------- */

/*
 * ks_group_heartbeat: keeps the member's session alive. 0 when the group
 * is stable (or completing its rebalance); KS_EREBALANCE while a rebalance
 * is being prepared (join again); KS_EMEMBER, KS_EGENERATION; KS_EINVAL.
 * instance_id may be NULL.
 */
KS_API int ks_group_heartbeat(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id);

/* A leaving member, by member id, or by instance id with member_id "". */
typedef struct ks_group_leave {
	const char *member_id;      /* "" or NULL: any, with instance_id */
	const char *instance_id;    /* NULL: dynamic */
	int err;                    /* out: 0, KS_EMEMBER */
} ks_group_leave_t;

/*
 * ks_group_leave: LeaveGroup (v3+ takes a batch). Removes each member and
 * starts a rebalance. Returns 0 if every member left, else the first
 * member's error (each entry's err says); KS_EINVAL.
 */
KS_API int ks_group_leave(ks_coordinator_t *c, const char *group_id,
    ks_group_leave_t *members, size_t n);

/* ---- committed offsets ------------------------------------------------ */

/* One partition's offset to commit. */
typedef struct ks_offset_commit {
	const char *topic;
	int32_t partition;
	int64_t offset;             /* the next record to consume */
	int32_t leader_epoch;       /* -1: unknown */
	const char *metadata;       /* NULL: "" */
	int err;                    /* out: 0, KS_EMSGSIZE (metadata longer
	                               than offset.metadata.max.bytes) or the
	                               call's error */
} ks_offset_commit_t;

/* ks_group_commit flags */
#define KS_GROUP_COMMIT_DURABLE 0x1 /* return once fsynced */

/*
 * ks_group_commit: OffsetCommit. A member commits with its generation and
 * id; generation -1 with member_id "" or NULL commits for a group without
 * members (a "simple" consumer using the coordinator only for offsets).
 * Returns once the offsets are appended to the offsets log (and, with
 * KS_GROUP_COMMIT_DURABLE, flushed), or at once without a log. Returns 0
 * if every offset was committed, else the first error (each entry's err
 * says): KS_EMEMBER, KS_EGENERATION, KS_EREBALANCE (the group is between
 * its join and its sync), KS_EMSGSIZE, the log's errors; KS_EINVAL.
 */
KS_API int ks_group_commit(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id,
    ks_offset_commit_t *offsets, size_t n, int flags);

/* A topic partition, to ask for. */
typedef struct ks_group_tp {
	const char *topic;
	int32_t partition;
} ks_group_tp_t;

/* A committed offset. */
typedef struct ks_committed {
	const char *topic;
	int32_t partition;
	int64_t offset;             /* -1: nothing committed */
	int32_t leader_epoch;       /* -1: unknown */
	const char *metadata;       /* "" if none */
	int64_t commit_timestamp;   /* wall clock ms, -1 if none */
} ks_committed_t;

/*
 * ks_group_fetch_offsets: OffsetFetch. For tps[0..n), in that order, or
 * with tps NULL for every partition the group has committed (sorted by
 * topic and partition). *out is one allocation, freed by
 * ks_committed_free(); *count its length. An unknown group has no
 * offsets. Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_group_fetch_offsets(ks_coordinator_t *c, const char *group_id,
    const ks_group_tp_t *tps, size_t n, ks_committed_t **out,
    size_t *count);
KS_API void ks_committed_free(ks_committed_t *list);

/*
 * ks_group_delete_offsets: OffsetDelete: removes committed offsets
 * (tombstones in the offsets log). Only for a group without members:
 * KS_EBUSY otherwise. Deleting what is not committed is not an error.
 */
KS_API int ks_group_delete_offsets(ks_coordinator_t *c, const char *group_id,
    const ks_group_tp_t *tps, size_t n);

/*
 * ks_group_delete: DeleteGroups: removes a group that has no members,
 * with its committed offsets (tombstones in the offsets log). Errors:
 * KS_EGROUP (neither members nor offsets: unknown), KS_EBUSY (members),
 * KS_EINVAL, and the offsets log's write errors.
 */
KS_API int ks_group_delete(ks_coordinator_t *c, const char *group_id);

/* ---- DescribeGroups, ListGroups --------------------------------------- */

/* Group states, as Kafka names them (ks_group_state_name). */
#define KS_GROUP_EMPTY 0
#define KS_GROUP_PREPARING_REBALANCE 1
#define KS_GROUP_COMPLETING_REBALANCE 2
#define KS_GROUP_STABLE 3
#define KS_GROUP_DEAD 4

/* "Empty", "PreparingRebalance", ...; "Unknown" otherwise. Static. */
KS_API const char *ks_group_state_name(int state);

typedef struct ks_group_member_info {
	const char *member_id;
	const char *instance_id;    /* NULL: dynamic */
	const char *client_id;
	const char *client_host;
	const void *metadata;       /* for the chosen protocol: Stable only */
	size_t metadata_len;
	const void *assignment;     /* Stable only */
	size_t assignment_len;
} ks_group_member_info_t;

typedef struct ks_group_info {
	const char *group_id;
	int state;                  /* KS_GROUP_* */
	const char *protocol_type;  /* "" if none */
	const char *protocol_name;  /* Stable only, else "" */
	int32_t generation;
	const char *leader_id;      /* "" if none */
	const ks_group_member_info_t *members;
	size_t member_count;
} ks_group_info_t;

/*
 * ks_group_describe: DescribeGroups for one group. An unknown group is
 * described as Dead without members. *out is one allocation, freed by
 * ks_group_info_free(). Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_group_describe(ks_coordinator_t *c, const char *group_id,
    ks_group_info_t **out);
KS_API void ks_group_info_free(ks_group_info_t *info);

typedef struct ks_group_listing {
	const char *group_id;
	const char *protocol_type;  /* "" for a group with offsets only */
	int state;
} ks_group_listing_t;

/*
 * ks_group_list: ListGroups, sorted by id. states_mask: bits (1 << state)
 * of the states to list (v4's filter); 0 lists all. *out is one
 * allocation, freed by ks_group_list_free(). Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_group_list(ks_coordinator_t *c, int states_mask,
    ks_group_listing_t **out, size_t *count);
KS_API void ks_group_list_free(ks_group_listing_t *list);

/*
 * ks_store_coordinator: the store's group coordinator, which keeps
 * committed offsets in the store's internal compacted topic
 * __consumer_offsets (created on first use), configured from the store's
 * group_* properties. Borrowed: valid until ks_store_close(), which frees
 * it. NULL for a read-only store, or if it could not be created (the
 * store's log callback says why). Consumers of one store share it.
 */
typedef struct ks_store ks_store_t;
KS_API ks_coordinator_t *ks_store_coordinator(ks_store_t *store);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_GROUP_H */
