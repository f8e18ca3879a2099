/*
 * kstream/client.h: producers and consumers on a store (kstream/store.h).
 * See ks_producer_new(3) and ks_consumer_new(3).
 *
 * Threads: a ks_producer_t may be shared by any number of threads. A
 * ks_consumer_t belongs to one thread at a time: a call made while another
 * thread is inside one on the same consumer fails with KS_ETHREAD.
 */
#ifndef KSTREAM_CLIENT_H
#define KSTREAM_CLIENT_H

#include <kstream/common.h>
#include <kstream/record.h>
#include <kstream/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- producer ----------------------------------------------------------- */

typedef struct ks_producer ks_producer_t;

#define KS_PARTITION_ANY (-1) /* let the partitioner choose */

/*
 * A partitioner: returns the partition (0..partitions-1) for a record, or
 * a negative value to leave the choice to the default partitioner. Called
 * from the producing thread; it must be thread-safe if the producer is
 * shared.
 */
typedef int32_t ks_partitioner_fn(void *opaque, const char *topic,
    const void *key, size_t key_len, int32_t partitions);

/*
 * A remote producer's report on records produced without waiting (no res
 * array, no KS_PRODUCE_DURABLE): count records from base_offset on
 * topic/partition were acknowledged (err 0), or failed after retries
 * (err < 0, base_offset -1). Called from the producer's I/O thread; it
 * must not call ks_producer_free or ks_producer_flush.
 */
typedef void ks_delivery_fn(void *opaque, const char *topic,
    int32_t partition, int64_t base_offset, size_t count, int err);

typedef struct ks_producer_config {
	/* NULL: keyed records go to XXH64(key) % partitions, keyless ones to
	 * a sticky partition that changes every batch_bytes (Kafka's sticky
	 * partitioner). */
	ks_partitioner_fn *partitioner;
	void *partitioner_opaque;
	size_t batch_bytes;          /* batch.size for the sticky choice (16384) */
	int compression;             /* KS_COMPRESSION_* (none): batches are
	                                compressed before they are appended or
	                                sent */
	int acks;                    /* remote: -1 all in-sync replicas (the
	                                default), 1 the leader, 0 none */
	int32_t linger_ms;           /* remote: linger.ms (5) */
	ks_delivery_fn *delivery_cb; /* remote: NULL to log failures only */
	void *delivery_opaque;
} ks_producer_config_t;

KS_API void ks_producer_config_init(ks_producer_config_t *cfg);

/*
 * ks_producer_new: a producer on store; cfg may be NULL (defaults) and is
 * copied. To release, ks_producer_free(), before the store is closed.
 */
KS_API int ks_producer_new(ks_store_t *store, const ks_producer_config_t *cfg,
    ks_producer_t **prodp);
KS_API void ks_producer_free(ks_producer_t *prod);

/* ks_produce flags */
#define KS_PRODUCE_DURABLE 0x1 /* return once the records are durable */

/* What a produced record got. */
typedef struct ks_produce_result {
	int32_t partition;
	int64_t offset;
	int durable;   /* 1: fsynced before the call returned */
} ks_produce_result_t;

/*
 * ks_produce: appends records recs[0..n) to topic. With partition
 * KS_PARTITION_ANY each record goes where the partitioner says, and the
 * records bound for one partition are appended as one batch, in order;
 * with a partition number all go there as one batch. res (may be NULL)
 * gets one result per record. With KS_PRODUCE_DURABLE the call returns once
 * every record is durable under its partition's flush policy (sharing
 * fsyncs with other threads), flushing if the policy would not.
 * Errors: KS_ETOPIC, KS_EPARTITION, KS_EINVAL, and those of
 * ks_log_append(). When records go to several partitions and one append
 * fails, the batches before it stay appended: res tells which (offset -1
 * for records not appended).
 */
KS_API int ks_produce(ks_producer_t *prod, const char *topic,
    int32_t partition, const ks_record_t *recs, size_t n, int flags,
    ks_produce_result_t *res);

/* ---- consumer ----------------------------------------------------------- */

typedef struct ks_consumer ks_consumer_t;

typedef struct ks_topic_partition {
	const char *topic;
	int32_t partition;
	int64_t offset;  /* where it applies: an offset, or KS_OFFSET_* */
} ks_topic_partition_t;

#define KS_OFFSET_BEGINNING (-2) /* the log start */
#define KS_OFFSET_END (-1)       /* the log end: only new records */
#define KS_OFFSET_STORED (-1000) /* the group's committed offset */

/* auto.offset.reset */
#define KS_RESET_EARLIEST 0
#define KS_RESET_LATEST 1
#define KS_RESET_NONE 2  /* no committed offset: KS_ENOOFFSET */

/* Rebalance events, for ks_rebalance_fn. */
#define KS_REBALANCE_ASSIGNED 1 /* these partitions are now yours */
#define KS_REBALANCE_REVOKED 2  /* these are taken away: commit now */
#define KS_REBALANCE_LOST 3     /* these were lost (session timed out) */

/*
 * Called in the consumer's thread, from inside ks_consumer_poll() (and,
 * with REVOKED, from ks_consumer_unsubscribe() and ks_consumer_close());
 * it may commit, seek and pause, and must not call ks_consumer_poll,
 * assign, subscribe or close. parts (offset: each partition's position)
 * is valid only during the call.
 */
typedef void ks_rebalance_fn(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n);

typedef struct ks_consumer_config {
	const char *group_id;          /* group.id (NULL: assign() only) */
	const char *group_instance_id; /* group.instance.id (NULL: dynamic) */
	const char *client_id;         /* client.id ("kstream") */
	int auto_offset_reset;         /* KS_RESET_LATEST */
	int enable_auto_commit;        /* enable.auto.commit (1) */
	int64_t auto_commit_interval_ms; /* auto.commit.interval.ms (5000) */
	int32_t session_timeout_ms;    /* session.timeout.ms (45000) */
	int32_t rebalance_timeout_ms;  /* max.poll.interval.ms (300000) */
	int32_t heartbeat_interval_ms; /* heartbeat.interval.ms (3000) */
	const char *assignors;         /* partition.assignment.strategy
	                                  ("range,roundrobin") */
	size_t max_poll_records;       /* max.poll.records (500) */
	int busy_poll;                 /* spin instead of sleeping (0) */
	ks_rebalance_fn *rebalance_cb;
	void *opaque;
} ks_consumer_config_t;

KS_API void ks_consumer_config_init(ks_consumer_config_t *cfg);

/*
 * ks_consumer_new: a consumer on store; cfg is copied (its strings too).
 * To release, ks_consumer_close(), before the store is closed.
 */
KS_API int ks_consumer_new(ks_store_t *store, const ks_consumer_config_t *cfg,
    ks_consumer_t **cp);

/*
 * ks_consumer_close: commits (if auto-commit is on), leaves the group (a
 * static member, with group.instance.id, does not: its partitions wait for
 * it until its session times out) and frees the consumer. Records from the
 * last poll are invalid after it. NULL is a no-op.
 */
KS_API int ks_consumer_close(ks_consumer_t *c);

/*
 * ks_consumer_assign: consume exactly these partitions, starting at each
 * one's offset (an offset, KS_OFFSET_BEGINNING, KS_OFFSET_END, or
 * KS_OFFSET_STORED: the group's committed offset, else auto.offset.reset).
 * Replaces the previous assignment; n == 0 unassigns all. Not with
 * subscribe. Errors: KS_ETOPIC, KS_EPARTITION, KS_EOFFSET, KS_ENOOFFSET.
 */
KS_API int ks_consumer_assign(ks_consumer_t *c,
    const ks_topic_partition_t *parts, size_t n);

/*
 * ks_consumer_subscribe: join the group (group_id required) for these
 * topics; a name starting with '^' is a POSIX extended regular expression
 * that must match a whole topic name (internal "__" topics excepted), now
 * and as topics are created. Partitions
 * come and go through rebalances, handled inside ks_consumer_poll.
 * Errors: KS_EINVAL (no group_id, bad pattern).
 */
KS_API int ks_consumer_subscribe(ks_consumer_t *c, const char *const *topics,
    size_t n);
KS_API int ks_consumer_unsubscribe(ks_consumer_t *c);

/* A consumed record and where it came from. */
typedef struct ks_message {
	const char *topic;   /* valid as long as the record */
	int32_t partition;
	ks_record_t rec;     /* zero-copy: see ks_consumer_poll */
} ks_message_t;

/*
 * ks_consumer_poll: up to max_poll_records records from the assigned,
 * unpaused partitions, waiting up to timeout_ms (< 0: for ever) when none
 * is ready. *msgs points to an array owned by the consumer; the messages
 * and the bytes they point to (in the mapped log) stay valid until the
 * next ks_consumer_poll, ks_consumer_release or ks_consumer_close. Also
 * runs the group protocol (heartbeats, rebalances, their callbacks) and
 * auto-commit: a member that stops calling it is evicted after
 * session.timeout.ms. Returns the number of messages (0 on timeout) or a
 * negative error: KS_ENOOFFSET (auto.offset.reset = none), KS_ETHREAD,
 * KS_ECORRUPT, ...
 */
KS_API int ks_consumer_poll(ks_consumer_t *c, int timeout_ms,
    const ks_message_t **msgs);

/* ks_consumer_release: gives back the last poll's records early. */
KS_API void ks_consumer_release(ks_consumer_t *c);

/*
 * ks_consumer_fd: a file descriptor that becomes readable when records
 * arrive after a poll that returned none (an eventfd); ks_consumer_poll
 * drains it. For epoll, libevent or any event loop. Owned by the consumer.
 */
KS_API int ks_consumer_fd(ks_consumer_t *c);

/*
 * ks_consumer_seek: the next poll of that partition starts at offset (an
 * offset, KS_OFFSET_BEGINNING or KS_OFFSET_END). KS_ENOTASSIGNED if the
 * partition is not assigned; KS_EOFFSET out of range.
 * ks_consumer_seek_time: to the first record with a timestamp >= ts, or
 * the end if there is none.
 */
KS_API int ks_consumer_seek(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t offset);
KS_API int ks_consumer_seek_time(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t ts);

/* Pause and resume partitions: a paused one yields no records. */
KS_API int ks_consumer_pause(ks_consumer_t *c,
    const ks_topic_partition_t *parts, size_t n);
KS_API int ks_consumer_resume(ks_consumer_t *c,
    const ks_topic_partition_t *parts, size_t n);

/*
 * Position (the next offset a poll returns) and lag (log end minus
 * position) of an assigned partition. KS_ENOTASSIGNED otherwise.
 */
KS_API int ks_consumer_position(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset);
KS_API int ks_consumer_lag(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *lag);

/*
 * The current assignment, as an array owned by the consumer, valid until
 * the next call on it. offset is each partition's position.
 */
KS_API int ks_consumer_assignment(ks_consumer_t *c,
    const ks_topic_partition_t **parts, size_t *n);

/* ks_consumer_commit flags */
#define KS_COMMIT_ASYNC 0x1 /* don't wait for the fsync; an error is
                               printed as a warning, not returned */

/*
 * ks_consumer_commit: commits offsets for the group: parts[0..n) (offset:
 * the next record to read, as Kafka commits), or with parts NULL every
 * assigned partition's position. Durable on return unless KS_COMMIT_ASYNC.
 * Errors: KS_EINVAL (no group), KS_ENOTASSIGNED (a partition this member
 * does not own, when it is in a group), KS_EREBALANCE, KS_EGENERATION.
 */
KS_API int ks_consumer_commit(ks_consumer_t *c,
    const ks_topic_partition_t *parts, size_t n, int flags);

/* ks_consumer_committed: the group's committed offset (-1: none). */
KS_API int ks_consumer_committed(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_CLIENT_H */
