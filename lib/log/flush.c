/*
 * flush.c: durability: flush with group commit, the flush.ms thread, and the
 * prefaulter.
 */
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
#include <time.h>

/* ---- flushing --------------------------------------------------------- */

int ks_log_flush(ks_log_t *log, int64_t upto)
{
	int rc = 0;

	if (!log)
		return KS_EINVAL;
	if (log->rdonly)
		return KS_ERDONLY;
	if (upto < 0 || upto > ks__load64(&log->end))
		upto = ks__load64(&log->end);
	pthread_mutex_lock(&log->sync_mu);
	while (ks__load64(&log->durable) < upto) {
		ks__segment_t **batch;
		size_t nb = 0, i, j, *sizes;
		int64_t target;
		uint64_t t0;

		if (log->failed) {
			rc = KS_EFATAL;
			break;
		}
		if (log->syncing) {
			/* Someone is syncing: their fdatasync or the next
			 * one covers us (group commit). */
			pthread_cond_wait(&log->sync_cv, &log->sync_mu);
			continue;
		}
		target = ks__load64(&log->end);
		pthread_mutex_lock(&log->seglock);
		/* The segments with unsynced bytes: the active one and the
		 * sealed ones after the last fully synced. */
		for (j = log->nsegs; j > 0; j--) {
			ks__segment_t *s = log->segs[j - 1];
			if (s->synced >= ks__seg_size(s) &&
			    __atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE))
				break;
		}
		batch = malloc((log->nsegs - j + 1) * sizeof *batch);
		sizes = malloc((log->nsegs - j + 1) * sizeof *sizes);
		if (!batch || !sizes) {
			pthread_mutex_unlock(&log->seglock);
			free(batch);
			free(sizes);
			rc = KS_ENOMEM;
			break;
		}
		log->syncing = 1;
		for (i = j; i < log->nsegs; i++) {
			ks__segment_ref(log->segs[i]);
			batch[nb] = log->segs[i];
			sizes[nb++] = ks__seg_size(log->segs[i]);
		}
		pthread_mutex_unlock(&log->seglock);
		pthread_mutex_unlock(&log->sync_mu);

		t0 = (uint64_t)ks__monotonic_ns();
		for (i = 0; i < nb; i++) {
			int r = ks__segment_sync(batch[i]);
			if (r && !rc)
				rc = r;
			if (!r)
				batch[i]->synced = sizes[i];
		}

		pthread_mutex_lock(&log->sync_mu);
		log->syncing = 0;
		log->fsyncs++;
		/* one syncer at a time (syncing): single-writer counting */
		ks__count1(&log->m.flushes, 1);
		ks__hist_add1(&log->m.flush, (uint64_t)ks__monotonic_ns() - t0);
		if (rc) {
			/* After a failed fsync the kernel may have dropped
			 * the dirty pages: nothing written since can be
			 * trusted to reach the disk. Stop accepting writes. */
			log->failed = 1;
			ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
			    KS_LOG_ERR, "%s: fdatasync failed: %s", log->dir,
			    ks_strerror(rc));
		} else {
			if (target > ks__load64(&log->durable))
				ks__store64(&log->durable, target);
			/* The active segment's synced size: everything
			 * before it is on disk, so recovery may start there. */
			if (nb && ks__wallclock_ms() - log->rp_ms >=
			                KS__RP_INTERVAL_MS)
				(void)ks__log_write_rp(log, batch[nb - 1]->base,
				    (int64_t)sizes[nb - 1], 0);
		}
		pthread_cond_broadcast(&log->sync_cv);
		for (i = 0; i < nb; i++)
			ks__segment_unref(batch[i]);
		free(batch);
		free(sizes);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&log->sync_mu);
	return rc;
}

void *ks__log_flusher_main(void *arg)
{
	ks_log_t *log = arg;
	pthread_mutex_lock(&log->sync_mu);
	while (!log->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += log->cfg.flush_ms / 1000;
		ts.tv_nsec += (log->cfg.flush_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&log->flush_cv, &log->sync_mu, &ts);
		if (log->stopping)
			break;
		if (ks__load64(&log->durable) < ks__load64(&log->end)) {
			pthread_mutex_unlock(&log->sync_mu);
			(void)ks_log_flush(log, -1);
			pthread_mutex_lock(&log->sync_mu);
		}
	}
	pthread_mutex_unlock(&log->sync_mu);
	return NULL;
}

void *ks__log_prefault_main(void *arg)
{
	ks_log_t *log = arg;
	pthread_mutex_lock(&log->pf_mu);
	while (!log->pf_stop) {
		ks__segment_t *s;
		if (!log->pf_pending) {
			pthread_cond_wait(&log->pf_cv, &log->pf_mu);
			continue;
		}
		pthread_mutex_unlock(&log->pf_mu);
		if ((s = ks__log_seg_get(log, INT64_MAX)) != NULL) {
			size_t limit = KS__MAX((size_t)log->cfg.segment_bytes,
			    ks__seg_size(s));
			size_t want = ks__seg_size(s) + KS__PREFAULT_AHEAD;
			/* A failure here (ENOSPC) is the writer's to report,
			 * when it needs the space itself. */
			(void)ks__segment_grow(s, KS__MIN(want, limit));
			ks__segment_unref(s);
		}
		pthread_mutex_lock(&log->pf_mu);
		__atomic_store_n(&log->pf_pending, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&log->pf_mu);
	return NULL;
}

/* Wakes the prefaulter. */
void ks__log_prefault_kick(ks_log_t *log)
{
	pthread_mutex_lock(&log->pf_mu);
	if (!log->pf_pending) {
		__atomic_store_n(&log->pf_pending, 1, __ATOMIC_RELAXED);
		pthread_cond_signal(&log->pf_cv);
	}
	pthread_mutex_unlock(&log->pf_mu);
}

