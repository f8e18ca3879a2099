/*
 * log_impl.h: the partition log's handle, shared by the files of lib/log
 * that implement log.h: log.c (the handle and its segment array),
 * recovery.c, flush.c, append.c, read.c and remove.c.
 *
 * Locks, in the order they nest:
 *   wlock    the writer: append, roll, truncate, delete, retention
 *   sync_mu  the flusher's state (syncing, durable offset) and its waiters
 *   seglock  the segment array; readers hold it only to find and reference
 *            a segment, never while reading
 * Readers take no lock to read: they load the log end and the segment size
 * with acquire and read below them.
 */
#ifndef KS_LOG_IMPL_H
#define KS_LOG_IMPL_H

#include "log/log_metrics.h"
#include "log/segment.h"

#include <kstream/log.h>
#include <pthread.h>

#define KS__RP_FILE "recovery-point"
#define KS__CLEAN_FILE "clean-shutdown"
#define KS__START_FILE "log-start-offset"
#define KS__LOCK_FILE ".lock"
#define KS__RP_INTERVAL_MS 1000
#define KS__PREFAULT_AHEAD (64u << 20)

struct ks_log {
	char *dir;
	ks_log_config_t cfg;
	int rdonly;
	int lock_fd;
	int refs;               /* the user's handle plus each iterator */
	int closed;

	pthread_mutex_t wlock;
	ks__segment_t *active;  /* writer */
	uint64_t unflushed;     /* records appended since the last flush */
	/*
	 * A log that syncs its appends (flush.messages) writes them with
	 * pwrite, not through the mapping: every fdatasync write-protects the
	 * pages it cleans, and the next copy into them would take a fault and
	 * a journal handle per page. That halves the rate of durable appends.
	 */
	int sync_writes;
	uint8_t *scratch;       /* ks_log_append's encoding buffer then */
	size_t scratch_cap;
	size_t reserve;         /* address space per segment */

	pthread_mutex_t seglock;
	ks__segment_t **segs;
	size_t nsegs, capsegs;
	ks__index_t *retired;   /* indexes replaced while readers may use them */
	size_t nretired;

	int64_t start, end, durable; /* atomic */
	uint64_t gen;           /* bumped by truncation; atomic */

	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	int syncing;
	int failed;             /* an fsync failed: no more writes */
	int64_t rp_ms;          /* when the recovery point was last written */
	uint64_t fsyncs;

	pthread_t flusher;
	int flusher_on, stopping;
	pthread_cond_t flush_cv;

	pthread_mutex_t refresh_mu; /* read-only: following the writer */

	/* Waking readers (wait.c): threads blocked in ks_log_wait, and
	 * watchers called after each append. */
	int waiters;            /* atomic */
	int waking;             /* appenders walking the watchers; atomic */
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cv;
	pthread_mutex_t watch_mu;
	struct ks__watchers *watchers;  /* atomic; replaced, never changed */
	struct ks__watchers *old_watchers; /* replaced lists, freed at the end */

	/* The prefaulter keeps KS__PREFAULT_AHEAD bytes of the active segment
	 * allocated and mapped ahead of the writer, on another core. */
	pthread_t prefaulter;
	int pf_on, pf_stop, pf_pending;
	pthread_mutex_t pf_mu;
	pthread_cond_t pf_cv;

	ks_log_stat_t rec;      /* recovery figures of the open */

	ks__log_metrics_t m;    /* log_metrics.h */
};


static inline int64_t ks__load64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void ks__store64(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* log.c: the segment array (seglock inside) and the handle's lifetime. */
int ks__log_segs_push(ks_log_t *log, ks__segment_t *s);
size_t ks__log_segs_find(ks_log_t *log, int64_t offset);
ks__segment_t *ks__log_seg_get(ks_log_t *log, int64_t offset);
ks__segment_t *ks__log_seg_after(ks_log_t *log, const ks__segment_t *s);
void ks__log_segs_remove(ks_log_t *log, size_t i);
void ks__log_unref(ks_log_t *log);
int ks__log_list_segments(const char *dir, int64_t **out, size_t *n);

/* recovery.c */
void ks__log_seg_max_ts(ks__segment_t *s);
int ks__log_recover(ks_log_t *log);
int ks__log_write_rp(ks_log_t *log, int64_t base, int64_t pos, int durable);

/* flush.c: the two helper threads. */
void *ks__log_flusher_main(void *arg);
void *ks__log_prefault_main(void *arg);
void ks__log_prefault_kick(ks_log_t *log);

/* append.c: KS_ERDONLY, KS_ECLOSED or KS_EFATAL if the log takes no writes. */
int ks__log_writable(ks_log_t *log);
/* Takes the writer lock of a log that takes writes: 0 with wlock held, or
 * an error (KS_EINVAL and those of ks__log_writable) without it. */
int ks__log_lock_writer(ks_log_t *log);
/* The leader epoch of later appends (replication: see append.c). */
int ks__log_set_leader_epoch(ks_log_t *log, int32_t epoch);

/* wait.c: after an append published records, outside the writer lock. */
void ks__log_wake(ks_log_t *log);
void ks__log_wait_init(ks_log_t *log);
void ks__log_wait_destroy(ks_log_t *log);

/* read.c: a read-only handle catches up with the writer. */
void ks__log_refresh(ks_log_t *log);

/*
 * check.c: reads the whole file at path: 0 with *buf malloc'd, its *len
 * bytes followed by a NUL; -EFBIG (*len: its size) for a file of more
 * than max bytes; -errno; KS_ENOMEM.
 */
int ks__file_read(const char *path, size_t max, char **buf, size_t *len);

#endif /* KS_LOG_IMPL_H */
