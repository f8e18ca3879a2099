/*
 * varint.h: Kafka's variable-length integers (protobuf's base-128 varints;
 * signed ones zigzag-encoded). Inline: they sit on the record codec's hot path.
 */
#ifndef KS_CORE_VARINT_H
#define KS_CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define KS__VARINT_MAX 10 /* bytes of the longest 64-bit varint */

static inline uint64_t ks__zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t ks__unzigzag64(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Bytes ks__uvarint_put would write for v. */
static inline size_t ks__uvarint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}
static inline size_t ks__varint_len(int64_t v)
{
	return ks__uvarint_len(ks__zigzag64(v));
}

/* Writes v at p (room for KS__VARINT_MAX bytes); returns bytes written. */
static inline size_t ks__uvarint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}
static inline size_t ks__varint_put(uint8_t *p, int64_t v)
{
	return ks__uvarint_put(p, ks__zigzag64(v));
}

/*
 * Reads a varint from [p, end). Returns bytes consumed, or 0 if the input is
 * truncated or longer than KS__VARINT_MAX bytes (malformed).
 */
static inline size_t ks__uvarint_get(const uint8_t *p, const uint8_t *end,
    uint64_t *v)
{
	uint64_t r = 0;
	size_t i;
	for (i = 0; i < KS__VARINT_MAX && p + i < end; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}
static inline size_t ks__varint_get(const uint8_t *p, const uint8_t *end,
    int64_t *v)
{
	uint64_t u;
	size_t n = ks__uvarint_get(p, end, &u);
	if (n)
		*v = ks__unzigzag64(u);
	return n;
}

#endif /* KS_CORE_VARINT_H */
