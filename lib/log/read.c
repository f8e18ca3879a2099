/*
 * read.c: reading: views, iterators, lookup by time, and following a writer
 * from another process.
 */
#include "core/internal.h"
#include "log/compress.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "log/segment.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

struct ks_log_iter {
	ks_log_t *log;
	ks__segment_t *seg;
	size_t pos;
	int64_t next;
	uint64_t gen;
	ks_batch_iter_t bi;
	ks__zbuf_t z;   /* the compressed batch being walked, decompressed */
	/* not yet added to the log's counters: records returned, and the
	 * batches read from here to bi._buf */
	uint64_t nrecs;
	const uint8_t *counted;
};

/*
 * Records out (ks__log_metrics_t.recs_out, bytes_out) are counted where
 * every reader of the log passes: ks_log_read counts the records and bytes
 * of the views it returns (the Kafka server's Fetch sends each view
 * whole), an iterator the records it returns and the bytes of the batches
 * it has walked; nothing above them counts again. A reader that reads a
 * region twice counts it twice, as a broker counts bytes it sends twice.
 * For a reader that uses only part of each view and reads the rest again
 * later (the local consumer, which stops at max.poll.records),
 * ks__log_read_uncounted and ks__log_count_out let it count what it
 * consumed instead, once per delivery.
 */

/* Adds what an iterator read since the last call to the log's counters. */
static void iter_count(ks_log_iter_t *it)
{
	uint64_t bytes = it->bi._buf && it->counted ?
	    (uint64_t)(it->bi._buf - it->counted) : 0;
	if (it->nrecs)
		ks__count(&it->log->m.recs_out, it->nrecs);
	if (bytes)
		ks__count(&it->log->m.bytes_out, bytes);
	it->nrecs = 0;
	it->counted = it->bi._buf;
}

/* Which ks_log_read calls are timed: 1 in KS__LOG_SAMPLE of a thread's. */
static __thread unsigned read_tick __attribute__((tls_model("initial-exec")));

/* ---- read-only: following the writer ---------------------------------- */

/*
 * Scans what the writer appended to the last segment since the last look
 * and moves on to the segments it rolled to.
 */
void ks__log_refresh(ks_log_t *log)
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
			if (ks__log_list_segments(log->dir, &bases, &cnt) !=
			        0 ||
			    !cnt) {
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
				ks__store64(&log->end, r.next_offset);
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
		if (ks__log_segs_push(log, n) != 0) {
			pthread_mutex_unlock(&log->seglock);
			ks__segment_unref(n);
			break;
		}
		if (log->nsegs == 1)
			ks__store64(&log->start, n->base);
		pthread_mutex_unlock(&log->seglock);
		if (s)
			__atomic_store_n(&s->sealed, 1, __ATOMIC_RELEASE);
		ks__store64(&log->end, next);
	}
	pthread_mutex_unlock(&log->refresh_mu);
}

/* ---- reading ---------------------------------------------------------- */

/* ks_log_read; count: whether the view's records and bytes count as read
 * (the caller counts them otherwise, with ks__log_count_out). */
static int read_view(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view, int count)
{
	ks__segment_t *s, *n;
	int64_t end;
	uint64_t t0 = 0, recs = 0;

	if (!view)
		return KS_EINVAL;
	if (!(read_tick++ & (KS__LOG_SAMPLE - 1)))
		t0 = (uint64_t)ks__monotonic_ns();
	memset(view, 0, sizeof *view);
	view->base_offset = view->next_offset = offset;
	if (!log)
		return KS_EINVAL;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	end = ks__load64(&log->end);
	if (log->rdonly && offset >= end) {
		ks__log_refresh(log);
		end = ks__load64(&log->end);
	}
	if (offset < ks__load64(&log->start) || offset > end)
		return KS_EOFFSET;
	if (offset == end)
		return 0;
	for (s = ks__log_seg_get(log, offset); s; s = n) {
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
				/* a batch published to the segment but not
				 * yet to log->end (publish_locked stores
				 * the size first): not part of this read */
				if (p > pos &&
				    (int64_t)ks__be64(s->map + p) >= end)
					break;
				last = (int64_t)ks__be64(s->map + p) +
				    (int32_t)ks__be32(s->map + p + 23);
				recs += ks__be32(s->map + p + 57);
				p += blen;
			}
			view->data = b;
			view->len = p - pos;
			view->base_offset = (int64_t)ks__be64(b);
			view->next_offset = last + 1;
			view->_seg = s;
			if (count)
				ks__log_count_out(log, recs, view->len);
			if (t0)
				ks__hist_add(&log->m.read,
				    (uint64_t)ks__monotonic_ns() - t0);
			return 0;
		}
		/* Nothing at or after offset here: the next segment. */
		n = __atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE) ?
		    ks__log_seg_after(log, s) : NULL;
		ks__segment_unref(s);
	}
	/* No batch at or after offset (compaction or truncation left a gap
	 * before the end): the next record a reader can get comes at the
	 * end, so that is where it continues. */
	view->next_offset = end;
	return 0;
}

int ks_log_read(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view)
{
	return read_view(log, offset, max_bytes, view, 1);
}

int ks__log_read_uncounted(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view)
{
	return read_view(log, offset, max_bytes, view, 0);
}

void ks__log_count_out(ks_log_t *log, uint64_t records, uint64_t bytes)
{
	if (records)
		ks__count(&log->m.recs_out, records);
	if (bytes)
		ks__count(&log->m.bytes_out, bytes);
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
	if (log->rdonly && offset > ks__load64(&log->end))
		ks__log_refresh(log);
	if (offset < ks__load64(&log->start) || offset > ks__load64(&log->end))
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
	if (log->rdonly && offset > ks__load64(&log->end))
		ks__log_refresh(log);
	if (offset < ks__load64(&log->start) || offset > ks__load64(&log->end))
		return KS_EOFFSET;
	iter_count(it);
	ks__segment_unref(it->seg);
	it->seg = NULL;
	it->next = offset;
	ks_batch_iter_init(&it->bi, NULL, 0, offset);
	it->counted = NULL;
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
		int r = ks__batch_iter_next_z(&it->bi, rec, &it->z);
		if (r > 0) {
			it->next = rec->offset + 1;
			it->nrecs++;
			return 1;
		}
		iter_count(it);
		if (r == KS_ECORRUPT)
			ks__logf(log->cfg.log_cb, log->cfg.log_opaque,
			    KS_LOG_ERR, "%s: compressed batch at offset %" PRId64
			    " in %s does not decompress", log->dir, it->next,
			    it->seg ? it->seg->path : "?");
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
		if (it->next < ks__load64(&log->start))
			return KS_EOFFSET;
		if (!it->seg) {
			int64_t end = ks__load64(&log->end);
			if (it->next > end)
				return KS_EOFFSET;
			if (it->next == end) {
				if (log->rdonly && !refreshed++) {
					ks__log_refresh(log);
					continue;
				}
				return 0;
			}
			it->seg = ks__log_seg_get(log, it->next);
			if (!it->seg)
				return 0;
			it->pos = ks__segment_find(it->seg, it->next,
			    ks__seg_size(it->seg));
		}
		/* sealed first: a sealed segment's size is final */
		if (__atomic_load_n(&it->seg->sealed, __ATOMIC_ACQUIRE)) {
			size = ks__seg_size(it->seg);
			if (it->pos >= size) {
				ks__segment_t *n = ks__log_seg_after(log, it->seg);
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
			it->counted = it->bi._buf;
			it->pos = size;
			continue;
		}
		if (log->rdonly && !refreshed++) {
			ks__log_refresh(log);
			continue;
		}
		return 0;
	}
}

void ks_log_iter_free(ks_log_iter_t *it)
{
	if (!it)
		return;
	iter_count(it);
	ks__segment_unref(it->seg);
	ks__log_unref(it->log);
	ks__zbuf_free(&it->z);
	free(it);
}

/* ---- time lookup ------------------------------------------------------ */

int ks_log_offset_for_time(ks_log_t *log, int64_t ts, int64_t *offset)
{
	ks__segment_t *s, *n;
	ks__zbuf_t z = { NULL, 0 };
	int64_t start;

	if (!log || !offset)
		return KS_EINVAL;
	*offset = -1;
	if (log->rdonly)
		ks__log_refresh(log);
	start = ks__load64(&log->start);
	for (s = ks__log_seg_get(log, start); s; s = n) {
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
					while ((r = ks__batch_iter_next_z(&bi,
					            &rec, &z)) > 0)
						if (rec.timestamp >= ts)
							break;
					if (r > 0) {
						*offset = rec.offset;
						break;
					}
					if (r < 0) {
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
				ks__zbuf_free(&z);
				return 0;
			}
		}
		n = ks__log_seg_after(log, s);
		ks__segment_unref(s);
	}
	ks__zbuf_free(&z);
	return 0;
}

