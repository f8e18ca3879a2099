/*
 * kstream/admin.h: managing topics and groups: one API on a local store
 * (ks_admin_new) or on a broker (ks_admin_connect in kafka.h), as
 * librdkafka's Admin API and kafka-topics.sh / kafka-consumer-groups.sh
 * do it. The kstream(1) tool is built on it. See ks_admin_new(3).
 *
 * A handle is for one thread at a time. Every call is synchronous: on a
 * broker it waits up to the remote configuration's request timeout
 * (KS_ETIMEDOUT). A broker's refusal is mapped to the local error code
 * (KS_ETOPIC, KS_EEXIST, KS_EBUSY, KS_ECONFIG...); ks_kafka_last_error()
 * then gives Kafka's code.
 */
#ifndef KSTREAM_ADMIN_H
#define KSTREAM_ADMIN_H

#include <kstream/common.h>
#include <kstream/store.h>
#include <kstream/group.h>
#include <kstream/client.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_admin ks_admin_t;

/*
 * ks_admin_new: an admin handle on a store opened for writing (a
 * read-only store can list and describe only: KS_ERDONLY otherwise).
 * The store must outlive the handle. Free with ks_admin_free().
 * Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_admin_new(ks_store_t *store, ks_admin_t **ap);

/* ks_admin_free: closes the handle (and its connections); NULL is a no-op. */
KS_API void ks_admin_free(ks_admin_t *a);

/* One partition, as ks_admin_describe_topic() gives it. */
typedef struct ks_partition_info {
	int32_t partition;
	int64_t start_offset;     /* the earliest offset (log start) */
	int64_t end_offset;       /* the next offset to be written (high
	                             watermark) */
	int32_t leader;           /* broker (node) id; a store's: -1 */
	int error;                /* 0, or why the offsets are unknown */
} ks_partition_info_t;

/* One configuration property. */
typedef struct ks_config_entry {
	const char *name;         /* Kafka's name ("retention.ms") */
	const char *value;
	int is_default;           /* 1: the broker's or store's default */
} ks_config_entry_t;

typedef struct ks_topic_info {
	const char *name;
	int internal;             /* __consumer_offsets */
	int32_t partition_count;
	const ks_partition_info_t *partitions; /* describe only, else NULL */
	const ks_config_entry_t *configs;      /* describe only, else NULL */
	size_t config_count;
} ks_topic_info_t;

/* ks_admin_list_topics flags */
#define KS_ADMIN_INTERNAL 0x1 /* include internal topics */

/*
 * ks_admin_list_topics: every topic with its partition count, sorted by
 * name. *out is one allocation, freed by ks_admin_topics_free(); *count
 * its length. Errors: KS_EINVAL, KS_ENOMEM, those of the connection.
 */
KS_API int ks_admin_list_topics(ks_admin_t *a, int flags,
    ks_topic_info_t **out, size_t *count);

/*
 * ks_admin_describe_topic: one topic with each partition's offsets and
 * leader and every configuration property. *out is one allocation, freed
 * by ks_admin_topics_free(). Errors: KS_ETOPIC, KS_EINVAL, KS_ENOMEM,
 * those of the connection.
 */
KS_API int ks_admin_describe_topic(ks_admin_t *a, const char *name,
    ks_topic_info_t **out);
KS_API void ks_admin_topics_free(ks_topic_info_t *list);

/*
 * ks_admin_create_topic: CreateTopics. partitions <= 0: the default
 * (the store's topic_defaults, the broker's num.partitions). configs:
 * name, value pairs ending with NULL ({"cleanup.policy", "compact",
 * NULL}), or NULL. Errors: KS_EEXIST, KS_ENAME, KS_ECONFIG (the first bad
 * property is named by the log callback or the broker's message),
 * KS_EINVAL, those of the connection.
 */
KS_API int ks_admin_create_topic(ks_admin_t *a, const char *name,
    int32_t partitions, const char *const *configs);

/* ks_admin_delete_topic: DeleteTopics. Errors: KS_ETOPIC, KS_EINVAL
 * (internal topics), those of the connection. */
KS_API int ks_admin_delete_topic(ks_admin_t *a, const char *name);

/*
 * ks_admin_alter_topic: sets the given properties (pairs as above; ""
 * as value returns a property to its default) and leaves the others as
 * they are (IncrementalAlterConfigs). All or nothing. Errors: KS_ETOPIC,
 * KS_ECONFIG, KS_EINVAL, those of the connection.
 */
KS_API int ks_admin_alter_topic(ks_admin_t *a, const char *name,
    const char *const *configs);

/* ks_admin_add_partitions: CreatePartitions: grows the topic to total
 * partitions. Errors: KS_ETOPIC, KS_EINVAL (total not larger), those of
 * the connection. */
KS_API int ks_admin_add_partitions(ks_admin_t *a, const char *name,
    int32_t total);

/*
 * ks_admin_list_offset: ListOffsets for one partition: when is
 * KS_OFFSET_BEGINNING (the log start), KS_OFFSET_END (the log end), or a
 * timestamp in ms (the first offset whose timestamp is >= it; the log
 * end if none). Errors: KS_ETOPIC, KS_EPARTITION, those of the
 * connection.
 */
KS_API int ks_admin_list_offset(ks_admin_t *a, const char *topic,
    int32_t partition, int64_t when, int64_t *offset);

/* ks_admin_list_groups: ListGroups, sorted by id; free with
 * ks_group_list_free(). On a broker the listing's protocol_type and state
 * are those ListGroups v4 gives. */
KS_API int ks_admin_list_groups(ks_admin_t *a, ks_group_listing_t **out,
    size_t *count);

/* ks_admin_describe_group: DescribeGroups; free with ks_group_info_free().
 * An unknown group is Dead without members. */
KS_API int ks_admin_describe_group(ks_admin_t *a, const char *group,
    ks_group_info_t **out);

/* ks_admin_group_offsets: OffsetFetch of every partition the group has
 * committed, sorted; free with ks_committed_free(). */
KS_API int ks_admin_group_offsets(ks_admin_t *a, const char *group,
    ks_committed_t **out, size_t *count);

/*
 * ks_admin_commit_offsets: commits offsets[0..n) for a group that has no
 * members (kafka-consumer-groups.sh --reset-offsets): each offset is an
 * offset or KS_OFFSET_BEGINNING / KS_OFFSET_END, resolved here. Errors:
 * KS_EBUSY (the group has members), KS_ETOPIC, KS_EPARTITION, KS_EINVAL,
 * those of the connection.
 */
KS_API int ks_admin_commit_offsets(ks_admin_t *a, const char *group,
    const ks_topic_partition_t *offsets, size_t n);

/*
 * ks_admin_delete_group: DeleteGroups: removes a group without members
 * and its committed offsets. Errors: KS_EGROUP (no such group: neither
 * members nor offsets), KS_EBUSY (it has members), KS_EINVAL, those of
 * the connection.
 */
KS_API int ks_admin_delete_group(ks_admin_t *a, const char *group);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_ADMIN_H */
