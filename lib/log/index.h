/*
 * index.h: a segment's sparse indexes, files of fixed-size big-endian entries
 * mapped into memory, in Kafka's layout (docs/format.md):
 *   .index      8 bytes: int32 offset relative to the segment base (the last
 *               offset of the batch), int32 position of the batch in the .log
 *   .timeindex 12 bytes: int64 timestamp, int32 relative offset
 * While a segment is active its index files are preallocated to
 * segment.index.bytes; sealing and a clean close trim them to their entries.
 *
 * Threads: one writer appends; readers load ks__index_count() (acquire) and
 * read only that many entries, which are never rewritten while mapped.
 */
#ifndef KS_LOG_INDEX_H
#define KS_LOG_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define KS__OFFIDX_ENTRY 8
#define KS__TIMEIDX_ENTRY 12

typedef struct ks__index {
	int fd;
	uint8_t *map;
	size_t map_len;   /* bytes mapped */
	size_t cap;       /* entries the file may hold (0 once sealed) */
	size_t n;         /* valid entries; atomic: readers load it acquire */
	unsigned esz;     /* entry size */
	int64_t base;     /* segment base offset */
} ks__index_t;

/*
 * Opens the index at path. Writable: created if missing and extended to
 * cap_bytes (a whole number of entries). Entries are taken from the file as
 * found; callers then ks__index_sanitize() them. Returns 0 or -errno.
 */
int ks__index_open(ks__index_t *ix, const char *path, unsigned esz,
    int64_t base, size_t cap_bytes, int writable);
/* Unmaps and closes; with trim, first cuts the file to its entries. */
void ks__index_close(ks__index_t *ix, int trim);
/* Cuts the file to its entries and refuses further appends. */
int ks__index_seal(ks__index_t *ix);
int ks__index_sync(ks__index_t *ix);

static inline size_t ks__index_count(const ks__index_t *ix)
{
	return __atomic_load_n(&ix->n, __ATOMIC_ACQUIRE);
}
static inline int ks__index_full(const ks__index_t *ix)
{
	return ix->n >= ix->cap;
}

/*
 * Keeps the longest prefix of entries that is strictly increasing and, for
 * the offset index, points below log_size. Returns the entries dropped.
 */
size_t ks__offidx_sanitize(ks__index_t *ix, size_t log_size);
size_t ks__timeidx_sanitize(ks__index_t *ix, int64_t max_rel);

/* Appends; the caller keeps entries increasing. -ENOSPC if full. */
int ks__offidx_append(ks__index_t *ix, int64_t offset, uint32_t pos);
int ks__timeidx_append(ks__index_t *ix, int64_t ts, int64_t offset);

/* Drops the entries whose offset is >= offset. */
void ks__index_truncate(ks__index_t *ix, int64_t offset);

/*
 * The position of the last entry whose offset is <= offset (0 if none): a
 * batch at or before the one holding offset starts there.
 */
uint32_t ks__offidx_lookup(const ks__index_t *ix, int64_t offset);
/*
 * The offset of the last entry whose timestamp is < ts, or -1 if none:
 * every record up to it has a timestamp below ts.
 */
int64_t ks__timeidx_lookup(const ks__index_t *ix, int64_t ts);
/* The same lookups, with the whole entry: 0 and filled, or -1 if none. */
int ks__offidx_entry(const ks__index_t *ix, int64_t offset, int64_t *eoff,
    uint32_t *epos);
int ks__timeidx_entry(const ks__index_t *ix, int64_t ts, int64_t *ets,
    int64_t *eoff);
/* The last entry, if any: returns 0 and fills, or -1. */
int ks__timeidx_last(const ks__index_t *ix, int64_t *ts, int64_t *offset);
int ks__offidx_last(const ks__index_t *ix, int64_t *offset, uint32_t *pos);

#endif /* KS_LOG_INDEX_H */
