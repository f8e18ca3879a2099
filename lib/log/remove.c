/* remove.c: removing records: truncation, DeleteRecords and retention. */
#include "core/internal.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "log/segment.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- truncation, deletion, retention ---------------------------------- */

/* Reopens a sealed segment's indexes for appending; the old mappings are
 * kept until the log goes, as readers may be in them. */
static int reactivate(ks_log_t *log, ks__segment_t *s)
{
	char path[PATH_MAX];
	ks__index_t *r;
	int rc;

	r = realloc(log->retired, (log->nretired + 2) * sizeof *r);
	if (!r)
		return KS_ENOMEM;
	log->retired = r;
	r[log->nretired++] = s->oidx;
	r[log->nretired++] = s->tidx;
	ks__segment_path(path, sizeof path, log->dir, s->base, ".index");
	rc = ks__index_open(&s->oidx, path, KS__OFFIDX_ENTRY, s->base,
	    log->cfg.segment_index_bytes, 1);
	if (rc == 0) {
		ks__segment_path(path, sizeof path, log->dir, s->base,
		    ".timeindex");
		rc = ks__index_open(&s->tidx, path, KS__TIMEIDX_ENTRY, s->base,
		    log->cfg.segment_index_bytes, 1);
	}
	pthread_mutex_lock(&s->grow_mu);
	s->frozen = 0; /* it takes appends again */
	pthread_mutex_unlock(&s->grow_mu);
	__atomic_store_n(&s->sealed, 0, __ATOMIC_RELEASE);
	return rc;
}

int ks_log_truncate(ks_log_t *log, int64_t offset)
{
	ks__segment_t *s;
	size_t i, pos, size;
	int64_t new_end;
	int rc;

	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	if (offset > ks__load64(&log->end) || offset < ks__load64(&log->start)) {
		rc = KS_EOFFSET;
		goto out;
	}
	if (offset == ks__load64(&log->end))
		goto out;
	pthread_mutex_lock(&log->sync_mu);
	while (log->syncing)
		pthread_cond_wait(&log->sync_cv, &log->sync_mu);
	log->syncing = 1; /* keep flushers out while the tail changes */
	pthread_mutex_unlock(&log->sync_mu);

	i = ks__log_segs_find(log, offset);
	s = log->segs[i];
	size = s->size;
	pos = ks__segment_find(s, offset, size);
	new_end = pos < size ? (int64_t)ks__be64(s->map + pos) : s->next_offset;
	if (new_end < s->base)
		new_end = s->base;
	/* The recovery point moves back first: a crash from here on must
	 * not trust positions past the cut. */
	if ((rc = ks__log_write_rp(log, s->base, (int64_t)pos, 1)) != 0)
		goto unsync;
	if (log->nsegs > i + 1) {
		while (log->nsegs > i + 1)
			ks__log_segs_remove(log, log->nsegs - 1);
		/* Removed segments must not come back after a power failure. */
		if ((rc = ks__fsync_dir(log->dir)) != 0)
			goto unsync;
	}
	if (s != log->active || s->sealed) {
		log->active = s;
		if ((rc = reactivate(log, s)) != 0) {
			log->failed = 1;
			goto unsync;
		}
	}
	ks__index_truncate(&s->oidx, new_end);
	ks__index_truncate(&s->tidx, new_end);
	__atomic_store_n(&s->size, pos, __ATOMIC_RELEASE);
	__atomic_store_n(&s->next_offset, new_end, __ATOMIC_RELEASE);
	ks__store64(&log->end, new_end);
	__atomic_add_fetch(&log->gen, 1, __ATOMIC_RELEASE);
	/* Zero the cut bytes: recovery and other processes must not take
	 * them for batches. */
	memset(s->map + pos, 0, size - pos);
	s->since_index = 0;
	ks__log_seg_max_ts(s);
	if (s->synced > pos)
		s->synced = pos;
	rc = ks__segment_sync(s);
	if (rc)
		log->failed = 1;
unsync:
	pthread_mutex_lock(&log->sync_mu);
	log->syncing = 0;
	if (ks__load64(&log->durable) > ks__load64(&log->end))
		ks__store64(&log->durable, ks__load64(&log->end));
	pthread_cond_broadcast(&log->sync_cv);
	pthread_mutex_unlock(&log->sync_mu);
out:
	pthread_mutex_unlock(&log->wlock);
	return rc;
}

/* Removes the oldest segment and moves the start up to the next one. */
static void drop_oldest_locked(ks_log_t *log)
{
	int64_t next_base = log->segs[1]->base;
	if (ks__load64(&log->start) < next_base)
		ks__store64(&log->start, next_base);
	ks__log_segs_remove(log, 0);
}

int ks_log_delete_records(ks_log_t *log, int64_t offset)
{
	int rc;
	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	if (offset > ks__load64(&log->end) || offset < 0) {
		rc = KS_EOFFSET;
	} else if (offset > ks__load64(&log->start)) {
		rc = ks__meta_write(log->dir, KS__START_FILE, KS__META_START,
		    &offset, 1, 1);
		if (rc == 0) {
			ks__store64(&log->start, offset);
			while (log->nsegs > 1 && log->segs[1]->base <= offset)
				drop_oldest_locked(log);
			(void)ks__fsync_dir(log->dir);
			ks__store64(&log->start, offset);
		}
	}
	pthread_mutex_unlock(&log->wlock);
	return rc;
}

int ks_log_retention(ks_log_t *log, int64_t now_ms, size_t *removed)
{
	size_t n = 0;
	uint64_t total = 0;
	size_t i;
	int rc;

	if (removed)
		*removed = 0;
	if (now_ms < 0)
		now_ms = ks__wallclock_ms();
	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	for (i = 0; i < log->nsegs; i++)
		total += log->segs[i]->size;
	while (log->nsegs > 1) {
		ks__segment_t *s = log->segs[0];
		int64_t mts = __atomic_load_n(&s->max_ts, __ATOMIC_ACQUIRE);
		int by_time = log->cfg.retention_ms >= 0 && mts >= 0 &&
		    mts < now_ms - log->cfg.retention_ms;
		int by_size = log->cfg.retention_bytes >= 0 &&
		    total - s->size >= (uint64_t)log->cfg.retention_bytes &&
		    total > (uint64_t)log->cfg.retention_bytes;
		if (!by_time && !by_size)
			break;
		total -= s->size;
		drop_oldest_locked(log);
		n++;
	}
	/* Removed segments must not come back after a power failure. */
	if (n)
		rc = ks__fsync_dir(log->dir);
	pthread_mutex_unlock(&log->wlock);
	if (removed)
		*removed = n;
	return rc;
}

