/*
 * internal.h: what the library's layers share and users never see.
 * Everything here is ks__-prefixed and hidden from the symbol table.
 */
#ifndef KS_CORE_INTERNAL_H
#define KS_CORE_INTERNAL_H

#include <kstream/common.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#define KS__LIKELY(x) __builtin_expect(!!(x), 1)
#define KS__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KS__MIN(a, b) ((a) < (b) ? (a) : (b))
#define KS__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Clocks, in milliseconds / nanoseconds. */
int64_t ks__wallclock_ms(void);  /* CLOCK_REALTIME: record timestamps */
int64_t ks__monotonic_ns(void);  /* CLOCK_MONOTONIC: timeouts, intervals */
/* CLOCK_REALTIME_COARSE: a few ms of resolution for a few ns, for checks
 * such as a segment's age that don't stamp anything. */
int64_t ks__coarse_ms(void);

/* dirlock.c: 0 if dir is a directory (made first, with create), or
 * -errno / -ENOTDIR. */
int ks__dir_check(const char *dir, int create);
/* Takes <dir>/.lock for a writer and writes the pid in it; *fdp holds the
 * lock (close it to release). KS_ELOCKED (the callback names the holder,
 * "<dir>: <what> locked by another writer (pid N)") or -errno. */
int ks__dir_lock(const char *dir, const char *what, ks_log_cb *cb,
    void *opaque, int *fdp);

/* Formats and delivers a message to cb (NULL: dropped). */
void ks__logf(ks_log_cb *cb, void *opaque, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Big-endian loads and stores, unaligned. */
static inline uint16_t ks__be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t ks__be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}
static inline uint64_t ks__be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}
static inline void ks__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void ks__put_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}
static inline void ks__put_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

#endif /* KS_CORE_INTERNAL_H */
