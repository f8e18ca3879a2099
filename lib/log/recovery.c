/*
 * recovery.c: opening after a crash: the scan from the recovery point, the
 * cut, the rebuilt indexes.
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

/* The segment's newest timestamp, from its time index and the batches
 * after its last offset index entry. */
void ks__log_seg_max_ts(ks__segment_t *s)
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
	uint64_t cut;
	if (!r->err && !r->dirty_tail)
		return;
	/* What was lost is the data, not the preallocated zeros after it. */
	cut = ks__segment_data_end(s, r->end, file_len) - r->end;
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
int ks__log_recover(ks_log_t *log)
{
	size_t interval = log->cfg.index_interval_bytes;
	int64_t rp[2], next = 0;
	size_t i, pos = 0;
	int rc;

	log->rec.durable_offset = -1;
	for (i = 0; i < log->nsegs; i++)
		log->segs[i]->synced = log->segs[i]->size;
	i = 0;
	if (ks__meta_read(log->dir, KS__RP_FILE, KS__META_RECOVERY, rp, 2) == 0) {
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
				ks__log_segs_remove(log, log->nsegs - 1);
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

int ks__log_write_rp(ks_log_t *log, int64_t base, int64_t pos, int durable)
{
	int64_t v[2] = { base, pos };
	log->rp_ms = ks__wallclock_ms();
	return ks__meta_write(log->dir, KS__RP_FILE, KS__META_RECOVERY, v, 2,
	    durable);
}

