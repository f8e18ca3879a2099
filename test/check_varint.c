/*
 * check_varint.c: Kafka's zigzag varints (lib/core/varint.h) at their
 * boundaries, and their decoder on truncated and over-long input.
 */
#include "util.h"

#include "core/varint.h"

#include <stdint.h>
#include <string.h>

/* Encodes v, checks the length prediction, decodes it back. */
static void round_trip(int64_t v, size_t want_len)
{
	uint8_t b[KS__VARINT_MAX + 2];
	int64_t got = 0;
	size_t n, i;

	memset(b, 0xaa, sizeof b);
	n = ks__varint_put(b, v);
	ck_assert_uint_eq(n, want_len);
	ck_assert_uint_eq(ks__varint_len(v), n);
	ck_assert_uint_eq(b[n], 0xaa); /* nothing written past n */
	ck_assert_uint_eq(ks__varint_get(b, b + n, &got), n);
	ck_assert_int_eq(got, v);
	/* Every shorter prefix is truncated input. */
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ks__varint_get(b, b + i, &got), 0);
}

START_TEST(test_zigzag)
{
	ck_assert_uint_eq(ks__zigzag64(0), 0);
	ck_assert_uint_eq(ks__zigzag64(-1), 1);
	ck_assert_uint_eq(ks__zigzag64(1), 2);
	ck_assert_uint_eq(ks__zigzag64(-2), 3);
	ck_assert_uint_eq(ks__zigzag64(INT32_MAX), 0xfffffffeull);
	ck_assert_uint_eq(ks__zigzag64(INT32_MIN), 0xffffffffull);
	ck_assert_uint_eq(ks__zigzag64(INT64_MAX), UINT64_MAX - 1);
	ck_assert_uint_eq(ks__zigzag64(INT64_MIN), UINT64_MAX);
	ck_assert_int_eq(ks__unzigzag64(UINT64_MAX), INT64_MIN);
	ck_assert_int_eq(ks__unzigzag64(UINT64_MAX - 1), INT64_MAX);
}
END_TEST

START_TEST(test_round_trips)
{
	round_trip(0, 1);
	round_trip(1, 1);
	round_trip(-1, 1);
	round_trip(63, 1);
	round_trip(-64, 1);
	round_trip(64, 2);
	round_trip(-65, 2);
	round_trip(8191, 2);
	round_trip(8192, 3);
	round_trip(INT32_MAX, 5);
	round_trip(INT32_MIN, 5);
	round_trip((int64_t)INT32_MAX + 1, 5);
	round_trip((int64_t)INT32_MIN - 1, 5);
	round_trip(INT64_MAX, 10);
	round_trip(INT64_MIN, 10);
	round_trip(INT64_MAX / 2, 9);
}
END_TEST

START_TEST(test_known_bytes)
{
	uint8_t b[KS__VARINT_MAX];

	/* 300 zigzags to 600 = 0x258: low 7 bits 0x58 | 0x80, then 0x04. */
	ck_assert_uint_eq(ks__varint_put(b, 300), 2);
	ck_assert_uint_eq(b[0], 0xd8);
	ck_assert_uint_eq(b[1], 0x04);
	ck_assert_uint_eq(ks__uvarint_put(b, 300), 2);
	ck_assert_uint_eq(b[0], 0xac);
	ck_assert_uint_eq(b[1], 0x02);
	ck_assert_uint_eq(ks__varint_put(b, -1), 1);
	ck_assert_uint_eq(b[0], 0x01);
}
END_TEST

START_TEST(test_unsigned)
{
	uint8_t b[KS__VARINT_MAX];
	uint64_t v = 0;

	ck_assert_uint_eq(ks__uvarint_len(0), 1);
	ck_assert_uint_eq(ks__uvarint_len(127), 1);
	ck_assert_uint_eq(ks__uvarint_len(128), 2);
	ck_assert_uint_eq(ks__uvarint_len(UINT64_MAX), 10);
	ck_assert_uint_eq(ks__uvarint_put(b, UINT64_MAX), 10);
	ck_assert_uint_eq(ks__uvarint_get(b, b + 10, &v), 10);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_malformed)
{
	uint8_t b[16];
	int64_t v = 42;

	/* Empty input. */
	ck_assert_uint_eq(ks__varint_get(b, b, &v), 0);
	/* Eleven bytes with the continuation bit: longer than any varint. */
	memset(b, 0x80, 11);
	b[10] = 0x00;
	ck_assert_uint_eq(ks__varint_get(b, b + 11, &v), 0);
	ck_assert_uint_eq(ks__varint_get(b, b + sizeof b, &v), 0);
	/* Continuation bit on the last available byte: truncated. */
	b[0] = 0x81;
	b[1] = 0x81;
	ck_assert_uint_eq(ks__varint_get(b, b + 2, &v), 0);
	/* A failed read leaves the output alone. */
	ck_assert_int_eq(v, 42);
	/* Ten bytes, the last without continuation, is the longest valid. */
	memset(b, 0x80, 9);
	b[9] = 0x01;
	ck_assert_uint_eq(ks__varint_get(b, b + 10, &v), 10);
}
END_TEST

Suite *varint_suite(void); /* for test/main.c */

Suite *varint_suite(void)
{
	Suite *s = suite_create("varint");
	TCase *tc = tcase_create("varint");

	tcase_add_test(tc, test_zigzag);
	tcase_add_test(tc, test_round_trips);
	tcase_add_test(tc, test_known_bytes);
	tcase_add_test(tc, test_unsigned);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
