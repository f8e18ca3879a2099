/* segment.c: one segment file of a log, mapped, grown, scanned, sealed. */
#include "log/segment.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Bytes the file grows by at a time: a crash leaves at most this much
 * zeroed tail, and each growth pays one fallocate and one populate. */
#define KS__GROW_CHUNK (8u << 20)

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

void ks__segment_path(char *buf, size_t len, const char *dir, int64_t base,
    const char *ext)
{
	snprintf(buf, len, "%s/%020" PRId64 "%s", dir, base, ext);
}

int ks__segment_open(const char *dir, int64_t base, size_t reserve,
    size_t idx_cap, int writable, ks__segment_t **out)
{
	char path[PATH_MAX];
	struct stat st;
	ks__segment_t *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return KS_ENOMEM;
	s->base = base;
	s->next_offset = base;
	s->max_ts = -1;
	s->max_ts_offset = -1;
	s->refs = 1;
	s->writable = writable;
	s->oidx.fd = s->tidx.fd = -1;
	pthread_mutex_init(&s->grow_mu, NULL);
	s->created_ms = ks__wallclock_ms();
	ks__segment_path(path, sizeof path, dir, base, ".log");
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return KS_ENOMEM;
	}
	s->fd = open(path, writable ? O_RDWR | O_CREAT | O_CLOEXEC :
	                              O_RDONLY | O_CLOEXEC, 0644);
	if (s->fd < 0 || fstat(s->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	s->size = s->alloc = (size_t)st.st_size;
	s->map_len = round_up(KS__MAX(reserve, s->size), page_size());
	/* Reserve the whole segment's address space once, so that the mapping
	 * never moves while readers hold pointers into it. Pages past the end
	 * of the file are never touched. */
	s->map = mmap(NULL, s->map_len,
	    writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, s->fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rc = -errno;
		goto fail;
	}
	ks__segment_path(path, sizeof path, dir, base, ".index");
	/* A reader in another process maps only indexes that no longer
	 * change: the writer trims an active segment's index files when it
	 * seals them, and mapped pages past the end of a file are SIGBUS. */
	rc = writable || idx_cap ? ks__segment_open_indexes(s, idx_cap) : 0;
	if (rc == -ENOENT && !writable) {
		/* A reader without indexes scans from the segment start. */
		rc = 0;
	}
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	s->refs = 0;
	s->unlinked = 0;
	ks__segment_unref(s);
	if (rc == 0)
		rc = -EIO;
	return rc;
}

void ks__segment_ref(ks__segment_t *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void ks__segment_unref(ks__segment_t *s)
{
	if (!s)
		return;
	if (__atomic_load_n(&s->refs, __ATOMIC_RELAXED) > 0 &&
	    __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	ks__index_close(&s->oidx, 0);
	ks__index_close(&s->tidx, 0);
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->grow_mu);
	free(s->path);
	free(s);
}

void ks__segment_unlink(ks__segment_t *s)
{
	char path[PATH_MAX];
	size_t n = strlen(s->path) - 4; /* strip ".log" */
	if (s->unlinked)
		return;
	s->unlinked = 1;
	unlink(s->path);
	snprintf(path, sizeof path, "%.*s.index", (int)n, s->path);
	unlink(path);
	snprintf(path, sizeof path, "%.*s.timeindex", (int)n, s->path);
	unlink(path);
}

int ks__segment_grow(ks__segment_t *s, size_t upto)
{
	size_t old, grow;
	int rc = 0;

	if (upto > s->map_len)
		upto = s->map_len;
	pthread_mutex_lock(&s->grow_mu);
	/* A sealed or closed segment keeps the size it was cut to, even if
	 * the prefaulter picked it just before the roll. */
	if (s->frozen && upto > s->alloc)
		rc = -EROFS;
	while (!s->frozen && (old = s->alloc) < upto) {
		grow = round_up(upto - old, KS__GROW_CHUNK);
		if (old + grow > s->map_len)
			grow = s->map_len - old;
		rc = posix_fallocate(s->fd, (off_t)old, (off_t)grow);
		if (rc != 0) {
			/* Nothing was published: the log stays as it was. */
			rc = -rc;
			break;
		}
		/* Fault the new pages in now, in one call, rather than one
		 * trap per page inside the writer's copies. Best effort: on
		 * kernels without MADV_POPULATE_WRITE the copies fault them. */
		(void)madvise(s->map + old - old % page_size(),
		    old + grow - (old - old % page_size()), MADV_POPULATE_WRITE);
		__atomic_store_n(&s->alloc, old + grow, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->grow_mu);
	return rc;
}

int ks__segment_reserve(ks__segment_t *s, size_t len)
{
	size_t want = s->size + len;
	if (KS__LIKELY(want <= ks__seg_alloc(s)))
		return 0;
	if (want > s->map_len)
		return -EFBIG;
	return ks__segment_grow(s, want);
}

void ks__segment_index_batch(ks__segment_t *s, const uint8_t *batch,
    size_t pos, size_t len, size_t interval)
{
	int64_t base = (int64_t)ks__be64(batch);
	int64_t last = base + (int32_t)ks__be32(batch + 23);
	int64_t max_ts = (int64_t)ks__be64(batch + 35);
	int64_t lts, loff;

	if (max_ts > s->max_ts) {
		s->max_ts_offset = last;
		__atomic_store_n(&s->max_ts, max_ts, __ATOMIC_RELEASE);
	}
	if (s->since_index >= interval && pos > 0 &&
	    !ks__index_full(&s->oidx) && !ks__index_full(&s->tidx)) {
		ks__offidx_append(&s->oidx, last, (uint32_t)pos);
		if (ks__timeidx_last(&s->tidx, &lts, &loff) < 0 ||
		    s->max_ts > lts)
			ks__timeidx_append(&s->tidx, s->max_ts, s->max_ts_offset);
		s->since_index = 0;
	}
	s->since_index += len;
}

int ks__segment_pwrite(ks__segment_t *s, size_t pos, struct iovec *iov,
    int n)
{
	while (n > 0) {
		ssize_t w = pwritev(s->fd, iov, n, (off_t)pos);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		pos += (size_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int ks__segment_seal(ks__segment_t *s)
{
	int64_t lts, loff;
	int rc = 0;

	if (s->writable) {
		/* Kafka's last time index entry names the segment's newest
		 * timestamp, which retention by time reads after a restart. */
		if (s->max_ts >= 0 && s->tidx.cap > s->tidx.n &&
		    (ks__timeidx_last(&s->tidx, &lts, &loff) < 0 ||
		        s->max_ts > lts))
			ks__timeidx_append(&s->tidx, s->max_ts, s->max_ts_offset);
		rc = ks__segment_trim(s);
		if (ks__index_seal(&s->oidx) < 0 || ks__index_seal(&s->tidx) < 0)
			rc = rc ? rc : -errno;
	}
	__atomic_store_n(&s->sealed, 1, __ATOMIC_RELEASE);
	return rc;
}

int ks__segment_trim(ks__segment_t *s)
{
	int rc = 0;
	if (!s->writable)
		return 0;
	pthread_mutex_lock(&s->grow_mu);
	s->frozen = 1;
	if (s->alloc != s->size) {
		if (ftruncate(s->fd, (off_t)s->size) < 0)
			rc = -errno;
		else
			__atomic_store_n(&s->alloc, s->size, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->grow_mu);
	return rc;
}

int (*ks__segment_fdatasync)(int fd) = fdatasync;

int ks__segment_sync(ks__segment_t *s)
{
	int rc;
	if (ks__segment_fdatasync(s->fd) < 0)
		return -errno;
	/* An active segment's indexes are rebuilt by recovery; a sealed
	 * one's are trusted after a crash, so they go to disk with it. */
	if (__atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE) &&
	    ((rc = ks__index_sync(&s->oidx)) || (rc = ks__index_sync(&s->tidx))))
		return rc;
	return 0;
}

/* Whether [p, end) holds only zeros. */
static int all_zero(const uint8_t *p, const uint8_t *end)
{
	while (p < end && ((uintptr_t)p & 7))
		if (*p++)
			return 0;
	while (p + 8 <= end) {
		uint64_t w;
		memcpy(&w, p, 8);
		if (w)
			return 0;
		p += 8;
	}
	while (p < end)
		if (*p++)
			return 0;
	return 1;
}

void ks__segment_scan(ks__segment_t *s, size_t pos, int64_t next,
    size_t file_len, int reindex, size_t interval, ks__scan_t *res)
{
	ks_batch_info_t info;
	uint8_t hdr[KS_BATCH_LOG_OVERHEAD];

	memset(res, 0, sizeof *res);
	res->first_offset = -1;
	if (reindex) {
		ks__index_truncate(&s->oidx, next);
		ks__index_truncate(&s->tidx, next);
		s->since_index = 0;
	}
	if (file_len > s->map_len)
		file_len = s->map_len;
	while (pos + KS_BATCH_LOG_OVERHEAD <= file_len) {
		uint32_t blen;
		size_t total;
		int rc;

		/* A reader in another process reads the header with pread: the
		 * writer may cut the file at this very position, and touching
		 * mapped pages past the end of a file raises SIGBUS. */
		if (s->writable)
			memcpy(hdr, s->map + pos, sizeof hdr);
		else if (pread(s->fd, hdr, sizeof hdr, (off_t)pos) !=
		         (ssize_t)sizeof hdr)
			break;
		blen = ks__be32(hdr + 8);
		if (blen == 0) {
			if (reindex)
				res->dirty_tail =
				    !all_zero(s->map + pos, s->map + file_len);
			break;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		total = (size_t)blen + KS_BATCH_LOG_OVERHEAD;
		if (blen > INT32_MAX || total > file_len - pos) {
			res->err = KS_EBATCH;
			break;
		}
		/* Header and CRC: every batch was validated record by record
		 * when it was appended, and the CRC tells whether these are
		 * still the bytes that were. */
		rc = ks_batch_parse(s->map + pos, total, &info);
		if (rc == 0 && ks_crc32c(0, s->map + pos + 21, total - 21) !=
		                   info.crc)
			rc = KS_ECRC;
		if (rc == 0 && info.base_offset < next)
			rc = KS_ECORRUPT;
		if (rc) {
			res->err = rc;
			break;
		}
		if (reindex)
			ks__segment_index_batch(s, s->map + pos, pos, total,
			    interval);
		else if (info.max_timestamp > s->max_ts)
			__atomic_store_n(&s->max_ts, info.max_timestamp,
			    __ATOMIC_RELEASE);
		if (res->first_offset < 0)
			res->first_offset = info.base_offset;
		next = info.base_offset + info.last_offset_delta + 1;
		pos += total;
		res->scanned += total;
	}
	if (res->err)
		res->bad_pos = pos;
	res->end = pos;
	res->next_offset = next;
}

int ks__segment_open_indexes(ks__segment_t *s, size_t cap)
{
	char path[PATH_MAX];
	size_t n = strlen(s->path) - 4; /* strip ".log" */
	int rc;

	ks__index_close(&s->oidx, 0);
	ks__index_close(&s->tidx, 0);
	snprintf(path, sizeof path, "%.*s.index", (int)n, s->path);
	rc = ks__index_open(&s->oidx, path, KS__OFFIDX_ENTRY, s->base, cap,
	    s->writable);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%.*s.timeindex", (int)n, s->path);
	return ks__index_open(&s->tidx, path, KS__TIMEIDX_ENTRY, s->base, cap,
	    s->writable);
}

/* Whether a batch starts at pos whose last offset is last (and, for a time
 * index entry, whose newest timestamp is ts). */
static int batch_at(const ks__segment_t *s, size_t pos, size_t size,
    int64_t last, const int64_t *ts)
{
	const uint8_t *b = s->map + pos;
	if (pos + KS_BATCH_HEADER_SIZE > size || b[16] != KS_BATCH_MAGIC ||
	    (int64_t)ks__be64(b) + (int32_t)ks__be32(b + 23) != last)
		return 0;
	return !ts || (int64_t)ks__be64(b + 35) == *ts;
}

size_t ks__segment_find(const ks__segment_t *s, int64_t offset, size_t size)
{
	size_t pos = 0;
	int64_t eoff;
	uint32_t epos;

	/* An index entry is a hint, checked against the batch it names:
	 * a damaged index costs a longer walk, never a wrong answer. */
	if (s->oidx.map && !s->idx_bad &&
	    ks__offidx_entry(&s->oidx, offset, &eoff, &epos) == 0 &&
	    batch_at(s, epos, size, eoff, NULL))
		pos = epos;
	while (pos + KS_BATCH_HEADER_SIZE <= size) {
		const uint8_t *b = s->map + pos;
		int64_t last = (int64_t)ks__be64(b) + (int32_t)ks__be32(b + 23);
		if (last >= offset)
			return pos;
		pos += (size_t)ks__be32(b + 8) + KS_BATCH_LOG_OVERHEAD;
	}
	return size;
}

size_t ks__segment_find_time(const ks__segment_t *s, int64_t ts, size_t size)
{
	int64_t ets, eoff;
	size_t pos;

	if (!s->tidx.map || s->idx_bad ||
	    ks__timeidx_entry(&s->tidx, ts, &ets, &eoff) != 0)
		return 0;
	pos = ks__segment_find(s, eoff, size);
	return batch_at(s, pos, size, eoff, &ets) ? pos : 0;
}

int ks__segment_reindex(ks__segment_t *s, size_t upto, size_t interval,
    int64_t *next)
{
	size_t pos = 0;

	__atomic_store_n(&s->oidx.n, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->tidx.n, 0, __ATOMIC_RELEASE);
	s->since_index = 0;
	s->max_ts = -1;
	s->max_ts_offset = -1;
	*next = s->base;
	while (pos + KS_BATCH_HEADER_SIZE <= upto) {
		const uint8_t *b = s->map + pos;
		size_t total = (size_t)ks__be32(b + 8) + KS_BATCH_LOG_OVERHEAD;
		if (b[16] != KS_BATCH_MAGIC || total < KS_BATCH_HEADER_SIZE ||
		    total > upto - pos)
			return -1;
		ks__segment_index_batch(s, b, pos, total, interval);
		*next = (int64_t)ks__be64(b) + (int32_t)ks__be32(b + 23) + 1;
		pos += total;
	}
	return pos == upto ? 0 : -1;
}

size_t ks__segment_data_end(const ks__segment_t *s, size_t pos,
    size_t file_len)
{
	size_t chain = pos + ks__segment_walk_end_from(s, pos, file_len);
	size_t last = file_len;

	if (file_len > s->map_len)
		last = file_len = s->map_len;
	while (last > pos && last % 8)
		if (s->map[--last]) {
			last++;
			goto done;
		}
	while (last >= pos + 8) {
		uint64_t w;
		memcpy(&w, s->map + last - 8, 8);
		if (w)
			break;
		last -= 8;
	}
	while (last > pos && !s->map[last - 1])
		last--;
done:
	return KS__MAX(chain, last);
}

size_t ks__segment_walk_end(const ks__segment_t *s, size_t size)
{
	return ks__segment_walk_end_from(s, 0, size);
}

size_t ks__segment_walk_end_from(const ks__segment_t *s, size_t pos,
    size_t size)
{
	size_t from = pos;
	while (pos + KS_BATCH_HEADER_SIZE <= size) {
		const uint8_t *b = s->map + pos;
		size_t total = (size_t)ks__be32(b + 8) + KS_BATCH_LOG_OVERHEAD;
		if (b[16] != KS_BATCH_MAGIC || total < KS_BATCH_HEADER_SIZE ||
		    total > size - pos)
			break;
		pos += total;
	}
	return pos - from;
}

void ks__segment_check_indexes(ks__segment_t *s)
{
	int64_t o, ts;
	uint32_t p;
	size_t size = s->size;

	if (ks__offidx_last(&s->oidx, &o, &p) == 0 &&
	    !batch_at(s, p, size, o, NULL))
		s->idx_bad = 1;
	if (ks__timeidx_last(&s->tidx, &ts, &o) == 0 &&
	    !batch_at(s, ks__segment_find(s, o, size), size, o, &ts))
		s->idx_bad = 1;
}
