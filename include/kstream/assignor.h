/*
 * kstream/assignor.h: the client side of Kafka's consumer groups that needs
 * no I/O: the ConsumerProtocol codec (what a member puts in JoinGroup's
 * metadata and what the leader hands back through SyncGroup) and the
 * partition assignors "range", "roundrobin" and "cooperative-sticky".
 * See ks_subscription_encode(3), ks_assignment_encode(3),
 * ks_assignor_assign(3) and ks_assignment_diff(3).
 *
 * Everything here is a pure function of its arguments: it may be called
 * from any thread on distinct data. The coordinator (kstream/group.h) never
 * decodes these bytes; the members do.
 */
#ifndef KSTREAM_ASSIGNOR_H
#define KSTREAM_ASSIGNOR_H

#include <kstream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The highest ConsumerProtocol version this library writes and knows. */
#define KS_CONSUMER_PROTOCOL_VERSION 3

/*
 * Some partitions of one topic: an entry of a subscription's owned
 * partitions or of an assignment. topic is NUL-terminated.
 */
typedef struct ks_partition_list {
	const char *topic;
	const int32_t *partitions;
	size_t partition_count;
} ks_partition_list_t;

/*
 * ConsumerProtocolSubscription, versions 0 to 3: a member's JoinGroup
 * metadata. Fields a version lacks are ignored on encoding and have their
 * defaults after decoding: no owned partitions (v0), generation_id -1
 * (v0-v1), rack_id NULL (v0-v2). Initialise with ks_subscription_init().
 */
typedef struct ks_subscription {
	int16_t version;              /* KS_CONSUMER_PROTOCOL_VERSION */
	const char *const *topics;    /* the subscribed topics */
	size_t topic_count;
	const void *user_data;        /* NULL: null (the default) */
	size_t user_data_len;
	const ks_partition_list_t *owned; /* v1+: owned partitions */
	size_t owned_count;
	int32_t generation_id;        /* v2+: generation of owned (-1) */
	const char *rack_id;          /* v3+: NULL: null (the default) */
} ks_subscription_t;

/* ks_subscription_init: version 3, nothing subscribed, everything null. */
KS_API void ks_subscription_init(ks_subscription_t *sub);

/*
 * ks_subscription_encode: writes sub as Kafka encodes it (big-endian, an
 * int16 version first) into buf, cap bytes. *lenp receives the encoded
 * size, also when buf is too small (-ENOBUFS): a first call with cap 0
 * measures. KS_EINVAL for a version outside 0..3, a NULL topic, a string
 * longer than 32767 bytes, or a count beyond INT32_MAX. sub and what it
 * points to are only read.
 */
KS_API int ks_subscription_encode(const ks_subscription_t *sub, void *buf,
    size_t cap, size_t *lenp);

/*
 * ks_subscription_decode: reads a subscription from buf[0..len). A version
 * above 3 is read as version 3 and keeps its number; bytes after the fields
 * of the version are ignored, as Kafka does. KS_ECORRUPT for truncated
 * input, negative or oversized counts and lengths, a null or NUL-holding
 * string where the schema has a string, or a negative version; KS_ENOMEM.
 * On success *subp is one allocation that points into no caller memory,
 * released by ks_subscription_free(); on failure *subp is NULL.
 */
KS_API int ks_subscription_decode(const void *buf, size_t len,
    ks_subscription_t **subp);

/* ks_subscription_free: frees a decoded subscription. NULL is a no-op. */
KS_API void ks_subscription_free(ks_subscription_t *sub);

/*
 * ConsumerProtocolAssignment, versions 0 to 3 (all alike): what the leader
 * gives one member. Initialise with ks_assignment_init().
 */
typedef struct ks_assignment {
	int16_t version;              /* KS_CONSUMER_PROTOCOL_VERSION */
	const ks_partition_list_t *assigned;
	size_t assigned_count;
	const void *user_data;        /* NULL: null (the default) */
	size_t user_data_len;
} ks_assignment_t;

/* ks_assignment_init: version 3, nothing assigned, null user data. */
KS_API void ks_assignment_init(ks_assignment_t *a);

/* ks_assignment_encode: as ks_subscription_encode(), for an assignment. */
KS_API int ks_assignment_encode(const ks_assignment_t *a, void *buf,
    size_t cap, size_t *lenp);

/*
 * ks_assignment_decode: as ks_subscription_decode(), for an assignment.
 * Release *ap with ks_assignment_free().
 */
KS_API int ks_assignment_decode(const void *buf, size_t len,
    ks_assignment_t **ap);

/*
 * ks_assignment_free: frees an assignment made by ks_assignment_decode(),
 * ks_assignor_assign() or ks_assignment_diff(). NULL is a no-op.
 */
KS_API void ks_assignment_free(ks_assignment_t *a);

/*
 * ks_assignment_diff: what a member gains and loses when its assignment
 * goes from old_a to new_a (either NULL: nothing): *addedp receives the
 * partitions of new_a not in old_a, *revokedp those of old_a not in new_a,
 * each with topics sorted by name, partitions ascending, duplicates
 * merged, version 3 and null user data; release both with
 * ks_assignment_free(). On failure (KS_EINVAL, KS_ENOMEM) both are NULL.
 */
KS_API int ks_assignment_diff(const ks_assignment_t *old_a,
    const ks_assignment_t *new_a, ks_assignment_t **addedp,
    ks_assignment_t **revokedp);

/*
 * Kafka's RebalanceProtocol. EAGER: every member gives up all its
 * partitions before it rejoins. COOPERATIVE (KIP-429): members keep their
 * partitions across a rebalance and give up only those the assignment
 * takes away; those reach their new owner in a follow-up rebalance.
 */
#define KS_REBALANCE_PROTOCOL_EAGER 0
#define KS_REBALANCE_PROTOCOL_COOPERATIVE 1

/* An assignor: static, never freed. */
typedef struct ks_assignor ks_assignor_t;

/* ks_assignor_find: the assignor named name, or NULL if there is none. */
KS_API const ks_assignor_t *ks_assignor_find(const char *name);

/*
 * ks_assignor_at: the i-th assignor of the library ("range", "roundrobin",
 * "cooperative-sticky"), NULL past the last: for listing them.
 */
KS_API const ks_assignor_t *ks_assignor_at(size_t i);

/* ks_assignor_name: the assignor's protocol name, static. */
KS_API const char *ks_assignor_name(const ks_assignor_t *a);

/*
 * ks_assignor_protocols: the rebalance protocols the assignor supports, as
 * bits 1 << KS_REBALANCE_PROTOCOL_*: EAGER for range and roundrobin, EAGER
 * and COOPERATIVE for cooperative-sticky, as in Kafka. 0 for NULL.
 */
KS_API unsigned ks_assignor_protocols(const ks_assignor_t *a);

/*
 * ks_assignor_rebalance_protocol: the protocol a consumer configured with
 * the comma-separated assignor list names (partition.assignment.strategy)
 * follows: the highest that every listed assignor supports, as Kafka's
 * consumer chooses it. KS_EINVAL for an empty list or an unknown name.
 */
KS_API int ks_assignor_rebalance_protocol(const char *names);

/* A group member, as the leader sees it. */
typedef struct ks_assignor_member {
	const char *member_id;
	const char *group_instance_id;    /* NULL: a dynamic member */
	const ks_subscription_t *subscription;
} ks_assignor_member_t;

/* A topic the group may consume, and how many partitions it has. */
typedef struct ks_assignor_topic {
	const char *name;
	int32_t partition_count;
} ks_assignor_topic_t;

/*
 * ks_assignor_assign: the leader's assignment. members[0..member_count)
 * are the group's members with their decoded subscriptions,
 * topics[0..topic_count) the metadata of (at least) the subscribed topics.
 * On success out[i] receives members[i]'s assignment (topics sorted by
 * name, partitions ascending; its version that of the member's
 * subscription, at most 3), to be freed with ks_assignment_free(); on
 * failure every out[i] is NULL. Subscribed topics missing from topics[]
 * are left out, as Kafka does. Nothing is kept. Errors: KS_EINVAL (NULL
 * arguments, duplicate member ids or topic names, a negative partition
 * count), KS_ENOMEM.
 */
KS_API int ks_assignor_assign(const ks_assignor_t *a,
    const ks_assignor_member_t *members, size_t member_count,
    const ks_assignor_topic_t *topics, size_t topic_count,
    ks_assignment_t **out);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_ASSIGNOR_H */
