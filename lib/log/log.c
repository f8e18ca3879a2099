/*
 * log.c: the log handle: open, close, the segment array, offsets and
 * statistics.
 */
#include "core/internal.h"
#include "log/compact.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "log/segment.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

/* ---- the segment array ------------------------------------------------ */

int ks__log_segs_push(ks_log_t *log, ks__segment_t *s)
{
	if (log->nsegs == log->capsegs) {
		size_t cap = log->capsegs ? log->capsegs * 2 : 8;
		ks__segment_t **n = realloc(log->segs, cap * sizeof *n);
		if (!n)
			return KS_ENOMEM;
		log->segs = n;
		log->capsegs = cap;
	}
	log->segs[log->nsegs++] = s;
	return 0;
}

/* Index of the last segment whose base is <= offset (0 if none). */
size_t ks__log_segs_find(ks_log_t *log, int64_t offset)
{
	size_t lo = 0, hi = log->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->base <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

/* A referenced segment holding offset, or NULL if the log has none. */
ks__segment_t *ks__log_seg_get(ks_log_t *log, int64_t offset)
{
	ks__segment_t *s = NULL;
	pthread_mutex_lock(&log->seglock);
	if (log->nsegs) {
		s = log->segs[ks__log_segs_find(log, offset)];
		ks__segment_ref(s);
	}
	pthread_mutex_unlock(&log->seglock);
	return s;
}

/* A referenced segment that follows s, or NULL. */
ks__segment_t *ks__log_seg_after(ks_log_t *log, const ks__segment_t *s)
{
	ks__segment_t *n = NULL;
	size_t i;
	pthread_mutex_lock(&log->seglock);
	for (i = 0; i < log->nsegs; i++)
		if (log->segs[i]->base > s->base) {
			n = log->segs[i];
			ks__segment_ref(n);
			break;
		}
	pthread_mutex_unlock(&log->seglock);
	return n;
}

/* Removes segs[i] from the array, unlinks its files, drops the log's ref. */
void ks__log_segs_remove(ks_log_t *log, size_t i)
{
	ks__segment_t *s;
	pthread_mutex_lock(&log->seglock);
	s = log->segs[i];
	memmove(&log->segs[i], &log->segs[i + 1],
	    (log->nsegs - i - 1) * sizeof *log->segs);
	log->nsegs--;
	pthread_mutex_unlock(&log->seglock);
	ks__segment_unlink(s);
	ks__segment_unref(s);
}

/* ---- handle lifetime -------------------------------------------------- */

void ks__log_unref(ks_log_t *log)
{
	size_t i;
	if (__atomic_sub_fetch(&log->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (i = 0; i < log->nsegs; i++)
		ks__segment_unref(log->segs[i]);
	for (i = 0; i < log->nretired; i++)
		ks__index_close(&log->retired[i], 0);
	free(log->retired);
	free(log->segs);
	free(log->scratch);
	pthread_mutex_destroy(&log->wlock);
	pthread_mutex_destroy(&log->seglock);
	pthread_mutex_destroy(&log->sync_mu);
	pthread_mutex_destroy(&log->refresh_mu);
	pthread_cond_destroy(&log->sync_cv);
	pthread_cond_destroy(&log->flush_cv);
	pthread_mutex_destroy(&log->pf_mu);
	ks__log_wait_destroy(log);
	pthread_cond_destroy(&log->pf_cv);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	free(log->dir);
	free(log);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The base offsets of the segment files in dir, sorted. */
int ks__log_list_segments(const char *dir, int64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t *v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		const char *p = e->d_name;
		int64_t base = 0;
		int i;
		if (strlen(p) != 24 || strcmp(p + 20, ".log") != 0)
			continue;
		for (i = 0; i < 20 && p[i] >= '0' && p[i] <= '9'; i++)
			base = base * 10 + (p[i] - '0');
		if (i != 20 || base < 0)
			continue;
		if (cnt == cap) {
			int64_t *nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof *v);
			if (!nv) {
				free(v);
				closedir(d);
				return KS_ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = base;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_i64);
	*out = v;
	*n = cnt;
	return 0;
}

static int take_lock(ks_log_t *log)
{
	return ks__dir_lock(log->dir, "log", log->cfg.log_cb,
	    log->cfg.log_opaque, &log->lock_fd);
}

static int open_segments(ks_log_t *log)
{
	int64_t *bases, clean[3], startv;
	size_t n, i;
	int rc, is_clean = 0;

	/* A compaction the last writer left half done: old files or new. */
	if (!log->rdonly && (rc = ks__compact_finish(log->dir,
	                         log->cfg.log_cb, log->cfg.log_opaque)) != 0)
		return rc;
	if ((rc = ks__log_list_segments(log->dir, &bases, &n)) != 0)
		return rc;
	if (n == 0 && !log->rdonly) {
		int64_t b = 0;
		if (ks__meta_read(log->dir, KS__START_FILE, KS__META_START, &b,
		        1) != 0)
			b = 0;
		free(bases);
		bases = malloc(sizeof *bases);
		if (!bases)
			return KS_ENOMEM;
		bases[0] = b;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		ks__segment_t *s;
		int last = i + 1 == n;
		size_t cap = log->rdonly ? (last ? 0 : 1) :
		    last ? log->cfg.segment_index_bytes : 0;
		rc = ks__segment_open(log->dir, bases[i], log->reserve, cap,
		    !log->rdonly, &s);
		if (rc == 0 && (rc = ks__log_segs_push(log, s)) != 0)
			ks__segment_unref(s);
		if (rc) {
			ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
			    KS_LOG_ERR, "%s/%020" PRId64 ".log: %s", log->dir,
			    bases[i], ks_strerror(rc));
			free(bases);
			return rc;
		}
	}
	free(bases);
	if (n == 0) /* read-only open of an empty directory */
		return 0;

	/* Sealed segments end where the next begins. */
	for (i = 0; i + 1 < log->nsegs; i++) {
		log->segs[i]->next_offset = log->segs[i + 1]->base;
		log->segs[i]->sealed = 1;
		/* A writer that died mid-roll leaves a preallocated tail;
		 * a reader can't cut it, so it stops before it. */
		if (log->rdonly)
			log->segs[i]->size = ks__segment_walk_end(log->segs[i],
			    log->segs[i]->size);
	}
	log->active = log->segs[log->nsegs - 1];
	if (!log->rdonly && ks__meta_read(log->dir, KS__CLEAN_FILE, KS__META_CLEAN,
	                        clean, 3) == 0 &&
	    clean[1] == log->active->base &&
	    (size_t)clean[2] == log->active->size)
		is_clean = 1;

	if (log->rdonly) {
		/* Follow the writer from the start of the last segment; the
		 * earlier ones are sealed and whole. */
		ks__scan_t r;
		ks__segment_t *s = log->active;
		struct stat st;
		if (fstat(s->fd, &st) < 0)
			return -errno;
		ks__segment_scan(s, 0, s->base, (size_t)st.st_size, 0, 0, &r);
		s->size = r.end;
		s->next_offset = r.next_offset;
		log->active = NULL;
	} else if (is_clean) {
		log->rec.clean_open = 1;
		log->active->next_offset = clean[0];
		{
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%s/%s", log->dir,
			    KS__CLEAN_FILE);
			unlink(path);
		}
	} else {
		log->rec.clean_open = 0;
		if ((rc = ks__log_recover(log)) != 0)
			return rc;
		log->active = log->segs[log->nsegs - 1];
	}
	for (i = 0; i < log->nsegs; i++) {
		ks__segment_check_indexes(log->segs[i]);
		ks__log_seg_max_ts(log->segs[i]);
	}
	if (!log->rdonly) {
		/* Segments before the active one are sealed: make sure their
		 * indexes are trimmed (a crash may have come mid-roll). */
		for (i = 0; i + 1 < log->nsegs; i++)
			if (!ks__index_full(&log->segs[i]->oidx) ||
			    !ks__index_full(&log->segs[i]->tidx))
				(void)ks__segment_seal(log->segs[i]);
		log->active->sealed = 0;
		log->active->since_index = 0;
		if (log->rec.clean_open)
			for (i = 0; i < log->nsegs; i++)
				log->segs[i]->synced = log->segs[i]->size;
	}

	startv = log->segs[0]->base;
	rc = ks__meta_read(log->dir, KS__START_FILE, KS__META_START, clean, 1);
	if (rc == KS_ECORRUPT) {
		/* Records deleted below it would come back: refuse. */
		ks__logf(log->cfg.log_cb, log->cfg.log_opaque, KS_LOG_ERR,
		    "%s/%s: damaged (bad length, magic or checksum at "
		    "position 0)", log->dir, KS__START_FILE);
		return rc;
	}
	if (rc == 0 && clean[0] > startv)
		startv = clean[0];
	log->end = log->segs[log->nsegs - 1]->next_offset;
	if (startv > log->end)
		startv = log->end;
	log->start = startv;
	/* After a clean close everything is durable; after recovery, what
	 * lay before the first scanned batch. */
	log->durable = log->end;
	if (!log->rdonly && !log->rec.clean_open &&
	    log->rec.durable_offset >= 0 &&
	    log->rec.durable_offset < log->end) {
		log->durable = log->rec.durable_offset;
		log->unflushed = (uint64_t)(log->end - log->durable);
	}
	/* Not synced: what it covers is already durable (a clean close
	 * synced it), and a lost update only means a longer scan. After a
	 * recovery the old recovery point stays: the tail it scanned is not
	 * durable until a flush. */
	if (!log->rdonly && log->rec.clean_open)
		return ks__log_write_rp(log, log->active->base, (int64_t)log->active->size,
		    0);
	return 0;
}

int ks_log_open(const char *dir, const ks_log_config_t *cfg, ks_log_t **logp)
{
	ks_log_t *log;
	int rc;

	if (!logp)
		return KS_EINVAL;
	*logp = NULL;
	if (!dir || !*dir)
		return KS_EINVAL;
	log = calloc(1, sizeof *log);
	if (!log)
		return KS_ENOMEM;
	if (cfg)
		log->cfg = *cfg;
	else
		ks_log_config_init(&log->cfg);
	log->refs = 1;
	log->lock_fd = -1;
	log->rdonly = !!(log->cfg.flags & KS_LOG_RDONLY);
	log->sync_writes = log->cfg.flush_messages > 0;
	log->rec.recovery_cut_offset = -1;
	pthread_mutex_init(&log->wlock, NULL);
	pthread_mutex_init(&log->seglock, NULL);
	pthread_mutex_init(&log->sync_mu, NULL);
	pthread_mutex_init(&log->refresh_mu, NULL);
	pthread_cond_init(&log->sync_cv, NULL);
	pthread_cond_init(&log->flush_cv, NULL);
	pthread_mutex_init(&log->pf_mu, NULL);
	ks__log_wait_init(log);
	pthread_cond_init(&log->pf_cv, NULL);
	log->dir = strdup(dir);
	if (!log->dir) {
		ks__log_unref(log);
		return KS_ENOMEM;
	}
	if (log->cfg.segment_bytes < 14 || log->cfg.segment_bytes > INT32_MAX ||
	    log->cfg.max_message_bytes < KS_BATCH_HEADER_SIZE ||
	    log->cfg.segment_index_bytes < 4 * KS__TIMEIDX_ENTRY) {
		ks__log_unref(log);
		return KS_ECONFIG;
	}
	log->reserve = (size_t)log->cfg.segment_bytes +
	    2 * (size_t)log->cfg.max_message_bytes;
	if ((rc = ks__dir_check(dir, (log->cfg.flags & KS_LOG_CREATE) &&
	                                !log->rdonly)) != 0)
		goto fail;
	if (!log->rdonly && (rc = take_lock(log)) != 0)
		goto fail;
	if ((rc = open_segments(log)) != 0)
		goto fail;
	if (!log->rdonly && log->cfg.flush_ms > 0) {
		if (pthread_create(&log->flusher, NULL, ks__log_flusher_main, log) != 0) {
			rc = KS_ENOMEM;
			goto fail;
		}
		log->flusher_on = 1;
	}
	if (!log->rdonly) {
		if (pthread_create(&log->prefaulter, NULL, ks__log_prefault_main,
		        log) != 0) {
			rc = KS_ENOMEM;
			goto fail;
		}
		log->pf_on = 1;
	}
	*logp = log;
	return 0;
fail:
	ks__log_unref(log);
	return rc;
}

int ks_log_close(ks_log_t *log)
{
	int rc = 0;
	if (!log)
		return 0;
	if (log->pf_on) {
		pthread_mutex_lock(&log->pf_mu);
		log->pf_stop = 1;
		pthread_cond_signal(&log->pf_cv);
		pthread_mutex_unlock(&log->pf_mu);
		pthread_join(log->prefaulter, NULL);
		log->pf_on = 0;
	}
	if (log->flusher_on) {
		pthread_mutex_lock(&log->sync_mu);
		log->stopping = 1;
		pthread_cond_broadcast(&log->flush_cv);
		pthread_mutex_unlock(&log->sync_mu);
		pthread_join(log->flusher, NULL);
	}
	if (!log->rdonly) {
		pthread_mutex_lock(&log->wlock);
		rc = ks_log_flush(log, -1);
		if (rc == 0 && log->active) {
			ks__segment_t *s = log->active;
			int64_t v[3] = { ks__load64(&log->end), s->base,
				(int64_t)s->size };
			if ((rc = ks__segment_trim(s)) == 0)
				rc = ks__segment_sync(s);
			ks__index_close(&s->oidx, 1);
			ks__index_close(&s->tidx, 1);
			if (rc == 0)
				rc = ks__meta_write(log->dir, KS__CLEAN_FILE,
				    KS__META_CLEAN, v, 3, 1);
		}
		log->closed = 1;
		pthread_mutex_unlock(&log->wlock);
		/* The writer is done: another may open the log now, even
		 * while views of this one are still held. */
		if (log->lock_fd >= 0) {
			close(log->lock_fd);
			log->lock_fd = -1;
		}
	}
	__atomic_store_n(&log->closed, 1, __ATOMIC_RELEASE);
	ks__log_unref(log);
	return rc;
}

const char *ks_log_dir(ks_log_t *log)
{
	return log ? log->dir : NULL;
}

/* ---- offsets ---------------------------------------------------------- */

int64_t ks_log_start_offset(ks_log_t *log)
{
	return log ? ks__load64(&log->start) : KS_EINVAL;
}

int64_t ks_log_end_offset(ks_log_t *log)
{
	if (!log)
		return KS_EINVAL;
	if (log->rdonly)
		ks__log_refresh(log);
	return ks__load64(&log->end);
}

int64_t ks_log_durable_offset(ks_log_t *log)
{
	return log ? ks__load64(&log->durable) : KS_EINVAL;
}

int ks_log_stat(ks_log_t *log, ks_log_stat_t *st)
{
	size_t i;
	if (!log || !st)
		return KS_EINVAL;
	*st = log->rec;
	st->start_offset = ks__load64(&log->start);
	st->end_offset = ks__load64(&log->end);
	st->durable_offset = ks__load64(&log->durable);
	pthread_mutex_lock(&log->seglock);
	st->segment_count = (uint32_t)log->nsegs;
	st->size_bytes = 0;
	for (i = 0; i < log->nsegs; i++)
		st->size_bytes += ks__seg_size(log->segs[i]);
	pthread_mutex_unlock(&log->seglock);
	pthread_mutex_lock(&log->sync_mu);
	st->fsyncs = log->fsyncs;
	pthread_mutex_unlock(&log->sync_mu);
	return 0;
}


/* ---- metrics (log_metrics.h) ------------------------------------------ */

void ks__log_metrics_read(ks_log_t *log, ks__log_metrics_t *out)
{
	const ks__log_metrics_t *m = &log->m;
	memset(out, 0, sizeof *out);
	out->recs_in = ks__count_get(&m->recs_in);
	out->bytes_in = ks__count_get(&m->bytes_in);
	out->appends = ks__count_get(&m->appends);
	ks__hist_read(&m->append, &out->append);
	out->flushes = ks__count_get(&m->flushes);
	ks__hist_read(&m->flush, &out->flush);
	out->recs_out = ks__count_get(&m->recs_out);
	out->bytes_out = ks__count_get(&m->bytes_out);
	ks__hist_read(&m->read, &out->read);
}
