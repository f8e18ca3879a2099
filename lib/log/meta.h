/*
 * meta.h: the small checksummed files kstream keeps beside a log's segments
 * (docs/format.md): recovery-point, clean-shutdown, log-start-offset.
 * Layout: magic (4 bytes) | count (4) | count big-endian int64 values |
 * XXH64 of everything before it (8). Written to a temporary file and renamed
 * into place, so a reader sees the old record or the new, never a mix.
 */
#ifndef KS_LOG_META_H
#define KS_LOG_META_H

#include <stddef.h>
#include <stdint.h>

#define KS__META_RECOVERY 0x4b535250u /* "KSRP" */
#define KS__META_CLEAN 0x4b534353u    /* "KSCS" */
#define KS__META_START 0x4b534c53u    /* "KSLS" */

/* durable: fsync the file and the directory before returning. */
int ks__meta_write(const char *dir, const char *name, uint32_t magic,
    const int64_t *vals, size_t n, int durable);
/* 0, -ENOENT, or KS_ECORRUPT (wrong magic, count or checksum). */
int ks__meta_read(const char *dir, const char *name, uint32_t magic,
    int64_t *vals, size_t n);

/* fsync of a directory, after creating, renaming or removing in it. */
int ks__fsync_dir(const char *dir);

#endif
