/* append.c: appending batches and records, rolling segments. */
#include "core/internal.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "log/segment.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- counting (log_metrics.h) ------------------------------------------- */

/*
 * The start of an append call that is timed, 1 in KS__LOG_SAMPLE, else 0.
 * Read before the writer lock: racing writers may skew which calls are
 * sampled, never a count.
 */
static inline uint64_t append_t0(ks_log_t *log)
{
	if (ks__count_get(&log->m.appends) & (KS__LOG_SAMPLE - 1))
		return 0;
	return (uint64_t)ks__monotonic_ns();
}

/* Under wlock, after an append that published records and bytes. */
static inline void append_count(ks_log_t *log, uint64_t t0, uint64_t records,
    uint64_t bytes)
{
	ks__count1(&log->m.recs_in, records);
	ks__count1(&log->m.bytes_in, bytes);
	ks__count1(&log->m.appends, 1);
	if (t0)
		ks__hist_add1(&log->m.append,
		    (uint64_t)ks__monotonic_ns() - t0);
}

/* ---- appending -------------------------------------------------------- */

static int roll_locked(ks_log_t *log)
{
	ks__segment_t *s, *old = log->active;
	char path[PATH_MAX];
	int rc;

	/* A file left at this name by an earlier truncation is stale. */
	ks__segment_path(path, sizeof path, log->dir, ks__load64(&log->end), ".log");
	if (unlink(path) == 0) {
		ks__segment_path(path, sizeof path, log->dir,
		    ks__load64(&log->end), ".index");
		unlink(path);
		ks__segment_path(path, sizeof path, log->dir,
		    ks__load64(&log->end), ".timeindex");
		unlink(path);
	}
	rc = ks__segment_open(log->dir, ks__load64(&log->end), log->reserve,
	    log->cfg.segment_index_bytes, 1, &s);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->seglock);
	rc = ks__log_segs_push(log, s);
	pthread_mutex_unlock(&log->seglock);
	if (rc) {
		ks__segment_unlink(s);
		ks__segment_unref(s);
		return rc;
	}
	log->active = s;
	ks__log_prefault_kick(log);
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

/*
 * Publishes what was appended to the active segment up to pos, records in
 * all, and applies flush.messages: 1 if the caller must flush.
 */
static int publish_locked(ks_log_t *log, size_t pos, int64_t next,
    uint64_t records)
{
	ks__segment_t *s = log->active;
	size_t alloc = ks__seg_alloc(s);
	__atomic_store_n(&s->next_offset, next, __ATOMIC_RELEASE);
	__atomic_store_n(&s->size, pos, __ATOMIC_RELEASE);
	ks__store64(&log->end, next);
	if (alloc - pos < KS__PREFAULT_AHEAD / 2 && alloc < log->cfg.segment_bytes &&
	    !__atomic_load_n(&log->pf_pending, __ATOMIC_RELAXED))
		ks__log_prefault_kick(log);
	log->unflushed += records;
	if (log->cfg.flush_messages && log->unflushed >= log->cfg.flush_messages) {
		log->unflushed = 0;
		return 1;
	}
	return 0;
}

/* After the append: the flush policy, and what the caller is told. */
static int finish_append(ks_log_t *log, int need_sync, int64_t base,
    int64_t last, ks_append_info_t *info)
{
	int rc = 0;
	/* Readers first: they may read what is not durable yet. */
	ks__log_wake(log);
	if (need_sync)
		rc = ks_log_flush(log, last + 1);
	if (info) {
		info->base_offset = base;
		info->last_offset = last;
		info->durable_offset = ks__load64(&log->durable);
		info->durable = info->durable_offset > last;
	}
	return rc;
}

int ks__log_writable(ks_log_t *log)
{
	if (log->rdonly)
		return KS_ERDONLY;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	if (log->failed)
		return KS_EFATAL;
	return 0;
}

int ks__log_lock_writer(ks_log_t *log)
{
	int rc;
	if (!log)
		return KS_EINVAL;
	if ((rc = ks__log_writable(log)) != 0)
		return rc;
	pthread_mutex_lock(&log->wlock);
	/* again: a close may have come in while we waited */
	if ((rc = ks__log_writable(log)) != 0)
		pthread_mutex_unlock(&log->wlock);
	return rc;
}

/*
 * Writes one batch at pos of the active segment with base offset b and,
 * with stamp, the log's leader epoch, both patched in the log's copy.
 */
static int put_batch(ks_log_t *log, size_t pos, const uint8_t *p, size_t blen,
    int64_t b, int stamp)
{
	uint8_t *dst = log->active->map + pos;

	if (log->sync_writes) {
		uint8_t hdr[16];
		struct iovec iov[2] = { { hdr, 16 },
			{ (void *)(p + 16), blen - 16 } };
		memcpy(hdr, p, 16);
		ks__put_be64(hdr, (uint64_t)b);
		if (stamp)
			ks__put_be32(hdr + 12, (uint32_t)log->cfg.leader_epoch);
		return ks__segment_pwrite(log->active, pos, iov, 2);
	}
	/* The body first and the header last, so that a reader in another
	 * process that sees the length sees the rest. */
	memcpy(dst + 8, p + 8, blen - 8);
	if (stamp)
		ks__put_be32(dst + 12, (uint32_t)log->cfg.leader_epoch);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ks__put_be64(dst, (uint64_t)b);
	return 0;
}

int ks_log_append_batch(ks_log_t *log, const void *buf, size_t len, int flags,
    ks_append_info_t *info)
{
	const uint8_t *p = buf, *end = p + len;
	ks_batch_info_t bi;
	uint64_t records = 0, t0;
	int64_t base, next;
	size_t pos;
	int rc, need_sync = 0;

	if (!log || !buf || len == 0)
		return KS_EINVAL;
	if ((rc = ks__log_writable(log)) != 0)
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

	t0 = append_t0(log);
	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	next = base = ks__load64(&log->end);
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
		size_t blen = ks__be32(p + 8) + KS_BATCH_LOG_OVERHEAD;
		int64_t b = (flags & KS_APPEND_KEEP_OFFSETS) ?
		    (int64_t)ks__be64(p) : next;

		if ((rc = put_batch(log, pos, p, blen, b,
		         !(flags & KS_APPEND_KEEP_OFFSETS))) != 0)
			goto out; /* nothing published: the log is unchanged */
		ks__segment_index_batch(log->active, log->active->map + pos,
		    pos, blen, log->cfg.index_interval_bytes);
		next = b + (int32_t)ks__be32(p + 23) + 1;
		pos += blen;
		p += blen;
	}
	need_sync = publish_locked(log, pos, next, records);
	append_count(log, t0, records, len);
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
	uint64_t t0;
	int64_t base;
	uint8_t *dst;
	int rc, need_sync = 0;

	if (!log || !recs || n == 0 || n > INT32_MAX)
		return KS_EINVAL;
	if ((rc = ks__log_writable(log)) != 0)
		return rc;
	if ((rc = ks_batch_size(recs, n, &size)) != 0)
		return rc;
	if (size > log->cfg.max_message_bytes)
		return KS_EMSGSIZE;

	t0 = append_t0(log);
	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	if ((rc = prepare_locked(log, size)) != 0)
		goto out;
	base = ks__load64(&log->end);
	pos = log->active->size;
	dst = log->active->map + pos;
	if (log->sync_writes) {
		if (size > log->scratch_cap) {
			uint8_t *b = realloc(log->scratch, size);
			if (!b) {
				rc = KS_ENOMEM;
				goto out;
			}
			log->scratch = b;
			log->scratch_cap = size;
		}
		dst = log->scratch;
	}
	/* Without sync writes, encoded in place: the batch is built where
	 * it will live. */
	rc = ks_batch_encode(dst, size, recs, n, base, ks__wallclock_ms(), &len);
	if (rc) {
		if (!log->sync_writes)
			memset(dst, 0, size);
		goto out;
	}
	ks__put_be32(dst + 12, (uint32_t)log->cfg.leader_epoch);
	if (log->sync_writes) {
		struct iovec iov = { dst, len };
		if ((rc = ks__segment_pwrite(log->active, pos, &iov, 1)) != 0)
			goto out;
	}
	ks__segment_index_batch(log->active, log->active->map + pos, pos, len,
	    log->cfg.index_interval_bytes);
	need_sync = publish_locked(log, pos + len, base + (int64_t)n, n);
	append_count(log, t0, n, len);
out:
	pthread_mutex_unlock(&log->wlock);
	if (rc)
		return rc;
	return finish_append(log, need_sync, base, base + (int64_t)n - 1, info);
}

int ks_log_roll(ks_log_t *log)
{
	int rc;
	if ((rc = ks__log_lock_writer(log)) != 0)
		return rc;
	if (log->active->size > 0)
		rc = roll_locked(log);
	pthread_mutex_unlock(&log->wlock);
	return rc;
}


/*
 * Replication: the leader epoch stamped into batches appended from now on
 * (a member that becomes a partition's leader). Under the writer lock, so
 * no append straddles the change.
 */
int ks__log_set_leader_epoch(ks_log_t *log, int32_t epoch)
{
	int rc = ks__log_lock_writer(log);

	if (rc)
		return rc;
	log->cfg.leader_epoch = epoch;
	pthread_mutex_unlock(&log->wlock);
	return 0;
}
