/*
 * log.c: one partition's log: the segment list, append, flush and group
 * commit, recovery at open, reads, truncation, deletion and retention.
 *
 * Locks, in the order they nest:
 *   wlock    the writer: append, roll, truncate, delete, retention
 *   sync_mu  the flusher's state (syncing, durable offset) and its waiters
 *   seglock  the segment array; readers hold it only to find and reference
 *            a segment, never while reading
 * Readers take no lock to read: they load the log end and the segment size
 * with acquire and read below them.
 */
#include "core/internal.h"
#include "log/meta.h"
#include "log/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RP_FILE "recovery-point"
#define CLEAN_FILE "clean-shutdown"
#define START_FILE "log-start-offset"
#define LOCK_FILE ".lock"
#define RP_INTERVAL_MS 1000
#define PREFAULT_AHEAD (64u << 20)

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

	/* The prefaulter keeps PREFAULT_AHEAD bytes of the active segment
	 * allocated and mapped ahead of the writer, on another core. */
	pthread_t prefaulter;
	int pf_on, pf_stop, pf_pending;
	pthread_mutex_t pf_mu;
	pthread_cond_t pf_cv;

	ks_log_stat_t rec;      /* recovery figures of the open */
};

struct ks_log_iter {
	ks_log_t *log;
	ks__segment_t *seg;
	size_t pos;
	int64_t next;
	uint64_t gen;
	ks_batch_iter_t bi;
};

static int64_t load64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static void store64(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ---- the segment array ------------------------------------------------ */

static int segs_push(ks_log_t *log, ks__segment_t *s)
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
static size_t segs_find(ks_log_t *log, int64_t offset)
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
static ks__segment_t *seg_get(ks_log_t *log, int64_t offset)
{
	ks__segment_t *s = NULL;
	pthread_mutex_lock(&log->seglock);
	if (log->nsegs) {
		s = log->segs[segs_find(log, offset)];
		ks__segment_ref(s);
	}
	pthread_mutex_unlock(&log->seglock);
	return s;
}

/* A referenced segment that follows s, or NULL. */
static ks__segment_t *seg_after(ks_log_t *log, const ks__segment_t *s)
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
static void segs_remove(ks_log_t *log, size_t i)
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

static void log_unref(ks_log_t *log)
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
	pthread_mutex_destroy(&log->wlock);
	pthread_mutex_destroy(&log->seglock);
	pthread_mutex_destroy(&log->sync_mu);
	pthread_mutex_destroy(&log->refresh_mu);
	pthread_cond_destroy(&log->sync_cv);
	pthread_cond_destroy(&log->flush_cv);
	pthread_mutex_destroy(&log->pf_mu);
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
static int list_segments(const char *dir, int64_t **out, size_t *n)
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
	char path[PATH_MAX], pid[32];
	ssize_t got;
	int n;

	snprintf(path, sizeof path, "%s/%s", log->dir, LOCK_FILE);
	log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (log->lock_fd < 0)
		return -errno;
	if (flock(log->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = errno == EWOULDBLOCK ? KS_ELOCKED : -errno;
		got = pread(log->lock_fd, pid, sizeof pid - 1, 0);
		pid[got > 0 ? got : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		ks__logf(log->cfg.log_cb, log->cfg.log_opaque, KS_LOG_ERR,
		    "%s: locked by another writer (pid %s)", log->dir,
		    *pid ? pid : "unknown");
		return rc;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(log->lock_fd, 0) < 0 ||
	    pwrite(log->lock_fd, pid, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

/* The segment's newest timestamp, from its time index and the batches
 * after its last offset index entry. */
static void seg_compute_max_ts(ks__segment_t *s)
{
	int64_t ts = -1, off = -1, ioff;
	uint32_t pos = 0;
	size_t size = s->size;

	if (s->tidx.map && !s->idx_bad)
		(void)ks__timeidx_last(&s->tidx, &ts, &off);
	if (!s->oidx.map || s->idx_bad ||
	    ks__offidx_last(&s->oidx, &ioff, &pos) < 0)
		pos = 0;
	while (pos + KS_BATCH_HEADER_SIZE <= size) {
		const uint8_t *b = s->map + pos;
		int64_t m = (int64_t)ks__be64(b + 35);
		if (m > ts) {
			ts = m;
			off = (int64_t)ks__be64(b) + (int32_t)ks__be32(b + 23);
		}
		pos += (uint32_t)(ks__be32(b + 8) + KS_BATCH_LOG_OVERHEAD);
	}
	s->max_ts_offset = off;
	__atomic_store_n(&s->max_ts, ts, __ATOMIC_RELEASE);
}

static void report_cut(ks_log_t *log, ks__segment_t *s, const ks__scan_t *r,
    size_t file_len)
{
	uint64_t cut = file_len > r->end ? file_len - r->end : 0;
	if (!r->err && !r->dirty_tail)
		return;
	if (log->rec.recovery_cut_offset < 0)
		log->rec.recovery_cut_offset = r->next_offset;
	log->rec.recovery_cut += cut;
	ks__logf(log->cfg.log_cb, log->cfg.log_opaque, KS_LOG_WARNING,
	    "recovery: %s: position %zu: %s; cut %" PRIu64
	    " bytes (offsets from %" PRId64 ")",
	    s->path, r->err ? r->bad_pos : r->end,
	    r->err ? ks_strerror(r->err) : "data after a zeroed region", cut,
	    r->next_offset);
}

/*
 * Recovery after a crash: scans from the recovery point (or the first
 * segment) to the end; the first bad batch and everything after it go.
 */
static int recover(ks_log_t *log)
{
	size_t interval = log->cfg.index_interval_bytes;
	int64_t rp[2], next = 0;
	size_t i, pos = 0;
	int rc;

	log->rec.durable_offset = -1;
	for (i = 0; i < log->nsegs; i++)
		log->segs[i]->synced = log->segs[i]->size;
	i = 0;
	if (ks__meta_read(log->dir, RP_FILE, KS__META_RECOVERY, rp, 2) == 0) {
		size_t j;
		for (j = 0; j < log->nsegs; j++)
			if (log->segs[j]->base == rp[0] && rp[1] >= 0 &&
			    (size_t)rp[1] <= log->segs[j]->size) {
				i = j;
				pos = (size_t)rp[1];
			}
	}
	for (; i < log->nsegs; i++) {
		ks__segment_t *s = log->segs[i];
		size_t file_len = s->size;
		ks__scan_t r;

		/* A segment that recovery scans gets its indexes rebuilt:
		 * up to the recovery point from the trusted batch headers,
		 * after it along with the scan. */
		if (i + 1 < log->nsegs &&
		    (rc = ks__segment_open_indexes(s,
		         log->cfg.segment_index_bytes)) != 0)
			return rc;
		if (ks__segment_reindex(s, pos, interval, &next) != 0) {
			pos = 0;
			(void)ks__segment_reindex(s, 0, interval, &next);
		}
		s->idx_bad = 0;
		s->synced = pos;
		ks__segment_scan(s, pos, next, file_len, 1, interval, &r);
		if (r.err && pos > 0 && r.bad_pos == pos) {
			/* Damage right at the recovery point: rescan the
			 * whole segment rather than trust the point. */
			pos = 0;
			i--;
			continue;
		}
		log->rec.recovery_scanned += r.scanned;
		report_cut(log, s, &r, file_len);
		s->size = r.end;
		s->next_offset = r.next_offset;
		if (r.end != file_len || s->alloc != r.end) {
			if (ftruncate(s->fd, (off_t)r.end) < 0)
				return -errno;
			s->alloc = r.end;
		}
		pos = 0;
		if (r.err || r.dirty_tail) {
			/* Everything after the damage goes too. */
			while (log->nsegs > i + 1) {
				ks__segment_t *d = log->segs[log->nsegs - 1];
				log->rec.recovery_cut += d->size;
				ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
				    KS_LOG_WARNING,
				    "recovery: %s: removed, it follows damage",
				    d->path);
				segs_remove(log, log->nsegs - 1);
			}
		}
		/* What was scanned may still be only in the page cache: it
		 * is not durable until the next flush says so. */
		s->synced = KS__MIN(s->synced, r.end);
		if (log->rec.durable_offset < 0)
			log->rec.durable_offset = r.first_offset >= 0 ?
			    r.first_offset : r.next_offset;
	}
	return 0;
}

static int write_rp(ks_log_t *log, int64_t base, int64_t pos, int durable)
{
	int64_t v[2] = { base, pos };
	log->rp_ms = ks__wallclock_ms();
	return ks__meta_write(log->dir, RP_FILE, KS__META_RECOVERY, v, 2,
	    durable);
}

static void *flusher_main(void *arg);

/* The active segment, referenced, or NULL. */
static ks__segment_t *active_ref(ks_log_t *log)
{
	ks__segment_t *s = NULL;
	pthread_mutex_lock(&log->seglock);
	if (log->nsegs) {
		s = log->segs[log->nsegs - 1];
		ks__segment_ref(s);
	}
	pthread_mutex_unlock(&log->seglock);
	return s;
}

static void *prefault_main(void *arg)
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
		if ((s = active_ref(log)) != NULL) {
			size_t limit = KS__MAX((size_t)log->cfg.segment_bytes,
			    ks__seg_size(s));
			size_t want = ks__seg_size(s) + PREFAULT_AHEAD;
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
static void prefault_kick(ks_log_t *log)
{
	pthread_mutex_lock(&log->pf_mu);
	if (!log->pf_pending) {
		__atomic_store_n(&log->pf_pending, 1, __ATOMIC_RELAXED);
		pthread_cond_signal(&log->pf_cv);
	}
	pthread_mutex_unlock(&log->pf_mu);
}

static int open_segments(ks_log_t *log)
{
	int64_t *bases, clean[3], startv;
	size_t n, i;
	int rc, is_clean = 0;

	if ((rc = list_segments(log->dir, &bases, &n)) != 0)
		return rc;
	if (n == 0 && !log->rdonly) {
		int64_t b = 0;
		if (ks__meta_read(log->dir, START_FILE, KS__META_START, &b,
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
		if (rc == 0 && (rc = segs_push(log, s)) != 0)
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
	if (!log->rdonly && ks__meta_read(log->dir, CLEAN_FILE, KS__META_CLEAN,
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
			    CLEAN_FILE);
			unlink(path);
		}
	} else {
		log->rec.clean_open = 0;
		if ((rc = recover(log)) != 0)
			return rc;
		log->active = log->segs[log->nsegs - 1];
	}
	for (i = 0; i < log->nsegs; i++) {
		ks__segment_check_indexes(log->segs[i]);
		seg_compute_max_ts(log->segs[i]);
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
	rc = ks__meta_read(log->dir, START_FILE, KS__META_START, clean, 1);
	if (rc == KS_ECORRUPT) {
		/* Records deleted below it would come back: refuse. */
		ks__logf(log->cfg.log_cb, log->cfg.log_opaque, KS_LOG_ERR,
		    "%s/%s: damaged (bad length, magic or checksum at "
		    "position 0)", log->dir, START_FILE);
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
		return write_rp(log, log->active->base, (int64_t)log->active->size,
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
	log->rec.recovery_cut_offset = -1;
	pthread_mutex_init(&log->wlock, NULL);
	pthread_mutex_init(&log->seglock, NULL);
	pthread_mutex_init(&log->sync_mu, NULL);
	pthread_mutex_init(&log->refresh_mu, NULL);
	pthread_cond_init(&log->sync_cv, NULL);
	pthread_cond_init(&log->flush_cv, NULL);
	pthread_mutex_init(&log->pf_mu, NULL);
	pthread_cond_init(&log->pf_cv, NULL);
	log->dir = strdup(dir);
	if (!log->dir) {
		log_unref(log);
		return KS_ENOMEM;
	}
	if (log->cfg.segment_bytes < 14 || log->cfg.segment_bytes > INT32_MAX ||
	    log->cfg.max_message_bytes < KS_BATCH_HEADER_SIZE ||
	    log->cfg.segment_index_bytes < 4 * KS__TIMEIDX_ENTRY) {
		log_unref(log);
		return KS_ECONFIG;
	}
	log->reserve = (size_t)log->cfg.segment_bytes +
	    2 * (size_t)log->cfg.max_message_bytes;
	if ((log->cfg.flags & KS_LOG_CREATE) && !log->rdonly &&
	    mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	{
		struct stat st;
		if (stat(dir, &st) < 0) {
			rc = -errno;
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = -ENOTDIR;
			goto fail;
		}
	}
	if (!log->rdonly && (rc = take_lock(log)) != 0)
		goto fail;
	if ((rc = open_segments(log)) != 0)
		goto fail;
	if (!log->rdonly && log->cfg.flush_ms > 0) {
		if (pthread_create(&log->flusher, NULL, flusher_main, log) != 0) {
			rc = KS_ENOMEM;
			goto fail;
		}
		log->flusher_on = 1;
	}
	if (!log->rdonly) {
		if (pthread_create(&log->prefaulter, NULL, prefault_main,
		        log) != 0) {
			rc = KS_ENOMEM;
			goto fail;
		}
		log->pf_on = 1;
	}
	*logp = log;
	return 0;
fail:
	log_unref(log);
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
			int64_t v[3] = { load64(&log->end), s->base,
				(int64_t)s->size };
			if ((rc = ks__segment_trim(s)) == 0)
				rc = ks__segment_sync(s);
			ks__index_close(&s->oidx, 1);
			ks__index_close(&s->tidx, 1);
			if (rc == 0)
				rc = ks__meta_write(log->dir, CLEAN_FILE,
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
	log_unref(log);
	return rc;
}

const char *ks_log_dir(ks_log_t *log)
{
	return log ? log->dir : NULL;
}

/* ---- flushing --------------------------------------------------------- */

int ks_log_flush(ks_log_t *log, int64_t upto)
{
	int rc = 0;

	if (!log)
		return KS_EINVAL;
	if (log->rdonly)
		return KS_ERDONLY;
	if (upto < 0 || upto > load64(&log->end))
		upto = load64(&log->end);
	pthread_mutex_lock(&log->sync_mu);
	while (load64(&log->durable) < upto) {
		ks__segment_t **batch;
		size_t nb = 0, i, j, *sizes;
		int64_t target;

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
		target = load64(&log->end);
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
		if (rc) {
			/* After a failed fsync the kernel may have dropped
			 * the dirty pages: nothing written since can be
			 * trusted to reach the disk. Stop accepting writes. */
			log->failed = 1;
			ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
			    KS_LOG_ERR, "%s: fdatasync failed: %s", log->dir,
			    ks_strerror(rc));
		} else {
			if (target > load64(&log->durable))
				store64(&log->durable, target);
			/* The active segment's synced size: everything
			 * before it is on disk, so recovery may start there. */
			if (nb && ks__wallclock_ms() - log->rp_ms >=
			                RP_INTERVAL_MS)
				(void)write_rp(log, batch[nb - 1]->base,
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

static void *flusher_main(void *arg)
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
		if (load64(&log->durable) < load64(&log->end)) {
			pthread_mutex_unlock(&log->sync_mu);
			(void)ks_log_flush(log, -1);
			pthread_mutex_lock(&log->sync_mu);
		}
	}
	pthread_mutex_unlock(&log->sync_mu);
	return NULL;
}

/* ---- appending -------------------------------------------------------- */

static int roll_locked(ks_log_t *log)
{
	ks__segment_t *s, *old = log->active;
	char path[PATH_MAX];
	int rc;

	/* A file left at this name by an earlier truncation is stale. */
	ks__segment_path(path, sizeof path, log->dir, load64(&log->end), ".log");
	if (unlink(path) == 0) {
		ks__segment_path(path, sizeof path, log->dir,
		    load64(&log->end), ".index");
		unlink(path);
		ks__segment_path(path, sizeof path, log->dir,
		    load64(&log->end), ".timeindex");
		unlink(path);
	}
	rc = ks__segment_open(log->dir, load64(&log->end), log->reserve,
	    log->cfg.segment_index_bytes, 1, &s);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->seglock);
	rc = segs_push(log, s);
	pthread_mutex_unlock(&log->seglock);
	if (rc) {
		ks__segment_unlink(s);
		ks__segment_unref(s);
		return rc;
	}
	log->active = s;
	prefault_kick(log);
	/* The new segment's name must survive a power failure as surely as
	 * the batches about to go into it. */
	if ((rc = ks__fsync_dir(log->dir)) != 0) {
		(void)ks__segment_seal(old);
		return rc;
	}
	/* Readers move on once they see sealed, so the new segment is in the
	 * array first. */
	return ks__segment_seal(old);
}

/* Rolls if the next len bytes don't belong in the active segment, then
 * makes room for them. */
static int prepare_locked(ks_log_t *log, size_t len)
{
	ks__segment_t *s = log->active;
	int rc;

	if (s->size > 0 &&
	    (s->size + len > log->cfg.segment_bytes ||
	        ks__index_full(&s->oidx) || ks__index_full(&s->tidx) ||
	        (log->cfg.segment_ms > 0 &&
	            ks__coarse_ms() - s->created_ms >= log->cfg.segment_ms))) {
		if ((rc = roll_locked(log)) != 0)
			return rc;
		s = log->active;
	}
	return ks__segment_reserve(s, len);
}

/* Publishes what was appended to the active segment up to pos. */
static void publish_locked(ks_log_t *log, size_t pos, int64_t next)
{
	ks__segment_t *s = log->active;
	size_t alloc = ks__seg_alloc(s);
	__atomic_store_n(&s->next_offset, next, __ATOMIC_RELEASE);
	__atomic_store_n(&s->size, pos, __ATOMIC_RELEASE);
	store64(&log->end, next);
	if (alloc - pos < PREFAULT_AHEAD / 2 && alloc < log->cfg.segment_bytes &&
	    !__atomic_load_n(&log->pf_pending, __ATOMIC_RELAXED))
		prefault_kick(log);
}

/* After the append: the flush policy, and what the caller is told. */
static int finish_append(ks_log_t *log, int need_sync, int64_t base,
    int64_t last, ks_append_info_t *info)
{
	int rc = 0;
	if (need_sync)
		rc = ks_log_flush(log, last + 1);
	if (info) {
		info->base_offset = base;
		info->last_offset = last;
		info->durable_offset = load64(&log->durable);
		info->durable = info->durable_offset > last;
	}
	return rc;
}

static int writable_check(ks_log_t *log)
{
	if (log->rdonly)
		return KS_ERDONLY;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	if (log->failed)
		return KS_EFATAL;
	return 0;
}

int ks_log_append_batch(ks_log_t *log, const void *buf, size_t len, int flags,
    ks_append_info_t *info)
{
	const uint8_t *p = buf, *end = p + len;
	ks_batch_info_t bi;
	uint64_t records = 0;
	int64_t base, next;
	size_t pos;
	int rc, need_sync = 0;

	if (!log || !buf || len == 0)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	/* Validate everything before touching the log: all or nothing. */
	while (p < end) {
		size_t blen;
		if ((rc = ks_batch_validate(p, (size_t)(end - p), &bi)) != 0)
			return rc;
		blen = (size_t)bi.batch_length + KS_BATCH_LOG_OVERHEAD;
		if (blen > log->cfg.max_message_bytes)
			return KS_EMSGSIZE;
		records += (uint64_t)bi.record_count;
		p += blen;
	}
	if (len > log->reserve - log->cfg.max_message_bytes)
		return KS_EMSGSIZE;

	pthread_mutex_lock(&log->wlock);
	if ((rc = writable_check(log)) != 0)
		goto out;
	next = base = load64(&log->end);
	if (flags & KS_APPEND_KEEP_OFFSETS) {
		int64_t prev = next;
		if ((int64_t)ks__be64(buf) != next) {
			rc = KS_ESEQUENCE;
			goto out;
		}
		for (p = buf; p < end;
		     p += ks__be32(p + 8) + KS_BATCH_LOG_OVERHEAD) {
			int64_t b = (int64_t)ks__be64(p);
			if (b < prev) {
				rc = KS_ESEQUENCE;
				goto out;
			}
			prev = b + (int32_t)ks__be32(p + 23) + 1;
		}
		base = (int64_t)ks__be64(buf);
	}
	if ((rc = prepare_locked(log, len)) != 0)
		goto out;
	pos = log->active->size;
	for (p = buf; p < end;) {
		uint8_t *dst = log->active->map + pos;
		size_t blen = ks__be32(p + 8) + KS_BATCH_LOG_OVERHEAD;
		int64_t b = (flags & KS_APPEND_KEEP_OFFSETS) ?
		    (int64_t)ks__be64(p) : next;

		/* The body first and the header last, so that a reader in
		 * another process that sees the length sees the rest. */
		memcpy(dst + 8, p + 8, blen - 8);
		if (!(flags & KS_APPEND_KEEP_OFFSETS))
			ks__put_be32(dst + 12, (uint32_t)log->cfg.leader_epoch);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		ks__put_be64(dst, (uint64_t)b);
		ks__segment_index_batch(log->active, dst, pos, blen,
		    log->cfg.index_interval_bytes);
		next = b + (int32_t)ks__be32(p + 23) + 1;
		pos += blen;
		p += blen;
	}
	publish_locked(log, pos, next);
	log->unflushed += records;
	if (log->cfg.flush_messages && log->unflushed >= log->cfg.flush_messages) {
		need_sync = 1;
		log->unflushed = 0;
	}
out:
	pthread_mutex_unlock(&log->wlock);
	if (rc)
		return rc;
	return finish_append(log, need_sync, base, next - 1, info);
}

int ks_log_append(ks_log_t *log, const ks_record_t *recs, size_t n,
    ks_append_info_t *info)
{
	size_t size, len, pos;
	int64_t base;
	uint8_t *dst;
	int rc, need_sync = 0;

	if (!log || !recs || n == 0 || n > INT32_MAX)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	if ((rc = ks_batch_size(recs, n, &size)) != 0)
		return rc;
	if (size > log->cfg.max_message_bytes)
		return KS_EMSGSIZE;

	pthread_mutex_lock(&log->wlock);
	if ((rc = writable_check(log)) != 0)
		goto out;
	if ((rc = prepare_locked(log, size)) != 0)
		goto out;
	base = load64(&log->end);
	pos = log->active->size;
	dst = log->active->map + pos;
	/* Encoded in place: the batch is built where it will live. */
	rc = ks_batch_encode(dst, size, recs, n, base, ks__wallclock_ms(), &len);
	if (rc) {
		memset(dst, 0, size);
		goto out;
	}
	ks__put_be32(dst + 12, (uint32_t)log->cfg.leader_epoch);
	ks__segment_index_batch(log->active, dst, pos, len,
	    log->cfg.index_interval_bytes);
	publish_locked(log, pos + len, base + (int64_t)n);
	log->unflushed += n;
	if (log->cfg.flush_messages && log->unflushed >= log->cfg.flush_messages) {
		need_sync = 1;
		log->unflushed = 0;
	}
out:
	pthread_mutex_unlock(&log->wlock);
	if (rc)
		return rc;
	return finish_append(log, need_sync, base, base + (int64_t)n - 1, info);
}

int ks_log_roll(ks_log_t *log)
{
	int rc;
	if (!log)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	pthread_mutex_lock(&log->wlock);
	rc = writable_check(log);
	if (rc == 0 && log->active->size > 0)
		rc = roll_locked(log);
	pthread_mutex_unlock(&log->wlock);
	return rc;
}

/* ---- offsets ---------------------------------------------------------- */

static void refresh(ks_log_t *log);

int64_t ks_log_start_offset(ks_log_t *log)
{
	return log ? load64(&log->start) : KS_EINVAL;
}

int64_t ks_log_end_offset(ks_log_t *log)
{
	if (!log)
		return KS_EINVAL;
	if (log->rdonly)
		refresh(log);
	return load64(&log->end);
}

int64_t ks_log_durable_offset(ks_log_t *log)
{
	return log ? load64(&log->durable) : KS_EINVAL;
}

int ks_log_stat(ks_log_t *log, ks_log_stat_t *st)
{
	size_t i;
	if (!log || !st)
		return KS_EINVAL;
	*st = log->rec;
	st->start_offset = load64(&log->start);
	st->end_offset = load64(&log->end);
	st->durable_offset = load64(&log->durable);
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

/* ---- read-only: following the writer ---------------------------------- */

/*
 * Scans what the writer appended to the last segment since the last look
 * and moves on to the segments it rolled to.
 */
static void refresh(ks_log_t *log)
{
	ks__segment_t *s;
	pthread_mutex_lock(&log->refresh_mu);
	for (;;) {
		char path[PATH_MAX];
		struct stat st;
		ks__scan_t r;
		ks__segment_t *n;
		int64_t next;

		pthread_mutex_lock(&log->seglock);
		s = log->nsegs ? log->segs[log->nsegs - 1] : NULL;
		pthread_mutex_unlock(&log->seglock);
		if (!s) {
			/* The writer may have created the first segment. */
			int64_t *bases;
			size_t cnt;
			if (list_segments(log->dir, &bases, &cnt) != 0 || !cnt) {
				free(bases);
				break;
			}
			next = bases[0];
			free(bases);
		} else {
			if (fstat(s->fd, &st) < 0)
				break;
			ks__segment_scan(s, s->size, s->next_offset,
			    (size_t)st.st_size, 0, 0, &r);
			if (r.end > s->size) {
				__atomic_store_n(&s->next_offset, r.next_offset,
				    __ATOMIC_RELEASE);
				__atomic_store_n(&s->size, r.end,
				    __ATOMIC_RELEASE);
				store64(&log->end, r.next_offset);
			}
			next = s->next_offset;
		}
		ks__segment_path(path, sizeof path, log->dir, next, ".log");
		if ((s && next == s->base) || stat(path, &st) < 0)
			break;
		if (s) {
			/* The writer rolled: all it wrote to s is there now. */
			if (fstat(s->fd, &st) == 0) {
				ks__segment_scan(s, s->size, s->next_offset,
				    (size_t)st.st_size, 0, 0, &r);
				__atomic_store_n(&s->next_offset, r.next_offset,
				    __ATOMIC_RELEASE);
				__atomic_store_n(&s->size, r.end,
				    __ATOMIC_RELEASE);
				if (r.next_offset != next)
					continue;
			}
		}
		if (ks__segment_open(log->dir, next, log->reserve, 0, 0, &n) != 0)
			break;
		/* The file is preallocated: what it holds is scanned. */
		n->size = 0;
		n->next_offset = n->base;
		pthread_mutex_lock(&log->seglock);
		if (segs_push(log, n) != 0) {
			pthread_mutex_unlock(&log->seglock);
			ks__segment_unref(n);
			break;
		}
		if (log->nsegs == 1)
			store64(&log->start, n->base);
		pthread_mutex_unlock(&log->seglock);
		if (s)
			__atomic_store_n(&s->sealed, 1, __ATOMIC_RELEASE);
		store64(&log->end, next);
	}
	pthread_mutex_unlock(&log->refresh_mu);
}

/* ---- reading ---------------------------------------------------------- */

int ks_log_read(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view)
{
	ks__segment_t *s, *n;
	int64_t end;

	if (!view)
		return KS_EINVAL;
	memset(view, 0, sizeof *view);
	view->base_offset = view->next_offset = offset;
	if (!log)
		return KS_EINVAL;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	end = load64(&log->end);
	if (log->rdonly && offset >= end) {
		refresh(log);
		end = load64(&log->end);
	}
	if (offset < load64(&log->start) || offset > end)
		return KS_EOFFSET;
	if (offset == end)
		return 0;
	for (s = seg_get(log, offset); s; s = n) {
		size_t size = ks__seg_size(s), pos, p;
		pos = ks__segment_find(s, offset, size);
		if (pos < size) {
			const uint8_t *b = s->map + pos;
			int64_t last = 0;
			for (p = pos; p + KS_BATCH_HEADER_SIZE <= size;) {
				size_t blen = ks__be32(s->map + p + 8) +
				    KS_BATCH_LOG_OVERHEAD;
				if (blen > size - p) {
					/* Damage in a segment that recovery
					 * did not scan. */
					ks__logf(log->cfg.log_cb,
					    log->cfg.log_opaque, KS_LOG_ERR,
					    "%s: position %zu: damaged batch",
					    s->path, p);
					if (p == pos) {
						ks__segment_unref(s);
						return KS_ECORRUPT;
					}
					break;
				}
				if (p > pos && p - pos + blen > max_bytes)
					break;
				last = (int64_t)ks__be64(s->map + p) +
				    (int32_t)ks__be32(s->map + p + 23);
				p += blen;
			}
			view->data = b;
			view->len = p - pos;
			view->base_offset = (int64_t)ks__be64(b);
			view->next_offset = last + 1;
			view->_seg = s;
			return 0;
		}
		/* Nothing at or after offset here: the next segment. */
		n = __atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE) ?
		    seg_after(log, s) : NULL;
		ks__segment_unref(s);
	}
	return 0; /* offset lies at the end */
}

void ks_log_view_release(ks_log_view_t *view)
{
	if (!view || !view->_seg)
		return;
	ks__segment_unref(view->_seg);
	view->_seg = NULL;
	view->data = NULL;
	view->len = 0;
}

int ks_log_iter_new(ks_log_t *log, int64_t offset, ks_log_iter_t **itp)
{
	ks_log_iter_t *it;
	if (!itp)
		return KS_EINVAL;
	*itp = NULL;
	if (!log)
		return KS_EINVAL;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	if (log->rdonly && offset > load64(&log->end))
		refresh(log);
	if (offset < load64(&log->start) || offset > load64(&log->end))
		return KS_EOFFSET;
	it = calloc(1, sizeof *it);
	if (!it)
		return KS_ENOMEM;
	__atomic_add_fetch(&log->refs, 1, __ATOMIC_RELAXED);
	it->log = log;
	it->next = offset;
	it->gen = __atomic_load_n(&log->gen, __ATOMIC_ACQUIRE);
	ks_batch_iter_init(&it->bi, NULL, 0, offset);
	*itp = it;
	return 0;
}

int ks_log_iter_seek(ks_log_iter_t *it, int64_t offset)
{
	ks_log_t *log;
	if (!it)
		return KS_EINVAL;
	log = it->log;
	if (log->rdonly && offset > load64(&log->end))
		refresh(log);
	if (offset < load64(&log->start) || offset > load64(&log->end))
		return KS_EOFFSET;
	ks__segment_unref(it->seg);
	it->seg = NULL;
	it->next = offset;
	ks_batch_iter_init(&it->bi, NULL, 0, offset);
	return 0;
}

int ks_log_iter_next(ks_log_iter_t *it, ks_record_t *rec)
{
	ks_log_t *log;
	int refreshed = 0;

	if (!it || !rec)
		return KS_EINVAL;
	log = it->log;
	for (;;) {
		uint64_t gen;
		size_t size;
		int r = ks_batch_iter_next(&it->bi, rec);
		if (r > 0) {
			it->next = rec->offset + 1;
			return 1;
		}
		if (r < 0)
			return r;
		if (it->bi._buf != it->bi._end) {
			/* The log publishes whole batches only: a batch
			 * that does not fit its region is damage. */
			ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
			    KS_LOG_ERR, "%s: damaged batch at offset %" PRId64
			    " in %s", log->dir, it->next,
			    it->seg ? it->seg->path : "?");
			return KS_ECORRUPT;
		}
		if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
			return KS_ECLOSED;
		gen = __atomic_load_n(&log->gen, __ATOMIC_ACQUIRE);
		if (gen != it->gen) {
			/* Truncated: find our place again. */
			ks__segment_unref(it->seg);
			it->seg = NULL;
			it->gen = gen;
		}
		if (it->next < load64(&log->start))
			return KS_EOFFSET;
		if (!it->seg) {
			int64_t end = load64(&log->end);
			if (it->next > end)
				return KS_EOFFSET;
			if (it->next == end) {
				if (log->rdonly && !refreshed++) {
					refresh(log);
					continue;
				}
				return 0;
			}
			it->seg = seg_get(log, it->next);
			if (!it->seg)
				return 0;
			it->pos = ks__segment_find(it->seg, it->next,
			    ks__seg_size(it->seg));
		}
		/* sealed first: a sealed segment's size is final */
		if (__atomic_load_n(&it->seg->sealed, __ATOMIC_ACQUIRE)) {
			size = ks__seg_size(it->seg);
			if (it->pos >= size) {
				ks__segment_t *n = seg_after(log, it->seg);
				if (!n)
					return 0;
				ks__segment_unref(it->seg);
				it->seg = n;
				it->pos = ks__segment_find(n, it->next,
				    ks__seg_size(n));
				continue;
			}
		} else {
			size = ks__seg_size(it->seg);
		}
		if (it->pos < size) {
			ks_batch_iter_init(&it->bi, it->seg->map + it->pos,
			    size - it->pos, it->next);
			it->pos = size;
			continue;
		}
		if (log->rdonly && !refreshed++) {
			refresh(log);
			continue;
		}
		return 0;
	}
}

void ks_log_iter_free(ks_log_iter_t *it)
{
	if (!it)
		return;
	ks__segment_unref(it->seg);
	log_unref(it->log);
	free(it);
}

/* ---- time lookup ------------------------------------------------------ */

int ks_log_offset_for_time(ks_log_t *log, int64_t ts, int64_t *offset)
{
	ks__segment_t *s, *n;
	int64_t start;

	if (!log || !offset)
		return KS_EINVAL;
	*offset = -1;
	if (log->rdonly)
		refresh(log);
	start = load64(&log->start);
	for (s = seg_get(log, start); s; s = n) {
		if (__atomic_load_n(&s->max_ts, __ATOMIC_ACQUIRE) >= ts) {
			size_t size = ks__seg_size(s);
			size_t pos = ks__segment_find_time(s, ts, size);
			while (pos + KS_BATCH_HEADER_SIZE <= size) {
				const uint8_t *b = s->map + pos;
				size_t blen = ks__be32(b + 8) +
				    KS_BATCH_LOG_OVERHEAD;
				if (blen > size - pos)
					break; /* damaged: as far as it goes */
				if ((int64_t)ks__be64(b + 35) >= ts) {
					ks_batch_iter_t bi;
					ks_record_t rec;
					int r;
					ks_batch_iter_init(&bi, b, blen, start);
					while ((r = ks_batch_iter_next(&bi,
					            &rec)) > 0)
						if (rec.timestamp >= ts)
							break;
					if (r > 0) {
						*offset = rec.offset;
						break;
					}
					if (r == KS_ECOMPRESSION) {
						/* undecodable: its base */
						*offset = KS__MAX(
						    (int64_t)ks__be64(b), start);
						break;
					}
				}
				pos += blen;
			}
			if (*offset >= 0) {
				ks__segment_unref(s);
				return 0;
			}
		}
		n = seg_after(log, s);
		ks__segment_unref(s);
	}
	return 0;
}

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
	__atomic_store_n(&s->sealed, 0, __ATOMIC_RELEASE);
	return rc;
}

int ks_log_truncate(ks_log_t *log, int64_t offset)
{
	ks__segment_t *s;
	size_t i, pos, size;
	int64_t new_end;
	int rc;

	if (!log)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	pthread_mutex_lock(&log->wlock);
	if (offset > load64(&log->end) || offset < load64(&log->start)) {
		rc = KS_EOFFSET;
		goto out;
	}
	if (offset == load64(&log->end))
		goto out;
	pthread_mutex_lock(&log->sync_mu);
	while (log->syncing)
		pthread_cond_wait(&log->sync_cv, &log->sync_mu);
	log->syncing = 1; /* keep flushers out while the tail changes */
	pthread_mutex_unlock(&log->sync_mu);

	i = segs_find(log, offset);
	s = log->segs[i];
	size = s->size;
	pos = ks__segment_find(s, offset, size);
	new_end = pos < size ? (int64_t)ks__be64(s->map + pos) : s->next_offset;
	if (new_end < s->base)
		new_end = s->base;
	/* The recovery point moves back first: a crash from here on must
	 * not trust positions past the cut. */
	if ((rc = write_rp(log, s->base, (int64_t)pos, 1)) != 0)
		goto unsync;
	if (log->nsegs > i + 1) {
		while (log->nsegs > i + 1)
			segs_remove(log, log->nsegs - 1);
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
	store64(&log->end, new_end);
	__atomic_add_fetch(&log->gen, 1, __ATOMIC_RELEASE);
	/* Zero the cut bytes: recovery and other processes must not take
	 * them for batches. */
	memset(s->map + pos, 0, size - pos);
	s->since_index = 0;
	seg_compute_max_ts(s);
	if (s->synced > pos)
		s->synced = pos;
	rc = ks__segment_sync(s);
	if (rc)
		log->failed = 1;
unsync:
	pthread_mutex_lock(&log->sync_mu);
	log->syncing = 0;
	if (load64(&log->durable) > load64(&log->end))
		store64(&log->durable, load64(&log->end));
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
	if (load64(&log->start) < next_base)
		store64(&log->start, next_base);
	segs_remove(log, 0);
}

int ks_log_delete_records(ks_log_t *log, int64_t offset)
{
	int rc;
	if (!log)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	pthread_mutex_lock(&log->wlock);
	if (offset > load64(&log->end) || offset < 0) {
		rc = KS_EOFFSET;
	} else if (offset > load64(&log->start)) {
		rc = ks__meta_write(log->dir, START_FILE, KS__META_START,
		    &offset, 1, 1);
		if (rc == 0) {
			store64(&log->start, offset);
			while (log->nsegs > 1 && log->segs[1]->base <= offset)
				drop_oldest_locked(log);
			(void)ks__fsync_dir(log->dir);
			store64(&log->start, offset);
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
	if (!log)
		return KS_EINVAL;
	if ((rc = writable_check(log)) != 0)
		return rc;
	if (now_ms < 0)
		now_ms = ks__wallclock_ms();
	pthread_mutex_lock(&log->wlock);
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
