/*
 * kstream/store.h: a store, a directory of topics, each topic a number of
 * partitions, each partition a log (kstream/log.h) in <topic>-<partition>/,
 * as Kafka lays them out. See ks_store_open(3).
 *
 * Threads: a ks_store_t and its ks_topic_t handles may be shared by any
 * number of threads. Processes: one process opens a store for writing (a
 * lock file in the directory keeps out a second writer, whose error names
 * the holder's pid); others may open it with KS_STORE_RDONLY and follow.
 */
#ifndef KSTREAM_STORE_H
#define KSTREAM_STORE_H

#include <kstream/common.h>
#include <kstream/log.h>
#include <kstream/metrics.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_store ks_store_t;
typedef struct ks_topic ks_topic_t;

/* ks_topic_config_t.cleanup_policy bits (cleanup.policy) */
#define KS_CLEANUP_DELETE 0x1  /* retention removes old segments */
#define KS_CLEANUP_COMPACT 0x2 /* the cleaner keeps the latest record per key */

/*
 * A topic's configuration, with Kafka's topic-level names. Initialise with
 * ks_topic_config_init() (Kafka's defaults), then change fields or call
 * ks_topic_config_set().
 */
typedef struct ks_topic_config {
	int32_t partitions;            /* the partition count (1; Kafka's
	                                  broker default num.partitions) */
	int cleanup_policy;            /* cleanup.policy (KS_CLEANUP_DELETE) */
	int64_t delete_retention_ms;   /* delete.retention.ms: how long
	                                  tombstones stay (1 day) */
	int64_t min_compaction_lag_ms; /* min.compaction.lag.ms (0) */
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio (0.5) */
	ks_log_config_t log;           /* segment.*, retention.*, flush.*,
	                                  max.message.bytes, index.*; its
	                                  flags, leader_epoch, log_cb and
	                                  log_opaque are the store's */
} ks_topic_config_t;

KS_API void ks_topic_config_init(ks_topic_config_t *cfg);

/*
 * ks_topic_config_set: sets a property by Kafka's name: the ones above
 * ("cleanup.policy" takes "delete", "compact" or "compact,delete") and
 * every name ks_log_config_set() knows. The partition count is not a
 * topic property (set the field). KS_ECONFIG for an unknown name or a bad
 * value; cfg is unchanged then.
 */
KS_API int ks_topic_config_set(ks_topic_config_t *cfg, const char *name,
    const char *value);

/*
 * ks_topic_config_get: the property called name as the text
 * ks_topic_config_set() takes back ("cleanup.policy" -> "compact,delete"),
 * NUL-terminated in buf. Errors: KS_ECONFIG (unknown name), KS_EINVAL
 * (buf too small for the value: 64 bytes always suffice).
 */
KS_API int ks_topic_config_get(const ks_topic_config_t *cfg, const char *name,
    char *buf, size_t len);

/*
 * ks_topic_config_names: every property name ks_topic_config_get() and
 * _set() know, as Kafka lists them for DescribeConfigs, NULL-terminated.
 * Static.
 */
KS_API const char *const *ks_topic_config_names(void);

/* ks_store_config_t.flags */
#define KS_STORE_CREATE 0x1 /* create the directory if missing */
#define KS_STORE_RDONLY 0x2 /* read-only: follow another process's store */

typedef struct ks_store_config {
	int flags;
	ks_topic_config_t topic_defaults; /* for ks_topic_create(.., NULL) */
	/*
	 * How often the store's cleaner thread applies retention to
	 * cleanup.policy=delete topics and compacts cleanup.policy=compact
	 * ones (log.retention.check.interval.ms, 300000). 0: no thread; call
	 * ks_store_clean() yourself.
	 */
	int64_t cleaner_interval_ms;
	/* For the group coordinator of ks_store_coordinator() (group.h),
	 * Kafka's broker properties: group.min.session.timeout.ms (6000),
	 * group.max.session.timeout.ms (1800000),
	 * group.initial.rebalance.delay.ms (here 0). */
	int32_t group_min_session_timeout_ms;
	int32_t group_max_session_timeout_ms;
	int32_t group_initial_rebalance_delay_ms;
	ks_log_cb *log_cb;             /* ks_log_stderr */
	void *log_opaque;
	/*
	 * librdkafka's statistics.interval.ms and stats_cb: every
	 * stats_interval_ms (0: never) a thread of the store calls stats_cb
	 * with ks_store_metrics()'s snapshot (metrics.h).
	 */
	ks_stats_cb *stats_cb;
	void *stats_opaque;
	int64_t stats_interval_ms;
} ks_store_config_t;

KS_API void ks_store_config_init(ks_store_config_t *cfg);

/*
 * ks_store_open: opens (with KS_STORE_CREATE, creates) the store in dir
 * and every topic in it. cfg may be NULL for the defaults; it is copied.
 * A writer first removes what an interrupted create, delete or
 * add_partitions left behind. Errors: KS_ELOCKED (another handle, in this
 * process or another, has it open for writing; the log callback names the
 * holder's pid), KS_ECORRUPT (damaged topic metadata or a missing
 * partition directory, named with its path), KS_ECONFIG (bad
 * topic_defaults or cleaner_interval_ms < 0), and those of ks_log_open().
 * On failure *storep is NULL. To release, ks_store_close().
 */
KS_API int ks_store_open(const char *dir, const ks_store_config_t *cfg,
    ks_store_t **storep);

/*
 * ks_store_close: stops the cleaner, closes every partition (flushing
 * them: see ks_log_close()), releases the lock and frees the store; it
 * returns the first error of a partition's close. Topic handles still
 * held must be released afterwards and may not be used. NULL is a no-op.
 */
KS_API int ks_store_close(ks_store_t *store);

/* ks_store_dir: the directory the store was opened on. */
KS_API const char *ks_store_dir(ks_store_t *store);

/*
 * ks_topic_create: creates a topic with cfg (NULL: the store's defaults).
 * Names follow Kafka's rules: 1 to 249 characters of [a-zA-Z0-9._-], not
 * "." or "..". The topic and its configuration survive restarts; a crash
 * leaves it whole or absent. Errors: KS_ENAME, KS_EEXIST, KS_EBUSY (a
 * deleted topic of that name is still held), KS_ECONFIG (partitions < 1,
 * or a field out of range), KS_ERDONLY.
 */
KS_API int ks_topic_create(ks_store_t *store, const char *name,
    const ks_topic_config_t *cfg);

/*
 * ks_topic_delete: removes the topic and its files. Handles still held
 * keep their partitions' logs open until the last is released:
 * ks_topic_partition() fails with KS_ETOPIC, but a log borrowed before
 * the deletion stays readable, and appends through it still succeed, into
 * files that are already unlinked and vanish with the last release. Until
 * then the name cannot be created again (KS_EBUSY). Errors: KS_ETOPIC,
 * KS_ERDONLY.
 */
KS_API int ks_topic_delete(ks_store_t *store, const char *name);

/*
 * ks_topic_add_partitions: raises the topic's partition count to total
 * (Kafka's CreatePartitions: it can only grow). Errors: KS_ETOPIC,
 * KS_EINVAL (total not above the current count), KS_ERDONLY.
 */
KS_API int ks_topic_add_partitions(ks_store_t *store, const char *name,
    int32_t total);

/*
 * ks_topic_alter: replaces the topic's configuration (the partition count
 * excepted: see ks_topic_add_partitions) and records it. The cleaner's
 * settings (cleanup.policy, delete.retention.ms, min.compaction.lag.ms,
 * min.cleanable.dirty.ratio) apply from its next pass; the log settings
 * (cfg->log) to partitions added later and to every partition when the
 * store is next opened, as an open log's settings cannot change (see
 * ks_log_config_init(3)). Errors: KS_ETOPIC, KS_ECONFIG, KS_ERDONLY.
 */
KS_API int ks_topic_alter(ks_store_t *store, const char *name,
    const ks_topic_config_t *cfg);

/*
 * ks_topic_list: the store's topic names, sorted, in a NULL-terminated
 * array (countp may be NULL). Topics named with a leading "__" (internal,
 * such as __consumer_offsets) are included. A read-only store looks at
 * the directory again first. Release with ks_topic_list_free().
 */
KS_API int ks_topic_list(ks_store_t *store, char ***namesp, size_t *countp);
KS_API void ks_topic_list_free(char **names);

/*
 * ks_topic_open: a handle on a topic, for producing to and consuming from
 * it; NULL in *topicp on error (KS_ETOPIC, KS_ENAME for a name no topic
 * can have). A read-only store looks for the topic on disk first. Handles
 * are counted: release each with ks_topic_release(). A handle keeps its
 * partitions open even across ks_topic_delete().
 */
KS_API int ks_topic_open(ks_store_t *store, const char *name,
    ks_topic_t **topicp);
KS_API void ks_topic_release(ks_topic_t *topic);

KS_API const char *ks_topic_name(const ks_topic_t *topic);
/* The partition count now (it may grow while the handle is held; a
 * read-only store looks at the topic's metadata file). */
KS_API int32_t ks_topic_partitions(ks_topic_t *topic);
/* A copy of the topic's configuration. */
KS_API int ks_topic_config(ks_topic_t *topic, ks_topic_config_t *cfg);

/*
 * ks_topic_partition: partition p's log, borrowed: valid while the topic
 * handle is held and the store open; never close it. Takes no lock.
 * Errors: KS_EPARTITION, KS_ETOPIC (the topic was deleted), KS_ECLOSED
 * (the store was closed).
 */
KS_API int ks_topic_partition(ks_topic_t *topic, int32_t p, ks_log_t **logp);

/*
 * ks_store_metrics: adds the store's samples to m (ks_metrics_new()):
 * records and bytes appended and read per topic, append, read and flush
 * latency histograms per topic, each partition's offsets and size, and
 * each group's state, members, rebalances, committed offsets and lag per
 * partition. ks_metrics_new(3) lists them. Any thread; takes no lock a
 * writer holds for long. Errors: KS_EINVAL, KS_ENOMEM, KS_ECLOSED.
 */
KS_API int ks_store_metrics(ks_store_t *store, ks_metrics_t *m);

/*
 * ks_store_check: verifies the store in dir the way recovery reads it,
 * without opening it: each topic's metadata, and each partition with
 * ks_log_check() (flags and cb passed on). The store must not be open
 * for writing: KS_ELOCKED otherwise (the log callback of none: the pid
 * is in the problem report). st (may be NULL) sums every partition's.
 * Returns 0 when nothing is wrong or everything found was repaired,
 * KS_ECORRUPT when damage remains, or another error that stopped the
 * check (-ENOENT: no store there).
 */
KS_API int ks_store_check(const char *dir, int flags, ks_check_cb *cb,
    void *opaque, ks_check_stat_t *st);

/*
 * ks_store_clean: one pass of what the cleaner thread does: retention for
 * delete topics, compaction for compact topics. now_ms < 0: the current
 * time. For stores opened with cleaner_interval_ms = 0, and for tests.
 * A partition's error is reported through the log callback and the pass
 * goes on; it returns the first. Errors: KS_ERDONLY, and those of
 * ks_log_retention() and ks_log_compact().
 */
KS_API int ks_store_clean(ks_store_t *store, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_STORE_H */
