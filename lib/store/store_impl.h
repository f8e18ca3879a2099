/*
 * store_impl.h: the store and topic handles, shared by the files of
 * lib/store that implement store.h: store.c (open, close, the lock, the
 * directory scan, the cleaner), topic.c (create, delete, alter, handles)
 * and topic_config.c (configuration, the metadata file).
 *
 * On disk (docs/format.md, "The store directory"): <dir>/.lock, and per
 * topic a metadata file <dir>/<topic>.topic and partition directories
 * <dir>/<topic>-<p>. A topic exists exactly when its metadata file does:
 * it is written last on creation and removed first on deletion, so a
 * crash leaves each topic whole or absent, and the next writer removes
 * the partition directories no metadata file covers.
 *
 * Locks, in the order they nest:
 *   admin_mu  changes to topics and the files that record them: create,
 *             delete, alter, add_partitions, a read-only store's rescans,
 *             and the final release of a deleted topic (which removes its
 *             directories)
 *   mu        the topic table, the deleted-topic list, every refcount
 *   t->mu     a topic's configuration and the growth of its partitions
 * Nothing here is held across a call into a log except admin_mu (opening
 * and closing logs) and t->mu never is.
 */
#ifndef KS_STORE_IMPL_H
#define KS_STORE_IMPL_H

#include <kstream/store.h>
#include <pthread.h>

#define KS__STORE_LOCK ".lock"
#define KS__TOPIC_SUFFIX ".topic"   /* <topic>.topic: the metadata file */
#define KS__TOPIC_TMP ".tmp~"       /* <topic>.tmp~: while it is replaced;
                                       '~' is never in a topic name */
#define KS__TOPIC_NAME_MAX 249
#define KS__TOPIC_ID_LEN 16

/*
 * A topic's partitions. Published whole through an atomic pointer and
 * never changed: add_partitions publishes a longer copy, so
 * ks_topic_partition() takes no lock. Replaced arrays are kept (prev)
 * until the topic is freed, as a reader may still be looking at one.
 */
struct ks__parts {
	struct ks__parts *prev;
	int32_t n;
	ks_log_t *logs[];
};

struct ks_topic {
	ks_store_t *store;      /* holds a reference on it */
	char *name;
	int refs;               /* under store->mu: the table's + handles */
	pthread_mutex_t mu;
	ks_topic_config_t cfg;  /* under mu; cfg.partitions == parts->n */
	struct ks__parts *parts;/* atomic */
	int deleted;            /* atomic: out of the table, on the list of
	                           deleted topics until the last release */
	int closed;             /* atomic: the store closed the logs */
	uint8_t id[KS__TOPIC_ID_LEN];
	uint64_t meta_sum;      /* checksum of the metadata last read */
	ks_topic_t *dead_next;  /* under store->mu: the deleted list */
};

struct ks_store {
	char *dir;
	ks_store_config_t cfg;
	int rdonly;
	int lock_fd;

	pthread_mutex_t admin_mu;
	pthread_mutex_t mu;
	int refs;               /* under mu: the user's, one per topic */
	int closed;             /* under mu */
	/* The table changes with admin_mu and mu both held, so either
	 * one is enough to read it. */
	ks_topic_t **topics;    /* live topics, sorted by name */
	size_t ntopics, captopics;
	ks_topic_t *dead;       /* under mu: deleted topics still held */

	/*
	 * A slot for the layer above (lib/group/store_coordinator.c): the
	 * store's group coordinator, created on first use and freed by
	 * ks_store_close() before the topics close. The store knows it only
	 * as a pointer and its destructor, so it depends on no upper layer.
	 */
	pthread_mutex_t ext_mu;
	void *group_ext;
	void (*group_ext_free)(void *);

	pthread_t cleaner;
	int cleaner_on, cleaner_stop;
	pthread_mutex_t cleaner_mu;
	pthread_cond_t cleaner_cv;

	/* Set with group_ext: adds the groups' samples (under ext_mu). */
	int (*group_ext_metrics)(void *ext, ks_metrics_t *m);

	/* The stats thread (store_metrics.c): stats_cb every
	 * stats_interval_ms until ks_store_close(). */
	pthread_t stats;
	int stats_on, stats_stop;   /* stats_stop under stats_mu */
	pthread_mutex_t stats_mu;
	pthread_cond_t stats_cv;
};

static inline struct ks__parts *ks__topic_parts(const ks_topic_t *t)
{
	return __atomic_load_n(&t->parts, __ATOMIC_ACQUIRE);
}

/* ---- store.c */

/* Drops a reference taken for a topic; the last frees the store. */
void ks__store_unref(ks_store_t *s);
/* The live topic named name, or NULL. Under mu. */
ks_topic_t *ks__store_find(ks_store_t *s, const char *name);
/* Adds t to the table (mu held); KS_ENOMEM. */
int ks__store_insert(ks_store_t *s, ks_topic_t *t);
/* Takes t out of the table and marks it deleted; if handles still hold
 * it, onto the list of deleted topics. Under mu. Returns 1 when the
 * table's was the last reference: the caller frees t. */
int ks__store_unlink(ks_store_t *s, ks_topic_t *t);
/* Whether a deleted topic of that name is still held. Under mu. */
int ks__store_name_held(ks_store_t *s, const char *name);
/* Takes t off the deleted list, if it is on it. Under mu. */
void ks__store_forget_dead(ks_store_t *s, ks_topic_t *t);
/* <dir>/<name> into buf; -ENAMETOOLONG if it does not fit. */
int ks__store_path(const ks_store_t *s, char *buf, size_t len,
    const char *name);
/* <dir>/<topic>-<p> into buf; -ENAMETOOLONG if it does not fit. */
int ks__partition_path(const ks_store_t *s, char *buf, size_t len,
    const char *topic, int32_t p);
/*
 * Removes a partition directory and its files, .lock last: a directory
 * the store recognises as one of its own (empty, or holding .lock) stays
 * recognisable if a crash interrupts the removal. -ENOENT is success.
 */
int ks__partition_remove(const char *path);
/* Whether a partition directory is one the store made (docs/format.md
 * 10.3): empty, or holding .lock; the store removes no other. */
int ks__partition_dir_ours(const char *path);
/*
 * The names in a store's directory. ks__store_partition_dir: 1 if ent is
 * "<topic>-<p>" (split at its last '-') with a valid topic name and p a
 * partition number as the store writes it (decimal, no leading zero),
 * with the name's length in *tlen and p in *p; else 0.
 * ks__store_suffixed: if ent is "<topic><suffix>" with a valid topic
 * name, the name's length; else 0.
 */
int ks__store_partition_dir(const char *ent, size_t *tlen, int32_t *p);
size_t ks__store_suffixed(const char *ent, const char *suffix);
/* A read-only store picks up what the writer changed: every topic. */
int ks__store_rescan(ks_store_t *s);
/*
 * For a walk of the topic table: locks s->mu, once a read-only store has
 * picked up what the writer created or deleted since (ks__store_rescan).
 * 0 with s->mu held; else an error (KS_ECLOSED for a closed store) and
 * nothing held.
 */
int ks__store_lock_topics(ks_store_t *s);

/* ---- store_metrics.c */

/* Starts the stats thread if the configuration asks for one: 0 or
 * KS_ENOMEM. ks__store_stats_stop() stops it (and may always be called). */
int ks__store_stats_start(ks_store_t *s);
void ks__store_stats_stop(ks_store_t *s);

/* ---- topic.c */

/* Kafka's rule: 1 to 249 of [a-zA-Z0-9._-], not "." or "..". */
int ks__topic_name_ok(const char *name);
/*
 * Reads name's metadata and opens its partitions (read-only in a
 * read-only store): a new topic with one reference, the table's.
 * -ENOENT if it has no metadata file (or, read-only, it vanished while
 * being opened), KS_ECORRUPT (reported), or a log's error.
 */
int ks__topic_load(ks_store_t *s, const char *name, ks_topic_t **tp);
/* Closes the topic's logs once; returns the first close error. */
int ks__topic_close_logs(ks_topic_t *t);
/* Frees a topic no one references, closing its logs if still open. */
void ks__topic_free(ks_topic_t *t);
/* Read-only store: brings topic name up to date with its metadata file
 * (loads it, updates it, or drops it if it is gone). admin_mu held. */
int ks__topic_refresh(ks_store_t *s, const char *name);

/* ---- topic_config.c */

/* KS_ECONFIG unless every field is in range, as the metadata file needs. */
int ks__topic_config_check(const ks_topic_config_t *cfg);
/* Writes <dir>/<name>.topic durably: tmp file, fdatasync, rename, fsync
 * of the directory. */
int ks__topic_meta_write(const ks_store_t *s, const char *name,
    const ks_topic_config_t *cfg, const uint8_t *id);
/*
 * Reads <dir>/<name>.topic into cfg (the partition count in
 * cfg->partitions; a property the file lacks has Kafka's default), id and
 * *sum (its checksum). 0, -ENOENT, -errno, or
 * KS_ECORRUPT, reported through the store's log callback with the path.
 */
int ks__topic_meta_read(const ks_store_t *s, const char *name,
    ks_topic_config_t *cfg, uint8_t *id, uint64_t *sum);

#endif /* KS_STORE_IMPL_H */
