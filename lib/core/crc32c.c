/*
 * crc32c.c: CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
 *
 * The checksum sits on the append path (every batch is checked as it enters
 * the log) and on recovery (every batch of every unflushed segment), so it
 * has to run near memory speed. On x86-64 with SSE4.2 the crc32 instruction
 * does the work. It takes three cycles but a new one can start every cycle,
 * so long buffers are cut into three blocks whose CRCs run interleaved and
 * are then joined with a precomputed "append N zero bytes" operator.
 * Elsewhere a slicing-by-8 table walk does it.
 *
 * The internal functions work on the raw CRC register; ks_crc32c() applies
 * the standard pre- and post-inversion, which is what makes chaining work:
 * ks_crc32c(ks_crc32c(0, a, n), b, m) is the CRC of a followed by b.
 */
#include "core/crc32c.h"
#include "core/internal.h"

#include <kstream/record.h>
#include <pthread.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* 0x1EDC6F41 with its bits reversed: the register holds x^0 in bit 31. */
#define CRC32C_POLY 0x82f63b78u

typedef uint32_t crc_fn(uint32_t crc, const uint8_t *p, size_t len);

static crc_fn crc_first;
static crc_fn crc_sw;

/*
 * The implementation in use. It starts as crc_first, which builds the
 * tables and picks the implementation once; the release store after the
 * tables are built pairs with the acquire load in ks_crc32c().
 */
static crc_fn *_Atomic crc_impl = crc_first;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int have_hw;

/* sw_table[k][b]: the register after byte b, then k zero bytes, from 0. */
static uint32_t sw_table[8][256];

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ sw_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w = load_le64(p) ^ crc;
		crc = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^
		    sw_table[5][(w >> 16) & 0xff] ^ sw_table[4][(w >> 24) & 0xff] ^
		    sw_table[3][(w >> 32) & 0xff] ^ sw_table[2][(w >> 40) & 0xff] ^
		    sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ sw_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

static void sw_init(void)
{
	unsigned b, k;
	for (b = 0; b < 256; b++) {
		uint32_t c = b;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & -(c & 1));
		sw_table[0][b] = c;
	}
	for (k = 1; k < 8; k++)
		for (b = 0; b < 256; b++) {
			uint32_t c = sw_table[k - 1][b];
			sw_table[k][b] = (c >> 8) ^ sw_table[0][c & 0xff];
		}
}

#if defined(__x86_64__)

/*
 * Interleaved block sizes, per stream. The long one amortises the join over
 * big batches; the short one still pays off from 768 bytes up.
 */
#define CRC_LONG 8192
#define CRC_SHORT 256

/* shift_*[k][b]: byte b at byte k of the register, moved over N zero bytes. */
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

/*
 * a * b modulo the polynomial, in the register's reflected bit order.
 * Feeding one zero bit through the register multiplies it by x, which is
 * the step that advances b here.
 */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b)
{
	uint32_t r = 0, m;
	for (m = 0x80000000u; m; m >>= 1) {
		if (a & m)
			r ^= b;
		b = (b >> 1) ^ (CRC32C_POLY & -(b & 1));
	}
	return r;
}

/* x^n modulo the polynomial, by squaring. */
static uint32_t gf2_xpow(uint64_t n)
{
	uint32_t r = 0x80000000u, sq = 0x40000000u; /* 1 and x */
	for (; n; n >>= 1) {
		if (n & 1)
			r = gf2_mulmod(r, sq);
		sq = gf2_mulmod(sq, sq);
	}
	return r;
}

/* The operator is linear, so a table per register byte is enough. */
static void shift_init(uint32_t t[4][256], size_t bytes)
{
	uint32_t op = gf2_xpow(8 * (uint64_t)bytes);
	unsigned k, b;
	for (k = 0; k < 4; k++)
		for (b = 0; b < 256; b++)
			t[k][b] = gf2_mulmod((uint32_t)b << (8 * k), op);
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t crc)
{
	return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^
	    t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/*
 * The register after three consecutive n-byte blocks a, b, c, run as three
 * independent streams: A continues from crc, B and C start from zero, and
 * since the register is linear in its start value the whole is
 * shift(shift(A) ^ B) ^ C.
 */
__attribute__((target("sse4.2"))) static inline uint32_t crc_3way(
    uint32_t crc, const uint8_t *p, size_t n, const uint32_t t[4][256])
{
	uint64_t c0 = crc, c1 = 0, c2 = 0;
	const uint8_t *e = p + n;

	do {
		c0 = _mm_crc32_u64(c0, load64(p));
		c1 = _mm_crc32_u64(c1, load64(p + n));
		c2 = _mm_crc32_u64(c2, load64(p + 2 * n));
		p += 8;
	} while (p < e);
	crc = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
	return shift(t, crc) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
    const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	/* Aligned 8-byte loads never straddle a cache line. */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * CRC_LONG) {
		c = crc_3way((uint32_t)c, p, CRC_LONG, shift_long);
		p += 3 * CRC_LONG;
		len -= 3 * CRC_LONG;
	}
	while (len >= 3 * CRC_SHORT) {
		c = crc_3way((uint32_t)c, p, CRC_SHORT, shift_short);
		p += 3 * CRC_SHORT;
		len -= 3 * CRC_SHORT;
	}
	while (len >= 8) {
		c = _mm_crc32_u64(c, load64(p));
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}

#endif /* __x86_64__ */

static void crc_init(void)
{
	crc_fn *impl = crc_sw;

	sw_init();
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		shift_init(shift_long, CRC_LONG);
		shift_init(shift_short, CRC_SHORT);
		have_hw = 1;
		impl = crc_hw;
	}
#endif
	atomic_store_explicit(&crc_impl, impl, memory_order_release);
}

static uint32_t crc_first(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return atomic_load_explicit(&crc_impl, memory_order_acquire)(crc, p,
	    len);
}

uint32_t ks_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc_fn *f = atomic_load_explicit(&crc_impl, memory_order_acquire);
	return ~f(~crc, buf, len);
}

uint32_t ks__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_sw(~crc, buf, len);
}

int ks__crc32c_hw_available(void)
{
	pthread_once(&crc_once, crc_init);
	return have_hw;
}
