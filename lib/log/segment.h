/*
 * segment.h: one segment of a partition log: <base>.log mapped into memory
 * with its two indexes.
 *
 * The .log file is grown ahead of the writer with fallocate (so ENOSPC is an
 * error code, never a SIGBUS in the middle of a copy) and its pages are
 * populated before the writer reaches them; the mapping reserves address
 * space for the whole segment up front, so it never moves.
 *
 * Publication: the writer copies a batch, then stores size with release;
 * in-process readers load size with acquire and read only below it.
 * Lifetime: reference counted. A segment removed from the log (retention,
 * truncation) is unlinked at once and unmapped when its last reference goes.
 */
#ifndef KS_LOG_SEGMENT_H
#define KS_LOG_SEGMENT_H

#include "log/index.h"

#include <kstream/log.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks__segment {
	int64_t base;          /* base offset: the file name */
	int fd;
	uint8_t *map;
	size_t map_len;        /* address space reserved */
	size_t size;           /* bytes of whole batches; atomic (release/acquire) */
	size_t alloc;          /* bytes allocated and populated; atomic */
	pthread_mutex_t grow_mu; /* serialises growth: writer and prefaulter */
	int frozen;            /* trimmed: no more growth (under grow_mu) */
	int64_t next_offset;   /* offset after the last batch; atomic */
	int64_t max_ts;        /* largest timestamp; atomic */
	int64_t max_ts_offset; /* offset that carried it */
	int64_t created_ms;    /* for segment.ms */
	size_t since_index;    /* bytes appended since the last index entry */
	size_t synced;         /* bytes known durable (flusher) */
	int sealed;            /* no more appends; atomic */
	int writable;
	int refs;              /* atomic */
	int unlinked;
	int idx_bad;           /* an index failed its check: walk instead */
	ks__index_t oidx, tidx;
	char *path;            /* .../<base>.log */
} ks__segment_t;

/* The three file names of a segment, into buf (PATH_MAX). */
void ks__segment_path(char *buf, size_t len, const char *dir, int64_t base,
    const char *ext);

/*
 * Opens (writable: creates if missing) the segment with base offset base in
 * dir. The .log is mapped with reserve bytes of address space; indexes as
 * ks__segment_open_indexes(), except that a read-only segment opens its
 * indexes only if idx_cap is non-zero (they must be sealed). size is set to
 * the file's length; callers establish the true size by recovery or from
 * the clean-shutdown record. Returns 0 or -errno; *out holds one reference.
 */
int ks__segment_open(const char *dir, int64_t base, size_t reserve,
    size_t idx_cap, int writable, ks__segment_t **out);

/* (Re)opens the indexes, writable ones able to hold idx_cap bytes (0: as
 * found). Only while no reader can be using them. */
int ks__segment_open_indexes(ks__segment_t *s, size_t idx_cap);

/*
 * Rebuilds both indexes from the batch headers in [0, upto), which must be
 * whole batches (they are trusted: below the recovery point). *next gets
 * the offset after them. -1 if the headers don't end exactly at upto.
 */
int ks__segment_reindex(ks__segment_t *s, size_t upto, size_t interval,
    int64_t *next);

/*
 * Where the data in [pos, file_len) ends: past the chain of plausible batch
 * headers from pos and past the last non-zero byte, whichever is further.
 */
size_t ks__segment_data_end(const ks__segment_t *s, size_t pos,
    size_t file_len);

/* The end of the chain of plausible batch headers from position 0. */
size_t ks__segment_walk_end(const ks__segment_t *s, size_t size);
/* The bytes of that chain from pos. */
size_t ks__segment_walk_end_from(const ks__segment_t *s, size_t pos,
    size_t size);

/* Checks each index's last entry against the batch it names; a mismatch
 * sets idx_bad, and lookups walk the segment instead. */
void ks__segment_check_indexes(ks__segment_t *s);

/* Position of a batch at or before the first record with a timestamp
 * >= ts, from the time index (0 without a usable entry). */
size_t ks__segment_find_time(const ks__segment_t *s, int64_t ts, size_t size);

void ks__segment_ref(ks__segment_t *s);
/* Drops a reference; the last one unmaps, and deletes the files if unlinked. */
void ks__segment_unref(ks__segment_t *s);
/* Unlinks the segment's three files; memory stays until the last unref. */
void ks__segment_unlink(ks__segment_t *s);

/*
 * Makes room for len more bytes after size: extends the file and populates
 * the pages. -ENOSPC/-EIO with nothing changed; -EFBIG past the reserve.
 */
int ks__segment_reserve(ks__segment_t *s, size_t len);
/*
 * Grows the allocated and populated part of the file to at least upto
 * bytes (capped at the reserve). The prefaulter calls it ahead of the
 * writer, so that the writer's copies land in pages already mapped.
 */
int ks__segment_grow(ks__segment_t *s, size_t upto);
static inline size_t ks__seg_alloc(const ks__segment_t *s)
{
	return __atomic_load_n(&s->alloc, __ATOMIC_ACQUIRE);
}

/*
 * Records one appended batch of len bytes at pos in the indexes and the
 * segment's timestamp bookkeeping (writer only, before publishing size).
 */
void ks__segment_index_batch(ks__segment_t *s, const uint8_t *batch,
    size_t pos, size_t len, size_t interval);

/* pwritev of the whole of iov at pos (short writes resumed): 0 or -errno. */
struct iovec;
int ks__segment_pwrite(ks__segment_t *s, size_t pos, struct iovec *iov,
    int n);

/* Cuts the file and indexes to size and marks the segment sealed. */
int ks__segment_seal(ks__segment_t *s);
/* Trims files to size (clean close) without sealing. */
int ks__segment_trim(ks__segment_t *s);
/*
 * The fdatasync that makes segment data durable. A variable so that the
 * tests can make the disk fail (EIO) where no real disk will.
 */
extern int (*ks__segment_fdatasync)(int fd);

/* fdatasync of the log and both indexes. */
int ks__segment_sync(ks__segment_t *s);

/* How a scan ended. */
typedef struct ks__scan {
	size_t end;         /* position after the last valid batch */
	int64_t next_offset;/* offset after the last valid batch */
	int64_t first_offset;/* base offset of the first batch scanned, or -1 */
	int err;            /* 0: clean end (file end or zero tail); else why */
	size_t bad_pos;     /* position of the offending batch */
	uint64_t scanned;   /* bytes of valid batches checked */
	int dirty_tail;     /* non-zero bytes lie past end */
} ks__scan_t;

/*
 * Validates batches from pos (whose first batch must start at an offset >=
 * next) up to file_len: length, magic, CRC, offsets in order.
 * With reindex, the indexes are truncated to pos and rebuilt along the way.
 */
void ks__segment_scan(ks__segment_t *s, size_t pos, int64_t next,
    size_t file_len, int reindex, size_t interval, ks__scan_t *res);

/* Position of the batch that holds offset (or the first after it), given a
 * published size; size if none. */
size_t ks__segment_find(const ks__segment_t *s, int64_t offset, size_t size);

/* Loads of the published fields. */
static inline size_t ks__seg_size(const ks__segment_t *s)
{
	return __atomic_load_n(&s->size, __ATOMIC_ACQUIRE);
}
static inline int64_t ks__seg_next(const ks__segment_t *s)
{
	return __atomic_load_n(&s->next_offset, __ATOMIC_ACQUIRE);
}

#endif /* KS_LOG_SEGMENT_H */
