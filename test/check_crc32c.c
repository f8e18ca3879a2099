/*
 * check_crc32c.c: CRC-32C against published vectors, a bit-at-a-time
 * reference, and the portable path against the hardware one.
 */
#include "util.h"

#include "core/crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The definition, one bit at a time: slow and obviously right. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		int k;
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return ~crc;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void check_vector(const void *buf, size_t len, uint32_t want)
{
	ck_assert_uint_eq(ks_crc32c(0, buf, len), want);
	ck_assert_uint_eq(ks__crc32c_sw(0, buf, len), want);
	ck_assert_uint_eq(ref_crc32c(0, buf, len), want);
}

START_TEST(test_vectors)
{
	uint8_t b[32];
	int i;

	check_vector("123456789", 9, 0xE3069283u);
	/* RFC 3720, appendix B.4. */
	memset(b, 0, sizeof b);
	check_vector(b, sizeof b, 0x8A9136AAu);
	memset(b, 0xff, sizeof b);
	check_vector(b, sizeof b, 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	check_vector(b, sizeof b, 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	check_vector(b, sizeof b, 0x113FDB5Cu);
}
END_TEST

START_TEST(test_empty)
{
	ck_assert_uint_eq(ks_crc32c(0, NULL, 0), 0);
	ck_assert_uint_eq(ks_crc32c(0x12345678u, "", 0), 0x12345678u);
	ck_assert_uint_eq(ks__crc32c_sw(0xdeadbeefu, NULL, 0), 0xdeadbeefu);
}
END_TEST

START_TEST(test_chaining)
{
	enum { N = 1200 };
	uint8_t *b = malloc(N);
	size_t len, cut;

	ck_assert_ptr_nonnull(b);
	fill_random(b, N);
	for (len = 0; len < N; len += 1 + len / 8) {
		uint32_t whole = ks_crc32c(0, b, len);
		ck_assert_uint_eq(whole, ref_crc32c(0, b, len));
		for (cut = 0; cut <= len; cut++) {
			uint32_t c = ks_crc32c(0, b, cut);
			ck_assert_uint_eq(ks_crc32c(c, b + cut, len - cut), whole);
			c = ks__crc32c_sw(0, b, cut);
			ck_assert_uint_eq(ks__crc32c_sw(c, b + cut, len - cut),
			    whole);
		}
	}
	free(b);
}
END_TEST

/* Lengths around every block boundary of the interleaved hardware path. */
START_TEST(test_hw_matches_sw)
{
	static const size_t edges[] = { 0, 1, 7, 8, 9, 255, 256, 767, 768,
		769, 1536, 4096, 24575, 24576, 24577, 24576 + 768, 49152 + 5,
		100000, 131072 + 3, 1 << 20 };
	size_t big = (1 << 20) + 64, e, len, off;
	uint8_t *b = malloc(big);

	ck_assert_ptr_nonnull(b);
	fill_random(b, big);
	for (e = 0; e < sizeof edges / sizeof edges[0]; e++)
		for (off = 0; off < 16; off++) {
			const uint8_t *p = b + off;
			len = edges[e];
			ck_assert_uint_eq(ks_crc32c(0, p, len),
			    ks__crc32c_sw(0, p, len));
			if (len)
				ck_assert_uint_eq(ks_crc32c(0, p, len - 1),
				    ks__crc32c_sw(0, p, len - 1));
		}
	for (e = 0; e < 2000; e++) {
		uint32_t seed = (uint32_t)rnd();
		len = rnd() % (e < 1000 ? 2048 : 80000);
		off = rnd() % 64;
		ck_assert_uint_eq(ks_crc32c(seed, b + off, len),
		    ks__crc32c_sw(seed, b + off, len));
	}
	/* And both against the definition on a long, unaligned buffer. */
	ck_assert_uint_eq(ks_crc32c(0, b + 3, 100000),
	    ref_crc32c(0, b + 3, 100000));
	free(b);
}
END_TEST

START_TEST(test_hw_reported)
{
	int hw = ks__crc32c_hw_available();
	ck_assert(hw == 0 || hw == 1);
#if defined(__x86_64__)
	__builtin_cpu_init();
	ck_assert_int_eq(hw, !!__builtin_cpu_supports("sse4.2"));
#endif
}
END_TEST

Suite *crc32c_suite(void); /* for test/main.c */

Suite *crc32c_suite(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_hw_matches_sw);
	tcase_add_test(tc, test_hw_reported);
	suite_add_tcase(s, tc);
	return s;
}
